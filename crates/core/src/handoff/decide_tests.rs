use super::*;
use crate::handoff::record::tests::record;
use crate::handoff::{Cause, InstanceRef, Lease, StandbyProgress};

fn lease(epoch: u64, old: &str) -> Handoff {
    Handoff::new(Cause::Interruption, &record(epoch, old), 100)
}

fn standby(h: &mut Handoff, id: &str, at: i64) {
    h.standby = Some(InstanceRef {
        instance_id: id.into(),
        region: "r".into(),
        availability_zone: "r-1b".into(),
        instance_type: "m5.large".into(),
    });
    h.reach(Step::StandbyLaunched, at);
}

fn view<'a>(
    record: &'a PrimaryRecord,
    trigger: Option<&'a str>,
    lease: Option<&'a Handoff>,
) -> HandoffView<'a> {
    HandoffView {
        record: Some(record),
        trigger,
        lease,
        standby_state: None,
        old_state: Some(InstanceState::Running),
        own_backup: false,
        fallback: None,
        log: None,
        health: Health::Unknown,
        stall_after_s: STANDBY_STALL_SECS,
        now: 200,
    }
}

fn is_ignore(d: &HandlerDecision) -> bool {
    matches!(d, HandlerDecision::Ignore { .. })
}

#[test]
fn only_the_current_primary_starts_a_handoff_and_only_once() {
    let p = record(3, "i-old");
    assert_eq!(on_trigger(&view(&p, Some("i-old"), None)), HandlerDecision::Start { id: "epoch-3".into() });
    assert!(is_ignore(&on_trigger(&view(&p, Some("i-older"), None))));
    assert!(is_ignore(&on_trigger(&HandoffView { record: None, ..view(&p, Some("i-old"), None) })));
    let launching = PrimaryRecord::launching("t", "r", "r-1a", "m5.large", 0);
    assert!(
        is_ignore(&on_trigger(&view(&launching, Some(""), None))),
        "nothing to hand off while apply launches"
    );
    assert!(
        is_ignore(&on_trigger(&view(&p, None, None))),
        "the watchdog starts nothing while the primary runs"
    );
    // The primary is gone with no handoff open: recovered only from its own complete drain.
    let gone = HandoffView { old_state: Some(InstanceState::Terminated), ..view(&p, None, None) };
    assert!(is_ignore(&on_trigger(&gone)), "an older backup is a person's decision (apply shows it)");
    let drained = HandoffView { own_backup: true, ..gone.clone() };
    assert_eq!(
        on_trigger(&drained),
        HandlerDecision::Recover {
            id: "epoch-3".into(),
            from: Source::Backup("epoch-3".into()),
            data_loss_window_s: Some(0)
        }
    );
    // With the log shipped: recovered from it at once, its window said; its own drain still
    // comes first (it loses nothing).
    let shipped = HandoffView { log: Some(LogView { window_s: 2 }), ..gone.clone() };
    assert_eq!(
        on_trigger(&shipped),
        HandlerDecision::Recover { id: "epoch-3".into(), from: Source::Log, data_loss_window_s: Some(2) }
    );
    assert!(matches!(
        on_trigger(&HandoffView { own_backup: true, ..shipped.clone() }),
        HandlerDecision::Recover { from: Source::Backup(_), .. }
    ));
    assert!(is_ignore(&on_trigger(&HandoffView { old_state: Some(InstanceState::Running), ..shipped })));
    let unknown = HandoffView { old_state: None, own_backup: true, ..gone };
    assert!(is_ignore(&on_trigger(&unknown)), "an instance EC2 does not list is not taken for lost");
    // Taken and held: under way.
    let mut h = lease(3, "i-old");
    h.lease = Some(Lease { owner: "req-1".into(), until_unix: 260 });
    assert!(is_ignore(&on_trigger(&view(&p, Some("i-old"), Some(&h)))));
    // Launched and the standby runs: under way.
    h.lease = None;
    standby(&mut h, "i-new", 150);
    let running =
        HandoffView { standby_state: Some(InstanceState::Running), ..view(&p, Some("i-old"), Some(&h)) };
    assert!(is_ignore(&on_trigger(&running)));
    // Finished: nothing more.
    h.reach(Step::Promoted, 190);
    assert!(is_ignore(&on_trigger(&view(&p, Some("i-old"), Some(&h)))));
}

