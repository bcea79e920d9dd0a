//! The handoff: moving the one primary to a new instance without losing a row or ever having two.
//!
//! Three actors share the state bucket and nothing else: the handler (Lambda), the old primary's
//! agent, and the standby's agent. Their decisions are pure functions here of what each observed;
//! the I/O loops that observe and act live outside `core`.
//!
//! The protocol, keyed by the primary record's epoch N:
//! 1. The handler takes the lease `state/handoffs/epoch-N.json` with a create-only write. A
//!    duplicate, late or out-of-order event for the same primary finds it taken and stops; an event
//!    for an instance that is not the epoch-N primary stops earlier.
//! 2. The handler launches a standby tagged with the handoff id (`epoch-N`) in the best placement.
//! 3. The old primary's agent drains when IMDS shows the interruption notice or its
//!    `spotctl:drain` tag names the handoff: it fences writes, dumps, uploads, writes the manifest last.
//! 4. The standby's agent waits for the manifest, restores, verifies every table, and only then
//!    promotes with a conditional write of the primary record (epoch N → N+1, If-Match the epoch-N
//!    entity tag). Of any number of standbys for epoch N, exactly one write can succeed.
//! 5. An agent that is not the recorded primary never accepts writes; an old primary that sees a
//!    newer epoch retires (terminates itself).

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

/// Where a handoff's backup lives: `backups/<id>/` (manifest last).
pub fn backup_prefix(id: &str) -> String {
    format!("{}{id}", crate::names::keys::BACKUPS)
}

/// What the handler does with an interruption or relocation trigger for `instance_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerDecision {
    /// Take the lease for this handoff and launch a standby.
    Start { id: String },
    /// Nothing to do, and why.
    Ignore(String),
}

pub fn on_trigger(primary: Option<&PrimaryRecord>, instance_id: &str, lease_taken: bool) -> HandlerDecision {
    let Some(p) = primary else {
        return HandlerDecision::Ignore("no primary is recorded for this env".into());
    };
    if p.instance_id != instance_id {
        return HandlerDecision::Ignore(format!(
            "{instance_id} is not the primary (epoch {} is {}): a late or stray event",
            p.epoch, p.instance_id
        ));
    }
    if lease_taken {
        return HandlerDecision::Ignore(format!("handoff {} is already under way", handoff_id(p.epoch)));
    }
    HandlerDecision::Start { id: handoff_id(p.epoch) }
}

/// What the old primary's agent sees on one poll.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrimaryView {
    pub self_id: String,
    /// The primary record as read now.
    pub record: Option<PrimaryRecord>,
    /// IMDS `spot/instance-action` answered 200.
    pub interruption_notice: bool,
    /// The `spotctl:drain` tag (through instance metadata tags), naming a handoff.
    pub drain_tag: Option<String>,
    /// A manifest this agent already wrote for the current epoch.
    pub drained: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryAction {
    /// Keep serving; poll again.
    Serve,
    /// Fence writes and drain to `backup_prefix(id)`.
    Drain { id: String },
    /// Drained; stay fenced and wait for the standby to promote.
    WaitForSuccessor,
    /// The record names another instance at a later epoch: stop, and terminate self.
    Retire { successor: String },
    /// Not the recorded primary and no handoff of ours names us: stay fenced (read-only).
    StayFenced(String),
}

pub fn primary_step(v: &PrimaryView) -> PrimaryAction {
    let Some(record) = &v.record else {
        return PrimaryAction::StayFenced(
            "no primary record is readable; refusing writes until it is".into(),
        );
    };
    if record.instance_id != v.self_id {
        return if v.drained || record.handoff.as_deref().is_some_and(|h| h.starts_with("epoch-")) {
            PrimaryAction::Retire { successor: record.instance_id.clone() }
        } else {
            PrimaryAction::StayFenced(format!("the primary is {}, not this instance", record.instance_id))
        };
    }
    if v.drained {
        return PrimaryAction::WaitForSuccessor;
    }
    let id = handoff_id(record.epoch);
    let tagged = v.drain_tag.as_deref() == Some(id.as_str());
    if v.interruption_notice || tagged {
        PrimaryAction::Drain { id }
    } else {
        PrimaryAction::Serve
    }
}

/// What a standby's agent sees on one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyView {
    pub self_id: String,
    /// The handoff this standby was launched for (its `spotctl:handoff` tag).
    pub handoff_id: String,
    pub record: Option<PrimaryRecord>,
    pub manifest_present: bool,
    /// Restored and every table verified against the manifest.
    pub verified: bool,
    /// Why restore or verification failed, if it did.
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StandbyAction {
    WaitForManifest,
    Restore,
    /// Conditional write of the record: epoch `from_epoch + 1`, If-Match what was read.
    Promote {
        from_epoch: u64,
    },
    /// Another instance won, or the handoff is stale: terminate self without ever serving.
    Abandon(String),
    /// Restore or verification failed: never promote; report and keep the data for inspection.
    Refuse(String),
    /// Already the primary (a restart after promotion): serve.
    Serve,
}

