//! The handoff's moving parts around `spotctl_core::handoff`'s pure decisions: the handler's side
//! (`start`: take the lease; `launch`: a standby where the ranking says), the on-instance agent
//! (`agent`: drain, restore, verify, promote, retire; `report`: what it saw and did; `watch`: its
//! loop on an instance) and promotion by compare-and-swap of the primary record (`promote`).
//! Whether the shipped log can replace a lost primary is read through `protect`.
//!
//! Two seams are defined here because only the handoff uses them: [`Database`] (the server the
//! agent keeps) and [`Placements`] (where a standby may go); their twins (`MemoryDatabase`,
//! `FixedPlacements`) are behind the `testing` feature. EC2 goes through `compute`, the state
//! bucket through `state`. Every step's error is a [`HandoffError`].
//!
//! May use: `sdk`, `state`, `compute`, `placement`, `dns`, `protect` (the shipped log, the bucket as
//! a blob store), `spotctl_core`, `spotctl_db`, the bucket's layout (`spotctl_layout`).

mod agent;
mod apply;
mod database;
mod endpoint;
mod error;
mod fence;
mod keep;
mod launch;
mod lease;
#[cfg(any(test, feature = "testing"))]
mod memory_database;
#[cfg(any(test, feature = "testing"))]
mod memory_placements;
mod placements;
mod progress;
mod promote;
mod report;
mod start;
mod watch;

pub use agent::Agent;
pub use apply::{assess_listed, assess_primary, launch_primary, newest_complete_backup, Assessed};
pub use database::{Database, Drained, LogTarget, MariaDbServer, Restored, Sealed};
pub use endpoint::{resolve as resolve_endpoint, EndpointDuty, EndpointStep, RECHECK_SECS};
pub use error::{HandoffError, NoCapacity};
pub use fence::{Allowed, LocalFence};
pub use keep::{keep_primary, plan_keep, KeepPlan, KeptPrimary};
pub use launch::request_drain;
pub use lease::{HandoffOutcome, HandoffSeams, Limits};
#[cfg(any(test, feature = "testing"))]
pub use memory_database::{memory_log_key, memory_log_rows, MemoryDatabase, MemoryRows};
#[cfg(any(test, feature = "testing"))]
pub use memory_placements::FixedPlacements;
pub use placements::{AwsPlacements, Placement, Placements, PlacementsError, StandbyPlacements, TRIES};
pub use progress::{stamp as stamp_progress, Restoring, STAMP_EVERY_S};
pub use promote::Promotion;
pub use report::{Decision, Did, Observation};
pub use start::{advance, fence_old, point_in_time, recover, Trigger};
pub use watch::{look_once, watch, WatchOptions};
