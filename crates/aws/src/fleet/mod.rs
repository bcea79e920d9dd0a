//! Fleet mode at run time: the facts apply needs (AMIs, default subnets), what the handler does
//! for fleets (failover and failback on launch results, metrics and one failback step a minute),
//! and the worker that runs on each fleet instance.
//!
//! [`FleetApi`] is this room's seam (Auto Scaling, SQS, CloudWatch), with [`MemoryFleet`] as its
//! twin; the state goes through `state`.
//!
//! May use: `sdk`, `state`, `placement` (the AMI lookup), `spotctl_core`, the bucket's layout
//! (`spotctl_layout`).

mod api;
mod inputs;
#[cfg(any(test, feature = "testing"))]
mod memory;
mod transitions;
mod worker;

pub use api::{AwsFleet, FleetApi, FleetError, GroupView};
pub use inputs::inputs;
#[cfg(any(test, feature = "testing"))]
pub use memory::MemoryFleet;
pub use transitions::{FleetOutcome, FleetStatus, FleetTick, Fleets};
pub use worker::{run as run_worker, WorkerExit, WorkerOptions};
