//! Base backups while writes go on: a drain that does not fence, tied to its place in the log.
//!
//! A control session takes `BACKUP STAGE START`, `FLUSH` and `BLOCK_DDL` (no DDL while the schema
//! is read), then `BLOCK_COMMIT` for the few milliseconds it takes to open the readers'
//! consistent snapshots, so that all of them see the database at one binlog position, read from
//! `binlog_snapshot_file/position` (the snapshot's own, exact; `@@gtid_binlog_pos` is not); then
//! `BACKUP STAGE END`. The rows are read, checksummed and stored exactly as a drain's, in the
//! drain's layout under `P/bases/<id>/`; the manifest goes last but one, and `base.json` —
//! create-only, naming the position, its GTID and the CRC of the event that ends there — last.
//! No `base.json`, no base. Run it niced (its unit does): on two cores the backup's CPU, not its
//! I/O, is what slows the writers.

use super::clock::{base_id, now_ms};
use super::error::{ProtectError, Result};
use super::files::LocalLog;
use super::server;
use super::timeline;
use crate::backup::dump::{by_table, database_entries, dump_from, DumpSettings, TableRef};
use crate::backup::manifest::{BinlogPosition, DrainTimings, FenceRecord, Manifest, ROWS_FORMAT};
use crate::backup::reads::plan_reads;
use crate::backup::rows::{sha256_hex, ENCODING};
use crate::backup::schema::{self, table_size};
use crate::error::{DbError, SqlContext};
use crate::session::{connect, schema_settings, snapshot_session};
use crate::store::{BlobStore, Creation};
use mysql::prelude::Queryable;
use serde::{Deserialize, Serialize};
use spotctl_layout::log::{base_record_key, bases};
use spotctl_layout::BackupRoot;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const BASE_FORMAT: u32 = 1;

#[derive(Debug, Clone)]
pub struct BaseOptions {
    /// The env's database: the only one a base carries.
    pub database: String,
    pub readers: usize,
    pub uploaders: usize,
    pub chunk_bytes: usize,
    pub zstd_level: i32,
    /// How long `BLOCK_DDL` and `BLOCK_COMMIT` may wait for running DDL and commits.
    pub lock_timeout: Duration,
    /// Who takes it (the credentials' `aws:userid`): named in timeline 1 should this base begin it.
    pub writer: Option<String>,
}

impl Default for BaseOptions {
    fn default() -> Self {
        BaseOptions {
            database: "appdb".into(),
            readers: 2,
            uploaders: 2,
            chunk_bytes: 4 << 20,
            zstd_level: 1,
            lock_timeout: Duration::from_secs(30),
            writer: None,
        }
    }
}

/// Where a base stands in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasePosition {
    pub file: String,
    pub offset: u64,
    /// `BINLOG_GTID_POS(file, offset)`: each domain's last transaction in the base.
    pub gtid: String,
    /// CRC32 of the event that ends at `offset` (hex): ties the base to these exact log bytes,
    /// so a base taken on another server (same file names, same GTID numbers) is told apart.
    pub last_event_crc: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseTimings {
    /// BLOCK_DDL to BACKUP STAGE END: schema read and snapshots opened.
    pub staged: u64,
    /// How long commits were blocked while the snapshots opened.
    pub commits_blocked: u64,
    pub data: u64,
    pub total: u64,
}

