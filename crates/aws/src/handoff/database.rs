//! The database server an agent keeps, as a seam: drain it to a handoff's backup, restore a backup
//! into it (verified), lift its fence. [`MariaDbServer`] is the real one (spotctl-db on blocking
//! threads); [`super::MemoryDatabase`] is its twin for unit tests and the simulation.

use super::protection::PROTECT_PREFIX;
use crate::state::{StateStore, StoreBlobs};
use anyhow::{Context, Result};
use async_trait::async_trait;
use serde::Serialize;
use spotctl_core::handoff::backup_prefix;
use spotctl_core::names::keys;
use std::sync::{Arc, Mutex};

/// What a drain stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drained {
    pub tables: usize,
    pub tables_as_files: usize,
    pub rows: u64,
    pub ms: u64,
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

#[async_trait]
pub trait Database: Send + Sync {
    /// Fences writes, stores the backup of handoff `id` (manifest last) and stays fenced.
    async fn drain(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Drained>;
    /// Restores handoff `id`'s backup; succeeds only when every table verified.
    async fn restore(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Restored>;
    /// Recovers the shipped log into this server (the newest base on its timeline, replayed to
    /// the log's end), verified, and begins the timeline the epoch-`epoch` primary ships to.
    /// With `until` (seconds since 1970), the database as it was at that second.
    async fn recover_log(
        &self,
        store: Arc<dyn StateStore>,
        epoch: u64,
        until: Option<u32>,
    ) -> Result<Restored>;
    /// The log timeline the epoch-`epoch` primary ships to, begun now if it is not yet
    /// (`spotctl_db::protect::timeline::for_epoch`); its shipper may start once this succeeded.
    async fn begin_log(&self, store: Arc<dyn StateStore>, epoch: u64) -> Result<u32>;
    /// Whether this server takes ordinary writes.
    async fn writable(&self) -> Result<bool>;
    /// Lets this server take writes (`true`), or refuses them from now on (`false`).
    async fn set_writable(&self, on: bool) -> Result<()>;
}

/// The local MariaDB server, reached by a DSN (root over the unix socket on an instance).
pub struct MariaDbServer {
    pub dsn: String,
    pub database: String,
    /// The epoch and timeline [`Database::begin_log`] found or began (it is asked on every look).
    began: Mutex<Option<(u64, u32)>>,
}

impl MariaDbServer {
    pub fn new(dsn: String, database: String) -> MariaDbServer {
        MariaDbServer { dsn, database, began: Mutex::new(None) }
    }
}

#[async_trait]
impl Database for MariaDbServer {
    async fn drain(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Drained> {
        let blobs = StoreBlobs { store, handle: tokio::runtime::Handle::current() };
        let (dsn, handoff) = (self.dsn.clone(), id.to_string());
        let opts = spotctl_db::DrainOptions { databases: vec![self.database.clone()], ..Default::default() };
        let m = tokio::task::spawn_blocking(move || {
            spotctl_db::drain(&dsn, &blobs, keys::BACKUPS, &handoff, &opts)
        })
        .await?
        .with_context(|| format!("draining to {}", backup_prefix(id)))?;
        Ok(Drained {
            tables: m.tables().count(),
            tables_as_files: m.tables_as_files(),
            rows: m.rows(),
            ms: m.timings_ms.total,
        })
    }

    async fn restore(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Restored> {
        let blobs = StoreBlobs { store, handle: tokio::runtime::Handle::current() };
        let (dsn, handoff) = (self.dsn.clone(), id.to_string());
        // Only the env's database is written, whatever the manifest names (crates/db trust). A
        // standby restores only while the record names another instance, into a server it booted
        // read-only and empty: any table there is an earlier run of this same restore, cut short
        // (the agent restarted), and is replaced rather than refused.
        let opts = spotctl_db::RestoreOptions {
            databases: Some(vec![self.database.clone()]),
            replace_existing: true,
            ..Default::default()
        };
        let v = tokio::task::spawn_blocking(move || {
            spotctl_db::restore(&dsn, &blobs, keys::BACKUPS, &handoff, &opts)
        })
        .await?
        .with_context(|| format!("restoring {}", backup_prefix(id)))?;
        Ok(Restored { tables: v.tables.len(), rows: v.rows(), ms: v.timings_ms.total, replayed: None })
    }

    async fn recover_log(
        &self,
        store: Arc<dyn StateStore>,
        epoch: u64,
        until: Option<u32>,
    ) -> Result<Restored> {
        let blobs = StoreBlobs { store, handle: tokio::runtime::Handle::current() };
        let dsn = self.dsn.clone();
        // As a standby's restore: into a server it booted read-only and empty, where any table is
        // an earlier run of this same recovery, cut short.
        let opts = spotctl_db::protect::RecoverOptions {
            database: self.database.clone(),
            replace_existing: true,
            epoch: Some(epoch),
            until,
            ..Default::default()
        };
        let r = tokio::task::spawn_blocking(move || {
            spotctl_db::protect::recover(&dsn, &blobs, PROTECT_PREFIX, &opts)
        })
        .await?
        .with_context(|| format!("recovering the shipped log under {PROTECT_PREFIX}/"))?;
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
        let t = tokio::task::spawn_blocking(move || {
            spotctl_db::protect::timeline::for_epoch(&blobs, PROTECT_PREFIX, epoch)
        })
        .await?
        .with_context(|| format!("beginning the epoch-{epoch} primary's log timeline"))?;
        if let Ok(mut g) = self.began.lock() {
            *g = Some((epoch, t.record.timeline));
        }
        Ok(t.record.timeline)
    }

    async fn writable(&self) -> Result<bool> {
        let dsn = self.dsn.clone();
        Ok(tokio::task::spawn_blocking(move || spotctl_db::fence::is_writable(&dsn)).await??)
    }

    async fn set_writable(&self, on: bool) -> Result<()> {
        let dsn = self.dsn.clone();
        tokio::task::spawn_blocking(move || match on {
            true => spotctl_db::fence::lift(&dsn),
            false => spotctl_db::fence::refuse_writes(&dsn),
        })
        .await??;
        Ok(())
    }
}