#[test]
fn a_crashed_or_failed_attempt_is_resumed_by_the_next_trigger() {
    let p = record(3, "i-old");
    // The attempt died holding the handoff: its lease ran out.
    let mut h = lease(3, "i-old");
    h.lease = Some(Lease { owner: "req-1".into(), until_unix: 150 });
    assert!(matches!(on_trigger(&view(&p, Some("i-old"), Some(&h))), HandlerDecision::Resume { .. }));
    assert!(
        matches!(on_trigger(&view(&p, None, Some(&h))), HandlerDecision::Resume { .. }),
        "the watchdog too"
    );
    // The attempt failed and released it.
    h.lease = None;
    h.attempts = 1;
    h.last_error = Some("InvalidGroup.NotFound".into());
    assert!(matches!(on_trigger(&view(&p, Some("i-old"), Some(&h))), HandlerDecision::Resume { .. }));
    // The standby died.
    standby(&mut h, "i-new", 150);
    let dead = HandoffView { standby_state: Some(InstanceState::Terminated), ..view(&p, None, Some(&h)) };
    assert!(matches!(on_trigger(&dead), HandlerDecision::Resume { .. }));
    // A standby that runs but has not finished in the stall time.
    let stuck = HandoffView {
        standby_state: Some(InstanceState::Running),
        now: 150 + STANDBY_STALL_SECS,
        ..view(&p, None, Some(&h))
    };
    assert!(matches!(on_trigger(&stuck), HandlerDecision::Resume { .. }));
}

#[test]
fn too_many_attempts_give_up_and_a_lost_drain_falls_back() {
    let p = record(3, "i-old");
    let mut h = lease(3, "i-old");
    h.attempts = MAX_ATTEMPTS;
    assert!(matches!(on_trigger(&view(&p, None, Some(&h))), HandlerDecision::GiveUp { .. }));
    // The old primary is gone and never completed its drain.
    let h = lease(3, "i-old");
    let gone = HandoffView { old_state: Some(InstanceState::Terminated), ..view(&p, None, Some(&h)) };
    assert!(matches!(on_trigger(&gone), HandlerDecision::GiveUp { .. }), "no backup at all");
    let with_fallback = HandoffView { fallback: Some(("epoch-2".into(), Some(3600))), ..gone.clone() };
    assert_eq!(
        on_trigger(&with_fallback),
        HandlerDecision::Fallback {
            id: "epoch-3".into(),
            from: Source::Backup("epoch-2".into()),
            data_loss_window_s: Some(3600),
            why: "i-old is gone before its drain completed".into()
        }
    );
    // The shipped log loses a second, not an hour: it comes before an older backup.
    let with_log = HandoffView { log: Some(LogView { window_s: 1 }), ..with_fallback.clone() };
    assert!(matches!(
        on_trigger(&with_log),
        HandlerDecision::Fallback { from: Source::Log, data_loss_window_s: Some(1), .. }
    ));
    // A point-in-time recovery whose old primary died before its drain: the log, at once.
    let pitr = Handoff::point_in_time(&p, 150, 100);
    let d = on_trigger(&HandoffView { lease: Some(&pitr), ..gone.clone() });
    assert!(matches!(d, HandlerDecision::Fallback { from: Source::Log, .. }), "{d:?}");
    // Its drain completed before it went: no fallback needed, the handoff goes on.
    let drained = HandoffView { own_backup: true, ..with_fallback };
    assert!(matches!(on_trigger(&drained), HandlerDecision::Resume { .. }));
}

