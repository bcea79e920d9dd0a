//! A manifest is data from a bucket that the old primary (a host that may be compromised) wrote.
//! Before restore touches the target server, everything it would execute or interpolate is checked
//! here, and refused with what was wrong:
//!
//! - only the databases the caller allows (the env's one), never a system schema;
//! - names of databases, tables, columns and objects are identifiers MariaDB could have made;
//! - object kinds are the five restore knows; chunk keys lie under the backup's own prefix;
//! - every `CREATE` is exactly one statement of the expected kind for the expected object
//!   ([`super::ddl`]), a trigger on a table of the same database;
//! - charsets, collations, engines and definers are among the server's own (`SHOW CHARACTER SET`,
//!   `SHOW COLLATION`, `information_schema.ENGINES`, `mysql.user`), `sql_mode` is a list of words;
//! - the target databases hold no row yet, unless the caller asks to replace them.

use super::ddl::{self, Kind};
use super::manifest::{Manifest, SchemaObject};
use super::reads::ident;
use super::schema::SYSTEM_DATABASES;
use crate::error::{DbError, Result, SqlContext};
use mysql::prelude::Queryable;
use mysql::Conn;
use spotctl_layout::BackupRoot;
use std::collections::BTreeSet;

/// Engines whose tables reach outside the server's own files: never created from a manifest.
const REFUSED_ENGINES: [&str; 5] = ["connect", "federated", "federatedx", "spider", "oqgraph"];

fn bad(what: impl Into<String>, message: impl Into<String>) -> DbError {
    DbError::BadManifest { key: what.into(), message: message.into() }
}

/// A name MariaDB could have given a database, table, column or object.
fn identifier(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && !name.ends_with(' ')
        && !name.chars().any(|c| c == '\0' || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(bad(what, format!("{name:?} is not an identifier (1 to 64 characters, no control character)")))
    }
}

