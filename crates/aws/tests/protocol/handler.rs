//! The handler against in-memory twins of the state bucket, EC2 and the fleet APIs: the loops that
//! moto alone used to prove, with the races and failures moto cannot stage.

use crate::world::{names, warning, World, REGION};
use futures::executor::block_on;
use spotctl_aws::compute::InstanceView;
use spotctl_aws::fleet::GroupView;
use spotctl_aws::handler::{Next, Outcome};
use spotctl_aws::handoff::HandoffOutcome;
use spotctl_aws::state::{json_body, read_handoff, read_primary, Fault, Op, StateStore};
use spotctl_core::fleet::{Mode, Side};
use spotctl_core::handoff::primary::InstanceState;
use spotctl_core::handoff::Step;
use spotctl_core::names::TAG_ENV;
use spotctl_layout::state as keys;
fn started(o: &Outcome) -> bool {
    matches!(o, Outcome::Handled { next: Next::Handoff(HandoffOutcome::Started { .. }), .. })
}

#[test]
fn a_warning_for_the_primary_launches_one_standby_and_a_redelivery_is_a_duplicate() {
    let w = World::new();
    let h = w.handler();
    let first = block_on(h.handle(&warning("e1", "i-primary"))).expect("handled");
    assert!(started(&first), "{first:?}");
    let again = block_on(h.handle(&warning("e1", "i-primary"))).expect("handled");
    assert!(matches!(again, Outcome::Duplicate { .. }), "{again:?}");
    let other_copy = block_on(h.handle(&warning("e2", "i-primary"))).expect("handled");
    assert!(
        matches!(&other_copy, Outcome::Handled { next: Next::Handoff(HandoffOutcome::Ignored { .. }), .. }),
        "{other_copy:?}"
    );
    let standbys = w.standbys();
    assert_eq!(standbys.len(), 1);
    assert_eq!(standbys[0].handoff(), Some("epoch-1"));
    let (lease, _) = block_on(read_handoff(&w.store, "epoch-1")).expect("read").expect("lease");
    assert_eq!(lease.standby.map(|s| s.instance_id), Some(standbys[0].id.clone()));
    assert!(lease.steps.contains_key(&Step::StandbyLaunched));
}

#[test]
fn of_many_concurrent_deliveries_exactly_one_starts_the_handoff() {
    let w = World::new();
    let h = w.handler();
    let events: Vec<Vec<u8>> = (0..20).map(|i| warning(&format!("e{i}"), "i-primary")).collect();
    let outcomes = block_on(futures::future::join_all(events.iter().map(|e| h.handle(e))));
    let starts = outcomes.iter().filter(|o| o.as_ref().is_ok_and(started)).count();
    assert_eq!(starts, 1, "{outcomes:?}");
    assert_eq!(w.standbys().len(), 1);
}

#[test]
fn a_stray_event_is_not_ours_and_a_late_one_for_an_old_primary_changes_nothing() {
    let w = World::new();
    let h = w.handler();
    let stray = block_on(h.handle(&warning("e1", "i-unknown"))).expect("handled");
    assert!(matches!(stray, Outcome::NotOurs { .. }), "{stray:?}");
    w.ec2.insert(InstanceView {
        id: "i-old".into(),
        region: REGION.into(),
        az: format!("{REGION}b"),
        instance_type: "m5.large".into(),
        state: InstanceState::Running,
        tags: [(TAG_ENV.to_string(), "dev".to_string())].into(),
        address: None,
    });
    let late = block_on(h.handle(&warning("e2", "i-old"))).expect("handled");
    assert!(
        matches!(&late, Outcome::Handled { next: Next::Handoff(HandoffOutcome::Ignored { .. }), .. }),
        "{late:?}"
    );
    assert!(w.standbys().is_empty());
}

#[test]
fn a_capacity_refusal_moves_to_the_next_placement() {
    let w = World::new();
    let ec2 = w.ec2.refusing(|req| {
        (req.want.value("availability_zone") == Some(&format!("{REGION}a")))
            .then_some("InsufficientInstanceCapacity")
    });
    let out =
        block_on(w.handler_with(w.store.clone(), ec2).handle(&warning("e1", "i-primary"))).expect("handled");
    let Outcome::Handled {
        next: Next::Handoff(HandoffOutcome::Started { availability_zone, refused, .. }),
        ..
    } = out
    else {
        panic!("not started: {out:?}");
    };
    assert_eq!(availability_zone, format!("{REGION}b"));
    assert_eq!(refused, vec![format!("{REGION}a m5.large: InsufficientInstanceCapacity")]);
}

