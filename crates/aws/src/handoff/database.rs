//! The database server an agent keeps, as a seam: drain it to a handoff's backup, restore a backup
//! into it (verified), lift its fence. [`MariaDbServer`] is the real one (spotctl-db on blocking
//! threads); [`MemoryDatabase`] is its twin for unit tests and the simulation.

use crate::sdk::clock::{Clock, SystemClock};
use crate::state::{get_json, json_body, StateStore, StoreBlobs};
use anyhow::{Context, Result};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use spotctl_core::handoff::{backup_prefix, manifest_key};
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
}

#[async_trait]
pub trait Database: Send + Sync {
    /// Fences writes, stores the backup of handoff `id` (manifest last) and stays fenced.
    async fn drain(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Drained>;
    /// Restores handoff `id`'s backup; succeeds only when every table verified.
    async fn restore(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Restored>;
    /// Whether this server takes ordinary writes.
    async fn writable(&self) -> Result<bool>;
    /// Lets this server take writes (`true`), or refuses them from now on (`false`).
    async fn set_writable(&self, on: bool) -> Result<()>;
}

/// The local MariaDB server, reached by a DSN (root over the unix socket on an instance).
pub struct MariaDbServer {
    pub dsn: String,
    pub database: String,
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
        Ok(Restored { tables: v.tables.len(), rows: v.rows(), ms: v.timings_ms.total })
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

/// A database in memory: a list of committed rows and a read-only flag. Its backup is one JSON
/// object, `backups/<id>/manifest.json`, holding the rows and their count (which restore checks);
/// a restore replaces the rows whole, as the real one drops and recreates every table.
#[derive(Clone)]
pub struct MemoryDatabase {
    inner: Arc<Mutex<MemoryRows>>,
    clock: Arc<dyn Clock>,
    /// Written into its backups as `drained_by` (the instance it runs on).
    name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryRows {
    pub rows: Vec<u64>,
    pub read_only: bool,
    /// The backup the rows were last restored (and verified) from.
    pub restored_from: Option<String>,
    /// The backup this server last drained into (it is fenced for good since).
    pub drained_into: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct MemoryManifest {
    rows: Vec<u64>,
    count: usize,
    completed_unix: i64,
    drained_by: String,
}

impl MemoryDatabase {
    /// A server as user-data leaves it.
    pub fn new(rows: Vec<u64>, read_only: bool) -> MemoryDatabase {
        MemoryDatabase::with_clock(rows, read_only, Arc::new(SystemClock))
    }

    /// A server whose drains say they completed at `clock`'s time.
    pub fn with_clock(rows: Vec<u64>, read_only: bool, clock: Arc<dyn Clock>) -> MemoryDatabase {
        let rows = MemoryRows { rows, read_only, restored_from: None, drained_into: None };
        MemoryDatabase { inner: Arc::new(Mutex::new(rows)), clock, name: String::new() }
    }

    /// The same server, naming itself `name` in the backups it drains.
    pub fn named(self, name: &str) -> MemoryDatabase {
        MemoryDatabase { name: name.to_string(), ..self }
    }

    /// Whether it takes writes now (cheaper than [`MemoryDatabase::state`]).
    pub fn writable_now(&self) -> bool {
        self.inner.lock().map(|g| !g.read_only).unwrap_or(false)
    }

    pub fn state(&self) -> MemoryRows {
        self.inner.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// An application's commit: accepted only while the server takes writes.
    pub fn commit(&self, row: u64) -> bool {
        let Ok(mut g) = self.inner.lock() else { return false };
        if g.read_only {
            return false;
        }
        g.rows.push(row);
        true
    }

    fn with<T>(&self, f: impl FnOnce(&mut MemoryRows) -> T) -> Result<T> {
        let mut g = self.inner.lock().map_err(|_| anyhow::anyhow!("database lock poisoned"))?;
        Ok(f(&mut g))
    }
}

#[async_trait]
impl Database for MemoryDatabase {
    async fn drain(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Drained> {
        crate::state::interleave().await;
        let rows = self.with(|g| {
            g.read_only = true;
            g.drained_into = Some(id.to_string());
            g.rows.clone()
        })?;
        let key = manifest_key(id);
        let m = MemoryManifest {
            count: rows.len(),
            rows: rows.clone(),
            completed_unix: self.clock.now(),
            drained_by: self.name.clone(),
        };
        let body = json_body(&key, &m)?;
        // Create-only: a second drain of the same handoff never replaces a complete backup.
        match store.put_if_absent(&key, body).await {
            Ok(_) | Err(crate::state::StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Drained { tables: 1, tables_as_files: 0, rows: rows.len() as u64, ms: 0 })
    }

    async fn restore(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Restored> {
        crate::state::interleave().await;
        let key = manifest_key(id);
        let (m, _) = get_json::<MemoryManifest>(store.as_ref(), &key)
            .await?
            .with_context(|| format!("{key} is missing"))?;
        anyhow::ensure!(
            m.rows.len() == m.count,
            "employees: {} rows, manifest says {}",
            m.rows.len(),
            m.count
        );
        let n = m.rows.len() as u64;
        self.with(|g| {
            g.rows = m.rows;
            g.restored_from = Some(id.to_string());
        })?;
        Ok(Restored { tables: 1, rows: n, ms: 0 })
    }

    async fn writable(&self) -> Result<bool> {
        crate::state::interleave().await;
        self.with(|g| !g.read_only)
    }

    async fn set_writable(&self, on: bool) -> Result<()> {
        crate::state::interleave().await;
        self.with(|g| g.read_only = !on)
    }
}