#[test]
fn a_failed_handoff_whose_backup_is_complete_is_tried_again_by_the_watchdog_later() {
    let p = record(3, "i-old");
    let mut h = lease(3, "i-old");
    h.reach(Step::Failed, 1_000);
    let at = |now: i64, own_backup: bool, trigger: Option<&'static str>| {
        on_trigger(&HandoffView { own_backup, now, ..view(&p, trigger, Some(&h)) })
    };
    assert!(is_ignore(&at(1_000 + REOPEN_AFTER_SECS - 1, true, None)), "not before the delay");
    assert!(
        matches!(at(1_000 + REOPEN_AFTER_SECS, true, None), HandlerDecision::Reopen { id, .. } if id == "epoch-3")
    );
    assert!(is_ignore(&at(1_000 + REOPEN_AFTER_SECS, false, None)), "nothing complete to restore");
    assert!(is_ignore(&at(1_000 + REOPEN_AFTER_SECS, true, Some("i-old"))), "only the watchdog reopens");
    let mut recovery = Handoff::recovery(&p, "epoch-2", Some(30), 100);
    recovery.reach(Step::Failed, 1_000);
    let d = on_trigger(&HandoffView { now: 1_000 + REOPEN_AFTER_SECS, ..view(&p, None, Some(&recovery)) });
    assert!(
        matches!(d, HandlerDecision::Reopen { .. }),
        "a recovery's backup is complete by definition: {d:?}"
    );
    let mut promoted = lease(3, "i-old");
    promoted.reach(Step::Failed, 1_000);
    promoted.reach(Step::Promoted, 1_001);
    let d = on_trigger(&HandoffView { own_backup: true, now: 9_999, ..view(&p, None, Some(&promoted)) });
    assert!(is_ignore(&d), "{d:?}");
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
    assert_eq!(primary_step(&v), PrimaryAction::WaitForSuccessor, "never serves again once drained");
    v.record = Some(PrimaryRecord { handoff: Some("epoch-3".into()), ..record(4, "i-new") });
    assert!(matches!(primary_step(&v), PrimaryAction::StayFenced(_)), "not replaced by that handoff");
    v.succeeded_me = true;
    assert_eq!(primary_step(&v), PrimaryAction::Retire { successor: "i-new".into() });
}

#[test]
fn an_instance_the_record_does_not_name_never_takes_writes() {
    let unknown =
        PrimaryView { self_id: "i-stray".into(), record: Some(record(3, "i-old")), ..Default::default() };
    assert!(matches!(primary_step(&unknown), PrimaryAction::StayFenced(_)));
    let launching = PrimaryView {
        self_id: "i-new".into(),
        record: Some(PrimaryRecord::launching("t", "r", "r-1a", "m5.large", 0)),
        ..Default::default()
    };
    assert!(
        matches!(primary_step(&launching), PrimaryAction::StayFenced(_)),
        "apply has not recorded it yet"
    );
    let none = PrimaryView { self_id: "i-old".into(), ..Default::default() };
    assert!(matches!(primary_step(&none), PrimaryAction::StayFenced(_)));
}

