//! spotctl-core: everything spotctl decides, with no AWS and no async.
//!
//! The AWS adapter crate (`spotctl-aws`) feeds observations in and carries decisions out;
//! every module here is pure and deterministic (same input, byte-identical output).

pub mod config;
pub mod desired;
pub mod endpoint;
pub mod event;
pub mod fleet;
pub mod handoff;
pub mod names;
pub mod placement;
pub mod plan;
pub mod replay;
pub mod templates;
pub mod time;
pub mod workflow;
