//! Each actor's decision on one look at the world: the handler (on a trigger, and the watchdog on
//! its tick), the old primary's agent and a standby's agent on each poll.

use super::health::Health;
use super::record::{Handoff, Source, Step, MAX_ATTEMPTS};
use crate::handoff::primary::{InstanceState, PrimaryRecord};
use serde::Serialize;
use spotctl_layout::handoff_id;

/// A standby whose restore has not moved for this long (nor begun, this long after its launch) is
/// taken for stuck, and the handoff goes on with a new one (the stuck one finds itself superseded
/// and leaves). A restore that keeps moving is never cut short, however long it takes.
pub const STANDBY_STALL_SECS: i64 = 30 * 60;
/// How long after a handoff failed the watchdog tries it again, from the beginning, when its
/// backup is complete: capacity often comes back, and until a standby promotes the old primary,
/// fenced since its drain, takes no writes.
pub const REOPEN_AFTER_SECS: i64 = 10 * 60;

/// What the handler sees of the current epoch's handoff when a trigger (or the watchdog) fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffView<'a> {
    pub record: Option<&'a PrimaryRecord>,
    /// The instance a warning or relocation names; `None` for the watchdog's look.
    pub trigger: Option<&'a str>,
    /// The handoff record of the record's epoch, if one exists.
    pub lease: Option<&'a Handoff>,
    /// What EC2 says of the handoff's standby (`None`: unknown to EC2, or none recorded).
    pub standby_state: Option<InstanceState>,
    /// What EC2 says of the recorded primary (`None`: unknown to EC2).
    pub old_state: Option<InstanceState>,
    /// The handoff's own drain is complete (its manifest or its seal exists).
    pub own_backup: bool,
    /// The newest complete backup and its data-loss window (`fallback`).
    pub fallback: Option<(String, Option<i64>)>,
    /// The shipped log, when it can be recovered (continuous protection).
    pub log: Option<LogView>,
    /// The recorded primary's health, as its agent reports it (the watchdog judges it).
    pub health: Health,
    /// How long a standby may go without moving before it is taken for stuck
    /// ([`STANDBY_STALL_SECS`], shorter in tests).
    pub stall_after_s: i64,
    pub now: i64,
}

/// What the state bucket says of the shipped log: a base lies on the newest timeline's chain, so
/// a standby can restore it and replay the log to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogView {
    /// At most this many seconds of commits are missing from it now: since its shipper last said
    /// everything was stored (its heartbeat, or its newest piece).
    pub window_s: i64,
}

/// What the handler does about the current epoch's handoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum HandlerDecision {
    /// No handoff for this epoch yet: create its record and launch a standby.
    Start { id: String },
    /// The handoff is open, nobody holds it and no live standby serves it: take it and launch.
    Resume { id: String, why: String },
    /// The old primary is gone before its drain completed: go on from the shipped log, or else
    /// the newest older backup.
    Fallback { id: String, from: Source, data_loss_window_s: Option<i64>, why: String },
    /// The recorded primary is gone with no handoff open: recover from its own drain when that
    /// completed (nothing was written after: no loss), else from the shipped log (the loss its
    /// window says). Never from an older backup without a person (`apply` offers it).
    Recover { id: String, from: Source, data_loss_window_s: Option<i64> },
    /// The recorded primary is alive but has not served for `[health] unhealthy_after`: fence it
    /// (the control plane terminates it) and recover from the shipped log, as for a loss.
    Replace { id: String, why: String, data_loss_window_s: Option<i64> },
    /// Nothing more can come of this handoff: mark it failed, and why.
    GiveUp { id: String, why: String },
    /// The handoff failed [`REOPEN_AFTER_SECS`] ago and what it restores is complete: start it
    /// again, with a fresh attempt budget, in the failed record's place.
    Reopen { id: String, why: String },
    /// Nothing to do, and why.
    Ignore { why: String },
}

fn ignore(why: impl Into<String>) -> HandlerDecision {
    HandlerDecision::Ignore { why: why.into() }
}

