//! Fleet mode: spot workers in a primary region with a fallback region. The failover state
//! machine ([`failover`]: a pure function of the fleet's state and one launch event or tick) and
//! the pace at which it fails back ([`failback`]).
//!
//! May use: nothing else of this crate.

pub mod failback;
pub mod failover;

pub use failback::{Failback, FailoverRules};
pub use failover::{
    backlog_per_instance, drain_step, fallback_for, on_launch_event, on_tick, Capacity, Decision, FleetState,
    LaunchEvent, Mode, Side,
};
