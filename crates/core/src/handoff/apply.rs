//! What `plan`/`apply` may do about the database instance. The primary record is the truth, not
//! the `spotctl:role` tags: apply launches a primary only when none was ever recorded, leaves
//! database instances alone while a handoff of the recorded epoch is open, and replaces a lost
//! primary only through a recovery handoff from a complete backup — never with an empty database
//! over one that had data.

use super::decide::LogView;
use super::fallback::{fallback, Backup};
use super::record::{Handoff, Source, Step};
use crate::handoff::primary::{InstanceState, PrimaryRecord, Role};
use serde::Serialize;
use spotctl_layout::handoff_id;

/// A database instance of the env as EC2 lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbInstance {
    pub id: String,
    pub region: String,
    pub role: Role,
    pub state: InstanceState,
    /// The `spotctl:launch` token apply tagged it with, if apply launched it.
    pub launch_token: Option<String>,
}

/// Everything apply reads before deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyView<'a> {
    pub record: Option<&'a PrimaryRecord>,
    /// The handoff record of the recorded epoch.
    pub handoff: Option<&'a Handoff>,
    pub instances: &'a [DbInstance],
    /// The newest complete backup.
    pub newest_backup: Option<Backup>,
    /// The recorded epoch's own drain completed (its manifest, or its seal: the shipped log
    /// holds everything the primary committed).
    pub own_drain: bool,
    /// The shipped log, when it can be recovered (read only when the primary is gone).
    pub log: Option<LogView>,
    pub now: i64,
}

/// What apply does about the database instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "primary", rename_all = "snake_case")]
pub enum PrimaryPlan {
    /// No primary was ever recorded: launch the first one (with the schema).
    Launch,
    /// An apply recorded a launch and died before recording the instance: adopt the instance it
    /// launched (tagged with the token), or launch it again.
    FinishLaunch { token: String, adopt: Option<String> },
    /// The recorded primary runs: keep it (its metadata options are still compared).
    Keep { instance_id: String, region: String },
    /// A handoff of the recorded epoch is open: database instances are the handoff's.
    Hold { handoff: String, step: Option<Step> },
    /// The recorded primary is gone, no handoff is open, and its data can come back: a standby
    /// restores its own drain (nothing lost), else the shipped log (the last second or so), else
    /// the newest complete backup (what came after it), verifies and is promoted.
    Recover { lost: String, from: Source, data_loss_window_s: Option<i64> },
    /// The recorded primary is gone and neither a complete backup nor the shipped log exists:
    /// nothing can bring its data back; apply refuses to put an empty database in its place
    /// unless asked.
    Lost { lost: String },
}

/// What apply shows besides its plan: instances tagged primary that the record does not name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownPrimary {
    pub id: String,
    pub region: String,
}

pub fn assess(v: &ApplyView<'_>) -> (PrimaryPlan, Vec<UnknownPrimary>) {
    let plan = decide(v);
    let known = |id: &str| match v.record {
        Some(r) => r.instance_id == id || r.launching.is_some() && token_of(v, id) == r.launching.as_deref(),
        None => false,
    };
    let unknown = v
        .instances
        .iter()
        .filter(|i| i.role == Role::Primary && i.state.is_alive() && !known(&i.id))
        .filter(|i| !matches!(&plan, PrimaryPlan::Hold { .. }) || !standby_of_open_handoff(v, &i.id))
        .map(|i| UnknownPrimary { id: i.id.clone(), region: i.region.clone() })
        .collect();
    (plan, unknown)
}

fn token_of<'a>(v: &'a ApplyView<'_>, id: &str) -> Option<&'a str> {
    v.instances.iter().find(|i| i.id == id).and_then(|i| i.launch_token.as_deref())
}

/// A standby that promoted itself but whose record write the handoff has not been seen to finish.
fn standby_of_open_handoff(v: &ApplyView<'_>, id: &str) -> bool {
    v.handoff.and_then(|h| h.standby.as_ref()).is_some_and(|s| s.instance_id == id)
}