pub fn on_trigger(v: &HandoffView<'_>) -> HandlerDecision {
    let Some(p) = v.record else { return ignore("no primary is recorded for this env") };
    if !p.has_instance() {
        return ignore("apply is launching the first primary; there is nothing to hand off yet");
    }
    if let Some(i) = v.trigger {
        if p.instance_id != i {
            return ignore(format!(
                "{i} is not the primary (epoch {} is {}): a late or stray event",
                p.epoch, p.instance_id
            ));
        }
    }
    let id = handoff_id(p.epoch);
    // Gone only as EC2 says it (stopped, terminating, terminated): an instance EC2 does not list
    // yet is not taken for lost.
    let old_gone = matches!(v.old_state, Some(s) if !s.is_alive());
    let Some(h) = v.lease else {
        return match (v.trigger, &v.log) {
            (Some(_), _) => HandlerDecision::Start { id },
            (None, _) if old_gone && v.own_backup => {
                HandlerDecision::Recover { from: Source::Backup(id.clone()), id, data_loss_window_s: Some(0) }
            }
            (None, Some(log)) if old_gone => {
                HandlerDecision::Recover { id, from: Source::Log, data_loss_window_s: Some(log.window_s) }
            }
            (None, None) if old_gone => ignore(format!(
                "{} is gone with no handoff open, no drain of its own and no recoverable shipped log: \
                 `spotctl apply` shows how to recover it and what that loses",
                p.instance_id
            )),
            // A primary whose own drain is complete fenced itself for a handoff still to come.
            (None, _) if v.own_backup => ignore("no handoff is open"),
            (None, Some(log)) => match &v.health {
                Health::Unhealthy { for_ms, why } => HandlerDecision::Replace {
                    id,
                    why: format!("{} has not served for {} s: {why}", p.instance_id, for_ms / 1000),
                    data_loss_window_s: Some(log.window_s),
                },
                _ => ignore("no handoff is open"),
            },
            (None, None) => match &v.health {
                Health::Unhealthy { for_ms, why } => ignore(format!(
                    "{} has not served for {} s ({why}), but the shipped log cannot bring it back: it is \
                     not replaced",
                    p.instance_id,
                    for_ms / 1000
                )),
                _ => ignore("no handoff is open"),
            },
        };
    };
    if !h.is_open() {
        if let Some(failed_at) = h.failed_at() {
            let restorable = h.names_its_source() || v.own_backup;
            if v.trigger.is_none() && restorable {
                if v.now - failed_at >= REOPEN_AFTER_SECS {
                    return HandlerDecision::Reopen {
                        id: id.clone(),
                        why: format!(
                            "handoff {id} failed {} s ago; its backup is complete",
                            v.now - failed_at
                        ),
                    };
                }
                return ignore(format!(
                    "handoff {id} failed; tried again {} s after it failed",
                    REOPEN_AFTER_SECS
                ));
            }
        }
        let how = if h.steps.contains_key(&Step::Promoted) { "was promoted" } else { "failed" };
        return ignore(format!("handoff {id} {how}; nothing more to do"));
    }
    if let Some(l) = h.held_at(v.now) {
        return ignore(format!(
            "handoff {id} is under way ({} holds it for {} s more)",
            l.owner,
            l.until_unix - v.now
        ));
    }
    if h.waits_for_drain() && !v.own_backup && old_gone {
        let why = format!("{} is gone before its drain completed", p.instance_id);
        if h.cause == super::Cause::PointInTime {
            // The drain was the fence; with the old primary gone there is nothing to fence.
            return HandlerDecision::Fallback {
                id,
                from: Source::Log,
                data_loss_window_s: h.data_loss_window_s,
                why: format!("{why}: no fence is needed any more"),
            };
        }
        return match (&v.log, &v.fallback) {
            (Some(log), _) => HandlerDecision::Fallback {
                id,
                from: Source::Log,
                data_loss_window_s: Some(log.window_s),
                why,
            },
            (None, Some((backup, window))) => HandlerDecision::Fallback {
                id,
                from: Source::Backup(backup.clone()),
                data_loss_window_s: *window,
                why,
            },
            (None, None) => HandlerDecision::GiveUp {
                id,
                why: format!(
                    "{} is gone before its drain completed, and no complete backup exists",
                    p.instance_id
                ),
            },
        };
    }
    if let Some(s) = &h.standby {
        let moved = h.standby_moved_at().unwrap_or(v.now);
        match v.standby_state {
            Some(st) if st.is_alive() && v.now - moved < v.stall_after_s => {
                return ignore(format!(
                    "handoff {id} is under way: standby {} is {}",
                    s.instance_id,
                    st.as_str()
                ));
            }
            Some(st) if st.is_alive() => {}
            _ if h.attempts + 1 >= MAX_ATTEMPTS => {
                return HandlerDecision::GiveUp {
                    id,
                    why: format!(
                        "{} standbys came to nothing (the last, {}, is gone)",
                        h.attempts + 1,
                        s.instance_id
                    ),
                };
            }
            _ => {}
        }
    } else if h.attempts >= MAX_ATTEMPTS {
        let last = h.last_error.as_deref().unwrap_or("no error was recorded");
        return HandlerDecision::GiveUp {
            id,
            why: format!("{} attempts came to nothing; the last: {last}", h.attempts),
        };
    }
    let why = match (&h.standby, v.standby_state) {
        (Some(s), Some(st)) if st.is_alive() => {
            format!("standby {} has not moved in {} s", s.instance_id, v.stall_after_s)
        }
        (Some(s), _) => format!("standby {} is gone", s.instance_id),
        (None, _) => match (&h.lease, &h.last_error) {
            (Some(l), _) => format!("{} stopped holding it at {}", l.owner, l.until_unix),
            (None, Some(e)) => format!("the last attempt failed: {e}"),
            (None, None) => "no standby was launched".into(),
        },
    };
    HandlerDecision::Resume { id, why }
}

