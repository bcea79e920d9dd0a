//! Restore: schema, data in parallel through `LOAD DATA LOCAL INFILE`, then views, triggers and
//! routines; then every table is verified against the manifest (rows and checksum).

use crate::blob::BlobStore;
use crate::drain::connect;
use crate::manifest::{manifest_key, Chunk, Manifest, TableEntry};
use crate::rows::{encode_row, Checksum};
use crate::schema::{ident, select_list};
use crate::{DbError, Result};
use flate2::read::GzDecoder;
use mysql::prelude::Queryable;
use mysql::{Conn, LocalInfileHandler};
use serde::Serialize;
use std::io::Read;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub tables: Vec<(String, u64, String)>,
    pub load_ms: u64,
    pub verify_ms: u64,
}

pub fn read_manifest(store: &dyn BlobStore, prefix: &str) -> Result<Manifest> {
    let key = manifest_key(prefix);
    let body = store.get(&key)?.ok_or_else(|| DbError::NoManifest(prefix.to_string()))?;
    serde_json::from_slice(&body).map_err(|e| DbError::BadManifest { key, message: e.to_string() })
}

/// Restores the backup under `prefix` into the server at `dsn`, then verifies it.
pub fn restore(dsn: &str, store: &dyn BlobStore, prefix: &str, parallel: usize) -> Result<Verification> {
    let prefix = prefix.trim_end_matches('/');
    let m = read_manifest(store, prefix)?;
    let started = Instant::now();
    let db = ident(&m.database);
    let mut conn = connect(dsn)?;
    conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4"))?;
    conn.query_drop(format!("USE {db}"))?;
    conn.query_drop("SET FOREIGN_KEY_CHECKS = 0")?;
    for t in &m.tables {
        conn.query_drop(format!("DROP TABLE IF EXISTS {}", ident(&t.name)))?;
        conn.query_drop(&t.create)?;
    }
    let work: Vec<(&TableEntry, &Chunk)> =
        m.tables.iter().flat_map(|t| t.chunks.iter().map(move |c| (t, c))).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..parallel.max(1).min(work.len().max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut c = connect(dsn)?;
                    c.query_drop(format!("USE {db}"))?;
                    // The rows were checked on the old primary; the binlog of the new one starts
                    // after the restore (its position is what replicas would start from).
                    c.query_drop("SET FOREIGN_KEY_CHECKS = 0, UNIQUE_CHECKS = 0, SQL_LOG_BIN = 0")?;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some((t, chunk)) = work.get(i) else { break };
                        load_chunk(&mut c, store, t, chunk)?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(DbError::Other("a load thread panicked".into()))))
            .collect()
    });
    for r in results {
        r?;
    }
    create_with_retries(&mut conn, &m.views, "view")?;
    for t in &m.triggers {
        conn.query_drop(t)?;
    }
    for r in &m.routines {
        conn.query_drop(r)?;
    }
    let load_ms = started.elapsed().as_millis() as u64;
    let v = verify_with(&mut conn, &m)?;
    Ok(Verification { tables: v, load_ms, verify_ms: started.elapsed().as_millis() as u64 - load_ms })
}

fn load_chunk(conn: &mut Conn, store: &dyn BlobStore, t: &TableEntry, chunk: &Chunk) -> Result<()> {
    let stored = store.get(&chunk.key)?.ok_or_else(|| DbError::BadManifest {
        key: chunk.key.clone(),
        message: "the manifest names a chunk the store does not have".into(),
    })?;
    let mut raw = Vec::with_capacity(chunk.raw_bytes as usize);
    GzDecoder::new(&stored[..])
        .read_to_end(&mut raw)
        .map_err(|e| DbError::Other(format!("{}: {e}", chunk.key)))?;
    let (targets, sets): (Vec<String>, Vec<String>) = t
        .columns
        .iter()
        .map(|c| {
            if t.bit_columns.contains(c) {
                let var = format!("@bit_{}", c.replace(|ch: char| !ch.is_ascii_alphanumeric(), "_"));
                (var.clone(), format!("{} = CAST({var} AS UNSIGNED)", ident(c)))
            } else {
                (ident(c), String::new())
            }
        })
        .unzip();
    let sets: Vec<String> = sets.into_iter().filter(|s| !s.is_empty()).collect();
    let set_clause = if sets.is_empty() { String::new() } else { format!(" SET {}", sets.join(", ")) };
    let sql = format!(
        "LOAD DATA LOCAL INFILE 'spotctl-chunk' INTO TABLE {} CHARACTER SET binary \
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({}){set_clause}",
        ident(&t.name),
        targets.join(", ")
    );
    // Chunks of one table load in parallel, and InnoDB may pick one loader as a deadlock victim
    // (1213) or time it out (1205). The statement is rolled back whole (autocommit), so loading
    // the chunk again is safe.
    let mut attempt = 0;
    loop {
        let mut once = Some(raw.clone());
        conn.set_local_infile_handler(Some(LocalInfileHandler::new(move |_, sink| {
            if let Some(data) = once.take() {
                std::io::Write::write_all(sink, &data)?;
            }
            Ok(())
        })));
        match conn.query_drop(&sql) {
            Ok(()) => break,
            Err(mysql::Error::MySqlError(e)) if (e.code == 1213 || e.code == 1205) && attempt < 5 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(50 * attempt));
            }
            Err(e) => return Err(e.into()),
        }
    }
    conn.set_local_infile_handler(None);
    Ok(())
}

/// Views may depend on views: create what can be created, and repeat while that makes progress.
fn create_with_retries(conn: &mut Conn, stmts: &[String], what: &str) -> Result<()> {
    let mut left: Vec<&String> = stmts.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        let mut last = None;
        left.retain(|s| match conn.query_drop(s.as_str()) {
            Ok(()) => false,
            Err(e) => {
                last = Some(e);
                true
            }
        });
        if left.len() == before {
            return Err(DbError::Other(format!(
                "cannot create {} {what}(s): {}",
                left.len(),
                last.map(|e| e.to_string()).unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// Recomputes every table's rows and checksum and compares them with the manifest.
pub fn verify(dsn: &str, store: &dyn BlobStore, prefix: &str) -> Result<Vec<(String, u64, String)>> {
    let m = read_manifest(store, prefix.trim_end_matches('/'))?;
    let mut conn = connect(dsn)?;
    verify_with(&mut conn, &m)
}

fn verify_with(conn: &mut Conn, m: &Manifest) -> Result<Vec<(String, u64, String)>> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    for t in &m.tables {
        let sql = format!(
            "SELECT {} FROM {}.{}",
            select_list(&t.columns, &t.bit_columns),
            ident(&m.database),
            ident(&t.name)
        );
        let mut sum = Checksum::default();
        let mut rows = 0u64;
        for row in conn.query_iter(sql)? {
            encode_row(&mut line, &row?.unwrap());
            sum.add_row(&line);
            rows += 1;
        }
        if rows != t.rows {
            return Err(DbError::Mismatch {
                table: t.name.clone(),
                what: "row count",
                restored: rows.to_string(),
                expected: t.rows.to_string(),
            });
        }
        if sum.hex() != t.checksum {
            return Err(DbError::Mismatch {
                table: t.name.clone(),
                what: "checksum",
                restored: sum.hex(),
                expected: t.checksum.clone(),
            });
        }
        out.push((t.name.clone(), rows, sum.hex()));
    }
    Ok(out)
}
