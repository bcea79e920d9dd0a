//! Drain: fence the old primary, read schema and binlog position while nothing can change, copy
//! the files of the tables that can travel as files while dumping every other table in parallel
//! from one shared snapshot, and store the manifest last.

use super::dump::{database_entries, dump, DumpSettings, Dumped, TableRef};
use super::fence::Fence;
use super::manifest::{read_manifest, DrainTimings, Manifest, FORMAT, ROWS_FORMAT};
use super::reads::plan_reads;
use super::rows::ENCODING;
use super::schema::{self, table_size, TableSchema};
use super::tablespace::{store_files, Export};
use super::verify::{scan_tables, ScanTable};
use crate::error::{DbError, Result, SqlContext};
use crate::store::{BlobStore, Creation};
use mysql::prelude::Queryable;
use spotctl_layout::BackupRoot;
use std::time::{Duration, Instant};

/// How tables travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Each InnoDB table that can as its file (see [`super::tablespace`]), every other as rows.
    Auto,
    /// Every table as rows: for a restore into another server series, or off the database host.
    Rows,
}

#[derive(Debug, Clone)]
pub struct DrainOptions {
    /// The databases to drain; empty means every database but the server's own.
    pub databases: Vec<String>,
    pub method: Method,
    /// Connections reading rows at once.
    pub readers: usize,
    /// Chunks being stored at once.
    pub uploaders: usize,
    /// Encoded bytes per chunk before compression; also the size reads are planned in. 4 MiB
    /// keeps restore's loaders evenly busy on small databases (with 8 MiB, 1 M rows made five
    /// chunks for four loaders, and restore took 1.3-1.4 s instead of 0.8-0.95 s) while objects
    /// stay large enough for S3.
    pub chunk_bytes: usize,
    /// zstd level: 1 is the fastest that still shrinks text-like rows about 3 to 5 times.
    pub zstd_level: i32,
    /// How long the fence may wait for running statements before the drain gives up.
    pub fence_timeout: Duration,
}

