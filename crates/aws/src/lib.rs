//! spotctl-aws: spotctl's seam to AWS.
//!
//! Discovery turns live AWS state into `spotctl_core::plan::LiveResource`s; the executor carries out
//! a `Plan` change by change. Neither decides anything: the core crate does.

pub mod calls;
pub mod clients;
pub mod error;
