//! The primary record: which instance is the database's one primary, with a fencing epoch.
//!
//! It lives at `state/primary.json` in the state bucket and is only ever replaced with a
//! conditional write against the entity tag that was read, so two would-be primaries cannot both
//! win: the loser sees a conflict and stays a standby. The epoch grows by one on each promotion.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimaryRecord {
    pub epoch: u64,
    pub instance_id: String,
    pub region: String,
    pub availability_zone: String,
    pub instance_type: String,
    pub since_unix: i64,
    /// The handoff that made this instance primary; `None` for the first launch by `apply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<String>,
}

impl PrimaryRecord {
    /// The record that follows this one when `next` takes over.
    pub fn succeeded_by(&self, next: PrimaryRecord) -> PrimaryRecord {
        PrimaryRecord { epoch: self.epoch + 1, ..next }
    }
}