/// The checks that need no server: names, kinds, keys and the shape of every statement.
pub fn check_manifest(m: &Manifest, root: &BackupRoot, allowed: Option<&[String]>) -> Result<()> {
    for d in &m.databases {
        identifier("a database", &d.name)?;
        if SYSTEM_DATABASES.contains(&d.name.to_ascii_lowercase().as_str()) {
            return Err(bad(&d.name, "a backup never restores a system schema"));
        }
        if let Some(allowed) = allowed {
            if !allowed.contains(&d.name) {
                return Err(bad(
                    &d.name,
                    format!(
                        "this restore may write only {}",
                        allowed.iter().map(|a| ident(a)).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        let tables: BTreeSet<&str> = d.tables.iter().map(|t| t.name.as_str()).collect();
        for t in &d.tables {
            let what = format!("table {}.{}", ident(&d.name), ident(&t.name));
            identifier(&what, &t.name)?;
            for c in &t.columns {
                identifier(&what, &c.name)?;
            }
            ddl::check(&t.create, Kind::Table, &d.name, &t.name).map_err(|e| bad(&what, e))?;
            for c in &t.chunks {
                if !c.key.starts_with(&format!("{root}/")) || c.key.contains("..") {
                    return Err(bad(&what, format!("chunk {} lies outside the backup {root}/", c.key)));
                }
            }
        }
        let objects = d.routines.iter().chain(&d.views).chain(&d.triggers);
        for o in objects {
            let kind = Kind::parse(&o.kind).ok_or_else(|| {
                bad(format!("{} {}", o.kind, ident(&o.name)), "not an object kind a backup holds")
            })?;
            let what = format!("{} {}.{}", o.kind.to_ascii_lowercase(), ident(&d.name), ident(&o.name));
            identifier(&what, &o.name)?;
            let parsed = ddl::check(&o.create, kind, &d.name, &o.name).map_err(|e| bad(&what, e))?;
            if let Some(on) = parsed.on_table.filter(|_| kind == Kind::Trigger) {
                if !tables.contains(on.as_str()) {
                    return Err(bad(&what, format!("it is on `{on}`, not a table of this backup")));
                }
            }
        }
    }
    Ok(())
}

/// The checks against the target server's own lists.
pub fn check_against_server(conn: &mut Conn, m: &Manifest) -> Result<()> {
    let charsets: BTreeSet<String> = conn
        .query_map("SELECT CHARACTER_SET_NAME FROM information_schema.CHARACTER_SETS", |c: String| c)
        .sql(|| "listing the server's character sets".into())?
        .into_iter()
        .collect();
    let listed: Vec<(String, Option<String>)> = conn
        .query("SELECT COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATIONS")
        .sql(|| "listing the server's collations".into())?;
    let mut collations: Vec<(String, String)> =
        listed.into_iter().filter_map(|(name, cs)| Some((name, cs?))).collect();
    // MariaDB 10.10+ lists UCA 14.0 collations without a charset; their full names
    // (`utf8mb4_uca1400_ai_ci`) are in the applicability table. Older servers lack the column.
    if let Ok(full) = conn.query::<(String, String), _>(
        "SELECT FULL_COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY",
    ) {
        collations.extend(full);
    }
    let engines: BTreeSet<String> = conn
        .query_map(
            "SELECT LOWER(ENGINE) FROM information_schema.ENGINES WHERE SUPPORT IN ('YES', 'DEFAULT')",
            |e: String| e,
        )
        .sql(|| "listing the server's engines".into())?
        .into_iter()
        .collect();
    let accounts: BTreeSet<(String, String)> = conn
        .query("SELECT User, Host FROM mysql.user")
        .sql(|| "listing the server's accounts".into())?
        .into_iter()
        .collect();
    let collation_known = |c: &str| collations.iter().any(|(n, _)| n == c);
    for d in &m.databases {
        let db = ident(&d.name);
        if !charsets.contains(&d.charset) {
            return Err(bad(&db, format!("character set {:?} is not one of this server's", d.charset)));
        }
        if !collations.iter().any(|(n, cs)| *n == d.collation && *cs == d.charset) {
            return Err(bad(
                &db,
                format!("collation {:?} is not one of {}'s on this server", d.collation, d.charset),
            ));
        }
        for t in &d.tables {
            let what = format!("table {db}.{}", ident(&t.name));
            let parsed = ddl::check(&t.create, Kind::Table, &d.name, &t.name).map_err(|e| bad(&what, e))?;
            if let Some(engine) = parsed.engine {
                if !engines.contains(&engine) || REFUSED_ENGINES.contains(&engine.as_str()) {
                    return Err(bad(
                        &what,
                        format!("engine {engine} is not one a restore creates tables with here"),
                    ));
                }
            }
        }
        for o in d.routines.iter().chain(&d.views).chain(&d.triggers) {
            let what = format!("{} {db}.{}", o.kind.to_ascii_lowercase(), ident(&o.name));
            object_settings(&what, o, &collation_known)?;
            let kind = Kind::parse(&o.kind).ok_or_else(|| bad(&what, "not an object kind a backup holds"))?;
            let parsed = ddl::check(&o.create, kind, &d.name, &o.name).map_err(|e| bad(&what, e))?;
            if let Some((user, host)) = parsed.definer {
                if !accounts.contains(&(user.clone(), host.clone())) {
                    return Err(bad(
                        &what,
                        format!("its definer {user}@{host} is not an account of this server"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn object_settings(what: &str, o: &SchemaObject, collation_known: &dyn Fn(&str) -> bool) -> Result<()> {
    if !collation_known(&o.collation_connection) {
        return Err(bad(what, format!("collation {:?} is not one of this server's", o.collation_connection)));
    }
    if let Some(mode) = &o.sql_mode {
        let words = mode.split(',').filter(|w| !w.is_empty());
        if !words
            .clone()
            .all(|w| w.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
        {
            return Err(bad(what, format!("sql_mode {mode:?} is not a list of modes")));
        }
    }
    Ok(())
}

/// Refuses a target database that already holds rows (a live server, or another restore's data),
/// naming the tables, unless `replace` says the caller means to replace them.
pub fn check_target_empty(conn: &mut Conn, m: &Manifest, replace: bool) -> Result<()> {
    if replace {
        return Ok(());
    }
    let mut holding = Vec::new();
    for d in &m.databases {
        let tables: Vec<String> = conn
            .exec(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? \
                 AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                (&d.name,),
            )
            .sql(|| format!("listing the tables of {}", ident(&d.name)))?;
        for t in tables {
            let table = format!("{}.{}", ident(&d.name), ident(&t));
            // A table that cannot be read (its tablespace discarded by a restore cut short) is
            // someone's data too, until the caller says to replace it.
            let any: std::result::Result<Option<u8>, _> =
                conn.query_first(format!("SELECT 1 FROM {table} LIMIT 1"));
            if !matches!(any, Ok(None)) {
                holding.push(table);
            }
        }
    }
    if holding.is_empty() {
        Ok(())
    } else {
        Err(DbError::TargetNotEmpty { tables: holding })
    }
}
