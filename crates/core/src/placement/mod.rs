//! Placement: where the database (and a standby) should run, as a pure ranking of (region, zone,
//! instance type) candidates, and whether a running primary should move.
//!
//! `rank` scores and orders candidates (see its header for the factors) from the Spot Advisor's
//! data (`advisor`), Spot Placement Scores (`sps`) and prices; `inputs` turns the facts read from
//! AWS into the ranking's inputs, so the AWS layer only fetches.
//!
//! May use: nothing else of this crate (the env file's policy is given to it, by `config`). No I/O.

pub mod advisor;
mod inputs;
mod rank;
pub mod sps;

pub use inputs::{candidates, rank_observed, Observed, RegionFacts, Zone};
pub use rank::*;
