//! [`MemoryFleet`]: the fleet seam's twin (behind the `testing` feature): groups, queues and
//! metrics in memory, with the calls that set capacity counted.

use super::api::{FleetApi, FleetError, GroupView};
use crate::sdk::error::AwsError;
use async_trait::async_trait;
use spotctl_core::desired::fleet::MetricSpec;
use spotctl_core::fleet::{Capacity, Side};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type Result<T> = std::result::Result<T, FleetError>;

#[derive(Default)]
struct Fleet {
    groups: BTreeMap<String, GroupView>,
    queues: BTreeMap<String, u64>,
    metrics: Vec<(String, String, f64)>,
    capacity_calls: u64,
}

/// Groups, queues and metrics in memory.
#[derive(Clone, Default)]
pub struct MemoryFleet {
    inner: Arc<Mutex<Fleet>>,
}

impl MemoryFleet {
    fn inner(&self) -> std::sync::MutexGuard<'_, Fleet> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn put_group(&self, g: GroupView) {
        self.inner().groups.insert(g.name.clone(), g);
    }

    pub fn remove_group(&self, name: &str) {
        self.inner().groups.remove(name);
    }

    pub fn group_named(&self, name: &str) -> Option<GroupView> {
        self.inner().groups.get(name).cloned()
    }

    pub fn set_depth(&self, queue: &str, visible: u64) {
        self.inner().queues.insert(queue.to_string(), visible);
    }

    /// (region, metric name, value) of every datum published, in order.
    pub fn metrics(&self) -> Vec<(String, String, f64)> {
        self.inner().metrics.clone()
    }

    /// How many times a group's capacity was set.
    pub fn capacity_calls(&self) -> u64 {
        self.inner().capacity_calls
    }
}

#[async_trait]
impl FleetApi for MemoryFleet {
    async fn group(&self, side: Side, _region: &str, name: &str) -> Result<Option<GroupView>> {
        crate::sdk::twin::interleave().await;
        Ok(self.inner().groups.get(name).cloned().map(|g| GroupView { side, ..g }))
    }

    async fn set_capacity(&self, g: &GroupView, c: Capacity) -> Result<()> {
        crate::sdk::twin::interleave().await;
        let mut f = self.inner();
        f.capacity_calls += 1;
        let Some(live) = f.groups.get_mut(&g.name) else {
            return Err(AwsError::coded(format!("setting {}", g.name), "ValidationError").into());
        };
        (live.min, live.max, live.desired) = (c.min, c.max, c.desired);
        Ok(())
    }

    async fn visible_messages(&self, _region: &str, name: &str) -> Result<u64> {
        let missing =
            || AwsError::coded(format!("finding queue {name}"), "AWS.SimpleQueueService.NonExistentQueue");
        Ok(self.inner().queues.get(name).copied().ok_or_else(missing)?)
    }

    async fn put_metric(&self, region: &str, spec: &MetricSpec, value: f64) -> Result<()> {
        self.inner().metrics.push((region.to_string(), spec.name.clone(), value));
        Ok(())
    }
}
