//! Reading what a drain must carry besides rows: databases, tables (their CREATE statement, the
//! columns to dump and how, the key to split reads on), routines, views, triggers and events.
//! Run on the fence's connection, while nothing can change the schema.

use super::manifest::{Codec, Column, SchemaObject};
use super::reads::{ident, TableSize};
use crate::error::{DbError, Result, SqlContext};
use mysql::prelude::Queryable;
use mysql::Conn;

/// Never dumped: the server's own databases.
pub const SYSTEM_DATABASES: [&str; 4] = ["information_schema", "mysql", "performance_schema", "sys"];

pub struct DatabaseSchema {
    pub name: String,
    pub charset: String,
    pub collation: String,
    pub tables: Vec<TableSchema>,
    pub routines: Vec<SchemaObject>,
    pub views: Vec<SchemaObject>,
    /// Triggers, then events.
    pub triggers: Vec<SchemaObject>,
}

pub struct TableSchema {
    pub name: String,
    /// Without its `AUTO_INCREMENT=` option, which is applied after the load.
    pub create: String,
    pub auto_increment: Option<u64>,
    pub columns: Vec<Column>,
    pub split_key: Option<String>,
    pub est_bytes: u64,
    /// `InnoDB` for the tables whose files may be copied as they are (see [`super::tablespace`]).
    pub engine: String,
    /// Partitioned, or with a FULLTEXT index (now or once): such tables travel as rows whatever
    /// their engine.
    pub rows_only: bool,
}

const INTEGER_TYPES: [&str; 5] = ["tinyint", "smallint", "mediumint", "int", "bigint"];

/// The databases named in `wanted` (all but the system ones when it is empty), in name order.
pub fn read(conn: &mut Conn, wanted: &[String]) -> Result<Vec<DatabaseSchema>> {
    let all: Vec<(String, String, String)> = conn
        .query(
            "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
             FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME",
        )
        .sql(|| "listing databases".into())?;
    if let Some(missing) = wanted.iter().find(|w| !all.iter().any(|(n, _, _)| n == *w)) {
        return Err(DbError::NoSuchDatabase(missing.clone()));
    }
    let chosen = all.into_iter().filter(|(name, _, _)| {
        if wanted.is_empty() {
            !SYSTEM_DATABASES.contains(&name.as_str())
        } else {
            wanted.contains(name)
        }
    });
    let mut out = Vec::new();
    for (name, charset, collation) in chosen {
        out.push(DatabaseSchema {
            tables: tables(conn, &name)?,
            routines: routines(conn, &name)?,
            views: views(conn, &name)?,
            triggers: triggers_and_events(conn, &name)?,
            name,
            charset,
            collation,
        });
    }
    Ok(out)
}

fn tables(conn: &mut Conn, db: &str) -> Result<Vec<TableSchema>> {
    type Listed = (String, String, Option<u64>, Option<String>, Option<String>);
    let listed: Vec<Listed> = conn
        .exec(
            "SELECT TABLE_NAME, TABLE_TYPE, DATA_LENGTH, ENGINE, CREATE_OPTIONS FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW' ORDER BY TABLE_NAME",
            (db,),
        )
        .sql(|| format!("listing the tables of {}", ident(db)))?;
    let fulltext: Vec<String> = conn
        .exec(
            "SELECT DISTINCT TABLE_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND INDEX_TYPE = 'FULLTEXT'",
            (db,),
        )
        .sql(|| format!("listing the FULLTEXT indexes of {}", ident(db)))?;
    // A table that once had a FULLTEXT index keeps InnoDB's hidden FTS_DOC_ID column, and its
    // tablespace then fails to import (MDEV-30655). Where the dictionary cannot be read (MySQL
    // names it differently), every table of the database travels as rows.
    let fts_doc_id: Option<Vec<String>> = conn
        .exec(
            "SELECT SUBSTRING_INDEX(t.NAME, '/', -1) FROM information_schema.INNODB_SYS_TABLES t \
             JOIN information_schema.INNODB_SYS_COLUMNS c ON c.TABLE_ID = t.TABLE_ID \
             WHERE c.NAME = 'FTS_DOC_ID' AND t.NAME LIKE CONCAT(?, '/%')",
            (db,),
        )
        .ok();
    let mut out = Vec::new();
    for (name, kind, data_length, engine, options) in listed {
        let object = format!("{}.{}", ident(db), ident(&name));
        if kind != "BASE TABLE" {
            // Sequences and system-versioned tables need their own dump logic; refusing beats
            // a backup that silently lacks them.
            return Err(DbError::Schema {
                object,
                message: format!("tables of type {kind} are not supported"),
            });
        }
        let create: Option<(String, String)> =
            conn.query_first(format!("SHOW CREATE TABLE {object}")).sql(|| format!("reading {object}"))?;
        let create = create.map(|(_, c)| c).ok_or_else(|| DbError::Schema {
            object: object.clone(),
            message: "SHOW CREATE TABLE returned nothing".into(),
        })?;
        let cols: Vec<(String, String, String)> = conn
            .exec(
                "SELECT COLUMN_NAME, DATA_TYPE, EXTRA FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (db, &name),
            )
            .sql(|| format!("reading the columns of {object}"))?;
        let first_pk: Option<String> = conn
            .exec_first(
                "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? \
                 AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' AND SEQ_IN_INDEX = 1",
                (db, &name),
            )
            .sql(|| format!("reading the primary key of {object}"))?;
        let split_key = first_pk.filter(|k| {
            cols.iter().any(|(c, ty, _)| c == k && INTEGER_TYPES.contains(&ty.to_ascii_lowercase().as_str()))
        });
        let columns = cols
            .iter()
            .filter(|(_, _, extra)| !is_generated(extra))
            .map(|(c, ty, _)| Column { name: c.clone(), codec: codec(ty) })
            .collect();
        let (create, auto_increment) = split_auto_increment(&create);
        out.push(TableSchema {
            create,
            auto_increment,
            columns,
            split_key,
            est_bytes: data_length.unwrap_or(0),
            engine: engine.unwrap_or_default(),
            rows_only: options.is_some_and(|o| o.to_ascii_lowercase().contains("partitioned"))
                || fulltext.contains(&name)
                || fts_doc_id.as_ref().is_none_or(|t| t.contains(&name)),
            name,
        });
    }
    Ok(out)
}

