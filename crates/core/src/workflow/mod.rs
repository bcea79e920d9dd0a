//! The operator's workflow around a plan, Terraform's way: a plan saved to a file and applied
//! exactly as reviewed (`saved_plan`), the live-state fingerprint that tells whether it is still
//! current (`fingerprint`), drift found outside spotctl (`drift`), resource targeting (`target`),
//! adopting what an operator made by hand (`adopt`), and the JSON document `plan`/`show` print
//! (`document`), the step durations `status --watch` redraws (`watch`). Pure: the AWS side reads,
//! this decides.
//!
//! May use: `plan`, `handoff`, `config` (a saved plan records the env file it was made from), the
//! bucket's layout (`spotctl_layout`).

mod adopt;
mod document;
mod drift;
mod fingerprint;
mod saved_plan;
mod target;
mod watch;

pub use adopt::{
    adopted_record, ownership, primary_adoption, render as render_import, Adoption, Ownership,
    PrimaryAdoption,
};
pub use document::{PlanDocument, PlanMode, SavedFrom, FORMAT_VERSION};
pub use drift::{drift, render as render_drift, AttrDrift, Drift, DriftKind, DriftReport};
pub use fingerprint::{fingerprint, Fingerprint, FingerprintInput, Moved};
pub use saved_plan::{
    changes_moved, sha256_hex, HandlerHash, SavedOptions, SavedPlan, SavedPlanError, Stale, SAVED_PLAN_FORMAT,
};
pub use target::{restrict, Target, TargetError, TARGET_WARNING};
pub use watch::step_durations;
