//! spotctl-core: everything spotctl decides, with no AWS and no async.
//!
//! The AWS adapter crate (`spotctl-aws`) feeds observations in and carries decisions out;
//! every module here is pure and deterministic (same input, byte-identical output).

pub mod advisor;
pub mod config;
pub mod placement;
pub mod regions;
pub mod sps;
pub mod plan;
pub mod plan_render;
pub mod names;
pub mod templates;
pub mod desired;
pub mod primary;
pub mod event;
pub mod handoff;
pub mod fleet;
