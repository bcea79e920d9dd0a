//! The database server an agent keeps, as a seam: drain it to a handoff's backup, restore a backup
//! into it (verified), lift its fence. [`MariaDbServer`] is the real one (spotctl-db on blocking
//! threads); [`super::MemoryDatabase`] is its twin for unit tests and the simulation.

use crate::protect::BackupsError;
use crate::protect::StoreBlobs;
use crate::state::StateStore;
use async_trait::async_trait;
use serde::Serialize;
use spotctl_core::handoff::HealthChecks;
use spotctl_db::backup::progress::Progress;
use spotctl_layout::{BackupRoot, BACKUPS};
use std::sync::{Arc, Mutex};

/// What a drain stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drained {
    pub tables: usize,
    pub tables_as_files: usize,
    pub rows: u64,
    pub ms: u64,
}

/// What a sealed drain stored ([`Database::seal`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sealed {
    /// The log timeline that holds everything the server committed.
    pub timeline: u32,
    /// Where its log stood under the fence (a recovery must reach it).
    pub gtid: String,
    /// How long the shipped log took to reach it.
    pub waited_ms: u64,
}

/// How far a recovery from the shipped log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// To the log's end (an unwarned loss: the last second or so may be missing).
    End,
    /// The database as it was at this second (seconds since 1970, UTC).
    Until(u32),
    /// To the log's end, which must reach handoff `id`'s seal: nothing is missing.
    Seal(String),
}

/// What a restore loaded and verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restored {
    pub tables: usize,
    pub rows: u64,
    pub ms: u64,
    /// Transactions replayed from the shipped log after the base (a recovery from the log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed: Option<u64>,
}

/// What the seam's calls return.
pub type Result<T> = std::result::Result<T, BackupsError>;

