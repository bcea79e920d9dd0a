//! The seams through which a [`Mutation`] plants its bug: the database an agent keeps, the state
//! bucket as a standby's agent reads it, and Route 53 as the agents change it. Each wraps the
//! twin and, with no mutation, is the twin itself.

use crate::mutation::Mutation;
use async_trait::async_trait;
use spotctl_aws::dns::{Dns, DnsError};
use spotctl_aws::handoff::{Database, Drained, LogTarget, MemoryDatabase, Restored, Sealed};
use spotctl_aws::protect::BackupsError;
use spotctl_aws::state::{Etag, StateStore, StoreError, Versioned};
use spotctl_core::endpoint::EndpointRecord;
use spotctl_core::handoff::HealthChecks;
use spotctl_db::backup::progress::Progress;
use std::sync::Arc;

type Result<T> = std::result::Result<T, BackupsError>;

/// The database twin as an agent reaches it, with the run's mutation planted.
pub struct MutantDb {
    pub db: MemoryDatabase,
    pub mutation: Mutation,
}

impl MutantDb {
    fn writes_back_on(&self) {
        if self.mutation == Mutation::DrainLeavesWritesOn {
            self.db.tamper(|g| g.read_only = false);
        }
    }

    fn drops_last_row(&self, when: Mutation) {
        if self.mutation == when {
            self.db.tamper(|g| {
                g.rows.pop();
            });
        }
    }

    /// What a restore that verified nothing says (`RestoreUnverified`), if that is the mutation.
    async fn unverified(&self, replayed: Option<u64>) -> Option<Restored> {
        if self.mutation != Mutation::RestoreUnverified {
            return None;
        }
        spotctl_aws::sdk::twin::interleave().await;
        Some(Restored { tables: 1, rows: 0, ms: 0, replayed })
    }
}

