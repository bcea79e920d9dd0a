//! What AWS does that a kind twin would not, laid over the twins: a clock per actor that differs
//! from the true one by a bounded skew, EC2 describe calls answered from a view a few seconds old,
//! Route 53 changes that fail (before they land, or after, with the reply lost), and shipper
//! uploads that take seconds.

use crate::world::Faults;
use async_trait::async_trait;
use spotctl_aws::compute::{ComputeError, InstanceView, Instances, LaunchRequest, MemoryInstances};
use spotctl_aws::dns::{Dns, DnsError};
use spotctl_aws::sdk::clock::Clock;
use spotctl_aws::sdk::twin::ManualClock;
use spotctl_aws::state::{Etag, StateStore, StoreError, Versioned};
use spotctl_core::endpoint::EndpointRecord;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// How far any actor's clock may be from the true one, in seconds: two actors' clocks differ
/// by up to twice this, what the product allows for (`spotctl_db::protect::CLOCK_SKEW_MS`).
pub const MAX_SKEW_S: i64 = 1;
const _: () = assert!(2 * MAX_SKEW_S as u64 * 1000 <= spotctl_db::protect::CLOCK_SKEW_MS);
/// How old a view an EC2 describe call may answer from, in seconds.
pub const MAX_DESCRIBE_LAG_S: i64 = 5;
/// How long one upload of the shipper may take, in seconds.
pub const MAX_UPLOAD_S: i64 = 3;

/// The true clock as one actor reads it: off by a fixed skew.
pub struct SkewedClock {
    pub truth: Arc<ManualClock>,
    pub skew_s: i64,
}

impl Clock for SkewedClock {
    fn now(&self) -> i64 {
        self.truth.now() + self.skew_s
    }
}

/// EC2's views as they were (each change, with the true time it was seen), for describe calls
/// that lag.
#[derive(Clone, Default)]
pub struct Ec2History(Arc<Mutex<Vec<Seen>>>);

/// One view of EC2, and the true time it was seen.
type Seen = (i64, Vec<InstanceView>);

impl Ec2History {
    /// Keeps `now`'s view, and forgets views older than any lag needs.
    pub fn record(&self, now: i64, view: Vec<InstanceView>) {
        let mut h = self.0.lock().unwrap_or_else(|p| p.into_inner());
        h.push((now, view));
        let horizon = now - MAX_DESCRIBE_LAG_S;
        // The newest view at or before the horizon stays: it is what a lagging call sees there.
        let keep_from = h.iter().rposition(|(t, _)| *t <= horizon).unwrap_or(0);
        h.drain(..keep_from);
    }

    /// EC2 as it was at `at` (nothing before the first view).
    fn at(&self, at: i64) -> MemoryInstances {
        let h = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let then = MemoryInstances::new("sim");
        if let Some((_, view)) = h.iter().rev().find(|(t, _)| *t <= at) {
            for i in view {
                then.insert(i.clone());
            }
        }
        then
    }
}

/// EC2 as the actors reach it: changes land at once, and a describe or list call now and then
/// answers from a view up to [`MAX_DESCRIBE_LAG_S`] old (an instance just launched not found yet,
/// a terminated one still running, tags not yet changed), as EC2's eventually consistent API does.
pub struct LaggingEc2 {
    pub ec2: MemoryInstances,
    pub history: Ec2History,
    pub faults: Arc<Faults>,
    pub truth: Arc<ManualClock>,
}

impl LaggingEc2 {
    /// The view this call answers from: `None` for the current one.
    fn lagged(&self) -> Option<MemoryInstances> {
        if !self.faults.roll(self.faults.rates.describe_lag) {
            return None;
        }
        self.faults.lagged.fetch_add(1, Ordering::SeqCst);
        let lag = 1 + self.faults.draw(MAX_DESCRIBE_LAG_S as u64) as i64;
        Some(self.history.at(self.truth.now() - lag))
    }
}

#[async_trait]
impl Instances for LaggingEc2 {
    async fn describe(&self, region: &str, id: &str) -> Result<Option<InstanceView>, ComputeError> {
        match self.lagged() {
            Some(then) => then.describe(region, id).await,
            None => self.ec2.describe(region, id).await,
        }
    }

