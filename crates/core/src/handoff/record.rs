//! The handoff's record: `state/handoffs/<id>.json`, the lease of one handoff and the log of its
//! steps, and where its backup lives.

use crate::primary::PrimaryRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a handoff runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The 2-minute spot interruption warning.
    Interruption,
    /// The scheduled relocation found a better placement.
    Relocation,
}

/// The steps a handoff goes through, in order; each is stamped with its time when reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    LeaseTaken,
    StandbyLaunched,
    DrainStarted,
    Drained,
    RestoreStarted,
    Verified,
    Promoted,
    OldRetired,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRef {
    pub instance_id: String,
    pub region: String,
    pub availability_zone: String,
    pub instance_type: String,
}

/// The lease and log of one handoff: `state/handoffs/<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    pub id: String,
    pub cause: Cause,
    pub from_epoch: u64,
    pub old: InstanceRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<InstanceRef>,
    /// Why the standby's placement was chosen.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub placement_reason: String,
    /// Unix time each step was reached.
    pub steps: BTreeMap<Step, i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl Handoff {
    pub fn new(cause: Cause, primary: &PrimaryRecord, now: i64) -> Handoff {
        Handoff {
            id: handoff_id(primary.epoch),
            cause,
            from_epoch: primary.epoch,
            old: InstanceRef {
                instance_id: primary.instance_id.clone(),
                region: primary.region.clone(),
                availability_zone: primary.availability_zone.clone(),
                instance_type: primary.instance_type.clone(),
            },
            standby: None,
            placement_reason: String::new(),
            steps: [(Step::LeaseTaken, now)].into(),
            failure: None,
        }
    }

    /// Stamps `step` once: the first time wins, so a retried step keeps its original time.
    pub fn reach(&mut self, step: Step, now: i64) {
        self.steps.entry(step).or_insert(now);
    }

    pub fn is_finished(&self) -> bool {
        self.steps.contains_key(&Step::Promoted) || self.steps.contains_key(&Step::Failed)
    }
}

/// One handoff per primary epoch: every trigger for the epoch-N primary maps to the same id.
pub fn handoff_id(epoch: u64) -> String {
    format!("epoch-{epoch}")
}

pub fn lease_key(id: &str) -> String {
    format!("{}{id}.json", crate::names::keys::HANDOFFS)
}

/// The epoch a handoff id names (`epoch-12` → 12).
pub fn epoch_of(id: &str) -> Option<u64> {
    id.strip_prefix("epoch-")?.parse().ok()
}

/// The handoff whose backup is the newest complete one, among stored keys: a backup is complete
/// when its manifest exists, and newer when its epoch is higher (`epoch-10` after `epoch-9`).
pub fn newest_backup<'a>(keys: impl IntoIterator<Item = &'a str>) -> Option<String> {
    keys.into_iter()
        .filter_map(|k| k.strip_prefix(crate::names::keys::BACKUPS)?.strip_suffix("/manifest.json"))
        .filter_map(|id| Some((epoch_of(id)?, id)))
        .max()
        .map(|(_, id)| id.to_string())
}

/// Where a handoff's backup lives: `backups/<id>/` (manifest last).
pub fn backup_prefix(id: &str) -> String {
    format!("{}{id}", crate::names::keys::BACKUPS)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(epoch: u64, id: &str) -> PrimaryRecord {
        PrimaryRecord {
            epoch,
            instance_id: id.into(),
            region: "r".into(),
            availability_zone: "r-1a".into(),
            instance_type: "m5.large".into(),
            since_unix: 0,
            handoff: None,
        }
    }

    #[test]
    fn steps_keep_their_first_time() {
        let mut h = Handoff::new(Cause::Interruption, &record(1, "i-a"), 100);
        h.reach(Step::StandbyLaunched, 110);
        h.reach(Step::StandbyLaunched, 999);
        assert_eq!(h.steps.get(&Step::StandbyLaunched), Some(&110));
        assert!(!h.is_finished());
        h.reach(Step::Promoted, 200);
        assert!(h.is_finished());
        assert_eq!(lease_key(&h.id), "state/handoffs/epoch-1.json");
    }

    #[test]
    fn the_newest_backup_is_the_highest_epoch_with_a_manifest() {
        let keys = [
            "backups/epoch-9/manifest.json",
            "backups/epoch-10/manifest.json",
            "backups/epoch-11/data/appdb/t/0-0.tsv.zst",
            "backups/epoch-2/manifest.json",
            "backups/other/manifest.json",
        ];
        assert_eq!(newest_backup(keys), Some("epoch-10".to_string()));
        assert_eq!(newest_backup([]), None);
        assert_eq!(epoch_of("epoch-10"), Some(10));
        assert_eq!(epoch_of("epoch-x"), None);
    }
}
