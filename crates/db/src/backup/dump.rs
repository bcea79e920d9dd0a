//! The data phase of a drain: reader threads run the read plan inside their snapshots, cut the
//! encoded rows into chunks, compress each and hand it to uploader threads over a bounded channel.
//!
//! Memory stays bounded whatever the database size: each reader holds one chunk being filled and
//! one compressed, the channel holds at most one compressed chunk per uploader, and each uploader
//! one in flight. A failed upload stops the readers at their next chunk.

use super::manifest::{Chunk, DatabaseEntry, TableEntry, Tablespace};
use super::reads::{select_sql, ReadTask};
use super::rows::{scan, sha256_hex, Checksum};
use super::schema::{DatabaseSchema, TableSchema};
use crate::error::{DbError, Result};
use crate::pool;
use crate::session::snapshot_session;
use crate::store::{BlobError, BlobStore};
use crossbeam_channel::Sender;
use spotctl_layout::BackupRoot;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Clone, Copy)]
pub struct TableRef<'a> {
    pub db: &'a str,
    pub table: &'a TableSchema,
}

pub struct DumpSettings {
    pub readers: usize,
    pub uploaders: usize,
    pub chunk_bytes: usize,
    pub zstd_level: i32,
}

/// What one read task produced.
#[derive(Default)]
pub struct Dumped {
    pub rows: u64,
    pub checksum: Checksum,
    pub chunks: Vec<Chunk>,
}

struct Upload {
    key: String,
    body: Vec<u8>,
}

struct Reader {
    conn: mysql::Conn,
    zstd: zstd::bulk::Compressor<'static>,
    buf: Vec<u8>,
}

/// Runs `tasks` and stores every chunk under `root`; returns each task's outcome, in task order.
/// Returns only when every upload has finished: on `Ok`, every listed chunk is stored.
pub fn dump(
    dsn: &str,
    store: &dyn BlobStore,
    root: &BackupRoot,
    tables: &[TableRef<'_>],
    tasks: &[ReadTask],
    s: &DumpSettings,
) -> Result<Vec<Dumped>> {
    dump_from(&|| snapshot_session(dsn), store, root, tables, tasks, s)
}

/// [`dump`] with the readers' snapshot sessions made by `session` (a base backup hands over
/// sessions it opened while commits were blocked, so that all share one binlog position).
pub fn dump_from(
    session: &(dyn Fn() -> Result<mysql::Conn> + Sync),
    store: &dyn BlobStore,
    root: &BackupRoot,
    tables: &[TableRef<'_>],
    tasks: &[ReadTask],
    s: &DumpSettings,
) -> Result<Vec<Dumped>> {
    let abort = AtomicBool::new(false);
    let upload_error: Mutex<Option<BlobError>> = Mutex::new(None);
    let (tx, rx) = crossbeam_channel::bounded::<Upload>(s.uploaders.max(1));
    let outcome = std::thread::scope(|sc| {
        let uploaders: Vec<_> = (0..s.uploaders.max(1))
            .map(|_| {
                let rx = rx.clone();
                let (abort, upload_error) = (&abort, &upload_error);
                // Keeps receiving after a failure (and drops what it gets) so no reader blocks.
                sc.spawn(move || {
                    for up in rx.iter() {
                        if abort.load(Ordering::SeqCst) {
                            continue;
                        }
                        if let Err(e) = store.put(&up.key, up.body) {
                            abort.store(true, Ordering::SeqCst);
                            upload_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                        }
                    }
                })
            })
            .collect();
        drop(rx);
        let read = pool::run(
            s.readers,
            tasks,
            &abort,
            || Reader::open(session()?, s),
            |r, task| r.read(root, &tables[task.table], task, s.chunk_bytes, &tx, &abort),
        );
        drop(tx);
        let panicked = uploaders.into_iter().map(|u| u.join()).any(|j| j.is_err());
        if panicked {
            return Err(DbError::Panicked);
        }
        read
    });
    if let Some(e) = upload_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(DbError::Blob(e));
    }
    outcome
}

/// Sums each table's tasks (`tasks` and `dumped` in the same order): rows and checksums add up,
/// chunks are listed in key order.
pub fn by_table(tables: usize, tasks: &[ReadTask], dumped: Vec<Dumped>) -> Vec<Dumped> {
    let mut out: Vec<Dumped> = (0..tables).map(|_| Dumped::default()).collect();
    for (task, d) in tasks.iter().zip(dumped) {
        // The planner numbers tables by their position in the list it was given.
        let t = &mut out[task.table];
        t.rows += d.rows;
        t.checksum.merge(d.checksum);
        t.chunks.extend(d.chunks);
    }
    for t in &mut out {
        t.chunks.sort_by(|a, b| a.key.cmp(&b.key));
    }
    out
}

/// A zstd compressor at `level`, with a frame checksum: decompression itself notices a damaged
/// object. Chunks of rows and parts of table files are both made with it.
pub fn compressor(level: i32) -> Result<zstd::bulk::Compressor<'static>> {
    let codec_err = |source| DbError::Codec { key: "(compressor)".into(), source };
    let mut zstd = zstd::bulk::Compressor::new(level).map_err(codec_err)?;
    zstd.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true)).map_err(codec_err)?;
    Ok(zstd)
}

