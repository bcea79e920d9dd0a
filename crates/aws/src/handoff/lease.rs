//! The handoff record as a lease: created create-only (of any number of concurrent triggers one
//! wins), taken over by compare-and-swap, held by one actor for [`LEASE_SECS`] while it launches;
//! and what every start of a handoff works through and reports.

use super::error::Result;
use super::placements::Placements;
use crate::compute::Instances;
use crate::sdk::clock::Clock;
use crate::state::{json_body, Etag, StateStore, StoreError};
use serde::Serialize;
use spotctl_core::handoff::{Handoff, Lease, Source, LEASE_SECS, STANDBY_STALL_SECS};
use spotctl_layout::state::handoff_key;

/// What the handoff needs from the world.
pub struct HandoffSeams<'a> {
    pub store: &'a dyn StateStore,
    pub instances: &'a dyn Instances,
    pub placements: &'a dyn Placements,
    pub clock: &'a dyn Clock,
    /// Who acts (for the lease: `lambda:<request>`, `apply:<user@host>`, …).
    pub owner: &'a str,
    /// The thresholds the decisions use.
    pub limits: Limits,
}

/// The thresholds the handoff's decisions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Judge the recorded primary's health, with this threshold (`[health] unhealthy_after`, in
    /// ms): the watchdog's look does; an event or a person's command does not.
    pub unhealthy_after_ms: Option<u64>,
    /// How long a standby may go without moving before it is taken for stuck.
    pub standby_stall_s: i64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { unhealthy_after_ms: None, standby_stall_s: STANDBY_STALL_SECS }
    }
}

/// What happened to one trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "handoff", rename_all = "snake_case")]
pub enum HandoffOutcome {
    Started {
        id: String,
        standby: String,
        region: String,
        availability_zone: String,
        instance_type: String,
        /// Placements that refused capacity first, best first (`zone type: code`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        refused: Vec<String>,
    },
    /// The handoff goes on from an older backup: its own drain will never complete.
    FellBack {
        id: String,
        from: Source,
        data_loss_window_s: Option<i64>,
    },
    /// Nothing more can come of the handoff: marked failed.
    Failed {
        id: String,
        why: String,
    },
    Ignored {
        reason: String,
    },
}

/// `handoff`, held by this actor for [`LEASE_SECS`] from `now`.
pub(super) fn held(seams: &HandoffSeams<'_>, mut handoff: Handoff, now: i64) -> Handoff {
    handoff.lease = Some(Lease { owner: seams.owner.to_string(), until_unix: now + LEASE_SECS });
    handoff
}

/// Creates `h`'s record (create-only): `Some(etag)`, or `None` when the epoch's handoff exists.
pub(super) async fn create(store: &dyn StateStore, h: &Handoff) -> Result<Option<Etag>> {
    let key = handoff_key(&h.id);
    match store.put_if_absent(&key, json_body(&key, h)?).await {
        Ok(etag) => Ok(Some(etag)),
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes `h` over the version read: `Some(new etag)`, or `None` when another writer was first.
pub(super) async fn take(store: &dyn StateStore, h: &Handoff, etag: &str) -> Result<Option<Etag>> {
    let key = handoff_key(&h.id);
    match store.put_if_match(&key, etag, json_body(&key, h)?).await {
        Ok(etag) => Ok(Some(etag)),
        Err(e) if e.is_conflict() => Ok(None),
        Err(e) => Err(e.into()),
    }
}