/// Takes the `AUTO_INCREMENT=N` table option out of a `SHOW CREATE TABLE`. Loading explicit keys
/// into a table created with its counter at the type's maximum (a full TINYINT lookup table)
/// fails, so restore creates the table without it and sets the counter after the load.
pub fn split_auto_increment(create: &str) -> (String, Option<u64>) {
    // Table options follow the line that closes the column list.
    let Some(options_at) = create.rfind("\n)") else { return (create.to_string(), None) };
    let tail = &create[options_at..];
    let Some(at) = tail.find(" AUTO_INCREMENT=") else { return (create.to_string(), None) };
    let digits_at = at + " AUTO_INCREMENT=".len();
    let digits: String = tail[digits_at..].chars().take_while(|c| c.is_ascii_digit()).collect();
    let Ok(value) = digits.parse::<u64>() else { return (create.to_string(), None) };
    let start = options_at + at;
    let end = options_at + digits_at + digits.len();
    (format!("{}{}", &create[..start], &create[end..]), Some(value))
}

/// Generated columns are computed by the server on load; MySQL's `DEFAULT_GENERATED` (an
/// expression default) is an ordinary stored column.
fn is_generated(extra: &str) -> bool {
    let e = extra.to_ascii_uppercase();
    ["VIRTUAL GENERATED", "STORED GENERATED", "PERSISTENT GENERATED"].iter().any(|g| e.contains(g))
}

fn codec(data_type: &str) -> Codec {
    match data_type.to_ascii_lowercase().as_str() {
        "float" => Codec::Float,
        _ => Codec::Text,
    }
}

/// What the read planner needs of a table: its estimated size and, when it has a split key, that
/// key's bounds.
pub fn table_size(
    conn: &mut Conn,
    db: &str,
    table: &str,
    split_key: Option<&str>,
    est_bytes: u64,
) -> Result<TableSize> {
    let bounds = match split_key {
        Some(key) => key_bounds(conn, db, table, key)?,
        None => None,
    };
    Ok(TableSize { est_bytes, bounds })
}

/// `MIN` and `MAX` of an integer key, or `None` for an empty table.
pub fn key_bounds(conn: &mut Conn, db: &str, table: &str, key: &str) -> Result<Option<(i128, i128)>> {
    let sql = format!("SELECT MIN({k}), MAX({k}) FROM {}.{}", ident(db), ident(table), k = ident(key));
    let row: Option<(Option<String>, Option<String>)> =
        conn.query_first(&sql).sql(|| format!("reading the key range of {}.{}", ident(db), ident(table)))?;
    Ok(match row {
        Some((Some(lo), Some(hi))) => lo.parse().ok().zip(hi.parse().ok()),
        _ => None,
    })
}

