//! The handoff's record: `state/handoffs/<id>.json`, the lease of one handoff and the log of its
//! steps, and where its backup lives.

use super::primary::PrimaryRecord;
use serde::{Deserialize, Serialize};
use spotctl_layout::{epoch_of, handoff_id, Key};
use std::collections::BTreeMap;

/// Why a handoff runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The 2-minute spot interruption warning.
    Interruption,
    /// The scheduled relocation found a better placement.
    Relocation,
    /// The primary was lost (no warning, or a handoff that could not finish): a standby restores
    /// the newest complete backup and is promoted.
    Recovery,
    /// A person asked for the database as it was at a second (`spotctl recover --to-time`): the
    /// primary drains (a fence, and a backup of everything up to then), a standby recovers the
    /// shipped log up to that second and is promoted.
    PointInTime,
}

/// Where a handoff's standby gets the database from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", content = "backup", rename_all = "snake_case")]
pub enum Source {
    /// A drained backup: the handoff's own drain, or an older complete one.
    Backup(String),
    /// The shipped binary log: the newest base on the log's timeline, replayed to the log's end
    /// (continuous protection). What the lost primary committed in its last second or so may be
    /// missing; nothing older is.
    Log,
    /// Handoff `id`'s own drain, sealed rather than stored (`BackupRoot::seal_key`): its old primary fenced
    /// and waited until the shipped log held every transaction it committed. The standby replays
    /// the log to its end and must reach the seal's position: nothing is missing. Never recorded
    /// on a handoff (which names [`Source::Backup`] of its own drain); a standby finds it.
    Sealed(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Backup(b) => write!(f, "backup {b}"),
            Source::Log => f.write_str("the shipped log"),
            Source::Sealed(b) => write!(f, "the shipped log, up to {b}'s seal"),
        }
    }
}

/// The handoff format this build writes; older ones are read. Format 3: a standby of a handoff
/// whose old primary did not fence itself waits for [`Step::OldFenced`] (the fencing rule).
pub const HANDOFF_FORMAT: u32 = 3;

fn format_1() -> u32 {
    1
}

/// Who is acting on a handoff now, and until when. An attempt that crashes leaves it behind; the
/// first trigger after `until_unix` takes the handoff over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub owner: String,
    pub until_unix: i64,
}

/// How long one launch attempt may hold a handoff before another may take it over.
pub const LEASE_SECS: i64 = 60;

/// After this many launch attempts that came to nothing (launch refused, standby dead, restore
/// failed), the handoff is marked failed and left to a person.
pub const MAX_ATTEMPTS: u32 = 3;

/// The steps a handoff goes through, in order; each is stamped with its time when reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    LeaseTaken,
    StandbyLaunched,
    DrainStarted,
    Drained,
    /// The control plane saw the old primary terminated (it terminated it if it had to): a
    /// handoff whose old primary did not fence itself goes on only from here.
    OldFenced,
    RestoreStarted,
    Verified,
    Promoted,
    /// The endpoint names the promoted standby (its agent's last step of the promotion).
    EndpointPointed,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    #[serde(default = "format_1")]
    pub format: u32,
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
    /// The attempt in progress, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Launch attempts that came to nothing so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// Why the last attempt came to nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The backup the standby restores when it is not this handoff's own drain (a recovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// A recovery's data-loss window, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss_window_s: Option<i64>,
    /// The standby recovers from the shipped log rather than a drained backup ([`Source::Log`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_log: bool,
    /// A point-in-time recovery's target (seconds since 1970, UTC): the log is replayed up to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_unix: Option<i64>,
    /// Why the handoff began, when its cause does not say it all (a primary replaced for not
    /// serving).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How far the recorded standby's restore has come, as its agent stamps it (at least once a
    /// minute while it moves): the watchdog takes a standby for stuck only when this stops moving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<StandbyProgress>,
}