#[test]
fn a_standby_promotes_only_as_the_recorded_standby_after_verifying_for_the_current_epoch() {
    let mut h = lease(3, "i-old");
    let mut v = StandbyView {
        self_id: "i-new".into(),
        handoff_id: "epoch-3".into(),
        record: Some(record(3, "i-old")),
        lease: Some(h.clone()),
        manifest_present: true,
        sealed: false,
        own_drain: (false, false),
        verified: true,
        failure: None,
    };
    assert_eq!(
        standby_step(&v),
        StandbyAction::WaitForManifest,
        "not yet recorded as the standby: never promote"
    );
    standby(&mut h, "i-new", 150);
    v.lease = Some(h.clone());
    v.manifest_present = false;
    v.verified = false;
    assert_eq!(standby_step(&v), StandbyAction::WaitForManifest);
    v.manifest_present = true;
    assert_eq!(
        standby_step(&v),
        StandbyAction::Restore { from: Source::Backup("epoch-3".into()), until: None }
    );
    v.failure = Some("employees: 10 rows, manifest says 11".into());
    assert!(matches!(standby_step(&v), StandbyAction::Refuse(_)));
    v.failure = None;
    v.verified = true;
    assert_eq!(standby_step(&v), StandbyAction::Promote { from_epoch: 3 });
    // Superseded by a later attempt's standby.
    let mut later = h.clone();
    standby(&mut later, "i-newer", 170);
    later.standby.as_mut().expect("standby").instance_id = "i-newer".into();
    assert!(matches!(
        standby_step(&StandbyView { lease: Some(later), ..v.clone() }),
        StandbyAction::Abandon(_)
    ));
    // The handoff failed.
    let mut failed = h.clone();
    failed.reach(Step::Failed, 180);
    assert!(matches!(
        standby_step(&StandbyView { lease: Some(failed), ..v.clone() }),
        StandbyAction::Abandon(_)
    ));
    // A recovery restores the backup it names, once the control plane fenced the old primary
    // (it did not fence itself: the backup is not its own drain).
    let mut rec = h.clone();
    rec.backup = Some("epoch-2".into());
    let r = StandbyView { lease: Some(rec.clone()), verified: false, ..v.clone() };
    assert_eq!(standby_step(&r), StandbyAction::WaitForFence);
    rec.reach(Step::OldFenced, 160);
    let r = StandbyView { lease: Some(rec), verified: false, ..v.clone() };
    assert_eq!(
        standby_step(&r),
        StandbyAction::Restore { from: Source::Backup("epoch-2".into()), until: None }
    );
    // A recovery from the shipped log recovers it, fenced first too; a recovery from the old
    // primary's own drain needs no other fence.
    let mut rec = h.clone();
    rec.restore_from(&Source::Log, Some(1));
    let r = StandbyView { lease: Some(rec.clone()), verified: false, ..v.clone() };
    assert_eq!(standby_step(&r), StandbyAction::WaitForFence);
    rec.reach(Step::OldFenced, 160);
    let r = StandbyView { lease: Some(rec.clone()), verified: false, ..v.clone() };
    assert_eq!(standby_step(&r), StandbyAction::Restore { from: Source::Log, until: None });
    // The old primary's own drain completed after all (stored, or sealed): lossless, it comes first.
    let stored =
        StandbyView { lease: Some(rec.clone()), own_drain: (true, false), verified: false, ..v.clone() };
    assert_eq!(
        standby_step(&stored),
        StandbyAction::Restore { from: Source::Backup("epoch-3".into()), until: None }
    );
    let sealed = StandbyView { lease: Some(rec), own_drain: (false, true), verified: false, ..v.clone() };
    assert_eq!(
        standby_step(&sealed),
        StandbyAction::Restore { from: Source::Sealed("epoch-3".into()), until: None }
    );
    let mut own = h.clone();
    own.restore_from(&Source::Backup("epoch-3".into()), Some(0));
    let r = StandbyView { lease: Some(own), verified: false, ..v.clone() };
    assert_eq!(
        standby_step(&r),
        StandbyAction::Restore { from: Source::Backup("epoch-3".into()), until: None }
    );
    // A record written before the fencing rule is read as it was written.
    let mut old_format = h.clone();
    old_format.restore_from(&Source::Log, Some(1));
    old_format.format = 2;
    let r = StandbyView { lease: Some(old_format), verified: false, ..v.clone() };
    assert_eq!(standby_step(&r), StandbyAction::Restore { from: Source::Log, until: None });
    // A point in time recovers the log up to its second.
    let mut pitr = h.clone();
    pitr.cause = Cause::PointInTime;
    pitr.from_log = true;
    pitr.until_unix = Some(140);
    let r = StandbyView { lease: Some(pitr), verified: false, ..v.clone() };
    assert_eq!(standby_step(&r), StandbyAction::Restore { from: Source::Log, until: Some(140) });
    // The old primary sealed its drain: the standby recovers the log and must reach the seal;
    // a stored drain is preferred when both exist, and a point in time still stops at its second.
    let sealed = StandbyView { manifest_present: false, sealed: true, verified: false, ..v.clone() };
    assert_eq!(
        standby_step(&sealed),
        StandbyAction::Restore { from: Source::Sealed("epoch-3".into()), until: None }
    );
    let both = StandbyView { manifest_present: true, ..sealed.clone() };
    assert_eq!(
        standby_step(&both),
        StandbyAction::Restore { from: Source::Backup("epoch-3".into()), until: None }
    );
    let mut pitr = h.clone();
    pitr.cause = Cause::PointInTime;
    pitr.from_log = true;
    pitr.until_unix = Some(140);
    let r = StandbyView { lease: Some(pitr), ..sealed.clone() };
    assert_eq!(standby_step(&r), StandbyAction::Restore { from: Source::Log, until: Some(140) });
    // Someone else promoted first: the record moved on.
    v.record = Some(record(4, "i-other"));
    assert!(matches!(standby_step(&v), StandbyAction::Abandon(_)));
    // This standby promoted and restarted.
    v.record = Some(record(4, "i-new"));
    assert_eq!(standby_step(&v), StandbyAction::Serve);
}

