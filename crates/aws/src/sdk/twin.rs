//! The in-memory twins of this room's seams and what every twin shares (behind the `testing`
//! feature): a clock that moves when told ([`ManualClock`]), an instance's metadata
//! ([`StaticMetadata`]), and [`interleave`]: each twin's call gives way once, as a call over the
//! network does.

use super::clock::Clock;
use super::imds::{paths, Metadata, MetadataError};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// Gives way once to other tasks, as a call over the network does. Every call of the in-memory
/// twins starts with it, so concurrent callers (`join_all`, the simulation) interleave call by
/// call instead of each running to completion.
pub async fn interleave() {
    struct Once(bool);
    impl std::future::Future for Once {
        type Output = ();
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
            if self.0 {
                return std::task::Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
    Once(false).await
}

/// The `aws:userid` an instance's credentials carry in the twins: a session of one instance role
/// (its id made up) named for the instance, as EC2 names it.
pub fn writer(instance_id: &str) -> String {
    format!("AROATWININSTANCEROLE:{instance_id}")
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(t: i64) -> ManualClock {
        ManualClock(AtomicI64::new(t))
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    pub fn set(&self, t: i64) {
        self.0.store(t, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// An in-memory instance's metadata: paths and values, changeable while a test runs.
#[derive(Default)]
pub struct StaticMetadata {
    values: Mutex<BTreeMap<String, String>>,
}

impl StaticMetadata {
    /// An instance with its id, region, zone and type.
    pub fn instance(id: &str, region: &str, az: &str, instance_type: &str) -> StaticMetadata {
        let m = StaticMetadata::default();
        m.set(paths::INSTANCE_ID, id);
        m.set(paths::REGION, region);
        m.set(paths::AZ, az);
        m.set(paths::INSTANCE_TYPE, instance_type);
        m
    }

    pub fn set(&self, path: &str, value: &str) {
        if let Ok(mut v) = self.values.lock() {
            v.insert(path.to_string(), value.to_string());
        }
    }

    pub fn remove(&self, path: &str) {
        if let Ok(mut v) = self.values.lock() {
            v.remove(path);
        }
    }
}

#[async_trait]
impl Metadata for StaticMetadata {
    async fn read(&self, path: &str) -> Result<Option<String>, MetadataError> {
        Ok(self.values.lock().unwrap_or_else(|p| p.into_inner()).get(path).cloned())
    }
}
