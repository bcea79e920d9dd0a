//! `spotctl recover --to-time`: the database as it was at a second, on a new primary, through a
//! planned handoff (`handoff::point_in_time`). The plan is read here and shown before anything
//! moves: which primary is moved, which base the log is replayed from, what the drain (stored or
//! sealed) keeps.

use crate::handoff::{point_in_time, HandoffError, HandoffOutcome};
use crate::protect::{BackupsError, StoreBlobs};
use crate::reconcile::Env;
use crate::state::{read_primary, StoreError};
use serde::Serialize;
use spotctl_core::handoff::primary::PrimaryRecord;
use spotctl_core::time::rfc3339;
use spotctl_layout::handoff_id;
use spotctl_layout::BACKUPS;
use std::fmt::Write;

/// Why a point-in-time recovery cannot be planned: a person's input, not a fault.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("no primary is recorded for env `{0}`: there is nothing to recover")]
    NoPrimary(String),
    #[error(
        "--to-time {until} is before the oldest base backup ({oldest}, taken {taken}): the log can reach no \
         earlier second"
    )]
    BeforeOldestBase { until: String, oldest: String, taken: String },
    #[error("no base backup exists under {BACKUPS}bases: nothing can be recovered to a point in time yet")]
    NoBase,
}

/// Why there is no plan: a refusal (the person's input), or the bucket could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Backups(#[from] BackupsError),
}

/// What the recovery will do.
#[derive(Debug, Clone, Serialize)]
pub struct PointInTimePlan {
    pub env: String,
    pub primary: PrimaryRecord,
    pub until_unix: i64,
    /// The newest base taken before the target (the replay starts there), and when.
    pub base: String,
    pub base_taken_unix: i64,
}

/// Reads the record and the bases: the plan, or why not.
pub async fn plan(env: &Env, until: i64) -> Result<PointInTimePlan, PlanError> {
    let Some((primary, _)) = read_primary(env.store.as_ref()).await? else {
        return Err(Refusal::NoPrimary(env.names.env.clone()).into());
    };
    let blobs = StoreBlobs { store: env.store.clone(), handle: tokio::runtime::Handle::current() };
    let bases = tokio::task::spawn_blocking(move || spotctl_db::protect::list_bases(&blobs, BACKUPS))
        .await
        .map_err(BackupsError::joined("listing the bases"))?
        .map_err(BackupsError::from)?;
    let until_ms = u64::try_from(until).unwrap_or(0) * 1000;
    let Some(oldest) = bases.iter().min_by_key(|b| b.taken_at_ms) else { return Err(Refusal::NoBase.into()) };
    let Some(base) = bases.iter().filter(|b| b.taken_at_ms < until_ms).max_by_key(|b| b.taken_at_ms) else {
        return Err(Refusal::BeforeOldestBase {
            until: rfc3339(until),
            oldest: oldest.id.clone(),
            taken: rfc3339(i64::try_from(oldest.taken_at_ms / 1000).unwrap_or_default()),
        }
        .into());
    };
    Ok(PointInTimePlan {
        env: env.names.env.clone(),
        primary,
        until_unix: until,
        base: base.id.clone(),
        base_taken_unix: i64::try_from(base.taken_at_ms / 1000).unwrap_or_default(),
    })
}

impl PointInTimePlan {
    pub fn render(&self) -> String {
        let p = &self.primary;
        let at = rfc3339(self.until_unix);
        let mut out = String::new();
        let _ = writeln!(out, "spotctl will recover env `{}` to {at}:\n", self.env);
        let _ = writeln!(
            out,
            "  ~   move the primary {} (epoch {}, {}) to a new instance holding the database as it was at {at}",
            p.instance_id, p.epoch, p.availability_zone
        );
        let _ = writeln!(
            out,
            "        the primary drains first: writes stop, and its drain {} (sealed when the shipped log holds \
             everything, else stored) keeps everything up to then",
            handoff_id(p.epoch)
        );
        let _ = writeln!(
            out,
            "        a standby restores base {} (taken {}) and replays the shipped log up to {at}, verifies, and is promoted",
            self.base,
            rfc3339(self.base_taken_unix)
        );
        let _ = writeln!(
            out,
            "        every transaction committed before {at} is kept, none at or after it (they stay in drain {} \
             and the shipped log)\n",
            handoff_id(p.epoch)
        );
        out
    }
}

/// Starts the planned recovery: the handoff is created, a standby launched, the primary asked to
/// drain through its `spotctl:drain` tag.
pub async fn start(env: &Env, plan: &PointInTimePlan) -> Result<HandoffOutcome, HandoffError> {
    let parts = env.command_seams("recover");
    point_in_time(&parts.seams(), &plan.primary.instance_id, plan.until_unix).await
}
