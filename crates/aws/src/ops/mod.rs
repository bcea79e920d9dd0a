//! Operations for people that read (and, for FIS, start an experiment; for a point-in-time
//! recovery, a planned handoff) but plan no resources: `spotctl status`, `spotctl fis` and
//! `spotctl recover`.
//!
//! May use: every other room.

pub mod fis;
pub mod point_in_time;
pub mod status;
