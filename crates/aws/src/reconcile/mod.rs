//! Plan, apply and destroy: the env bound to an account ([`Env`]), discovery of what is live, the
//! executor that carries out a plan change by change, saved plans and drift, the handler package,
//! progress lines, and one module per AWS resource family under `resources/`.
//!
//! May use: `sdk`, `state`, `compute`, `placement`, `fleet` (the facts a fleet plan needs), `dns`
//! (the endpoint's record), `handoff` (apply's part in the protocol: assessing the primary and
//! starting a recovery), `tls` (apply makes the env's certificate authority), `spotctl_core`, the
//! bucket's layout (`spotctl_layout`).

mod discover;
mod drift;
mod env;
mod execute;
mod import;
pub mod package;
mod primary;
pub mod progress;
pub mod resources;
mod saved;
pub mod teardown;

pub use drift::plan_drift;
pub use env::{Env, Planned};
pub use execute::Executor;
pub use import::{import, plan_import, ImportPlan};
pub use primary::CommandSeams;
pub use primary::PrimaryOptions;
pub use saved::{apply_saved, save};