#[async_trait]
impl Database for MutantDb {
    async fn drain(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Drained> {
        let drained = self.db.drain(store, id).await?;
        self.writes_back_on();
        Ok(drained)
    }

    async fn seal(&self, store: Arc<dyn StateStore>, id: &str, epoch: u64) -> Result<Sealed> {
        let sealed = self.db.seal(store, id, epoch).await?;
        self.writes_back_on();
        Ok(sealed)
    }

    async fn restore(
        &self,
        store: Arc<dyn StateStore>,
        id: &str,
        progress: Arc<Progress>,
    ) -> Result<Restored> {
        if let Some(r) = self.unverified(None).await {
            return Ok(r);
        }
        let id = match self.mutation {
            Mutation::RestoreOldestBackup => {
                oldest_drain(store.as_ref()).await?.unwrap_or_else(|| id.to_string())
            }
            _ => id.to_string(),
        };
        let restored = self.db.restore(store, &id, progress).await?;
        self.drops_last_row(Mutation::RestoreDropsLastRow);
        Ok(restored)
    }

    async fn recover_log(
        &self,
        store: Arc<dyn StateStore>,
        epoch: u64,
        to: &LogTarget,
        progress: Arc<Progress>,
    ) -> Result<Restored> {
        if let Some(r) = self.unverified(Some(0)).await {
            return Ok(r);
        }
        let restored = self.db.recover_log(store, epoch, to, progress).await?;
        match to {
            LogTarget::Seal(_) => self.drops_last_row(Mutation::RestoreDropsLastRow),
            _ => self.drops_last_row(Mutation::RecoveryDropsLastRow),
        }
        Ok(restored)
    }

    async fn begin_log(&self, store: Arc<dyn StateStore>, epoch: u64) -> Result<u32> {
        self.db.begin_log(store, epoch).await
    }

    async fn writable(&self) -> Result<bool> {
        self.db.writable().await
    }

    async fn set_writable(&self, on: bool) -> Result<()> {
        self.db.set_writable(on).await
    }

    async fn health(&self) -> HealthChecks {
        self.db.health().await
    }
}

/// The oldest handoff whose drain is stored (its manifest exists).
async fn oldest_drain(store: &dyn StateStore) -> Result<Option<String>> {
    let keys = store.list(&spotctl_layout::backup::handoff_drains()).await.map_err(BackupsError::from)?;
    let epoch =
        |id: &str| id.trim_start_matches(|c: char| !c.is_ascii_digit()).parse::<u64>().unwrap_or(u64::MAX);
    Ok(keys
        .iter()
        .filter_map(|k| match spotctl_layout::Key::parse(k)? {
            spotctl_layout::Key::DrainManifest(id) => Some(id.to_string()),
            _ => None,
        })
        .min_by_key(|id| epoch(id)))
}

/// The state bucket as an actor reads it with a planted bug: each read passes through `lens`;
/// every write, listing and older version goes through untouched.
pub struct Misread {
    pub store: Arc<dyn StateStore>,
    pub lens: fn(&str, Option<Versioned>) -> Option<Versioned>,
}

/// Under [`Mutation::TrustForgedRecords`], every actor's view: an opening that is not there reads
/// as one `apply` wrote, so any record is taken as opened.
pub fn opening_blind(store: Arc<dyn StateStore>) -> Misread {
    Misread {
        store,
        lens: |key, got| {
            let Some(spotctl_layout::Key::Opening(epoch, who)) = spotctl_layout::Key::parse(key) else {
                return got;
            };
            got.or_else(|| {
                let o = spotctl_core::handoff::Opening::new(
                    epoch,
                    who,
                    None,
                    spotctl_core::handoff::OpenedBy::Apply,
                    0,
                );
                Some(Versioned { body: serde_json::to_vec(&o).ok()?, etag: "\"blind\"".into() })
            })
        },
    }
}

/// Under [`Mutation::PromoteBeforeFence`], a standby's agent's view: every handoff says the
/// control plane fenced its old primary (`old_fenced`), whether it did or not.
pub fn fence_blind(store: Arc<dyn StateStore>) -> Misread {
    Misread {
        store,
        lens: |key, got| {
            let mut v = got?;
            if key.starts_with(spotctl_layout::state::HANDOFFS) {
                if let Ok(mut h) = serde_json::from_slice::<serde_json::Value>(&v.body) {
                    if let Some(steps) = h.get_mut("steps").and_then(serde_json::Value::as_object_mut) {
                        let at = steps.values().filter_map(serde_json::Value::as_i64).max().unwrap_or(0);
                        steps.entry("old_fenced").or_insert(at.into());
                    }
                    v.body = serde_json::to_vec(&h).unwrap_or(v.body);
                }
            }
            Some(v)
        },
    }
}

#[async_trait]
impl StateStore for Misread {
    async fn get(&self, key: &str) -> std::result::Result<Option<Versioned>, StoreError> {
        Ok((self.lens)(key, self.store.get(key).await?))
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> std::result::Result<Etag, StoreError> {
        self.store.put(key, body).await
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> std::result::Result<Etag, StoreError> {
        self.store.put_if_absent(key, body).await
    }

    async fn put_if_match(
        &self,
        key: &str,
        etag: &str,
        body: Vec<u8>,
    ) -> std::result::Result<Etag, StoreError> {
        self.store.put_if_match(key, etag, body).await
    }

    async fn list(&self, prefix: &str) -> std::result::Result<Vec<String>, StoreError> {
        self.store.list(prefix).await
    }

    async fn delete(&self, key: &str) -> std::result::Result<(), StoreError> {
        self.store.delete(key).await
    }

    async fn delete_if_match(&self, key: &str, etag: &str) -> std::result::Result<(), StoreError> {
        self.store.delete_if_match(key, etag).await
    }

    async fn older_versions(&self, key: &str) -> std::result::Result<Vec<String>, StoreError> {
        self.store.older_versions(key).await
    }

    async fn get_version(
        &self,
        key: &str,
        version: &str,
    ) -> std::result::Result<Option<Vec<u8>>, StoreError> {
        self.store.get_version(key, version).await
    }

    fn location(&self) -> String {
        self.store.location()
    }
}

/// Route 53 as the agents change the endpoint, with the run's mutation planted: a change written
/// with the next epoch ([`Mutation::EndpointAhead`]), or accepted and lost
/// ([`Mutation::EndpointChangesLost`]).
pub struct MutantDns<D> {
    pub dns: D,
    pub mutation: Mutation,
}

#[async_trait]
impl<D: Dns> Dns for MutantDns<D> {
    async fn read(&self, zone: &str, name: &str) -> std::result::Result<Option<EndpointRecord>, DnsError> {
        self.dns.read(zone, name).await
    }

    async fn swap(
        &self,
        zone: &str,
        name: &str,
        expect: Option<&EndpointRecord>,
        new: &EndpointRecord,
    ) -> std::result::Result<(), DnsError> {
        match self.mutation {
            Mutation::EndpointChangesLost => {
                spotctl_aws::sdk::twin::interleave().await;
                Ok(())
            }
            Mutation::EndpointAhead => {
                let ahead = EndpointRecord { epoch: new.epoch + 1, ..new.clone() };
                self.dns.swap(zone, name, expect, &ahead).await
            }
            _ => self.dns.swap(zone, name, expect, new).await,
        }
    }

    async fn remove(&self, zone: &str, name: &str) -> std::result::Result<(), DnsError> {
        self.dns.remove(zone, name).await
    }
}