#[test]
fn a_failed_action_is_an_error_and_is_not_recorded_so_the_next_delivery_acts() {
    let w = World::new();
    // A launch refused for a reason another placement cannot fix: the invocation fails.
    let ec2 = w.ec2.refusing(|_| Some("InvalidGroup.NotFound"));
    let err = block_on(w.handler_with(w.store.clone(), ec2).handle(&warning("e1", "i-primary")))
        .expect_err("fails");
    assert!(err.message.contains("launching the standby"), "{err}");
    assert!(
        w.store.snapshot().keys().all(|k| !k.starts_with(keys::EVENTS)),
        "a failed event is not recorded"
    );
    // The store failing to record: an error that says a retry can help.
    let flaky = w.store.with_faults(|op, key| {
        (op == Op::PutIfAbsent && key.starts_with(keys::EVENTS)).then_some(Fault::Fail { retryable: true })
    });
    let err = block_on(w.handler_with(flaky, w.ec2.clone()).handle(&warning("e3", "i-unknown-2")))
        .map(|o| format!("{o:?}"));
    assert!(err.is_ok(), "an event that is not ours records nothing: {err:?}");
    let flaky = w.store.with_faults(|op, key| {
        (op == Op::Get && key == keys::PRIMARY).then_some(Fault::Fail { retryable: true })
    });
    let err = block_on(w.handler_with(flaky, w.ec2.clone()).handle(&warning("e4", "i-primary")))
        .expect_err("fails");
    assert!(err.retryable, "{err}");
}

#[test]
fn a_malformed_event_is_an_error_no_retry_can_help() {
    let w = World::new();
    let err = block_on(w.handler().handle(b"{\"not\": \"an event\"}")).expect_err("refused");
    assert!(!err.retryable, "{err}");
}

#[test]
fn the_primary_record_is_read_once_per_decision_and_left_as_it_was() {
    let w = World::new();
    block_on(w.handler().handle(&warning("e1", "i-primary"))).expect("handled");
    let (record, _) = block_on(read_primary(&w.store)).expect("read").expect("record");
    assert_eq!((record.epoch, record.instance_id.as_str()), (1, "i-primary"), "the handler never promotes");
}

fn launch_event(id: &str, time: &str, success: bool, group: &str) -> Vec<u8> {
    let detail_type =
        if success { "EC2 Instance Launch Successful" } else { "EC2 Instance Launch Unsuccessful" };
    serde_json::json!({
        "version": "0", "id": id, "detail-type": detail_type, "source": "aws.autoscaling",
        "account": "123456789012", "time": time, "region": "us-east-1", "resources": [],
        "detail": {"AutoScalingGroupName": group, "StatusCode": if success { "InProgress" } else { "Failed" }}
    })
    .to_string()
    .into_bytes()
}

/// A fleet env: `state/env.json` with one fleet, both groups and the queue in the twin.
fn fleet_world() -> World {
    let w = World::new();
    let env = spotctl_core::config::parse(
        include_str!("../../../../envs/fleet/spotctl.toml"),
        std::path::Path::new("envs/fleet/spotctl.toml"),
        &|_| true,
    )
    .expect("envs/fleet parses")
    .env;
    let stored = spotctl_aws::state::StoredEnv {
        format: 1,
        regions: vec![],
        fleet_regions: vec![],
        env: serde_json::to_value(&env).expect("json"),
    };
    block_on(w.store.put(keys::ENV, json_body(keys::ENV, &stored).expect("json"))).expect("env");
    let f = &env.fleet[0];
    for (side, region) in [(Side::Primary, &f.primary_region), (Side::Fallback, &f.fallback_region)] {
        w.fleet.put_group(GroupView {
            side,
            region: region.clone(),
            name: names().fleet_group(&f.name, side),
            min: 0,
            max: if side == Side::Primary { f.max_primary } else { 0 },
            desired: 0,
            in_service: 0,
        });
    }
    w.fleet.set_depth(&names().queue(&f.queue), 0);
    w
}

#[test]
fn of_concurrent_failover_handlers_only_the_state_writer_sets_the_fallback_group() {
    let w = fleet_world();
    let h = w.handler();
    let group = names().fleet_group("workers", Side::Primary);
    let events: Vec<Vec<u8>> =
        (0..6).map(|i| launch_event(&format!("burst-{i}"), "2026-11-29T10:00:00Z", false, &group)).collect();
    let outcomes = block_on(futures::future::join_all(events.iter().map(|e| h.handle(e))));
    let transitions = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o,
                Ok(Outcome::Handled {
                    next: Next::Fleet(spotctl_aws::fleet::FleetOutcome::Transition {
                        to: Mode::FailedOver,
                        ..
                    }),
                    ..
                })
            )
        })
        .count();
    assert_eq!(transitions, 1, "{outcomes:?}");
    assert_eq!(w.fleet.capacity_calls(), 1, "one update of the fallback group");
    let fallback = w.fleet.group_named(&names().fleet_group("workers", Side::Fallback)).expect("group");
    assert_eq!((fallback.min, fallback.desired), (1, 1));
}

#[test]
fn a_fleet_without_its_primary_group_still_ticks_and_says_so() {
    let w = fleet_world();
    let h = w.handler();
    w.fleet.remove_group(&names().fleet_group("workers", Side::Primary));
    let tick = serde_json::json!({
        "version": "0", "id": "t1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-29T10:00:00Z", "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:123456789012:rule/spotctl-dev-fleet-metrics")], "detail": {}
    });
    let out = block_on(h.handle(tick.to_string().as_bytes())).expect("ticks");
    let Outcome::Handled { next: Next::FleetTick { fleets }, .. } = out else { panic!("{out:?}") };
    assert_eq!(fleets[0].in_service, 0, "no primary group: nothing in service, not a panic");
}
