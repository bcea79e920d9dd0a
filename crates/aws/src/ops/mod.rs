//! Operations for people that read (and, for FIS, start an experiment) but plan nothing: `spotctl
//! status` and `spotctl fis`.
//!
//! May use: every other room.

pub mod fis;
pub mod status;
