//! Each actor's decision on one look at the world: the handler on a trigger, the old primary's
//! agent and a standby's agent on each poll.

use super::record::{epoch_of, handoff_id};
use crate::primary::PrimaryRecord;
use serde::Serialize;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "detail", rename_all = "snake_case")]
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
        return if v.drained || record.handoff.as_deref().and_then(epoch_of).is_some() {
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "detail", rename_all = "snake_case")]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::record::tests::record;

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
}