impl Default for DrainOptions {
    fn default() -> Self {
        DrainOptions {
            databases: Vec::new(),
            method: Method::Auto,
            readers: 4,
            uploaders: 4,
            chunk_bytes: 4 << 20,
            zstd_level: 1,
            fence_timeout: Duration::from_secs(30),
        }
    }
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Drains the server at `dsn` to `store` under `PREFIX/HANDOFF_ID/` and returns the manifest,
/// which it stores last. The server is left with `read_only = ON`, on success or failure: the old
/// primary takes no ordinary write again (see [`super::fence`]).
pub fn drain(
    dsn: &str,
    store: &dyn BlobStore,
    prefix: &str,
    handoff_id: &str,
    opts: &DrainOptions,
) -> Result<Manifest> {
    let root = BackupRoot::new(prefix, handoff_id)?;
    let started = Instant::now();
    let mut fence = Fence::raise(dsn, opts.fence_timeout)?;
    // Drained before (a retried drain, an agent restarted after draining): the server is fenced
    // again above, and the complete backup stands as it is.
    if store.get(&root.manifest_key())?.is_some() {
        let stored = read_manifest(store, prefix, handoff_id)?;
        fence.release()?;
        return Ok(stored);
    }
    let fence_ms = ms(started);

    let t = Instant::now();
    let binlog = fence.binlog_position()?;
    crate::session::schema_settings(fence.conn())?;
    let server_version: String = fence
        .conn()
        .query_first("SELECT VERSION()")
        .sql(|| "reading the server version".into())?
        .unwrap_or_default();
    let dbs = schema::read(fence.conn(), &opts.databases)?;
    let tables: Vec<TableRef<'_>> =
        dbs.iter().flat_map(|d| d.tables.iter().map(|t| TableRef { db: &d.name, table: t })).collect();
    let export = match opts.method {
        Method::Auto => {
            let listed: Vec<(&str, &TableSchema)> = tables.iter().map(|t| (t.db, t.table)).collect();
            Export::take(dsn, &listed, opts.fence_timeout)?
        }
        Method::Rows => None,
    };
    let as_file: Vec<bool> =
        (0..tables.len()).map(|i| export.as_ref().is_some_and(|e| e.tables.contains(&i))).collect();
    let (file_tables, row_tables): (Vec<usize>, Vec<usize>) = (0..tables.len()).partition(|&i| as_file[i]);
    let rows_of: Vec<TableRef<'_>> = row_tables.iter().map(|&i| tables[i]).collect();
    let sizes = rows_of
        .iter()
        .map(|t| {
            table_size(fence.conn(), t.db, &t.table.name, t.table.split_key.as_deref(), t.table.est_bytes)
        })
        .collect::<Result<Vec<_>>>()?;
    let tasks = plan_reads(&sizes, opts.chunk_bytes as u64);
    let schema_ms = ms(t);

    let t = Instant::now();
    let settings = DumpSettings {
        readers: opts.readers,
        uploaders: opts.uploaders,
        chunk_bytes: opts.chunk_bytes.max(1),
        zstd_level: opts.zstd_level,
    };
    let scans: Vec<ScanTable<'_>> = file_tables
        .iter()
        .map(|&i| ScanTable {
            db: tables[i].db,
            name: &tables[i].table.name,
            columns: &tables[i].table.columns,
            split_key: tables[i].table.split_key.as_deref(),
            est_bytes: tables[i].table.est_bytes,
        })
        .collect();
    let files: Vec<(&str, &str)> =
        file_tables.iter().map(|&i| (tables[i].db, tables[i].table.name.as_str())).collect();
    // The files are stored while the rows are read: the first is mostly compression and upload,
    // the second mostly the server's reading.
    let (stored, read) = std::thread::scope(|sc| {
        let stored = sc.spawn(|| match &export {
            Some(e) => store_files(store, &root, &e.datadir, &files, opts.uploaders, opts.zstd_level),
            None => Ok(Vec::new()),
        });
        let read = dump(dsn, store, &root, &rows_of, &tasks, &settings).and_then(|dumped| {
            Ok((dumped, scan_tables(dsn, &scans, opts.chunk_bytes as u64, opts.readers, None)?))
        });
        (stored.join().map_err(|_| DbError::Panicked).and_then(|r| r), read)
    });
    let (dumped, sums) = read?;
    let mut tablespaces = stored?.into_iter();
    if let Some(e) = export {
        e.release()?;
    }
    let data_ms = ms(t);

    let mut per_row_table = super::dump::by_table(rows_of.len(), &tasks, dumped).into_iter();
    let mut per_file_table = sums.into_iter();
    let outcome = (0..tables.len()).map(|i| {
        if as_file[i] {
            let (rows, checksum) = per_file_table.next().unwrap_or_default();
            (Dumped { rows, checksum, chunks: Vec::new() }, tablespaces.next())
        } else {
            (per_row_table.next().unwrap_or_default(), None)
        }
    });
    let databases = database_entries(&dbs, outcome);
    let mut manifest = Manifest {
        format: FORMAT,
        handoff_id: handoff_id.to_string(),
        server_version,
        fence: fence.record().clone(),
        binlog,
        encoding: ENCODING.to_string(),
        databases,
        timings_ms: DrainTimings { fence: fence_ms, schema: schema_ms, data: data_ms, total: ms(started) },
        completed_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs() as i64),
    };
    if manifest.tables_as_files() == 0 {
        // Rows only: the format an older reader takes too.
        manifest.format = ROWS_FORMAT;
    }
    let key = root.manifest_key();
    let body = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| DbError::BadManifest { key: key.clone(), message: e.to_string() })?;
    // Create-only: a complete backup is never replaced. A second drain of the same handoff that
    // finds one stored meanwhile reports that one (the server is fenced either way).
    let manifest = if store.put_if_absent(&key, body)? == Creation::Created {
        manifest
    } else {
        read_manifest(store, prefix, handoff_id)?
    };
    // Only now may writers that hold READ_ONLY ADMIN proceed; ordinary ones stay refused.
    fence.release()?;
    Ok(manifest)
}