/// A standby's restore, as far as it has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandbyProgress {
    /// The standby that stamped it.
    pub instance_id: String,
    /// Units of work done (chunks loaded, file parts written, ranges verified, log pieces
    /// replayed) and the bytes they held.
    pub steps: u64,
    pub bytes: u64,
    /// When it was stamped, and when `steps` last grew (unix seconds).
    pub at_unix: i64,
    pub moved_at_unix: i64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
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
            format: HANDOFF_FORMAT,
            lease: None,
            attempts: 0,
            last_error: None,
            backup: None,
            data_loss_window_s: None,
            from_log: false,
            until_unix: None,
            reason: None,
            progress: None,
        }
    }

    /// The handoff that moves the epoch-N primary to a server holding the database as it was at
    /// `until`: the old primary drains first (the fence), then the standby recovers the log.
    pub fn point_in_time(primary: &PrimaryRecord, until: i64, now: i64) -> Handoff {
        Handoff { from_log: true, until_unix: Some(until), ..Handoff::new(Cause::PointInTime, primary, now) }
    }

    /// This handoff begun again from the start for the same primary, restoring the same thing
    /// (a failed handoff reopened), with a fresh attempt budget.
    pub fn again(&self, primary: &PrimaryRecord, now: i64) -> Handoff {
        Handoff {
            backup: self.backup.clone(),
            data_loss_window_s: self.data_loss_window_s,
            from_log: self.from_log,
            until_unix: self.until_unix,
            reason: self.reason.clone(),
            ..Handoff::new(self.cause, primary, now)
        }
    }

    /// Whether the standby must wait for the old primary's own drain before it restores: always,
    /// except when it restores something chosen up front because the old primary is gone (a
    /// recovery). A point-in-time recovery recovers the log, but only once the old primary is
    /// fenced, so that there is never a second writer.
    pub fn waits_for_drain(&self) -> bool {
        self.cause == Cause::PointInTime || !self.names_its_source()
    }

    /// Whether the standby may go on only after a fence the control plane made
    /// ([`Step::OldFenced`]): the old primary did not fence itself, because what the standby
    /// restores is neither its own drain (stored or sealed) nor waited for. Records written before
    /// the rule (format < 3) are read as they were written.
    pub fn needs_fence(&self) -> bool {
        let own_drain = matches!(self.source(), Source::Backup(b) if b == self.id);
        self.format >= 3 && !self.waits_for_drain() && !own_drain
    }

    /// The last sign that the recorded standby moves: its launch, or the last time its restore's
    /// progress grew (a progress stamp of another, earlier standby does not count).
    pub fn standby_moved_at(&self) -> Option<i64> {
        let s = self.standby.as_ref()?;
        let launched = self.steps.get(&Step::StandbyLaunched).copied();
        let moved =
            self.progress.as_ref().filter(|p| p.instance_id == s.instance_id).map(|p| p.moved_at_unix);
        launched.max(moved).or(launched)
    }

    /// Whether the standby may restore now as far as fencing goes.
    pub fn fenced(&self) -> bool {
        !self.needs_fence() || self.steps.contains_key(&Step::OldFenced)
    }

    /// The handoff that recovers the lost epoch-N primary from `backup`.
    pub fn recovery(primary: &PrimaryRecord, backup: &str, window_s: Option<i64>, now: i64) -> Handoff {
        Handoff::recovery_from(primary, &Source::Backup(backup.to_string()), window_s, now)
    }

    /// The handoff that recovers the lost epoch-N primary from `from`.
    pub fn recovery_from(primary: &PrimaryRecord, from: &Source, window_s: Option<i64>, now: i64) -> Handoff {
        let mut h = Handoff::new(Cause::Recovery, primary, now);
        h.restore_from(from, window_s);
        h
    }

    /// Makes the standby restore `from` instead, with that data-loss window.
    pub fn restore_from(&mut self, from: &Source, window_s: Option<i64>) {
        (self.backup, self.from_log) = match from {
            Source::Backup(b) | Source::Sealed(b) => (Some(b.clone()), false),
            Source::Log => (None, true),
        };
        self.data_loss_window_s = window_s;
    }

    /// The backup the standby restores: this handoff's own drain, or the one a recovery names.
    pub fn backup_id(&self) -> &str {
        self.backup.as_deref().unwrap_or(&self.id)
    }

    /// What the standby restores.
    pub fn source(&self) -> Source {
        if self.from_log {
            Source::Log
        } else {
            Source::Backup(self.backup_id().to_string())
        }
    }

    /// Whether what the standby restores was chosen when the handoff began (a recovery), rather
    /// than being the old primary's drain, still to come.
    pub fn names_its_source(&self) -> bool {
        self.backup.is_some() || self.from_log
    }

    /// Not yet promoted nor given up.
    pub fn is_open(&self) -> bool {
        !self.is_finished()
    }

    /// Whether someone holds the handoff at `now`.
    pub fn held_at(&self, now: i64) -> Option<&Lease> {
        self.lease.as_ref().filter(|l| l.until_unix > now)
    }

    /// Stamps `step` once: the first time wins, so a retried step keeps its original time.
    pub fn reach(&mut self, step: Step, now: i64) {
        self.steps.entry(step).or_insert(now);
    }

    /// When it was given up, if it was and nothing promoted since.
    pub fn failed_at(&self) -> Option<i64> {
        self.steps.get(&Step::Failed).copied().filter(|_| !self.steps.contains_key(&Step::Promoted))
    }

    pub fn is_finished(&self) -> bool {
        self.steps.contains_key(&Step::Promoted) || self.steps.contains_key(&Step::Failed)
    }
}