/// `P/bases/<id>/base.json`: the base is complete, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRecord {
    pub format: u32,
    pub id: String,
    /// The timeline whose log continues from this base.
    pub timeline: u32,
    /// When the snapshots were opened (ms since 1970): every transaction in the base committed
    /// before, so it serves any recovery target after.
    pub taken_at_ms: u64,
    pub position: BasePosition,
    pub database: String,
    pub server_version: String,
    pub rows: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    /// SHA-256 of the stored manifest: the base is exactly that manifest.
    pub manifest_sha256: String,
    pub timings_ms: BaseTimings,
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Takes a base backup of `opts.database` on the server at `dsn` (which must be configured for
/// protection and whose binary log must be on this host) while writes go on.
pub fn base_backup(dsn: &str, store: &dyn BlobStore, prefix: &str, opts: &BaseOptions) -> Result<BaseRecord> {
    let started = Instant::now();
    let mut control = connect(dsn)?;
    let server = server::check(&mut control)?;
    let local = LocalLog::of(&server);
    // Only the primary's log continues from its base: a fenced server (an old primary after its
    // handoff) would label its own data with the new primary's timeline.
    let read_only: Option<u8> =
        control.query_first("SELECT @@GLOBAL.read_only").sql(|| "reading read_only".into())?;
    if read_only != Some(0) {
        return Err(ProtectError::Fenced { what: "a base backup" });
    }
    // A base begins timeline 1 only before any shipper or agent did.
    let timeline = timeline::current(store, prefix, opts.writer.as_deref())?.record.timeline;
    schema_settings(&mut control)?;
    let secs = opts.lock_timeout.as_secs().max(1);
    control
        .query_drop(format!("SET SESSION lock_wait_timeout = {secs}"))
        .sql(|| "setting lock_wait_timeout".into())?;

    let staged_at = Instant::now();
    for stage in ["START", "FLUSH", "BLOCK_DDL"] {
        control.query_drop(format!("BACKUP STAGE {stage}")).sql(|| format!("BACKUP STAGE {stage}"))?;
    }
    let staged = (|| -> Result<_> {
        let dbs = schema::read(&mut control, std::slice::from_ref(&opts.database))?;
        let sizes = dbs
            .iter()
            .flat_map(|d| d.tables.iter().map(move |t| (d, t)))
            .map(|(d, t)| table_size(&mut control, &d.name, &t.name, t.split_key.as_deref(), t.est_bytes))
            .collect::<crate::error::Result<Vec<_>>>()?;
        control.query_drop("BACKUP STAGE BLOCK_COMMIT").sql(|| "BACKUP STAGE BLOCK_COMMIT".into())?;
        let blocked = Instant::now();
        let sessions =
            (0..opts.readers.max(1)).map(|_| snapshot_session(dsn)).collect::<crate::error::Result<Vec<_>>>();
        let taken_at_ms = now_ms();
        let commits_blocked = ms(blocked);
        let mut sessions = sessions?;
        let status: Vec<(String, String)> = sessions[0]
            .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
            .sql(|| "reading the snapshot's binlog position".into())?;
        Ok((dbs, sizes, sessions, taken_at_ms, commits_blocked, status))
    })();
    // The stages end whatever happened: writes and DDL must not stay blocked.
    let ended = control.query_drop("BACKUP STAGE END").sql(|| "BACKUP STAGE END".into());
    let (dbs, sizes, sessions, taken_at_ms, commits_blocked, status) = staged?;
    ended?;
    let staged_ms = ms(staged_at);
    let find = |name: &str| status.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let file = find("Binlog_snapshot_file").unwrap_or_default();
    let offset: u64 = find("Binlog_snapshot_position").and_then(|p| p.parse().ok()).unwrap_or(0);
    let gtid: Option<String> = control
        .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (&file, offset))
        .sql(|| format!("BINLOG_GTID_POS('{file}', {offset})"))?;
    let crc =
        local.read_range(&file, offset.saturating_sub(4), offset)?.ok_or_else(|| ProtectError::LogFile {
            path: local.path(&file).display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the base's position is not in this host's binary log",
            ),
        })?;
    let position = BasePosition {
        file: file.clone(),
        offset,
        gtid: gtid.unwrap_or_default(),
        last_event_crc: crc.iter().rev().map(|b| format!("{b:02x}")).collect(),
    };

    let data_at = Instant::now();
    let id = base_id(taken_at_ms);
    let root = BackupRoot::new(&bases(prefix), &id)?;
    let tables: Vec<TableRef<'_>> =
        dbs.iter().flat_map(|d| d.tables.iter().map(|t| TableRef { db: &d.name, table: t })).collect();
    let settings = DumpSettings {
        readers: opts.readers.max(1),
        uploaders: opts.uploaders.max(1),
        chunk_bytes: opts.chunk_bytes.max(1),
        zstd_level: opts.zstd_level,
    };
    let tasks = plan_reads(&sizes, settings.chunk_bytes as u64);
    let pool = Mutex::new(sessions);
    let take = || pool.lock().unwrap_or_else(|p| p.into_inner()).pop().ok_or(DbError::Aborted);
    let dumped = dump_from(&take, store, &root, &tables, &tasks, &settings)?;
    let per_table = by_table(tables.len(), &tasks, dumped).into_iter().map(|d| (d, None));
    let databases = database_entries(&dbs, per_table);
    let data = ms(data_at);
    let manifest = Manifest {
        format: ROWS_FORMAT,
        handoff_id: id.clone(),
        server_version: server.version.clone(),
        fence: FenceRecord {
            statements: ["START", "FLUSH", "BLOCK_DDL", "BLOCK_COMMIT", "END"]
                .map(|s| format!("BACKUP STAGE {s}"))
                .to_vec(),
            read_only_left_on: false,
        },
        binlog: Some(BinlogPosition { file, position: offset, gtid: Some(position.gtid.clone()) }),
        encoding: ENCODING.to_string(),
        databases,
        timings_ms: DrainTimings { fence: commits_blocked, schema: staged_ms, data, total: ms(started) },
        completed_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok()),
    };
    let key = root.manifest_key();
    let body = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ProtectError::BadRecord { key: key.clone(), message: e.to_string() })?;
    let manifest_sha256 = sha256_hex(&body);
    // Create-only, as the bucket policy requires of every manifest (ARD.md, *Trust boundaries*).
    if store.put_if_absent(&key, body)? == Creation::Existed {
        return Err(ProtectError::BadRecord {
            key,
            message: "another base wrote a manifest under this id (same second)".into(),
        });
    }
    check_stored(store, &root, &manifest)?;
    let record = BaseRecord {
        format: BASE_FORMAT,
        id: id.clone(),
        timeline,
        taken_at_ms,
        position,
        database: opts.database.clone(),
        server_version: server.version,
        rows: manifest.rows(),
        raw_bytes: manifest.raw_bytes(),
        stored_bytes: manifest.stored_bytes(),
        manifest_sha256,
        timings_ms: BaseTimings { staged: staged_ms, commits_blocked, data, total: ms(started) },
    };
    let key = base_record_key(prefix, &id);
    let body = serde_json::to_vec_pretty(&record)
        .map_err(|e| ProtectError::BadRecord { key: key.clone(), message: e.to_string() })?;
    match store.put_if_absent(&key, body)? {
        Creation::Created => Ok(record),
        Creation::Existed => Err(ProtectError::BadRecord {
            key,
            message: "another base was completed under this id (same second)".into(),
        }),
    }
}