fn routines(conn: &mut Conn, db: &str) -> Result<Vec<SchemaObject>> {
    let listed: Vec<(String, String)> = conn
        .exec(
            "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES \
             WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
            (db,),
        )
        .sql(|| format!("listing the routines of {}", ident(db)))?;
    let mut out = Vec::new();
    for (kind, name) in listed {
        if kind != "PROCEDURE" && kind != "FUNCTION" {
            return Err(DbError::Schema {
                object: format!("{}.{}", ident(db), ident(&name)),
                message: format!("routines of type {kind} are not supported"),
            });
        }
        // Name, sql_mode, CREATE, character_set_client, collation_connection, …
        out.push(show_create(conn, &kind, db, &name, 2, Some(1), 4)?);
    }
    Ok(out)
}

fn views(conn: &mut Conn, db: &str) -> Result<Vec<SchemaObject>> {
    let names: Vec<String> = conn
        .exec(
            "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
            (db,),
        )
        .sql(|| format!("listing the views of {}", ident(db)))?;
    // Name, CREATE, character_set_client, collation_connection.
    names.iter().map(|n| show_create(conn, "VIEW", db, n, 1, None, 3)).collect()
}

fn triggers_and_events(conn: &mut Conn, db: &str) -> Result<Vec<SchemaObject>> {
    // Creation order is firing order among triggers of the same table, event and timing.
    let triggers: Vec<String> = conn
        .exec(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? \
             ORDER BY EVENT_OBJECT_TABLE, EVENT_MANIPULATION, ACTION_TIMING, ACTION_ORDER",
            (db,),
        )
        .sql(|| format!("listing the triggers of {}", ident(db)))?;
    let events: Vec<String> = conn
        .exec(
            "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME",
            (db,),
        )
        .sql(|| format!("listing the events of {}", ident(db)))?;
    let mut out = Vec::new();
    for n in &triggers {
        // Name, sql_mode, CREATE, character_set_client, collation_connection, …
        out.push(show_create(conn, "TRIGGER", db, n, 2, Some(1), 4)?);
    }
    for n in &events {
        // Name, sql_mode, time_zone, CREATE, character_set_client, collation_connection, …
        out.push(show_create(conn, "EVENT", db, n, 3, Some(1), 5)?);
    }
    Ok(out)
}

/// `SHOW CREATE <kind>` and the columns of its answer that matter for re-creating the object.
fn show_create(
    conn: &mut Conn,
    kind: &str,
    db: &str,
    name: &str,
    create_col: usize,
    mode_col: Option<usize>,
    collation_col: usize,
) -> Result<SchemaObject> {
    let object = format!("{}.{}", ident(db), ident(name));
    let row: Option<mysql::Row> = conn
        .query_first(format!("SHOW CREATE {kind} {object}"))
        .sql(|| format!("reading {kind} {object}"))?;
    let text = |i: usize| {
        row.as_ref().and_then(|r| r.get_opt::<Option<String>, _>(i)).and_then(|v| v.ok()).flatten()
    };
    let create = text(create_col).ok_or_else(|| DbError::Schema {
        object: format!("{kind} {object}"),
        message: "its definition is not readable (the drain's account lacks privileges on it)".into(),
    })?;
    Ok(SchemaObject {
        kind: kind.to_string(),
        name: name.to_string(),
        create,
        sql_mode: mode_col.and_then(text),
        collation_connection: text(collation_col).unwrap_or_else(|| "utf8mb4_general_ci".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auto_increment_option_is_split_off() {
        let create = "CREATE TABLE `t` (\n  `id` tinyint NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) \
                      ENGINE=InnoDB AUTO_INCREMENT=255 DEFAULT CHARSET=latin1 COMMENT='AUTO_INCREMENT=7'";
        let (without, value) = split_auto_increment(create);
        assert_eq!(value, Some(255));
        assert!(
            without.ends_with(") ENGINE=InnoDB DEFAULT CHARSET=latin1 COMMENT='AUTO_INCREMENT=7'"),
            "{without}"
        );
        assert!(without.contains("NOT NULL AUTO_INCREMENT,"));
        assert_eq!(split_auto_increment("CREATE TABLE `n` (\n  `k` int\n) ENGINE=InnoDB").1, None);
    }

    #[test]
    fn only_virtual_and_stored_columns_count_as_generated() {
        assert!(is_generated("VIRTUAL GENERATED"));
        assert!(is_generated("STORED GENERATED"));
        assert!(!is_generated("DEFAULT_GENERATED"));
        assert!(!is_generated("auto_increment"));
    }
}
