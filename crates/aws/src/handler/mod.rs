//! The handler: what the Lambda (and `spotctl handle`) does with one event — parse it, check it is
//! this env's, carry out what it asks (the handoff, the relocation check, the advisor refresh, a
//! fleet's failover), and only then record it, so that a failed action is retried by the next
//! delivery instead of being taken for done.
//!
//! May use: `sdk`, `state`, `compute`, `placement`, `handoff`, `fleet`, `protect` (retention),
//! `spotctl_core`, the bucket's layout (`spotctl_layout`).

mod dispatch;
mod outcome;

pub use dispatch::Handler;
pub use outcome::{ActError, HandlerError, Next, Outcome, Relocation};