/// Every chunk the manifest names is in the store (a drain's upload succeeded for each; this
/// proves the store kept them before the base is declared complete).
fn check_stored(store: &dyn BlobStore, root: &BackupRoot, m: &Manifest) -> Result<()> {
    let listed: std::collections::BTreeSet<String> = store.list(&format!("{root}/"))?.into_iter().collect();
    match m.tables().flat_map(|(_, t)| &t.chunks).find(|c| !listed.contains(&c.key)) {
        Some(c) => Err(DbError::MissingChunk { key: c.key.clone() }.into()),
        None => Ok(()),
    }
}

/// Every complete base under `prefix`, oldest first.
pub fn list_bases(store: &dyn BlobStore, prefix: &str) -> Result<Vec<BaseRecord>> {
    let mut out = Vec::new();
    for key in store.list(&format!("{}/", bases(prefix)))? {
        if !key.ends_with("/base.json") {
            continue;
        }
        let Some(body) = store.get(&key)? else { continue };
        let bad = |message: String| ProtectError::BadRecord { key: key.clone(), message };
        let r: BaseRecord = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
        if r.format != BASE_FORMAT || base_record_key(prefix, &r.id) != key {
            return Err(bad(format!(
                "format {} id {}: not a format-{BASE_FORMAT} record of this key",
                r.format, r.id
            )));
        }
        out.push(r);
    }
    out.sort_by(|a, b| a.taken_at_ms.cmp(&b.taken_at_ms).then(a.id.cmp(&b.id)));
    Ok(out)
}