/// The handoff whose backup is the newest complete one, among stored keys: a backup is complete
/// when its manifest exists, and newer when its epoch is higher (`epoch-10` after `epoch-9`).
pub fn newest_backup<'a>(keys: impl IntoIterator<Item = &'a str>) -> Option<String> {
    keys.into_iter()
        .filter_map(|k| match Key::parse(k)? {
            Key::DrainManifest(id) => Some((epoch_of(id)?, id)),
            _ => None,
        })
        .max()
        .map(|(_, id)| id.to_string())
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
            launching: None,
            ..PrimaryRecord::launching("", "r", "r-1a", "m5.large", 0)
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
        assert_eq!(spotctl_layout::state::handoff_key(&h.id), "state/handoffs/epoch-1.json");
    }

    #[test]
    fn a_handoff_written_before_formats_were_numbered_still_reads() {
        let v1 = r#"{"id": "epoch-1", "cause": "interruption", "from_epoch": 1,
            "old": {"instance_id": "i-1", "region": "r", "availability_zone": "r-1a", "instance_type": "m5.large"},
            "steps": {"lease_taken": 10}}"#;
        let h: Handoff = serde_json::from_str(v1).expect("format 1 reads");
        assert_eq!((h.format, h.attempts, h.backup_id(), h.lease.as_ref()), (1, 0, "epoch-1", None));
        assert!(h.is_open());
        let r = Handoff::recovery(&record(4, "i-4"), "epoch-2", Some(30), 100);
        assert_eq!((r.cause, r.backup_id(), r.data_loss_window_s), (Cause::Recovery, "epoch-2", Some(30)));
        assert_eq!(r.source(), Source::Backup("epoch-2".into()));
        let l = Handoff::recovery_from(&record(4, "i-4"), &Source::Log, Some(1), 100);
        assert_eq!((l.source(), l.names_its_source(), l.backup.as_deref()), (Source::Log, true, None));
        let text = serde_json::to_string(&l).expect("serialises");
        assert!(text.contains("\"from_log\":true"), "{text}");
        let back: Handoff = serde_json::from_str(&text).expect("reads back");
        assert_eq!(back, l);
        assert!(!serde_json::to_string(&r).expect("serialises").contains("from_log"));
        let p = Handoff::point_in_time(&record(4, "i-4"), 1_000, 2_000);
        assert_eq!(
            (p.cause, p.source(), p.until_unix, p.waits_for_drain()),
            (Cause::PointInTime, Source::Log, Some(1_000), true)
        );
        assert!(!r.waits_for_drain() && !l.waits_for_drain());
        let again = p.again(&record(4, "i-4"), 3_000);
        assert_eq!(
            (again.cause, again.until_unix, again.from_log, again.attempts),
            (Cause::PointInTime, Some(1_000), true, 0)
        );
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
    }
}