pub fn standby_step(v: &StandbyView) -> StandbyAction {
    let Some(record) = &v.record else {
        return StandbyAction::Refuse("no primary record: cannot know which epoch to succeed".into());
    };
    if record.instance_id == v.self_id {
        return StandbyAction::Serve;
    }
    let expected = handoff_id(record.epoch);
    if v.handoff_id != expected {
        return StandbyAction::Abandon(format!(
            "this standby was launched for {} but the primary is at epoch {} ({}): another handoff won",
            v.handoff_id, record.epoch, record.instance_id
        ));
    }
    if let Some(why) = &v.failure {
        return StandbyAction::Refuse(why.clone());
    }
    match (v.manifest_present, v.verified) {
        (false, _) => StandbyAction::WaitForManifest,
        (true, false) => StandbyAction::Restore,
        (true, true) => StandbyAction::Promote { from_epoch: record.epoch },
    }
}

/// Where a failed handoff falls back to: the newest complete backup (a handoff that reached
/// `Drained`), and the data-loss window that means at `now` in seconds — zero when the failed
/// handoff itself drained completely (the old primary was fenced, so nothing was written after).
/// `None` when no complete backup exists at all.
pub fn fallback(handoffs: &[Handoff], failed: &str, now: i64) -> Option<(String, i64)> {
    if handoffs.iter().any(|h| h.id == failed && h.steps.contains_key(&Step::Drained)) {
        return Some((failed.to_string(), 0));
    }
    handoffs
        .iter()
        .filter_map(|h| h.steps.get(&Step::Drained).map(|at| (h.id.clone(), *at)))
        .max_by_key(|(_, at)| *at)
        .map(|(id, at)| (id, (now - at).max(0)))
}

/// The failure note a standby writes on the handoff record when it refuses to promote.
pub fn failure_note(why: &str, fallback: Option<&(String, i64)>) -> String {
    match fallback {
        Some((id, 0)) => format!("{why}; the complete backup of {id} is the fallback (data-loss window 0 s)"),
        Some((id, w)) => format!("{why}; fallback: the backup of {id}, data-loss window {w} s"),
        None => format!("{why}; no complete backup exists to fall back to"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_handoff_falls_back_to_the_newest_complete_backup() {
        let p = record(3, "i-3");
        let mut older = Handoff::new(Cause::Relocation, &record(2, "i-2"), 100);
        older.reach(Step::Drained, 150);
        let mut failed = Handoff::new(Cause::Interruption, &p, 1000);
        let all = [older.clone(), failed.clone()];
        assert_eq!(fallback(&all, &failed.id, 1100), Some((older.id.clone(), 950)));
        failed.reach(Step::Drained, 1010);
        let all = [older, failed.clone()];
        assert_eq!(fallback(&all, &failed.id, 1100), Some((failed.id.clone(), 0)));
        assert_eq!(fallback(&[], "epoch-9", 5), None);
        assert!(failure_note("checksum mismatch in employees", None).contains("no complete backup"));
    }

    fn record(epoch: u64, id: &str) -> PrimaryRecord {
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
    fn only_the_current_primary_starts_a_handoff_and_only_once() {
        let p = record(3, "i-old");
        assert_eq!(on_trigger(Some(&p), "i-old", false), HandlerDecision::Start { id: "epoch-3".into() });
        assert!(matches!(on_trigger(Some(&p), "i-old", true), HandlerDecision::Ignore(_)));
        assert!(matches!(on_trigger(Some(&p), "i-older", false), HandlerDecision::Ignore(_)));
        assert!(matches!(on_trigger(None, "i-old", false), HandlerDecision::Ignore(_)));
    }

    #[test]
    fn the_old_primary_drains_on_notice_or_tag_then_waits_then_retires() {
        let mut v =
            PrimaryView { self_id: "i-old".into(), record: Some(record(3, "i-old")), ..Default::default() };
        assert_eq!(primary_step(&v), PrimaryAction::Serve);
        v.drain_tag = Some("epoch-2".into());
        assert_eq!(primary_step(&v), PrimaryAction::Serve, "a stale drain tag is ignored");
        v.drain_tag = Some("epoch-3".into());
        assert_eq!(primary_step(&v), PrimaryAction::Drain { id: "epoch-3".into() });
        v.drain_tag = None;
        v.interruption_notice = true;
        assert_eq!(primary_step(&v), PrimaryAction::Drain { id: "epoch-3".into() });
        v.drained = true;
        assert_eq!(primary_step(&v), PrimaryAction::WaitForSuccessor);
        v.record = Some(PrimaryRecord { handoff: Some("epoch-3".into()), ..record(4, "i-new") });
        assert_eq!(primary_step(&v), PrimaryAction::Retire { successor: "i-new".into() });
    }

    #[test]
    fn a_standby_promotes_only_after_verifying_for_the_current_epoch() {
        let mut v = StandbyView {
            self_id: "i-new".into(),
            handoff_id: "epoch-3".into(),
            record: Some(record(3, "i-old")),
            manifest_present: false,
            verified: false,
            failure: None,
        };
        assert_eq!(standby_step(&v), StandbyAction::WaitForManifest);
        v.manifest_present = true;
        assert_eq!(standby_step(&v), StandbyAction::Restore);
        v.failure = Some("employees: 10 rows, manifest says 11".into());
        assert!(matches!(standby_step(&v), StandbyAction::Refuse(_)));
        v.failure = None;
        v.verified = true;
        assert_eq!(standby_step(&v), StandbyAction::Promote { from_epoch: 3 });
        // Someone else promoted first: the record moved on.
        v.record = Some(record(4, "i-other"));
        assert!(matches!(standby_step(&v), StandbyAction::Abandon(_)));
        // This standby promoted and restarted.
        v.record = Some(record(4, "i-new"));
        assert_eq!(standby_step(&v), StandbyAction::Serve);
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
}