#[async_trait]
pub trait Database: Send + Sync {
    /// Fences writes, stores the backup of handoff `id` (manifest last) and stays fenced.
    async fn drain(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Drained>;
    /// Fences writes for good, waits until the epoch-`epoch` primary's shipped log holds
    /// everything this server committed, and writes handoff `id`'s seal (create-only). An error
    /// says why the seal cannot stand in for a drain; the server stays fenced either way.
    async fn seal(&self, store: Arc<dyn StateStore>, id: &str, epoch: u64) -> Result<Sealed>;
    /// Restores handoff `id`'s backup; succeeds only when every table verified.
    async fn restore(
        &self,
        store: Arc<dyn StateStore>,
        id: &str,
        progress: Arc<Progress>,
    ) -> Result<Restored>;
    /// Recovers the shipped log into this server (the newest base on its timeline, replayed as
    /// far as `to` says), verified, and keeps the record of the timeline the epoch-`epoch`
    /// primary will ship to: [`Database::begin_log`] begins it once this standby won its
    /// promotion (one that loses must not fork the log a kept primary ships to).
    async fn recover_log(
        &self,
        store: Arc<dyn StateStore>,
        epoch: u64,
        to: &LogTarget,
        progress: Arc<Progress>,
    ) -> Result<Restored>;
    /// The log timeline the epoch-`epoch` primary ships to, begun now if it is not yet
    /// (`spotctl_db::protect::timeline::for_epoch`, continuing this server's recovery when one
    /// was made for this epoch); its shipper may start once this succeeded.
    async fn begin_log(&self, store: Arc<dyn StateStore>, epoch: u64) -> Result<u32>;
    /// Whether this server takes ordinary writes.
    async fn writable(&self) -> Result<bool>;
    /// Lets this server take writes (`true`), or refuses them from now on (`false`).
    async fn set_writable(&self, on: bool) -> Result<()>;
    /// Whether the server can serve: it answers, commits a write, has room on its disk. Never
    /// fails: what did not work is in the result.
    async fn health(&self) -> HealthChecks;
}

/// A health check that has not finished in this long counts as failed (a hung server).
pub const HEALTH_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The local MariaDB server, reached by a DSN (root over the unix socket on an instance).
pub struct MariaDbServer {
    pub dsn: String,
    pub database: String,
    /// The epoch and timeline [`Database::begin_log`] found or began (it is asked on every look).
    began: Mutex<Option<(u64, u32)>>,
    /// The timeline a recovery in this process left for [`Database::begin_log`] to begin once
    /// this server won its promotion (lost with the process: the log then starts afresh).
    recovered: Mutex<Option<spotctl_db::protect::timeline::TimelineRecord>>,
    /// This instance's credentials' `aws:userid`: the writer the timelines it begins name, whose
    /// heartbeat key only these credentials may write.
    pub writer: Option<String>,
}

impl MariaDbServer {
    pub fn new(dsn: String, database: String, writer: Option<String>) -> MariaDbServer {
        MariaDbServer { dsn, database, began: Mutex::new(None), recovered: Mutex::new(None), writer }
    }
}

#[async_trait]
impl Database for MariaDbServer {
    async fn drain(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Drained> {
        let blobs = StoreBlobs { store, handle: tokio::runtime::Handle::current() };
        let (dsn, handoff, root) = (self.dsn.clone(), id.to_string(), BackupRoot::handoff(id)?);
        let opts =
            spotctl_db::backup::DrainOptions { databases: vec![self.database.clone()], ..Default::default() };
        let m = tokio::task::spawn_blocking(move || {
            spotctl_db::backup::drain(&dsn, &blobs, BACKUPS, &handoff, &opts)
        })
        .await
        .map_err(BackupsError::joined("the database"))?
        .map_err(|e| BackupsError::during(format!("draining to {root}"))(e.into()))?;
        Ok(Drained {
            tables: m.tables().count(),
            tables_as_files: m.tables_as_files(),
            rows: m.rows(),
            ms: m.timings_ms.total,
        })
    }

    async fn restore(
        &self,
        store: Arc<dyn StateStore>,
        id: &str,
        progress: Arc<Progress>,
    ) -> Result<Restored> {
        let blobs = StoreBlobs { store, handle: tokio::runtime::Handle::current() };
        let (dsn, handoff, root) = (self.dsn.clone(), id.to_string(), BackupRoot::handoff(id)?);
        // Only the env's database is written, whatever the manifest names (crates/db trust). A
        // standby restores only while the record names another instance, into a server it booted
        // read-only and empty: any table there is an earlier run of this same restore, cut short
        // (the agent restarted), and is replaced rather than refused.
        let opts = spotctl_db::backup::RestoreOptions {
            databases: Some(vec![self.database.clone()]),
            replace_existing: true,
            progress: Some(progress),
            ..Default::default()
        };
        let v = tokio::task::spawn_blocking(move || {
            spotctl_db::backup::restore(&dsn, &blobs, BACKUPS, &handoff, &opts)
        })
        .await
        .map_err(BackupsError::joined("the database"))?
        .map_err(|e| BackupsError::during(format!("restoring {root}"))(e.into()))?;
        Ok(Restored { tables: v.tables.len(), rows: v.rows(), ms: v.timings_ms.total, replayed: None })
    }

    async fn seal(&self, store: Arc<dyn StateStore>, id: &str, epoch: u64) -> Result<Sealed> {
        let blobs = StoreBlobs { store, handle: tokio::runtime::Handle::current() };
        let key = BackupRoot::handoff(id)?.seal_key();
        let (dsn, k) = (self.dsn.clone(), key.clone());
        let opts = spotctl_db::protect::SealOptions::for_epoch(Some(epoch));
        let s =
            tokio::task::spawn_blocking(move || spotctl_db::protect::seal(&dsn, &blobs, BACKUPS, &k, &opts))
                .await
                .map_err(BackupsError::joined("the database"))?
                .map_err(|e| BackupsError::during(format!("sealing {key}"))(e.into()))?;
        Ok(Sealed { timeline: s.timeline, gtid: s.gtid, waited_ms: s.waited_ms })
    }

    async fn recover_log(
        &self,
        store: Arc<dyn StateStore>,
        epoch: u64,
        to: &LogTarget,
        progress: Arc<Progress>,
    ) -> Result<Restored> {
        let blobs = StoreBlobs { store, handle: tokio::runtime::Handle::current() };
        let dsn = self.dsn.clone();
        // As a standby's restore: into a server it booted read-only and empty, where any table is
        // an earlier run of this same recovery, cut short.
        let mut opts = spotctl_db::protect::RecoverOptions {
            database: self.database.clone(),
            replace_existing: true,
            epoch: Some(epoch),
            progress: Some(progress),
            // Begun once this standby won: one that loses forks nothing.
            defer_timeline: true,
            writer: self.writer.clone(),
            ..Default::default()
        };
        let to = to.clone();
        let r = tokio::task::spawn_blocking(move || {
            match to {
                LogTarget::End => {}
                LogTarget::Until(u) => opts.until = Some(u),
                LogTarget::Seal(id) => {
                    let key = BackupRoot::handoff(&id)?.seal_key();
                    let seal = spotctl_db::protect::seal::read(&blobs, &key)?.ok_or_else(|| {
                        spotctl_db::protect::ProtectError::BadRecord {
                            key: key.clone(),
                            message: "the drain's seal is gone".into(),
                        }
                    })?;
                    opts.at_least = Some((key, seal.gtid));
                }
            }
            spotctl_db::protect::recover(&dsn, &blobs, BACKUPS, &opts)
        })
        .await
        .map_err(BackupsError::joined("the database"))?
        .map_err(|e| BackupsError::during(format!("recovering the shipped log under {BACKUPS}"))(e.into()))?;
        if let Ok(mut g) = self.recovered.lock() {
            *g = r.timeline_record.clone();
        }
        Ok(Restored {
            tables: r.base_verification.tables.len(),
            rows: r.base_verification.rows(),
            ms: r.timings_ms.total,
            replayed: Some(r.applied.transactions),
        })
    }

    async fn begin_log(&self, store: Arc<dyn StateStore>, epoch: u64) -> Result<u32> {
        if let Some((e, t)) = self.began.lock().ok().and_then(|g| *g) {
            if e == epoch {
                return Ok(t);
            }
        }
        let blobs = StoreBlobs { store, handle: tokio::runtime::Handle::current() };
        let recovered = self.recovered.lock().ok().and_then(|g| g.clone());
        let writer = self.writer.clone();
        let t = tokio::task::spawn_blocking(move || {
            spotctl_db::protect::timeline::for_epoch(
                &blobs,
                BACKUPS,
                epoch,
                recovered.as_ref(),
                writer.as_deref(),
            )
        })
        .await
        .map_err(BackupsError::joined("the database"))?
        .map_err(|e| {
            BackupsError::during(format!("beginning the epoch-{epoch} primary's log timeline"))(e.into())
        })?;
        if let Ok(mut g) = self.began.lock() {
            *g = Some((epoch, t.record.timeline));
        }
        Ok(t.record.timeline)
    }

    async fn writable(&self) -> Result<bool> {
        let dsn = self.dsn.clone();
        Ok(tokio::task::spawn_blocking(move || spotctl_db::backup::fence::is_writable(&dsn))
            .await
            .map_err(BackupsError::joined("the database"))??)
    }

    async fn set_writable(&self, on: bool) -> Result<()> {
        let dsn = self.dsn.clone();
        tokio::task::spawn_blocking(move || match on {
            true => spotctl_db::backup::fence::lift(&dsn),
            false => spotctl_db::backup::fence::refuse_writes(&dsn),
        })
        .await
        .map_err(BackupsError::joined("the database"))??;
        Ok(())
    }

    async fn health(&self) -> HealthChecks {
        let dsn = self.dsn.clone();
        let checked = tokio::time::timeout(
            HEALTH_CHECK_TIMEOUT,
            tokio::task::spawn_blocking(move || spotctl_db::health::check(&dsn)),
        )
        .await;
        match checked {
            Ok(Ok(h)) => HealthChecks {
                answers: h.answers,
                writes: h.writes,
                disk_free_bytes: h.disk_free_bytes,
                disk_room: h.disk_room,
                problem: h.problem,
            },
            Ok(Err(_)) => {
                HealthChecks { problem: Some("the health check panicked".into()), ..Default::default() }
            }
            Err(_) => HealthChecks {
                problem: Some(format!(
                    "the server did not finish a health check in {HEALTH_CHECK_TIMEOUT:?}"
                )),
                ..Default::default()
            },
        }
    }
}