/// What the control plane does about a handoff's old primary before its standby may go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fence", rename_all = "snake_case")]
pub enum FenceStep {
    /// Its own drain fenced it, or the fence is recorded already, or the handoff is over.
    Nothing,
    /// It is still running (or stopping, or shutting down): terminate it through EC2, and record
    /// the fence once EC2 says it is terminated.
    Terminate { instance_id: String, region: String },
    /// EC2 says it is terminated (or knows it no more): record [`Step::OldFenced`].
    Record,
}

/// The fencing rule for `lease`, whose old primary EC2 describes as `old_state`: no promotion
/// without the old primary's own drain, its seal, or a fence the control plane made. A stopped
/// or shutting-down instance is not fenced yet (it may start again, or still be writing).
pub fn fence_step(lease: &Handoff, old_state: Option<InstanceState>) -> FenceStep {
    if !lease.is_open() || lease.fenced() {
        return FenceStep::Nothing;
    }
    match old_state {
        None | Some(InstanceState::Terminated) => FenceStep::Record,
        Some(_) => FenceStep::Terminate {
            instance_id: lease.old.instance_id.clone(),
            region: lease.old.region.clone(),
        },
    }
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
    /// The drain of the record's epoch is complete, stored or sealed (this agent, or an earlier
    /// run of it, drained).
    pub drained: bool,
    /// The handoff that made the recorded primary names this instance as the one it replaced.
    pub succeeded_me: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "detail", rename_all = "snake_case")]
pub enum PrimaryAction {
    /// The recorded primary: make sure this instance is tagged primary and takes writes; poll again.
    Serve,
    /// Fence writes for good, then seal (the shipped log holds everything: the drain's `seal_key`),
    /// or else drain in full to the drain's root (`spotctl_layout::BackupRoot`).
    Drain { id: String },
    /// Drained; stay fenced and wait for the standby to promote.
    WaitForSuccessor,
    /// A handoff replaced this instance: terminate self.
    Retire { successor: String },
    /// Not the recorded primary, and no handoff replaced it: stay fenced (read-only) for a person.
    StayFenced(String),
}

