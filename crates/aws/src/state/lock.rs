//! The apply lock: one object created with `If-None-Match: *`.
//!
//! Whoever creates `state/lock.json` holds the lock; everybody else is told who holds it and since
//! when. A crashed holder leaves the object behind: `--break-lock` deletes it explicitly, after
//! showing whose it was, and only if it is still the lock it read (`If-Match`): a lock taken in
//! between by a live run is never broken by accident. The lock lives in the state bucket, so the first apply creates the bucket
//! (an idempotent step) before taking it.

use super::json::{get_json, json_body};
use super::store::{StateStore, StoreError};
use crate::sdk::clock::now_unix;
use serde::{Deserialize, Serialize};
use spotctl_layout::state as keys;

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
    pub async fn acquire(store: &'a dyn StateStore, info: &LockInfo) -> Result<Lock<'a>, StoreError> {
        match store.put_if_absent(keys::LOCK, json_body(keys::LOCK, info)?).await {
            Ok(_) => Ok(Lock { store }),
            Err(StoreError::Conflict { .. }) => {
                let holder = match get_json::<LockInfo>(store, keys::LOCK).await {
                    Ok(Some((h, _))) => h.to_string(),
                    _ => "an unknown holder".to_string(),
                };
                Err(StoreError::Locked { holder, location: store.location(), key: keys::LOCK.to_string() })
            }
            Err(e) => Err(e),
        }
    }

    pub async fn release(self) -> Result<(), StoreError> {
        self.store.delete(keys::LOCK).await
    }

    /// Deletes a lock left by a dead run, if it is still the one read; returns who held it.
    pub async fn break_stale(store: &dyn StateStore) -> Result<Option<LockInfo>, StoreError> {
        let Some(read) = store.get(keys::LOCK).await? else { return Ok(None) };
        let held = serde_json::from_slice::<LockInfo>(&read.body).ok();
        match store.delete_if_match(keys::LOCK, &read.etag).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => Ok(held),
            Err(StoreError::Conflict { .. }) => Err(StoreError::LockMoved),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemoryStore;

    #[tokio::test]
    async fn breaking_deletes_only_the_lock_that_was_read() {
        let store = MemoryStore::default();
        let dead = LockInfo { holder: "a@h".into(), command: "apply".into(), pid: 1, since_unix: 0 };
        Lock::acquire(&store, &dead).await.expect("taken");
        let read = store.get(keys::LOCK).await.expect("get").expect("held");
        // A live run takes the lock between our read and our delete: its lock stays.
        store.delete(keys::LOCK).await.expect("released");
        let live = LockInfo { holder: "b@h".into(), ..dead.clone() };
        Lock::acquire(&store, &live).await.expect("retaken");
        assert!(matches!(
            store.delete_if_match(keys::LOCK, &read.etag).await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(store.get(keys::LOCK).await.expect("get").is_some(), "the live lock is kept");
        // Broken as read: gone, and its holder named.
        let broken = Lock::break_stale(&store).await.expect("broken");
        assert_eq!(broken.map(|h| h.holder), Some("b@h".to_string()));
        assert!(store.get(keys::LOCK).await.expect("get").is_none());
        assert_eq!(Lock::break_stale(&store).await.expect("nothing to break"), None);
    }
}
