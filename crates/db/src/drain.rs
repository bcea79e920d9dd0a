//! Drain: fence writes, dump schema and data consistently, store chunks as they fill, manifest last.

use crate::blob::BlobStore;
use crate::manifest::{manifest_key, Chunk, Manifest, TableEntry, Timings, FORMAT};
use crate::rows::{encode_row, Checksum};
use crate::schema::{self, ident, TableShape};
use crate::{DbError, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use mysql::prelude::Queryable;
use mysql::{Conn, Opts};
use std::io::Write;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct DrainOptions {
    pub database: String,
    /// Raw bytes per chunk before it is compressed and stored.
    pub chunk_bytes: usize,
    /// Tables dumped at once (one connection each).
    pub parallel: usize,
}

impl Default for DrainOptions {
    fn default() -> Self {
        DrainOptions { database: "appdb".into(), chunk_bytes: 8 << 20, parallel: 4 }
    }
}

pub fn connect(dsn: &str) -> Result<Conn> {
    Ok(Conn::new(Opts::from_url(dsn)?)?)
}

/// Drains `opts.database` to `store` under `prefix` and returns the manifest it wrote last.
/// The server is left fenced (`read_only`): the old primary never takes a write again.
pub fn drain(dsn: &str, store: &dyn BlobStore, prefix: &str, opts: &DrainOptions) -> Result<Manifest> {
    let started = Instant::now();
    let prefix = prefix.trim_end_matches('/');
    let mut lock = connect(dsn)?;
    // Fence: no write commits after this point. FTWRL waits for running writes to finish.
    lock.query_drop("FLUSH TABLES WITH READ LOCK")?;
    lock.query_drop("SET GLOBAL read_only = ON")?;
    let fence_ms = started.elapsed().as_millis() as u64;
    let binlog: Option<mysql::Row> = lock.query_first("SHOW MASTER STATUS").ok().flatten();
    let binlog = binlog.map(|r| {
        format!("{}:{}", r.get::<String, _>(0).unwrap_or_default(), r.get::<u64, _>(1).unwrap_or(0))
    });
    let gtid: Option<String> = lock.query_first("SELECT @@GLOBAL.gtid_current_pos").ok().flatten();
    let server_version: String = lock.query_first("SELECT VERSION()")?.unwrap_or_default();

    let t_schema = Instant::now();
    let db = &opts.database;
    let shapes = schema::tables(&mut lock, db)?;
    let views = schema::views(&mut lock, db)?;
    let triggers = schema::triggers(&mut lock, db)?;
    let routines = schema::routines(&mut lock, db)?;
    let schema_ms = t_schema.elapsed().as_millis() as u64;

    let t_data = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Vec<TableEntry>>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..opts.parallel.max(1).min(shapes.len().max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut conn = connect(dsn)?;
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(shape) = shapes.get(i) else { break };
                        done.push(dump_table(&mut conn, store, prefix, db, shape, opts.chunk_bytes)?);
                    }
                    Ok(done)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(DbError::Other("a dump thread panicked".into()))))
            .collect()
    });
    let mut tables = Vec::new();
    for r in results {
        tables.extend(r?);
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let data_ms = t_data.elapsed().as_millis() as u64;
    lock.query_drop("UNLOCK TABLES")?;

    let manifest = Manifest {
        format: FORMAT,
        database: db.clone(),
        server_version,
        binlog,
        gtid: gtid.filter(|g| !g.is_empty()),
        fenced: "FLUSH TABLES WITH READ LOCK during the dump; read_only = ON after".into(),
        tables,
        views,
        triggers,
        routines,
        timings_ms: Timings {
            fence: fence_ms,
            schema: schema_ms,
            data: data_ms,
            total: started.elapsed().as_millis() as u64,
        },
    };
    let body = serde_json::to_vec_pretty(&manifest).map_err(|e| DbError::Other(e.to_string()))?;
    store.put(&manifest_key(prefix), body)?;
    Ok(manifest)
}

fn dump_table(
    conn: &mut Conn,
    store: &dyn BlobStore,
    prefix: &str,
    db: &str,
    shape: &TableShape,
    chunk_bytes: usize,
) -> Result<TableEntry> {
    let sql = format!(
        "SELECT {} FROM {}.{}",
        schema::select_list(&shape.columns, &shape.bit_columns),
        ident(db),
        ident(&shape.name)
    );
    let mut sum = Checksum::default();
    let mut rows = 0u64;
    let mut chunks = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(chunk_bytes + 4096);
    let mut chunk_rows = 0u64;
    let mut line = Vec::new();
    let flush = |buf: &mut Vec<u8>, chunk_rows: &mut u64, chunks: &mut Vec<Chunk>| -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let key = format!("{prefix}/data/{}.{:05}.tsv.gz", shape.name, chunks.len());
        let mut gz = GzEncoder::new(Vec::with_capacity(buf.len() / 3), Compression::fast());
        gz.write_all(buf).map_err(|e| DbError::Other(e.to_string()))?;
        let stored = gz.finish().map_err(|e| DbError::Other(e.to_string()))?;
        let chunk = Chunk {
            key: key.clone(),
            rows: *chunk_rows,
            raw_bytes: buf.len() as u64,
            stored_bytes: stored.len() as u64,
        };
        store.put(&key, stored)?;
        chunks.push(chunk);
        buf.clear();
        *chunk_rows = 0;
        Ok(())
    };
    let result = conn.query_iter(sql)?;
    for row in result {
        let row = row?;
        encode_row(&mut line, &row.unwrap());
        sum.add_row(&line);
        buf.extend_from_slice(&line);
        buf.push(b'\n');
        rows += 1;
        chunk_rows += 1;
        if buf.len() >= chunk_bytes {
            flush(&mut buf, &mut chunk_rows, &mut chunks)?;
        }
    }
    flush(&mut buf, &mut chunk_rows, &mut chunks)?;
    Ok(TableEntry {
        name: shape.name.clone(),
        create: shape.create.clone(),
        columns: shape.columns.clone(),
        bit_columns: shape.bit_columns.clone(),
        rows,
        checksum: sum.hex(),
        chunks,
    })
}