impl Reader {
    fn open(conn: mysql::Conn, s: &DumpSettings) -> Result<Reader> {
        let zstd = compressor(s.zstd_level)?;
        let buf = Vec::with_capacity(s.chunk_bytes + (64 << 10));
        Ok(Reader { conn, zstd, buf })
    }

    fn read(
        &mut self,
        root: &BackupRoot,
        t: &TableRef<'_>,
        task: &ReadTask,
        chunk_bytes: usize,
        tx: &Sender<Upload>,
        abort: &AtomicBool,
    ) -> Result<Dumped> {
        let sql = select_sql(t.db, &t.table.name, &t.table.columns, t.table.split_key.as_deref(), task);
        let Reader { conn, zstd, buf } = self;
        let mut out = Dumped::default();
        let mut chunk_rows = 0u64;
        let mut ship = |buf: &mut Vec<u8>, rows: &mut u64, out: &mut Dumped| -> Result<()> {
            if abort.load(Ordering::SeqCst) {
                return Err(DbError::Aborted);
            }
            let key = root.chunk_key(t.db, &t.table.name, task.seq, out.chunks.len());
            let body = zstd.compress(buf).map_err(|source| DbError::Codec { key: key.clone(), source })?;
            out.chunks.push(Chunk {
                key: key.clone(),
                rows: *rows,
                raw_bytes: buf.len() as u64,
                stored_bytes: body.len() as u64,
                sha256: sha256_hex(&body),
            });
            tx.send(Upload { key, body }).map_err(|_| DbError::Aborted)?;
            buf.clear();
            *rows = 0;
            Ok(())
        };
        buf.clear();
        scan(conn, &sql, |line| {
            buf.extend_from_slice(line);
            buf.push(b'\n');
            out.checksum.add_row(line);
            out.rows += 1;
            chunk_rows += 1;
            if buf.len() >= chunk_bytes {
                ship(buf, &mut chunk_rows, &mut out)?;
            }
            Ok(())
        })?;
        if !buf.is_empty() {
            ship(buf, &mut chunk_rows, &mut out)?;
        }
        Ok(out)
    }
}

/// The manifest's entries for `dbs`: each table (in schema order) with what was stored of it,
/// rows and chunks, and its tablespace when it travelled as its files.
pub fn database_entries(
    dbs: &[DatabaseSchema],
    mut per_table: impl Iterator<Item = (Dumped, Option<Tablespace>)>,
) -> Vec<DatabaseEntry> {
    dbs.iter()
        .map(|d| DatabaseEntry {
            name: d.name.clone(),
            charset: d.charset.clone(),
            collation: d.collation.clone(),
            tables: d
                .tables
                .iter()
                .zip(per_table.by_ref())
                .map(|(t, (dumped, tablespace))| TableEntry {
                    name: t.name.clone(),
                    create: t.create.clone(),
                    auto_increment: t.auto_increment,
                    columns: t.columns.clone(),
                    split_key: t.split_key.clone(),
                    rows: dumped.rows,
                    checksum: dumped.checksum.hex(),
                    chunks: dumped.chunks,
                    tablespace,
                })
                .collect(),
            routines: d.routines.clone(),
            views: d.views.clone(),
            triggers: d.triggers.clone(),
        })
        .collect()
}
