//! The apply lock: one object created with `If-None-Match: *`.
//!
//! Whoever creates `state/lock.json` holds the lock; everybody else is told who holds it and since
//! when. A crashed holder leaves the object behind: `--break-lock` deletes it explicitly, after
//! showing whose it was. The lock lives in the state bucket, so the first apply creates the bucket
//! (an idempotent step) before taking it.

use super::json::{get_json, json_body};
use super::store::{StateStore, StoreError};
use crate::sdk::clock::now_unix;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use spotctl_core::names::keys;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub holder: String,
    pub command: String,
    pub pid: u32,
    pub since_unix: i64,
}

impl LockInfo {
    pub fn here(command: &str) -> LockInfo {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        LockInfo {
            holder: format!("{user}@{host}"),
            command: command.to_string(),
            pid: std::process::id(),
            since_unix: now_unix(),
        }
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {}, `{}`, since {})",
            self.holder,
            self.pid,
            self.command,
            spotctl_core::time::rfc3339(self.since_unix)
        )
    }
}

/// A held lock. Release it with `release`; dropping it without releasing leaves a stale lock, which
/// is the honest outcome of a crash.
pub struct Lock<'a> {
    store: &'a dyn StateStore,
}

impl<'a> Lock<'a> {
    pub async fn acquire(store: &'a dyn StateStore, info: &LockInfo) -> Result<Lock<'a>> {
        match store.put_if_absent(keys::LOCK, json_body(keys::LOCK, info)?).await {
            Ok(_) => Ok(Lock { store }),
            Err(StoreError::Conflict { .. }) => {
                let holder = match get_json::<LockInfo>(store, keys::LOCK).await {
                    Ok(Some((h, _))) => h.to_string(),
                    _ => "an unknown holder".to_string(),
                };
                bail!(
                    "the env is locked by {holder}; if that run is dead, run again with --break-lock \
                     ({}/{})",
                    store.location(),
                    keys::LOCK
                )
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn release(self) -> Result<()> {
        Ok(self.store.delete(keys::LOCK).await?)
    }

    /// Deletes a lock left by a dead run; returns who held it.
    pub async fn break_stale(store: &dyn StateStore) -> Result<Option<LockInfo>> {
        let held = get_json::<LockInfo>(store, keys::LOCK).await.ok().flatten().map(|(h, _)| h);
        store.delete(keys::LOCK).await?;
        Ok(held)
    }
}
