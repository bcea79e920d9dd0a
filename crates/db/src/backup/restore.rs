//! Restore: create the schema, import the tables that travelled as files and load every chunk in
//! parallel, create routines, views, triggers and events once the data is in (so triggers do not
//! fire on restored rows), then verify every table.
//!
//! The target is a fresh standby whose copy of these databases is to be replaced: tables, views and
//! routines of the same names are dropped first. Nothing from the manifest is trusted
//! ([`super::trust`]): before the first destructive step, its names and statements are checked, the
//! server is proven to be on this host (a probe table's file, for rows-only backups too), and a
//! target database that already holds rows is refused unless the caller asks to replace it (a
//! restore that failed half-way is re-run that way).

use super::load::{load_chunk, load_session};
use super::manifest::{read_manifest, Chunk, DatabaseEntry, Manifest, SchemaObject, TableEntry};
use super::progress::{self, Progress};
use super::reads::ident;
use super::verify::{verify_manifest, RestoreTimings, Verification};
use super::{tablespace, trust};
use crate::error::{DbError, Result, SqlContext};
use crate::pool;
use crate::store::BlobStore;
use mysql::prelude::Queryable;
use mysql::Conn;
use spotctl_layout::BackupRoot;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Connections loading chunks (and then verifying) at once.
    pub workers: usize,
    /// Write the restored rows to the binary log too (off: the new primary's binlog starts after
    /// the restore, and loading is faster).
    pub write_binlog: bool,
    /// The only databases this restore may write (the env's one); `None`: any the manifest names
    /// but a system schema.
    pub databases: Option<Vec<String>>,
    /// Replace target databases that already hold rows (a half-way restore being re-run);
    /// otherwise such a target is refused.
    pub replace_existing: bool,
    /// Counted as the restore goes (chunks, parts, verified ranges), for whoever watches it.
    pub progress: Option<Arc<Progress>>,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            workers: 4,
            write_binlog: false,
            databases: None,
            replace_existing: false,
            progress: None,
        }
    }
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Restores the backup at `PREFIX/HANDOFF_ID/` into the server at `dsn` and verifies it. Without a
/// manifest there is no backup and nothing is touched ([`DbError::NoBackup`]).
pub fn restore(
    dsn: &str,
    store: &dyn BlobStore,
    prefix: &str,
    handoff_id: &str,
    opts: &RestoreOptions,
) -> Result<Verification> {
    let started = Instant::now();
    // The database may not exist yet on a fresh server: connect to the server itself (every
    // statement names its database) and let the manifest's databases be created.
    let server = crate::session::server_dsn(dsn);
    let dsn = server.as_str();
    let m = read_manifest(store, prefix, handoff_id)?;
    trust::check_manifest(&m, &BackupRoot::new(prefix, handoff_id)?, opts.databases.as_deref())?;
    let mut admin = load_session(dsn, opts.write_binlog)?;
    trust::check_against_server(&mut admin, &m)?;
    let files = m.tables_as_files() > 0;
    if files && opts.write_binlog {
        // An import puts no row in the binary log: replicas would get the ALTER without the file.
        return Err(DbError::BadManifest {
            key: m.handoff_id.clone(),
            message: "tables sent as files cannot be restored into the binary log; drain with --logical"
                .into(),
        });
    }
    // Read-only first; then the host probe, for every backup: a rows-only restore drops tables too.
    trust::check_target_empty(&mut admin, &m, opts.replace_existing)?;
    let dir = tablespace::target(&mut admin, &m)?;
    let datadir = files.then_some(dir);
    create_tables(&mut admin, &m, datadir.as_deref())?;
    let schema = ms(started);

    let t = Instant::now();
    if let Some(dir) = &datadir {
        let open = || load_session(dsn, opts.write_binlog);
        tablespace::restore_files(store, dir, &m, opts.workers, open, opts.progress.as_deref())?;
    }
    let mut work: Vec<(&DatabaseEntry, &TableEntry, &Chunk)> =
        m.tables().flat_map(|(d, t)| t.chunks.iter().map(move |c| (d, t, c))).collect();
    // Biggest tables first, each in key order: workers finish together and pages fill in order.
    work.sort_by_key(|(_, t, c)| (std::cmp::Reverse(t.rows), c.key.as_str()));
    let abort = AtomicBool::new(false);
    pool::run(
        opts.workers,
        &work,
        &abort,
        || load_session(dsn, opts.write_binlog),
        |c, (d, t, chunk)| {
            load_chunk(c, store, &d.name, t, chunk)?;
            progress::step(opts.progress.as_deref(), chunk.stored_bytes);
            Ok(())
        },
    )?;
    for (d, t) in m.tables() {
        if let Some(next) = t.auto_increment {
            let sql = format!("ALTER TABLE {}.{} AUTO_INCREMENT = {next}", ident(&d.name), ident(&t.name));
            admin.query_drop(&sql).sql(|| format!("running {sql}"))?;
        }
    }
    let load = ms(t);

    let t = Instant::now();
    for d in &m.databases {
        admin.select_db(&d.name).sql(|| format!("USE {}", ident(&d.name)))?;
        for r in &d.routines {
            create_object(&mut admin, r)?;
        }
        create_views(&mut admin, &d.views)?;
        for tr in &d.triggers {
            create_object(&mut admin, tr)?;
        }
    }
    let objects = ms(t);

    let t = Instant::now();
    let tables = verify_manifest(dsn, &m, opts.workers, opts.progress.as_deref())?;
    let timings_ms = RestoreTimings { schema, load, objects, verify: ms(t), total: ms(started) };
    Ok(Verification { handoff_id: m.handoff_id.clone(), tables, timings_ms })
}

