//! Verification: recompute every table's row count and checksum from the server and compare them
//! with the manifest. Restore ends with it; it also runs alone (after a restart, before promoting).

use super::manifest::{read_manifest, Column, Manifest};
use super::progress::{step, Progress};
use super::reads::{ident, plan_reads, select_sql};
use super::rows::{scan, Checksum};
use super::schema::table_size;
use crate::error::{DbError, Result, TableMismatch};
use crate::pool;
use crate::session::{data_session, snapshot_session};
use crate::store::BlobStore;
use serde::Serialize;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// What was checked: every table of the manifest, with the values it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub handoff_id: String,
    pub tables: Vec<TableCheck>,
    pub timings_ms: RestoreTimings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCheck {
    pub database: String,
    pub table: String,
    pub rows: u64,
    pub checksum: String,
}

/// Zero for phases that did not run (`verify` alone runs only the last).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RestoreTimings {
    pub schema: u64,
    pub load: u64,
    /// Routines, views, triggers and events.
    pub objects: u64,
    pub verify: u64,
    pub total: u64,
}

impl Verification {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Bytes of rows each verifying read covers.
const VERIFY_RANGE_BYTES: u64 = 16 << 20;

/// Verifies the server at `dsn` against the manifest of `PREFIX/HANDOFF_ID`.
pub fn verify(
    dsn: &str,
    store: &dyn BlobStore,
    prefix: &str,
    handoff_id: &str,
    workers: usize,
) -> Result<Verification> {
    let started = Instant::now();
    let m = read_manifest(store, prefix, handoff_id)?;
    let tables = verify_manifest(dsn, &m, workers, None)?;
    let verify = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let timings_ms = RestoreTimings { verify, total: verify, ..RestoreTimings::default() };
    Ok(Verification { handoff_id: m.handoff_id, tables, timings_ms })
}

/// A table to count and checksum.
pub(crate) struct ScanTable<'a> {
    pub db: &'a str,
    pub name: &'a str,
    pub columns: &'a [Column],
    pub split_key: Option<&'a str>,
    pub est_bytes: u64,
}

/// Reads every row of `tables` with `workers` snapshot sessions, in key ranges of about
/// `range_bytes`, and returns each table's row count and [`Checksum`], in table order. Verify runs
/// it on the restored server; drain runs it on the old one for tables it copies as files.
pub(crate) fn scan_tables(
    dsn: &str,
    tables: &[ScanTable<'_>],
    range_bytes: u64,
    workers: usize,
    progress: Option<&Progress>,
) -> Result<Vec<(u64, Checksum)>> {
    let mut conn = data_session(dsn)?;
    let sizes = tables
        .iter()
        .map(|t| table_size(&mut conn, t.db, t.name, t.split_key, t.est_bytes))
        .collect::<Result<Vec<_>>>()?;
    drop(conn);
    let tasks = plan_reads(&sizes, range_bytes);
    let abort = AtomicBool::new(false);
    let sums = pool::run(
        workers,
        &tasks,
        &abort,
        || snapshot_session(dsn),
        |c, task| {
            let t = &tables[task.table];
            let sql = select_sql(t.db, t.name, t.columns, t.split_key, task);
            let (mut rows, mut sum) = (0u64, Checksum::default());
            scan(c, &sql, |line| {
                rows += 1;
                sum.add_row(line);
                Ok(())
            })?;
            step(progress, 0);
            Ok((rows, sum))
        },
    )?;
    let mut totals = vec![(0u64, Checksum::default()); tables.len()];
    for (task, (rows, sum)) in tasks.iter().zip(sums) {
        // The planner numbers tables by their position in the list it was given.
        let total = &mut totals[task.table];
        total.0 += rows;
        total.1.merge(sum);
    }
    Ok(totals)
}

/// Recomputes rows and checksum of every table in `m` with `workers` connections; any difference
/// is [`DbError::Verification`], listing every table that differs with both values.
pub fn verify_manifest(
    dsn: &str,
    m: &Manifest,
    workers: usize,
    progress: Option<&Progress>,
) -> Result<Vec<TableCheck>> {
    let entries: Vec<_> = m.tables().collect();
    let scans: Vec<ScanTable<'_>> = entries
        .iter()
        .map(|(d, t)| ScanTable {
            db: &d.name,
            name: &t.name,
            columns: &t.columns,
            split_key: t.split_key.as_deref(),
            est_bytes: t.chunks.iter().map(|c| c.raw_bytes).sum::<u64>()
                + t.tablespace.as_ref().map_or(0, |ts| ts.file_bytes),
        })
        .collect();
    let totals = scan_tables(dsn, &scans, VERIFY_RANGE_BYTES, workers, progress)?;
    let mut checks = Vec::with_capacity(entries.len());
    let mut mismatches = Vec::new();
    for ((d, t), (rows, sum)) in entries.iter().zip(totals) {
        let table = format!("{}.{}", ident(&d.name), ident(&t.name));
        if rows != t.rows {
            let (restored, expected) = (rows.to_string(), t.rows.to_string());
            mismatches.push(TableMismatch { table: table.clone(), what: "row count", restored, expected });
        }
        if sum.hex() != t.checksum {
            let (restored, expected) = (sum.hex(), t.checksum.clone());
            mismatches.push(TableMismatch { table, what: "checksum", restored, expected });
        }
        checks.push(TableCheck {
            database: d.name.clone(),
            table: t.name.clone(),
            rows,
            checksum: sum.hex(),
        });
    }
    if mismatches.is_empty() {
        Ok(checks)
    } else {
        Err(DbError::Verification(mismatches))
    }
}
