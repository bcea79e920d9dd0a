//! Replays of measured spot traces: how spotctl's fleet failover and database placement would have
//! fared on real capacity, side by side with simpler policies and the best possible in hindsight.
//!
//! The replay drives the real decision code: the fleet replay feeds launch events and ticks to
//! `core::fleet` (`on_launch_event`, `on_tick`, `fallback_for`) with the env's failback pace, and
//! the placement replay ranks with `core::placement::rank` and the env's `Policy`, the embedded
//! Spot Advisor data and an interruption history built from the trace so far. What is modelled
//! here is only what AWS would do around those decisions (launches, target tracking, capacity),
//! described in each file's header and in docs/replay.md.
//!
//! Pure like the rest of `core`: traces come in as bytes, reports go out as values. No AWS call, no
//! clock, no I/O; the same traces and env give the same report, byte for byte. Files: `traces`
//! (parsing and checking), `span` (the stretch of time a replay covers), `group` (the fallback
//! Auto Scaling group around the state machine), `baselines` (the fleet's counts and the policies
//! that need no state machine), `fleet`, `placement`, `report` (tables), `error` and `figures`
//! (policy names, rounding). Imports go one way: `report` uses `fleet` and `placement`, which use
//! `span`, `group`, `baselines` and `traces`; `error` and `figures` use no sibling but `traces`;
//! none uses this file.
//!
//! May use: `config` (the env's policy and failback pace), `fleet`, `placement`.

mod baselines;
mod error;
mod figures;
pub mod fleet;
mod group;
pub mod placement;
pub mod report;
pub mod span;
#[cfg(test)]
mod testing;
pub mod traces;

pub use error::ReplayError;
pub use figures::PolicyName;
pub use fleet::{replay_fleet, FleetReplay};
pub use placement::{replay_placement, PlacementReplay};
pub use traces::{TraceError, Traces};
