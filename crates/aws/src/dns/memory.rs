//! Route 53 in memory, with its rules for a change batch: a DELETE must name a record set exactly
//! as held (values and TTL), a CREATE must not find one, and one failed change rejects the batch.

use super::seam::{Dns, DnsError};
use async_trait::async_trait;
use spotctl_core::endpoint::EndpointRecord;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// (zone, name, type) → (TTL, value).
type Sets = BTreeMap<(String, String, &'static str), (u32, String)>;

#[derive(Clone, Default)]
pub struct MemoryDns {
    sets: Arc<Mutex<Sets>>,
}

enum Change {
    Create(&'static str, u32, String),
    Delete(&'static str, u32, String),
}

impl MemoryDns {
    /// Applies a batch all or nothing, as Route 53 does.
    fn batch(&self, zone: &str, name: &str, changes: Vec<Change>) -> Result<(), DnsError> {
        let mut sets = self.sets.lock().map_err(|_| anyhow::anyhow!("dns lock poisoned"))?;
        let mut next = sets.clone();
        for c in changes {
            match c {
                Change::Delete(t, ttl, v) => {
                    let key = (zone.to_string(), name.to_string(), t);
                    if next.get(&key) != Some(&(ttl, v)) {
                        return Err(DnsError::Conflict { name: name.to_string() });
                    }
                    next.remove(&key);
                }
                Change::Create(t, ttl, v) => {
                    let key = (zone.to_string(), name.to_string(), t);
                    if next.contains_key(&key) {
                        return Err(DnsError::Conflict { name: name.to_string() });
                    }
                    next.insert(key, (ttl, v));
                }
            }
        }
        *sets = next;
        Ok(())
    }

    fn get(&self, zone: &str, name: &str, t: &'static str) -> Option<(u32, String)> {
        self.sets.lock().ok()?.get(&(zone.to_string(), name.to_string(), t)).cloned()
    }
}

/// Epoch 0 reads an address with no epoch beside it: there is no TXT record to delete.
fn deletes(r: &EndpointRecord) -> Vec<Change> {
    let mut d = vec![Change::Delete("A", r.ttl, r.address.clone())];
    if r.epoch > 0 {
        d.push(Change::Delete("TXT", r.ttl, r.epoch_txt()));
    }
    d
}

fn creates(r: &EndpointRecord) -> Vec<Change> {
    vec![Change::Create("A", r.ttl, r.address.clone()), Change::Create("TXT", r.ttl, r.epoch_txt())]
}

#[async_trait]
impl Dns for MemoryDns {
    async fn read(&self, zone: &str, name: &str) -> Result<Option<EndpointRecord>, DnsError> {
        crate::sdk::twin::interleave().await;
        let Some((ttl, address)) = self.get(zone, name, "A") else { return Ok(None) };
        let epoch =
            self.get(zone, name, "TXT").and_then(|(_, t)| EndpointRecord::parse_epoch(&t)).unwrap_or(0);
        Ok(Some(EndpointRecord { address, epoch, ttl }))
    }

    async fn swap(
        &self,
        zone: &str,
        name: &str,
        expect: Option<&EndpointRecord>,
        new: &EndpointRecord,
    ) -> Result<(), DnsError> {
        crate::sdk::twin::interleave().await;
        let mut changes = expect.map(deletes).unwrap_or_default();
        changes.extend(creates(new));
        self.batch(zone, name, changes)
    }

    async fn remove(&self, zone: &str, name: &str) -> Result<(), DnsError> {
        if let Some(r) = self.read(zone, name).await? {
            self.batch(zone, name, deletes(&r))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn rec(address: &str, epoch: u64) -> EndpointRecord {
        EndpointRecord { address: address.into(), epoch, ttl: 10 }
    }

    #[test]
    fn a_swap_replaces_exactly_what_was_read_or_nothing() {
        let dns = MemoryDns::default();
        block_on(async {
            dns.swap("z", "db.x.y", None, &rec("10.0.0.1", 1)).await.expect("created");
            assert!(matches!(
                dns.swap("z", "db.x.y", None, &rec("10.0.0.9", 9)).await,
                Err(DnsError::Conflict { .. })
            ));
            let stale = rec("10.0.0.7", 1);
            assert!(matches!(
                dns.swap("z", "db.x.y", Some(&stale), &rec("10.0.0.2", 2)).await,
                Err(DnsError::Conflict { .. })
            ));
            assert_eq!(
                dns.read("z", "db.x.y").await.expect("read"),
                Some(rec("10.0.0.1", 1)),
                "a rejected batch changed nothing"
            );
            dns.swap("z", "db.x.y", Some(&rec("10.0.0.1", 1)), &rec("10.0.0.2", 2)).await.expect("swapped");
            assert_eq!(dns.read("z", "db.x.y").await.expect("read"), Some(rec("10.0.0.2", 2)));
            dns.remove("z", "db.x.y").await.expect("removed");
            assert_eq!(dns.read("z", "db.x.y").await.expect("read"), None);
        });
    }
}