pub fn primary_step(v: &PrimaryView) -> PrimaryAction {
    let Some(record) = &v.record else {
        return PrimaryAction::StayFenced(
            "no primary record is readable; refusing writes until it is".into(),
        );
    };
    if record.instance_id != v.self_id {
        return if v.succeeded_me {
            PrimaryAction::Retire { successor: record.instance_id.clone() }
        } else if !record.has_instance() {
            PrimaryAction::StayFenced("apply has not recorded this instance as the primary yet".into())
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
#[derive(Debug, Clone, PartialEq)]
pub struct StandbyView {
    pub self_id: String,
    /// The handoff this standby was launched for (its `spotctl:handoff` tag).
    pub handoff_id: String,
    pub record: Option<PrimaryRecord>,
    /// That handoff's record.
    pub lease: Option<Handoff>,
    /// The backup the handoff restores is complete (its manifest exists); for the shipped log,
    /// always (the recovery itself checks everything before it writes). A point in time waits
    /// for its old primary's drain, stored or sealed.
    pub manifest_present: bool,
    /// That backup is a drain sealed instead of stored (its seal exists, its manifest does not).
    pub sealed: bool,
    /// When the handoff restores from elsewhere: the old primary's own drain completed after all
    /// (stored, sealed). It holds everything the old primary committed: it comes first.
    pub own_drain: (bool, bool),
    /// Restored and every table verified against the manifest.
    pub verified: bool,
    /// Why restore or verification failed, if it did.
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "detail", rename_all = "snake_case")]
pub enum StandbyAction {
    WaitForManifest,
    /// The old primary did not fence itself: wait until the control plane has seen it terminated
    /// ([`Step::OldFenced`]) before reading anything it may still be writing.
    WaitForFence,
    /// Restore this backup (or recover the shipped log, up to `until` when it is a point in
    /// time) and verify it.
    Restore {
        from: Source,
        #[serde(skip_serializing_if = "Option::is_none")]
        until: Option<i64>,
    },
    /// Conditional write of the record: epoch `from_epoch + 1`, If-Match what was read.
    Promote {
        from_epoch: u64,
    },
    /// Another instance won, the handoff moved on or failed: terminate self without ever serving.
    Abandon(String),
    /// Restore or verification failed: never promote; record why, then terminate self.
    Refuse(String),
    /// The recorded primary (a restart after promotion, or a promotion cut short): make sure it is
    /// tagged primary and takes writes.
    Serve,
}

pub fn standby_step(v: &StandbyView) -> StandbyAction {
    let Some(record) = &v.record else {
        return StandbyAction::Abandon("no primary record: there is no epoch to succeed".into());
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
    let Some(lease) = &v.lease else {
        return StandbyAction::Abandon(format!("handoff {} has no record", v.handoff_id));
    };
    if lease.steps.contains_key(&Step::Failed) {
        return StandbyAction::Abandon(format!(
            "handoff {} failed; a standby of a failed handoff never promotes",
            lease.id
        ));
    }
    match &lease.standby {
        Some(s) if s.instance_id != v.self_id => {
            return StandbyAction::Abandon(format!(
                "handoff {} moved on to standby {}",
                lease.id, s.instance_id
            ));
        }
        // Launched, not yet recorded by the launcher (or launched by an attempt that died before
        // recording it): wait, never promote unrecorded.
        None => return StandbyAction::WaitForManifest,
        Some(_) => {}
    }
    if let Some(why) = &v.failure {
        return StandbyAction::Refuse(why.clone());
    }
    if !lease.fenced() {
        return StandbyAction::WaitForFence;
    }
    match (v.manifest_present || v.sealed, v.verified) {
        (false, _) => StandbyAction::WaitForManifest,
        (true, false) => {
            // A drain that was sealed rather than stored comes back from the shipped log.
            let from = match (lease.source(), v.own_drain) {
                (_, (true, _)) => Source::Backup(lease.id.clone()),
                (_, (false, true)) => Source::Sealed(lease.id.clone()),
                (Source::Backup(b), _) if !v.manifest_present => Source::Sealed(b),
                (other, _) => other,
            };
            StandbyAction::Restore { from, until: lease.until_unix }
        }
        (true, true) => StandbyAction::Promote { from_epoch: record.epoch },
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