/// Databases (created if missing), then each table dropped and created again; views, routines and
/// events of the same names are dropped first, so none is left over from an earlier attempt. A
/// table that travelled as its file is left without one (its tablespace discarded), ready for
/// the import; `datadir` is where the files go.
fn create_tables(c: &mut Conn, m: &Manifest, datadir: Option<&Path>) -> Result<()> {
    for d in &m.databases {
        let db = ident(&d.name);
        let mut ddl = vec![format!(
            "CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET {} COLLATE {}",
            d.charset, d.collation
        )];
        for o in d.views.iter().chain(&d.routines).chain(&d.triggers) {
            // A trigger goes with its table.
            if o.kind != "TRIGGER" {
                ddl.push(format!("DROP {} IF EXISTS {db}.{}", o.kind, ident(&o.name)));
            }
        }
        for t in &d.tables {
            ddl.push(format!("DROP TABLE IF EXISTS {db}.{}", ident(&t.name)));
        }
        for sql in ddl {
            c.query_drop(&sql).sql(|| format!("running {sql}"))?;
        }
        c.select_db(&d.name).sql(|| format!("USE {db}"))?;
        for t in &d.tables {
            let table = format!("{db}.{}", ident(&t.name));
            if let (Some(dir), Some(_)) = (datadir, &t.tablespace) {
                tablespace::remove_leftovers(dir, &d.name, &t.name)?;
            }
            // Prepared: the server takes exactly one statement that way (super::ddl).
            c.exec_drop(&t.create, ()).sql(|| format!("creating table {table}"))?;
            if t.tablespace.is_some() {
                c.query_drop(format!("ALTER TABLE {table} DISCARD TABLESPACE"))
                    .sql(|| format!("discarding the new tablespace of {table}"))?;
            }
        }
    }
    Ok(())
}

/// Runs an object's CREATE under the `sql_mode` and collation it was first created with.
fn create_object(c: &mut Conn, o: &SchemaObject) -> Result<()> {
    let what = || format!("creating {} {}", o.kind, ident(&o.name));
    c.exec_drop("SET SESSION collation_connection = ?", (&o.collation_connection,)).sql(what)?;
    if let Some(mode) = &o.sql_mode {
        c.exec_drop("SET SESSION sql_mode = ?", (mode,)).sql(what)?;
    }
    if o.kind == "VIEW" {
        // Prepared: the server takes exactly one statement that way (super::ddl).
        c.exec_drop(&o.create, ()).sql(what)
    } else {
        c.query_drop(&o.create).sql(what)
    }
}

/// Views may read other views: create what can be created, and repeat while that makes progress.
fn create_views(c: &mut Conn, views: &[SchemaObject]) -> Result<()> {
    let mut left: Vec<&SchemaObject> = views.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        let mut last_error = None;
        left.retain(|v| match create_object(c, v) {
            Ok(()) => false,
            Err(e) => {
                last_error = Some(e);
                true
            }
        });
        if left.len() == before {
            let names: Vec<String> = left.iter().map(|v| ident(&v.name)).collect();
            return Err(DbError::Objects {
                what: format!("view(s) {}", names.join(", ")),
                message: last_error.map(|e| format!("{e}: {}", source_text(&e))).unwrap_or_default(),
            });
        }
    }
    Ok(())
}

fn source_text(e: &DbError) -> String {
    std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_default()
}
