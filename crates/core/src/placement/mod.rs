//! Placement: where the database (and a standby) should run, as a pure ranking of (region, zone,
//! instance type) candidates, and whether a running primary should move.
//!
//! `rank` scores and orders candidates (see its header for the factors); `inputs` turns an env file
//! and the facts read from AWS into the ranking's inputs, so the AWS layer only fetches.
//!
//! May use: `advisor`, `sps`, `config`. No I/O.

mod inputs;
mod rank;

pub use inputs::{candidates, policy, rank_env, rank_observed, sps_config, Observed, RegionFacts, Zone};
pub use rank::*;
