//! The handoff's moving parts around `spotctl_core::handoff`'s pure decisions: the handler's side
//! (take the lease, launch a standby where the ranking says), the on-instance agent (drain,
//! restore, verify, promote, retire) and promotion by compare-and-swap of the primary record.
//!
//! Continuous protection's records (the log's timelines, bases, heartbeats) are read here as the
//! handler needs them (`protection`): whether the shipped log can replace a lost primary.
//!
//! Two seams are defined here because only the handoff uses them: [`Database`] (the server the
//! agent keeps) and [`Placements`] (where a standby may go). EC2 goes through `compute`, the state
//! bucket through `state`.
//!
//! May use: `sdk`, `state`, `compute`, `placement`, `dns`, `protect` (the shipped log, the bucket as
//! a blob store), `spotctl_core`, `spotctl_db`, the bucket's layout (`spotctl_layout`).

mod agent;
mod apply;
mod database;
mod endpoint;
#[cfg(any(test, feature = "testing"))]
mod memory_database;
#[cfg(any(test, feature = "testing"))]
mod memory_placements;
mod placements;
mod promote;
mod start;

pub use agent::{Agent, Decision, Did, Observation};
pub use apply::{assess_listed, assess_primary, launch_primary, newest_complete_backup, Assessed};
pub use database::{Database, Drained, LogTarget, MariaDbServer, Restored, Sealed};
pub use endpoint::{resolve as resolve_endpoint, EndpointDuty, EndpointStep, RECHECK_SECS};
#[cfg(any(test, feature = "testing"))]
pub use memory_database::{memory_log_key, memory_log_rows, MemoryDatabase, MemoryRows};
#[cfg(any(test, feature = "testing"))]
pub use memory_placements::FixedPlacements;
pub use placements::{AwsPlacements, Placement, Placements, StandbyPlacements, TRIES};
pub use promote::Promotion;
pub use start::{
    advance, point_in_time, recover, request_drain, HandoffOutcome, HandoffSeams, NoCapacity, Trigger,
};