    async fn list(&self, region: &str) -> Result<Vec<InstanceView>, ComputeError> {
        match self.lagged() {
            Some(then) => then.list(region).await,
            None => self.ec2.list(region).await,
        }
    }

    async fn launch(&self, req: &LaunchRequest) -> Result<InstanceView, ComputeError> {
        self.ec2.launch(req).await
    }

    async fn tag(&self, region: &str, id: &str, key: &str, value: &str) -> Result<(), ComputeError> {
        self.ec2.tag(region, id, key, value).await
    }

    async fn untag(&self, region: &str, id: &str, key: &str) -> Result<(), ComputeError> {
        self.ec2.untag(region, id, key).await
    }

    async fn terminate(&self, region: &str, id: &str) -> Result<(), ComputeError> {
        self.ec2.terminate(region, id).await
    }
}

/// Route 53 as the agents reach it: now and then a change fails (throttled, before it lands), or
/// lands and its reply is lost (the caller sees an error; what it reads next is its own change).
pub struct FlakyDns {
    pub dns: Arc<dyn Dns>,
    pub faults: Arc<Faults>,
}

impl FlakyDns {
    /// `Some(before)` when this change fails: before it lands, or after.
    fn fails(&self) -> Option<bool> {
        if !self.faults.roll(self.faults.rates.dns_fail) {
            return None;
        }
        Some(self.faults.draw(2) == 0)
    }
}

fn dns_error(what: &str) -> DnsError {
    DnsError::Failed(anyhow::anyhow!("Route 53: {what}"))
}

#[async_trait]
impl Dns for FlakyDns {
    async fn read(&self, zone: &str, name: &str) -> Result<Option<EndpointRecord>, DnsError> {
        self.dns.read(zone, name).await
    }

    async fn swap(
        &self,
        zone: &str,
        name: &str,
        expect: Option<&EndpointRecord>,
        new: &EndpointRecord,
    ) -> Result<(), DnsError> {
        match self.fails() {
            Some(true) => Err(dns_error("Throttling: Rate exceeded")),
            Some(false) => {
                self.dns.swap(zone, name, expect, new).await?;
                Err(dns_error("the change's reply was lost"))
            }
            None => self.dns.swap(zone, name, expect, new).await,
        }
    }

    async fn remove(&self, zone: &str, name: &str) -> Result<(), DnsError> {
        match self.fails() {
            Some(true) => Err(dns_error("Throttling: Rate exceeded")),
            Some(false) => {
                self.dns.remove(zone, name).await?;
                Err(dns_error("the change's reply was lost"))
            }
            None => self.dns.remove(zone, name).await,
        }
    }
}

/// The bucket as a shipper reaches it: each upload takes 0 to [`MAX_UPLOAD_S`] seconds of the
/// true clock before it lands (what it read was read before).
pub struct SlowUploads<S> {
    pub store: S,
    pub faults: Arc<Faults>,
    pub truth: Arc<ManualClock>,
}

impl<S: StateStore> SlowUploads<S> {
    async fn take_time(&self) {
        let due = self.truth.now() + self.faults.draw(MAX_UPLOAD_S as u64 + 1) as i64;
        while self.truth.now() < due {
            spotctl_aws::sdk::twin::interleave().await;
        }
    }
}

#[async_trait]
impl<S: StateStore> StateStore for SlowUploads<S> {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.store.get(key).await
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<Etag, StoreError> {
        self.take_time().await;
        self.store.put(key, body).await
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Etag, StoreError> {
        self.take_time().await;
        self.store.put_if_absent(key, body).await
    }

    async fn put_if_match(&self, key: &str, etag: &str, body: Vec<u8>) -> Result<Etag, StoreError> {
        self.take_time().await;
        self.store.put_if_match(key, etag, body).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.store.list(prefix).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store.delete(key).await
    }

    async fn delete_if_match(&self, key: &str, etag: &str) -> Result<(), StoreError> {
        self.store.delete_if_match(key, etag).await
    }

    async fn older_versions(&self, key: &str) -> Result<Vec<String>, StoreError> {
        self.store.older_versions(key).await
    }

    async fn get_version(&self, key: &str, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get_version(key, version).await
    }

    fn location(&self) -> String {
        self.store.location()
    }
}
