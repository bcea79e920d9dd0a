//! Drain: fence the old primary, read schema and binlog position while nothing can change, dump
//! every table in parallel from one shared snapshot, and store the manifest last.

use crate::blob::BlobStore;
use crate::dump::{dump, DumpSettings, TableRef};
use crate::error::SqlContext;
use crate::fence::Fence;
use crate::layout::{backup_root, manifest_key};
use crate::manifest::{DatabaseEntry, DrainTimings, Manifest, TableEntry, FORMAT};
use crate::plan::{plan_reads, TableSize};
use crate::rows::ENCODING;
use crate::schema::{self, key_bounds};
use crate::{DbError, Result};
use mysql::prelude::Queryable;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct DrainOptions {
    /// The databases to drain; empty means every database but the server's own.
    pub databases: Vec<String>,
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
/// primary takes no ordinary write again (see [`crate::fence`]).
pub fn drain(
    dsn: &str,
    store: &dyn BlobStore,
    prefix: &str,
    handoff_id: &str,
    opts: &DrainOptions,
) -> Result<Manifest> {
    let root = backup_root(prefix, handoff_id)?;
    let started = Instant::now();
    let mut fence = Fence::raise(dsn, opts.fence_timeout)?;
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
    let mut sizes = Vec::with_capacity(tables.len());
    for t in &tables {
        let bounds = match &t.table.split_key {
            Some(key) => key_bounds(fence.conn(), t.db, &t.table.name, key)?,
            None => None,
        };
        sizes.push(TableSize { est_bytes: t.table.est_bytes, bounds });
    }
    let tasks = plan_reads(&sizes, opts.chunk_bytes as u64);
    let schema_ms = ms(t);

    let t = Instant::now();
    let settings = DumpSettings {
        readers: opts.readers,
        uploaders: opts.uploaders,
        chunk_bytes: opts.chunk_bytes.max(1),
        zstd_level: opts.zstd_level,
    };
    let dumped = dump(dsn, store, &root, &tables, &tasks, &settings)?;
    let data_ms = ms(t);

    let mut per_table = crate::dump::by_table(tables.len(), &tasks, dumped).into_iter();
    let databases = dbs
        .iter()
        .map(|d| DatabaseEntry {
            name: d.name.clone(),
            charset: d.charset.clone(),
            collation: d.collation.clone(),
            tables: d
                .tables
                .iter()
                .zip(per_table.by_ref())
                .map(|(t, dumped)| TableEntry {
                    name: t.name.clone(),
                    create: t.create.clone(),
                    auto_increment: t.auto_increment,
                    columns: t.columns.clone(),
                    split_key: t.split_key.clone(),
                    rows: dumped.rows,
                    checksum: dumped.checksum.hex(),
                    chunks: dumped.chunks,
                })
                .collect(),
            routines: d.routines.clone(),
            views: d.views.clone(),
            triggers: d.triggers.clone(),
        })
        .collect();
    let manifest = Manifest {
        format: FORMAT,
        handoff_id: handoff_id.to_string(),
        server_version,
        fence: fence.record().clone(),
        binlog,
        encoding: ENCODING.to_string(),
        databases,
        timings_ms: DrainTimings { fence: fence_ms, schema: schema_ms, data: data_ms, total: ms(started) },
    };
    let key = manifest_key(&root);
    let body = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| DbError::BadManifest { key: key.clone(), message: e.to_string() })?;
    store.put(&key, body)?;
    // Only now may writers that hold READ_ONLY ADMIN proceed; ordinary ones stay refused.
    fence.release()?;
    Ok(manifest)
}
