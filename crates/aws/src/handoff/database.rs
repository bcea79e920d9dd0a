//! The database server an agent keeps, as a seam: drain it to a handoff's backup, restore a backup
//! into it (verified), lift its fence. [`MariaDbServer`] is the real one (spotctl-db on blocking
//! threads); [`MemoryDatabase`] is its twin for unit tests and the simulation.

use crate::state::{get_json, json_body, StateStore, StoreBlobs};
use anyhow::{Context, Result};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
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
}

#[async_trait]
pub trait Database: Send + Sync {
    /// Fences writes, stores the backup of handoff `id` (manifest last) and stays fenced.
    async fn drain(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Drained>;
    /// Restores handoff `id`'s backup; succeeds only when every table verified.
    async fn restore(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Restored>;
    /// Lets this server take writes.
    async fn lift_fence(&self) -> Result<()>;
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
        // Only the env's database is written, whatever the manifest names (crates/db trust).
        let opts =
            spotctl_db::RestoreOptions { databases: Some(vec![self.database.clone()]), ..Default::default() };
        let v = tokio::task::spawn_blocking(move || {
            spotctl_db::restore(&dsn, &blobs, keys::BACKUPS, &handoff, &opts)
        })
        .await?
        .with_context(|| format!("restoring {}", backup_prefix(id)))?;
        Ok(Restored { tables: v.tables.len(), rows: v.rows(), ms: v.timings_ms.total })
    }

    async fn lift_fence(&self) -> Result<()> {
        let dsn = self.dsn.clone();
        tokio::task::spawn_blocking(move || spotctl_db::fence::lift(&dsn)).await??;
        Ok(())
    }
}

/// A database in memory: a set of committed rows and a read-only flag. Its backup is one JSON
/// object, `backups/<id>/manifest.json`, holding the rows and their count (which restore checks).
#[derive(Clone, Default)]
pub struct MemoryDatabase {
    inner: Arc<Mutex<MemoryRows>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryRows {
    pub rows: Vec<u64>,
    pub read_only: bool,
}

#[derive(Serialize, Deserialize)]
struct MemoryManifest {
    rows: Vec<u64>,
    count: usize,
}

impl MemoryDatabase {
    /// A server as user-data leaves it.
    pub fn new(rows: Vec<u64>, read_only: bool) -> MemoryDatabase {
        MemoryDatabase { inner: Arc::new(Mutex::new(MemoryRows { rows, read_only })) }
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

fn manifest_key(id: &str) -> String {
    format!("{}/manifest.json", backup_prefix(id))
}

#[async_trait]
impl Database for MemoryDatabase {
    async fn drain(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Drained> {
        let rows = self.with(|g| {
            g.read_only = true;
            g.rows.clone()
        })?;
        let key = manifest_key(id);
        let body = json_body(&key, &MemoryManifest { count: rows.len(), rows: rows.clone() })?;
        store.put(&key, body).await?;
        Ok(Drained { tables: 1, tables_as_files: 0, rows: rows.len() as u64, ms: 0 })
    }

    async fn restore(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Restored> {
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
        self.with(|g| g.rows = m.rows)?;
        Ok(Restored { tables: 1, rows: n, ms: 0 })
    }

    async fn lift_fence(&self) -> Result<()> {
        self.with(|g| g.read_only = false)
    }
}