#[test]
fn the_control_plane_fences_an_old_primary_that_did_not_fence_itself() {
    use crate::handoff::primary::InstanceState::*;
    let mut h = lease(3, "i-old");
    // A warned handoff waits for the old primary's own drain: no fence of the control plane's.
    assert_eq!(fence_step(&h, Some(Running)), FenceStep::Nothing);
    h.restore_from(&Source::Log, Some(2));
    h.cause = Cause::Recovery;
    let terminate = FenceStep::Terminate { instance_id: "i-old".into(), region: "r".into() };
    for alive in [Pending, Running, Stopping, Stopped, ShuttingDown] {
        assert_eq!(fence_step(&h, Some(alive)), terminate, "{alive:?} is no fence");
    }
    assert_eq!(fence_step(&h, Some(Terminated)), FenceStep::Record);
    assert_eq!(fence_step(&h, None), FenceStep::Record, "EC2 no longer knows it: long terminated");
    h.reach(Step::OldFenced, 200);
    assert_eq!(fence_step(&h, Some(Running)), FenceStep::Nothing, "recorded once, never undone");
    let mut over = lease(3, "i-old");
    over.restore_from(&Source::Log, Some(2));
    over.reach(Step::Failed, 300);
    assert_eq!(fence_step(&over, Some(Running)), FenceStep::Nothing, "a handoff that is over fences nothing");
}

#[test]
fn the_watchdog_replaces_a_primary_that_has_not_served_past_the_threshold_when_the_log_can_restore_it() {
    let p = record(3, "i-old");
    let unhealthy = Health::Unhealthy { for_ms: 130_000, why: "MariaDB does not answer".into() };
    let log = Some(LogView { window_s: 4 });
    let v = HandoffView { health: unhealthy.clone(), log, ..view(&p, None, None) };
    assert_eq!(
        on_trigger(&v),
        HandlerDecision::Replace {
            id: "epoch-3".into(),
            why: "i-old has not served for 130 s: MariaDB does not answer".into(),
            data_loss_window_s: Some(4),
        }
    );
    // Suspect, healthy or unknown: nothing is done.
    for health in [
        Health::Suspect { for_ms: 60_000, why: "a check failed".into() },
        Health::Healthy { reported_ms_ago: 2_000 },
        Health::Unknown,
    ] {
        assert!(is_ignore(&on_trigger(&HandoffView { health, log, ..view(&p, None, None) })));
    }
    // Never without a log that can bring it back: the watchdog says why and leaves it.
    let d = on_trigger(&HandoffView { health: unhealthy.clone(), log: None, ..view(&p, None, None) });
    assert!(matches!(&d, HandlerDecision::Ignore { why } if why.contains("cannot bring it back")), "{d:?}");
    // A trigger about the primary (a warning) starts the warned handoff as before.
    let warned = HandoffView { health: unhealthy.clone(), log, ..view(&p, Some("i-old"), None) };
    assert_eq!(on_trigger(&warned), HandlerDecision::Start { id: "epoch-3".into() });
    // An open handoff is moved on as it is, whatever the health.
    let h = lease(3, "i-old");
    assert!(!matches!(
        on_trigger(&HandoffView { health: unhealthy, log, ..view(&p, None, Some(&h)) }),
        HandlerDecision::Replace { .. }
    ));
}

#[test]
fn a_standby_is_stuck_when_its_restore_stops_moving_not_when_it_is_old() {
    let p = record(3, "i-old");
    let mut h = lease(3, "i-old");
    standby(&mut h, "i-new", 150);
    let at = |now: i64, h: &Handoff| {
        on_trigger(&HandoffView {
            standby_state: Some(InstanceState::Running),
            now,
            ..view(&p, None, Some(h))
        })
    };
    assert!(is_ignore(&at(150 + STANDBY_STALL_SECS - 1, &h)), "launched, not yet stuck");
    assert!(matches!(at(150 + STANDBY_STALL_SECS, &h), HandlerDecision::Resume { .. }), "never began");
    // A restore that keeps moving is never cut short, hours after its launch.
    let hours = 150 + 5 * 3600;
    h.progress = Some(StandbyProgress {
        instance_id: "i-new".into(),
        steps: 9_000,
        bytes: 1 << 40,
        at_unix: hours,
        moved_at_unix: hours - 60,
    });
    assert!(is_ignore(&at(hours, &h)), "five hours in, and moving");
    let d = at(hours - 60 + STANDBY_STALL_SECS, &h);
    assert!(matches!(&d, HandlerDecision::Resume { why, .. } if why.contains("has not moved")), "{d:?}");
    // Another standby's stamp does not vouch for this one.
    if let Some(pr) = h.progress.as_mut() {
        pr.instance_id = "i-earlier".into();
    }
    assert!(matches!(at(hours, &h), HandlerDecision::Resume { .. }));
}
