//! An env on the in-memory twins: a recorded, running primary `i-primary` at epoch 1, and the
//! events the handler is given.

use futures::executor::block_on;
use spotctl_aws::compute::{InstanceView, MemoryInstances};
use spotctl_aws::fleet::MemoryFleet;
use spotctl_aws::handler::Handler;
use spotctl_aws::handoff::FixedPlacements;
use spotctl_aws::sdk::twin::ManualClock;
use spotctl_aws::state::{json_body, MemoryStore, StateStore};
use spotctl_core::handoff::primary::{InstanceState, PrimaryRecord, Role};
use spotctl_core::handoff::OpenedBy;
use spotctl_core::names::{Names, TAG_ENV, TAG_ROLE};
use spotctl_layout::state as keys;
use std::sync::Arc;

pub const REGION: &str = "ap-northeast-1";

pub fn names() -> Names {
    Names::new("dev", "123456789012", REGION)
}

/// An env with a recorded, running primary `i-primary` at epoch 1.
pub struct World {
    pub store: MemoryStore,
    pub ec2: MemoryInstances,
    pub fleet: MemoryFleet,
    pub clock: Arc<ManualClock>,
    /// The endpoint's zone (the agents point it).
    pub dns: spotctl_aws::dns::MemoryDns,
}

impl World {
    pub fn new() -> World {
        let w = World {
            store: MemoryStore::new(),
            ec2: MemoryInstances::new("dev"),
            fleet: MemoryFleet::default(),
            clock: Arc::new(ManualClock::at(1_000)),
            dns: spotctl_aws::dns::MemoryDns::default(),
        };
        w.ec2.insert(InstanceView {
            id: "i-primary".into(),
            region: REGION.into(),
            az: format!("{REGION}a"),
            instance_type: "m5.large".into(),
            state: InstanceState::Running,
            tags: [(TAG_ENV.to_string(), "dev".to_string()), (TAG_ROLE.to_string(), "primary".to_string())]
                .into(),
            address: None,
        });
        let record = PrimaryRecord {
            epoch: 1,
            instance_id: "i-primary".into(),
            region: REGION.into(),
            availability_zone: format!("{REGION}a"),
            instance_type: "m5.large".into(),
            since_unix: 900,
            handoff: None,
            launching: None,
            ..PrimaryRecord::launching("", REGION, "", "", 0)
        };
        block_on(w.store.put(keys::PRIMARY, json_body(keys::PRIMARY, &record).expect("json")))
            .expect("record");
        // As apply opens the first primary's epoch.
        let opening = spotctl_core::handoff::Opening::new(1, "i-primary", None, OpenedBy::Apply, 900);
        block_on(spotctl_aws::state::open(&w.store, &opening)).expect("opening");
        w
    }

    pub fn handler_with(&self, store: MemoryStore, ec2: MemoryInstances) -> Handler {
        Handler {
            names: names(),
            store: Arc::new(store),
            instances: Arc::new(ec2),
            placements: Arc::new(FixedPlacements::in_region(&names(), REGION, 3)),
            fleet: Arc::new(self.fleet.clone()),
            clock: self.clock.clone(),
        }
    }

    pub fn handler(&self) -> Handler {
        self.handler_with(self.store.clone(), self.ec2.clone())
    }

    pub fn standbys(&self) -> Vec<InstanceView> {
        self.ec2.alive().into_iter().filter(|i| i.role() == Ok(Some(Role::Standby))).collect()
    }
}

pub fn warning(id: &str, instance: &str) -> Vec<u8> {
    serde_json::json!({
        "version": "0", "id": id, "detail-type": "EC2 Spot Instance Interruption Warning",
        "source": "aws.ec2", "account": "123456789012", "time": "2026-11-29T10:00:00Z", "region": REGION,
        "resources": [], "detail": {"instance-id": instance, "instance-action": "terminate"}
    })
    .to_string()
    .into_bytes()
}
