//! spotctl-aws: spotctl's seam to AWS. Each folder is a room with one job; its `mod.rs` says what
//! it is for and which rooms it may use. Decisions are `spotctl_core`'s: these rooms fetch, carry
//! out and record.
//!
//! - `sdk`: clients, call counting, reading AWS errors, the clock, instance metadata.
//! - `state`: the state bucket behind one trait (S3, or in memory), the lock, typed records.
//! - `compute`: database instances on EC2 behind one trait (EC2, or in memory).
//! - `placement`: advisor and SPS sources, facts from EC2, `spotctl score`.
//! - `reconcile`: plan / apply / destroy: discovery, the executor, packaging, one module per
//!   resource family.
//! - `handoff`: the handoff's I/O around `spotctl_core::handoff` (lease, standby launch, agent,
//!   promotion).
//! - `fleet`: fleet failover at run time and the worker.
//! - `handler`: one event in, one typed outcome out (the Lambda and `spotctl handle`).
//! - `protect`: backups and the shipped log as the control plane reads them, retention.
//! - `ops`: read-only operations for people: `status`, `fis`.
//! - `dns`: the endpoint's records behind one trait (Route 53, or in memory), epoch-guarded.
//! - `tls`: the env's certificate authority and the instances' server certificates.

pub mod compute;
pub mod dns;
pub mod fleet;
pub mod handler;
pub mod handoff;
pub mod ops;
pub mod placement;
pub mod protect;
pub mod reconcile;
pub mod sdk;
pub mod state;
pub mod tls;
