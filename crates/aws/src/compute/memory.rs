//! EC2 in memory, for unit tests and the simulation.

use super::instances::{ComputeError, InstanceView, Instances, LaunchRequest};
use crate::sdk::error::AwsError;
use async_trait::async_trait;
use spotctl_core::handoff::primary::InstanceState;
use spotctl_core::names::{TAG_ENV, TAG_HANDOFF, TAG_ROLE};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type Refuse = dyn Fn(&LaunchRequest) -> Option<&'static str> + Send + Sync;

#[derive(Default)]
struct Fleet {
    instances: BTreeMap<String, InstanceView>,
    launched: u64,
    /// Grows on every change: lets a watcher skip looking when nothing changed.
    version: u64,
    /// Terminations pass through `shutting-down` until [`MemoryInstances::settle`], as EC2's do.
    slow_shutdown: bool,
}

/// EC2 in memory: instances launch at once into `running`, tagged as asked; a refusal hook makes
/// a launch fail with an EC2 error code, as a capacity shortage or a missing group would. A
/// termination is immediate, or (with [`MemoryInstances::slow_shutdown`]) passes through
/// `shutting-down` until the test settles it, as EC2's takes a while.
#[derive(Clone, Default)]
pub struct MemoryInstances {
    env: String,
    fleet: Arc<Mutex<Fleet>>,
    refuse: Option<Arc<Refuse>>,
}

impl MemoryInstances {
    /// Launches carry `spotctl:env = env`, as the real launch's tag specification does.
    pub fn new(env: &str) -> MemoryInstances {
        MemoryInstances { env: env.to_string(), ..Default::default() }
    }

    /// The same instances, with launches refused with the code the hook returns.
    pub fn refusing(
        &self,
        hook: impl Fn(&LaunchRequest) -> Option<&'static str> + Send + Sync + 'static,
    ) -> MemoryInstances {
        MemoryInstances { env: self.env.clone(), fleet: self.fleet.clone(), refuse: Some(Arc::new(hook)) }
    }

    /// The same instances, whose terminations stay `shutting-down` until [`MemoryInstances::settle`].
    pub fn slow_shutdown(self) -> MemoryInstances {
        self.changed().slow_shutdown = true;
        self
    }

    /// Every instance shutting down is terminated now.
    pub fn settle(&self) {
        let mut f = self.changed();
        for i in f.instances.values_mut().filter(|i| i.state == InstanceState::ShuttingDown) {
            i.state = InstanceState::Terminated;
        }
    }

    /// What EC2 does on a termination (by a call, or AWS reclaiming the instance).
    pub fn shut_down(&self, id: &str) {
        let mut f = self.changed();
        let to = if f.slow_shutdown { InstanceState::ShuttingDown } else { InstanceState::Terminated };
        if let Some(i) = f.instances.get_mut(id).filter(|i| i.state != InstanceState::Terminated) {
            i.state = to;
        }
    }

    fn fleet(&self) -> std::sync::MutexGuard<'_, Fleet> {
        self.fleet.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) -> std::sync::MutexGuard<'_, Fleet> {
        let mut f = self.fleet();
        f.version += 1;
        f
    }

    /// A number that changes whenever any instance does.
    pub fn version(&self) -> u64 {
        self.fleet().version
    }

    /// One instance, by id.
    pub fn get(&self, id: &str) -> Option<InstanceView> {
        self.fleet().instances.get(id).cloned()
    }

    /// Puts an instance in place, as if launched earlier (a test's starting point).
    pub fn insert(&self, i: InstanceView) {
        self.changed().instances.insert(i.id.clone(), i);
    }

    /// What AWS does when it reclaims a spot instance (or it dies): the state changes under us.
    pub fn set_state(&self, id: &str, state: InstanceState) {
        if let Some(i) = self.changed().instances.get_mut(id) {
            i.state = state;
        }
    }

    /// Every instance, by id.
    pub fn all(&self) -> Vec<InstanceView> {
        self.fleet().instances.values().cloned().collect()
    }

    /// Instances that are pending or running.
    pub fn alive(&self) -> Vec<InstanceView> {
        self.all().into_iter().filter(|i| i.state.is_alive()).collect()
    }
}

#[async_trait]
impl Instances for MemoryInstances {
    async fn describe(&self, _region: &str, id: &str) -> Result<Option<InstanceView>, ComputeError> {
        crate::sdk::twin::interleave().await;
        Ok(self.fleet().instances.get(id).cloned())
    }

    async fn list(&self, region: &str) -> Result<Vec<InstanceView>, ComputeError> {
        crate::sdk::twin::interleave().await;
        Ok(self
            .fleet()
            .instances
            .values()
            .filter(|i| {
                i.region == region && i.state != InstanceState::Terminated && i.env() == Some(&self.env)
            })
            .cloned()
            .collect())
    }

    async fn launch(&self, req: &LaunchRequest) -> Result<InstanceView, ComputeError> {
        crate::sdk::twin::interleave().await;
        if let Some(code) = self.refuse.as_ref().and_then(|r| r(req)) {
            return Err(AwsError::coded("launching an instance", code).into());
        }
        let mut fleet = self.changed();
        fleet.launched += 1;
        let v = |k: &str| req.want.value(k).unwrap_or_default().to_string();
        let mut tags: BTreeMap<String, String> =
            [(TAG_ENV.to_string(), self.env.clone()), (TAG_ROLE.to_string(), req.role.as_str().to_string())]
                .into();
        if let Some(h) = &req.handoff {
            tags.insert(TAG_HANDOFF.to_string(), h.clone());
        }
        if let Some(t) = &req.launch_token {
            tags.insert(spotctl_core::names::TAG_LAUNCH.to_string(), t.clone());
        }
        let i = InstanceView {
            id: format!("i-{:08}", fleet.launched),
            region: req.want.address.region.clone(),
            az: v("availability_zone"),
            instance_type: v("instance_type"),
            state: InstanceState::Running,
            tags,
            address: Some(format!("198.51.100.{}", fleet.launched % 250)),
        };
        fleet.instances.insert(i.id.clone(), i.clone());
        Ok(i)
    }

    async fn tag(&self, _region: &str, id: &str, key: &str, value: &str) -> Result<(), ComputeError> {
        crate::sdk::twin::interleave().await;
        match self.changed().instances.get_mut(id) {
            Some(i) => {
                i.tags.insert(key.to_string(), value.to_string());
                Ok(())
            }
            None => Err(AwsError::coded(format!("tagging {id}"), "InvalidInstanceID.NotFound").into()),
        }
    }

    async fn untag(&self, _region: &str, id: &str, key: &str) -> Result<(), ComputeError> {
        crate::sdk::twin::interleave().await;
        match self.changed().instances.get_mut(id) {
            Some(i) => {
                i.tags.remove(key);
                Ok(())
            }
            None => {
                Err(AwsError::coded(format!("removing tag {key} from {id}"), "InvalidInstanceID.NotFound")
                    .into())
            }
        }
    }

    async fn terminate(&self, _region: &str, id: &str) -> Result<(), ComputeError> {
        crate::sdk::twin::interleave().await;
        self.shut_down(id);
        Ok(())
    }
}
