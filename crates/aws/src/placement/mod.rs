//! Where the inputs of a ranking come from: the Spot Advisor feed (live, cached, embedded), Spot
//! Placement Scores (with their daily budget), and the facts EC2 and SSM give (zones, default
//! subnets, prices, the AMI); and `spotctl score`, which ranks with all of them. The ranking itself
//! is `spotctl_core::placement`'s.
//!
//! May use: `sdk`, `state` (the caches live in the bucket), `spotctl_core`, the bucket's layout
//! (`spotctl_layout`).

pub mod advisor;
pub mod facts;
pub mod score;
pub mod sps;
