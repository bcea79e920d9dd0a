//! spotctl-aws: spotctl's seam to AWS.
//!
//! Discovery turns live AWS state into `spotctl_core::plan::LiveResource`s; the executor carries out
//! a `Plan` change by change. Neither decides anything: the core crate does.

pub mod advisor_source;
pub mod agent;
pub mod blob;
pub mod calls;
pub mod clients;
pub mod discover;
pub mod env;
pub mod error;
pub mod execute;
pub mod fis;
pub mod fleet;
pub mod handler;
pub mod handoff;
pub mod lock;
pub mod package;
pub mod placement_facts;
pub mod placement_source;
pub mod progress;
pub mod resources;
pub mod score;
pub mod sps_client;
pub mod standby;
pub mod status;
pub mod store;
pub mod worker;
