//! Plan, apply and destroy: the env bound to an account ([`Env`]), discovery of what is live, the
//! executor that carries out a plan change by change, the handler package, progress lines, and one
//! module per AWS resource family under `resources/`.
//!
//! May use: `sdk`, `state`, `compute`, `placement`, `fleet` (the facts a fleet plan needs), `dns`
//! (the endpoint's record), `handoff` (apply's part in the protocol: assessing the primary and
//! starting a recovery), `spotctl_core`.

mod discover;
mod env;
mod execute;
pub mod package;
mod primary;
pub mod progress;
pub mod resources;
pub mod teardown;

pub use env::{Env, Planned};
pub use execute::Executor;
pub use primary::PrimaryOptions;
