//! spotctl-sim: a deterministic simulation of the handoff protocol, after FoundationDB's and
//! TigerBeetle's simulators. The real handler, agents and apply (the `spotctl-aws` code, unchanged)
//! run against the in-memory twins of the state bucket, EC2 and the database; a seeded scheduler
//! delivers, duplicates, delays and drops events, interleaves every actor call by call, crashes
//! actors at any call and injects store failures and lost replies, capacity refusals and lost
//! instances, and lays AWS's frictions over the twins (`frictions`: skewed clocks, lagging
//! describe calls, failing Route 53 changes, slow uploads) and a compromised instance that forges the
//! primary record (`run::adversaries`). The invariants (`invariants`) are checked after every step;
//! a failing seed prints its story and replays exactly (`SPOTCTL_SIM_SEED=N`). One run lives in
//! `run`: its scheduler (`run/mod.rs`), the scenario's moves (`run/fire.rs`), AWS's and the forger's
//! (`run/adversaries.rs`), and the run from its seed (`run/play.rs`).
//!
//! May use: `spotctl-aws` (its seams, twins and actors), `spotctl-core`. No I/O, no clock but the
//! simulated one, no randomness but the seed's.

mod actors;
mod events;
mod frictions;
mod holds;
mod invariants;
mod mutants;
mod mutation;
mod rng;
mod run;
mod versions;
mod world;

pub use invariants::{Invariant, Violation};
pub use mutation::Mutation;
pub use rng::Rng;
pub use run::{run, run_traced, run_with, Report};