fn decide(v: &ApplyView<'_>) -> PrimaryPlan {
    let Some(record) = v.record else { return PrimaryPlan::Launch };
    if let Some(token) = &record.launching {
        let adopt = v
            .instances
            .iter()
            .filter(|i| i.state.is_alive() && i.launch_token.as_deref() == Some(token))
            .map(|i| i.id.clone())
            .min();
        return PrimaryPlan::FinishLaunch { token: token.clone(), adopt };
    }
    if let Some(h) = v.handoff.filter(|h| h.is_open() && h.id == handoff_id(record.epoch)) {
        return PrimaryPlan::Hold { handoff: h.id.clone(), step: h.steps.keys().next_back().copied() };
    }
    let alive = v.instances.iter().any(|i| i.id == record.instance_id && i.state.is_alive());
    if alive {
        return PrimaryPlan::Keep { instance_id: record.instance_id.clone(), region: record.region.clone() };
    }
    let lost = record.instance_id.clone();
    let own = handoff_id(record.epoch);
    if v.own_drain {
        return PrimaryPlan::Recover { lost, from: Source::Backup(own), data_loss_window_s: Some(0) };
    }
    match (fallback(v.newest_backup.as_ref(), &own, v.now), v.log) {
        (Some((backup, window)), _) if backup == own => {
            PrimaryPlan::Recover { lost, from: Source::Backup(backup), data_loss_window_s: window }
        }
        (_, Some(log)) => {
            PrimaryPlan::Recover { lost, from: Source::Log, data_loss_window_s: Some(log.window_s) }
        }
        (Some((backup, window)), None) => {
            PrimaryPlan::Recover { lost, from: Source::Backup(backup), data_loss_window_s: window }
        }
        (None, None) => PrimaryPlan::Lost { lost },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::record::tests::record;
    use crate::handoff::Cause;

    fn inst(id: &str, role: Role, state: InstanceState) -> DbInstance {
        DbInstance { id: id.into(), region: "r".into(), role, state, launch_token: None }
    }

    fn view<'a>(
        record: Option<&'a PrimaryRecord>,
        handoff: Option<&'a Handoff>,
        instances: &'a [DbInstance],
    ) -> ApplyView<'a> {
        ApplyView { record, handoff, instances, newest_backup: None, own_drain: false, log: None, now: 1000 }
    }

    #[test]
    fn a_fresh_env_launches_and_a_running_primary_is_kept() {
        assert_eq!(assess(&view(None, None, &[])).0, PrimaryPlan::Launch);
        let r = record(2, "i-p");
        let live = [inst("i-p", Role::Primary, InstanceState::Running)];
        assert_eq!(
            assess(&view(Some(&r), None, &live)),
            (PrimaryPlan::Keep { instance_id: "i-p".into(), region: "r".into() }, vec![])
        );
    }

    #[test]
    fn an_open_handoff_holds_every_database_instance() {
        let r = record(2, "i-p");
        let mut h = Handoff::new(Cause::Interruption, &r, 900);
        h.reach(Step::StandbyLaunched, 910);
        // The old primary is gone already; the standby is running.
        let live = [inst("i-s", Role::Standby, InstanceState::Running)];
        let (plan, unknown) = assess(&view(Some(&r), Some(&h), &live));
        assert_eq!(plan, PrimaryPlan::Hold { handoff: "epoch-2".into(), step: Some(Step::StandbyLaunched) });
        assert!(unknown.is_empty());
        // A finished handoff holds nothing.
        h.reach(Step::Promoted, 950);
        assert!(matches!(
            assess(&view(Some(&r), Some(&h), &live)).0,
            PrimaryPlan::Recover { .. } | PrimaryPlan::Lost { .. }
        ));
    }

    #[test]
    fn a_lost_primary_is_recovered_from_the_newest_backup_and_never_replaced_empty() {
        let r = record(4, "i-p");
        let gone = [inst("i-p", Role::Primary, InstanceState::Terminated)];
        assert_eq!(assess(&view(Some(&r), None, &gone)).0, PrimaryPlan::Lost { lost: "i-p".into() });
        let b = |id: &str| Backup { id: id.into(), completed_unix: Some(400) };
        let v = ApplyView { newest_backup: Some(b("epoch-3")), ..view(Some(&r), None, &gone) };
        assert_eq!(
            assess(&v).0,
            PrimaryPlan::Recover {
                lost: "i-p".into(),
                from: Source::Backup("epoch-3".into()),
                data_loss_window_s: Some(600)
            }
        );
        // The shipped log loses a second, the older backup ten minutes: the log.
        let log = ApplyView { log: Some(LogView { window_s: 1 }), ..v.clone() };
        assert_eq!(
            assess(&log).0,
            PrimaryPlan::Recover { lost: "i-p".into(), from: Source::Log, data_loss_window_s: Some(1) }
        );
        let only_log = ApplyView { newest_backup: None, ..log.clone() };
        assert!(matches!(assess(&only_log).0, PrimaryPlan::Recover { from: Source::Log, .. }));
        // Its own drain sealed (the log holds everything it committed) loses nothing either.
        let sealed = ApplyView { own_drain: true, newest_backup: Some(b("epoch-3")), ..log.clone() };
        assert_eq!(
            assess(&sealed).0,
            PrimaryPlan::Recover {
                lost: "i-p".into(),
                from: Source::Backup("epoch-4".into()),
                data_loss_window_s: Some(0)
            }
        );
        // Its own drain loses nothing: it comes first.
        let own = ApplyView { newest_backup: Some(b("epoch-4")), ..log };
        assert!(matches!(
            assess(&own).0,
            PrimaryPlan::Recover { from: Source::Backup(_), data_loss_window_s: Some(0), .. }
        ));
    }

    #[test]
    fn an_interrupted_launch_is_finished_and_a_stray_primary_is_shown() {
        let r = PrimaryRecord::launching("tok", "r", "r-1a", "m5.large", 900);
        let mut launched = inst("i-new", Role::Primary, InstanceState::Running);
        launched.launch_token = Some("tok".into());
        let live = [launched, inst("i-stray", Role::Primary, InstanceState::Running)];
        let (plan, unknown) = assess(&view(Some(&r), None, &live));
        assert_eq!(plan, PrimaryPlan::FinishLaunch { token: "tok".into(), adopt: Some("i-new".into()) });
        assert_eq!(unknown, vec![UnknownPrimary { id: "i-stray".into(), region: "r".into() }]);
        let (plan, _) = assess(&view(Some(&r), None, &[]));
        assert_eq!(plan, PrimaryPlan::FinishLaunch { token: "tok".into(), adopt: None });
    }
}
