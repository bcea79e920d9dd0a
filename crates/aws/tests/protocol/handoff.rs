//! The agents' steps and promotion against the in-memory twins: a whole warned handoff, two
//! standbys racing for one epoch, a standby that cannot verify, the old primary retiring.

use crate::world::{warning, World, REGION};
use futures::executor::block_on;
use spotctl_aws::compute::Instances;
use spotctl_aws::dns::Dns;
use spotctl_aws::handoff::{
    Agent, Database, Decision, Did, EndpointDuty, EndpointStep, LocalFence, MemoryDatabase, Promotion,
};
use spotctl_aws::sdk::{imds::paths, twin, twin::StaticMetadata};
use spotctl_aws::state::{read_handoff, read_primary, StateStore};
use spotctl_core::endpoint::EndpointRecord;
use spotctl_core::handoff::primary::{InstanceState, Role};
use spotctl_core::handoff::{PrimaryAction, StandbyAction, Step};
use spotctl_core::names::{TAG_HANDOFF, TAG_ROLE};
use std::sync::Arc;

pub(crate) fn agent(
    w: &World,
    id: &str,
    az: &str,
    tags: &[(&str, &str)],
    db: &MemoryDatabase,
) -> (Agent, Arc<StaticMetadata>) {
    let md = Arc::new(StaticMetadata::instance(id, REGION, az, "m5.large"));
    md.set(paths::LOCAL_IPV4, &address_of(id));
    for (k, v) in tags {
        md.set(&paths::tag(k), v);
    }
    let agent = Agent {
        store: Arc::new(w.store.clone()),
        instances: Arc::new(w.ec2.clone()),
        metadata: md.clone(),
        db: Arc::new(db.clone()),
        clock: w.clock.clone(),
        endpoint: Some(Arc::new(EndpointDuty::new(Arc::new(w.dns.clone()), ZONE, NAME, 10))),
        fence: Arc::new(LocalFence::default()),
        restoring: Default::default(),
        writer: twin::writer(id),
    };
    (agent, md)
}

const ZONE: &str = "Z0DEV";
const NAME: &str = "db.dev.spotctl.internal";

/// A private address per instance (what its metadata says).
fn address_of(id: &str) -> String {
    format!("10.0.0.{}", id.bytes().map(u32::from).sum::<u32>() % 250 + 1)
}

/// The watchdog's minute: a scheduled event from the env's watchdog rule.
fn watchdog_tick(id: &str) -> Vec<u8> {
    serde_json::json!({
        "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-29T10:00:00Z", "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:123456789012:rule/spotctl-dev-watchdog")], "detail": {}
    })
    .to_string()
    .into_bytes()
}

fn endpoint(w: &World) -> Option<EndpointRecord> {
    block_on(w.dns.read(ZONE, NAME)).expect("read the endpoint")
}

/// The warning handled: a standby launched for epoch-1. Returns its id.
pub(crate) fn warned(w: &World) -> String {
    block_on(w.handler().handle(&warning("e1", "i-primary"))).expect("handled");
    w.standbys()[0].id.clone()
}

#[test]
fn a_warned_handoff_moves_every_row_to_exactly_one_new_primary() {
    let w = World::new();
    let old_db = MemoryDatabase::new((1..=100).collect(), false);
    let (old, old_md) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &old_db);
    let (_, did) = block_on(old.step()).expect("step");
    let named = EndpointStep::Pointed { name: NAME.into(), address: address_of("i-primary"), epoch: 1 };
    assert_eq!(did, Did::Served { repaired: false, endpoint: Some(named) });
    let (_, did) = block_on(old.step()).expect("step");
    assert_eq!(did, Did::Served { repaired: false, endpoint: None }, "seen right within the minute");
    let standby = warned(&w);
    let new_db = MemoryDatabase::new(Vec::new(), true);
    let (new, _) =
        agent(&w, &standby, "ap-northeast-1b", &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")], &new_db);
    let (obs, _) = block_on(new.step()).expect("step");
    assert_eq!(obs.decision, Decision::Standby(StandbyAction::WaitForManifest));

    old_md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
    let (_, did) = block_on(old.step()).expect("drain");
    assert!(
        matches!(&did, Did::Drained { id, drained, .. } if id == "epoch-1" && drained.rows == 100),
        "{did:?}"
    );
    assert!(!old_db.commit(101), "the old primary takes no write once fenced");

    let (_, did) = block_on(new.step()).expect("restore");
    let Did::Restored { restored, promotion, endpoint: pointed, .. } = did else { panic!("{did:?}") };
    assert_eq!(restored.rows, 100);
    assert!(matches!(pointed, Some(EndpointStep::Pointed { epoch: 2, .. })), "{pointed:?}");
    let now = endpoint(&w).expect("a record");
    assert_eq!((now.address.as_str(), now.epoch, now.ttl), (address_of(&standby).as_str(), 2, 10));
    assert_eq!(promotion, Promotion::Promoted { epoch: 2, instance_id: standby.clone() });
    assert_eq!(new_db.state().rows, (1..=100).collect::<Vec<_>>());
    assert!(new_db.commit(101), "the new primary takes writes");
    let (record, _) = block_on(read_primary(&w.store)).expect("read").expect("record");
    assert_eq!((record.epoch, record.instance_id.as_str()), (2, standby.as_str()));
    let tagged = block_on(w.ec2.describe(REGION, &standby)).expect("describe").expect("exists");
    assert_eq!(tagged.role(), Ok(Some(Role::Primary)));

    let (obs, did) = block_on(old.step()).expect("retire");
    assert_eq!(obs.decision, Decision::Primary(PrimaryAction::Retire { successor: standby.clone() }));
    assert!(matches!(did, Did::Retired { .. }));
    let old_state = block_on(w.ec2.describe(REGION, "i-primary")).expect("describe").expect("exists").state;
    assert_eq!(old_state, InstanceState::Terminated);
    let (lease, _) = block_on(read_handoff(&w.store, "epoch-1")).expect("read").expect("lease");
    for step in [
        Step::LeaseTaken,
        Step::StandbyLaunched,
        Step::DrainStarted,
        Step::Drained,
        Step::Verified,
        Step::Promoted,
        Step::EndpointPointed,
        Step::OldRetired,
    ] {
        assert!(lease.steps.contains_key(&step), "{step:?} missing: {lease:?}");
    }
}

#[test]
fn a_warned_primary_whose_log_is_shipped_seals_instead_of_draining_and_loses_nothing() {
    let w = World::new();
    let old_db = MemoryDatabase::with_clock((1..=100).collect(), false, w.clock.clone()).named("i-primary");
    let (old, old_md) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &old_db);
    block_on(old.step()).expect("serve: begins timeline 1 with its base");
    for row in 101..=120 {
        assert!(old_db.commit(row));
    }
    assert!(block_on(old_db.ship(&w.store)).expect("ship"));
    let standby = warned(&w);
    old_md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
    let (_, did) = block_on(old.step()).expect("seal");
    assert!(matches!(&did, Did::Sealed { id, sealed } if id == "epoch-1" && sealed.timeline == 1), "{did:?}");
    assert!(!old_db.commit(121), "fenced for good");
    assert!(
        block_on(w.store.get("backups/epoch-1/manifest.json")).expect("get").is_none(),
        "nothing drained"
    );
    let (obs, _) = block_on(old.step()).expect("look again");
    assert_eq!(obs.decision, Decision::Primary(PrimaryAction::WaitForSuccessor), "the seal is its drain");

    let new_db = MemoryDatabase::with_clock(Vec::new(), true, w.clock.clone());
    let (new, _) =
        agent(&w, &standby, "ap-northeast-1b", &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")], &new_db);
    let (obs, did) = block_on(new.step()).expect("recover and promote");
    assert_eq!(
        obs.decision,
        Decision::Standby(StandbyAction::Restore {
            from: spotctl_core::handoff::Source::Sealed("epoch-1".into()),
            until: None
        })
    );
    assert!(matches!(did, Did::Restored { promotion: Promotion::Promoted { epoch: 2, .. }, .. }), "{did:?}");
    assert_eq!(new_db.state().rows, (1..=120).collect::<Vec<_>>(), "every acknowledged row");
    assert_eq!(new_db.state().restored_from.as_deref(), Some("seal:epoch-1"));
}

#[test]
fn a_standby_forks_the_log_only_once_it_won_so_a_kept_primary_ships_on() {
    use spotctl_aws::handoff::LogTarget;
    use spotctl_aws::sdk::clock::Clock;
    let w = World::new();
    let old_db = MemoryDatabase::with_clock((1..=30).collect(), false, w.clock.clone()).named("i-primary");
    let (old, old_md) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &old_db);
    block_on(old.step()).expect("serve: begins timeline 1 with its base");
    assert!(block_on(old_db.ship(&w.store)).expect("ship"));
    let _standby = warned(&w);
    old_md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
    let (_, did) = block_on(old.step()).expect("seal");
    assert!(matches!(&did, Did::Sealed { .. }), "{did:?}");
    let store: Arc<dyn StateStore> = Arc::new(w.store.clone());
    // The standby recovers up to the seal: nothing is begun before it wins its promotion.
    let new_db = MemoryDatabase::with_clock(Vec::new(), true, w.clock.clone());
    let progress = Arc::new(Default::default());
    let to = LogTarget::Seal("epoch-1".into());
    block_on(new_db.recover_log(store.clone(), 2, &to, progress)).expect("recovered");
    let timelines = block_on(spotctl_aws::protect::read_timelines(&w.store)).expect("timelines");
    assert_eq!(timelines.len(), 1, "a standby that may still lose forks nothing");
    // Had a person kept the old primary now, it would ship on to its own timeline.
    assert_eq!(block_on(old_db.begin_log(store.clone(), 1)).expect("its timeline"), 1);
    // Had the standby won and been lost before it began its timeline, it never took a write and
    // the newest chain holds everything it had: the log recovers it.
    let now = w.clock.now();
    assert!(block_on(spotctl_aws::protect::log_view(&w.store, 2, now, true)).expect("view").is_some());
    // Once it won, it continues the chain where its recovery left it: no new base needed.
    assert_eq!(block_on(new_db.begin_log(store, 2)).expect("begun"), 2);
    let timelines = block_on(spotctl_aws::protect::read_timelines(&w.store)).expect("timelines");
    let two = &timelines[1].record;
    assert_eq!(
        (two.parent, two.epoch, two.reason),
        (Some(1), Some(2), spotctl_db::protect::timeline::Reason::Recovery)
    );
}

#[test]
fn a_primary_whose_log_lags_drains_in_full_and_a_log_short_of_its_seal_is_refused() {
    let w = World::new();
    let old_db = MemoryDatabase::with_clock((1..=10).collect(), false, w.clock.clone());
    let (old, old_md) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &old_db);
    block_on(old.step()).expect("serve");
    assert!(block_on(old_db.ship(&w.store)).expect("ship"));
    assert!(old_db.commit(11), "acknowledged, not shipped yet");
    warned(&w);
    old_md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
    let (_, did) = block_on(old.step()).expect("drain");
    let Did::Drained { unsealed: Some(why), drained, .. } = &did else { panic!("{did:?}") };
    assert!(why.contains("lacks row 11"), "{why}");
    assert_eq!(drained.rows, 11);

    // A seal whose log was lost afterwards: the standby refuses rather than promote short.
    let w = World::new();
    let old_db = MemoryDatabase::with_clock((1..=10).collect(), false, w.clock.clone());
    let (old, old_md) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &old_db);
    block_on(old.step()).expect("serve");
    assert!(old_db.commit(11));
    assert!(block_on(old_db.ship(&w.store)).expect("ship"));
    let standby = warned(&w);
    old_md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
    let (_, did) = block_on(old.step()).expect("seal");
    assert!(matches!(did, Did::Sealed { .. }), "{did:?}");
    block_on(w.store.delete(&spotctl_aws::handoff::memory_log_key(1))).expect("lose the shipped log");
    let new_db = MemoryDatabase::with_clock(Vec::new(), true, w.clock.clone());
    let (new, _) =
        agent(&w, &standby, "ap-northeast-1b", &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")], &new_db);
    let (_, did) = block_on(new.step()).expect("refuse");
    let Did::Refused { note, .. } = &did else { panic!("{did:?}") };
    assert!(
        note.contains("short of row 11, where the old primary sealed its drain (backups/epoch-1/seal.json)"),
        "{note}"
    );
    assert!(new_db.state().rows.is_empty(), "nothing was written");
}

#[test]
fn an_old_primary_replaced_twice_while_it_was_down_still_retires() {
    let w = World::new();
    let old_db = MemoryDatabase::new((1..=10).collect(), false);
    let (old, old_md) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &old_db);
    block_on(old.step()).expect("serve");
    // Epoch 1 → 2: the old primary drains, the standby promotes; the old agent then goes down.
    let a = warned(&w);
    old_md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
    block_on(old.step()).expect("drain");
    let a_db = MemoryDatabase::new(Vec::new(), true);
    let (a_agent, a_md) =
        agent(&w, &a, "ap-northeast-1b", &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")], &a_db);
    let (_, did) = block_on(a_agent.step()).expect("restore");
    assert!(matches!(did, Did::Restored { promotion: Promotion::Promoted { epoch: 2, .. }, .. }), "{did:?}");
    // Epoch 2 → 3, while the first primary's agent is still down.
    a_md.set(&paths::tag(TAG_ROLE), "primary");
    block_on(w.handler().handle(&warning("e2", &a))).expect("handled");
    let b = w.standbys().into_iter().find(|s| s.id != a).expect("a second standby").id;
    a_md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
    let (_, did) = block_on(a_agent.step()).expect("drain epoch 2");
    assert!(matches!(&did, Did::Drained { id, .. } if id == "epoch-2"), "{did:?}");
    let b_db = MemoryDatabase::new(Vec::new(), true);
    let (b_agent, _) =
        agent(&w, &b, "ap-northeast-1c", &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-2")], &b_db);
    let (_, did) = block_on(b_agent.step()).expect("restore");
    assert!(matches!(did, Did::Restored { promotion: Promotion::Promoted { epoch: 3, .. }, .. }), "{did:?}");
    // The first primary comes back: the record names b at epoch 3, made by epoch-2's handoff (whose
    // old primary was a). It finds epoch-1's, which replaced it, and retires instead of staying fenced.
    let (obs, did) = block_on(old.step()).expect("retire");
    assert_eq!(obs.replaced_by.as_deref(), Some("epoch-1"));
    assert_eq!(obs.decision, Decision::Primary(PrimaryAction::Retire { successor: b.clone() }));
    assert!(matches!(did, Did::Retired { .. }), "{did:?}");
    let (first, _) = block_on(read_handoff(&w.store, "epoch-1")).expect("read").expect("epoch-1");
    assert!(first.steps.contains_key(&Step::OldRetired), "stamped on the handoff that replaced it");
    let (second, _) = block_on(read_handoff(&w.store, "epoch-2")).expect("read").expect("epoch-2");
    assert!(!second.steps.contains_key(&Step::OldRetired), "not on one that replaced another: {second:?}");
}

/// `i-primary` (10 rows) drained for epoch-1's handoff, which then gave up at `at`: every attempt
/// came to nothing. Returns the old primary's agent and database, and the failed attempt's standby.
fn drained_then_failed(w: &World, at: i64) -> (Agent, MemoryDatabase, String) {
    let old_db = MemoryDatabase::new((1..=10).collect(), false);
    let (old, old_md) = agent(w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &old_db);
    let first = warned(w);
    old_md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
    block_on(old.step()).expect("drain");
    let (mut h, etag) = block_on(read_handoff(&w.store, "epoch-1")).expect("read").expect("epoch-1");
    h.reach(Step::Failed, at);
    h.failure = Some("3 standbys came to nothing".into());
    let key = spotctl_layout::state::handoff_key("epoch-1");
    block_on(w.store.put_if_match(&key, &etag, spotctl_aws::state::json_body(&key, &h).expect("json")))
        .expect("failed");
    (old, old_db, first)
}

#[test]
fn a_lost_primary_whose_handoff_had_failed_is_recovered_by_reopening_it() {
    let w = World::new();
    // The handoff gave up (the watchdog's last attempt came to nothing), then the primary was lost.
    let (_, _, first) = drained_then_failed(&w, 1_100);
    w.ec2.set_state("i-primary", InstanceState::Terminated);
    let names = spotctl_core::names::Names::new("dev", "123456789012", REGION);
    let placements = spotctl_aws::handoff::FixedPlacements::in_region(&names, REGION, 3);
    let seams = spotctl_aws::handoff::HandoffSeams {
        store: &w.store,
        instances: &w.ec2,
        placements: &placements,
        clock: w.clock.as_ref(),
        owner: "apply",
        limits: Default::default(),
    };
    let outcome = block_on(spotctl_aws::handoff::recover(
        &seams,
        "i-primary",
        &spotctl_core::handoff::Source::Backup("epoch-1".into()),
        Some(0),
    ))
    .expect("recover");
    let spotctl_aws::handoff::HandoffOutcome::Started { standby, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_ne!(standby, first, "a new standby, not the failed attempt's");
    let (h, _) = block_on(read_handoff(&w.store, "epoch-1")).expect("read").expect("epoch-1");
    assert!(h.is_open() && h.failure.is_none(), "{h:?}");
    assert_eq!(h.cause, spotctl_core::handoff::Cause::Recovery, "{h:?}");
    // The failed attempt's standby leaves; the new one restores the drain and promotes.
    let (stale, _) = agent(
        &w,
        &first,
        "ap-northeast-1b",
        &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")],
        &MemoryDatabase::new(Vec::new(), true),
    );
    let (_, did) = block_on(stale.step()).expect("leave");
    assert!(matches!(did, Did::Abandoned { .. }), "{did:?}");
    let new_db = MemoryDatabase::new(Vec::new(), true);
    let (fresh, _) =
        agent(&w, &standby, "ap-northeast-1c", &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")], &new_db);
    let (_, did) = block_on(fresh.step()).expect("restore");
    assert!(matches!(did, Did::Restored { promotion: Promotion::Promoted { epoch: 2, .. }, .. }), "{did:?}");
    assert_eq!(new_db.state().rows, (1..=10).collect::<Vec<_>>());
}

#[test]
fn a_failed_handoff_is_tried_again_later_and_the_fenced_old_primary_hands_off() {
    let w = World::new();
    // Every attempt came to nothing; the old primary is alive, fenced since its drain.
    let (old, old_db, first) = drained_then_failed(&w, spotctl_aws::sdk::clock::Clock::now(w.clock.as_ref()));
    w.ec2.set_state(&first, InstanceState::Terminated);
    assert!(!old_db.commit(11), "fenced");
    let watchdog = |id: &str| block_on(w.handler().handle(&watchdog_tick(id))).expect("tick");
    let said = format!("{:?}", watchdog("w1"));
    assert!(said.contains("tried again"), "{said}");
    w.clock.advance(spotctl_core::handoff::REOPEN_AFTER_SECS);
    watchdog("w2");
    let (h, _) = block_on(read_handoff(&w.store, "epoch-1")).expect("read").expect("epoch-1");
    assert!(h.is_open() && h.attempts == 0, "{h:?}");
    let standby = h.standby.expect("a new standby").instance_id;
    assert_ne!(standby, first);
    let new_db = MemoryDatabase::new(Vec::new(), true);
    let (fresh, _) =
        agent(&w, &standby, "ap-northeast-1c", &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")], &new_db);
    let (_, did) = block_on(fresh.step()).expect("restore");
    assert!(matches!(did, Did::Restored { promotion: Promotion::Promoted { epoch: 2, .. }, .. }), "{did:?}");
    assert_eq!(new_db.state().rows, (1..=10).collect::<Vec<_>>(), "every row of the drain");
    let (_, did) = block_on(old.step()).expect("retire");
    assert!(matches!(did, Did::Retired { .. }), "{did:?}");
}

#[test]
fn a_standby_the_handoff_does_not_name_never_promotes_and_leaves() {
    let w = World::new();
    let old_db = MemoryDatabase::new((1..=10).collect(), false);
    let (old, old_md) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &old_db);
    let first = warned(&w);
    old_md.set(paths::SPOT_ACTION, "{}");
    block_on(old.step()).expect("drain");
    // A second standby for the same epoch (as an attempt that died before recording it leaves).
    let twin = block_on(w.ec2.launch(&spotctl_aws::compute::LaunchRequest {
        want: spotctl_core::plan::Resource::new(spotctl_core::plan::Kind::Instance, REGION, "standby"),
        role: Role::Standby,
        handoff: Some("epoch-1".into()),
        launch_token: None,
    }))
    .expect("launch")
    .id;
    let (dbs, agents): (Vec<_>, Vec<_>) = [first.clone(), twin.clone()]
        .iter()
        .map(|id| {
            let db = MemoryDatabase::new(Vec::new(), true);
            let (a, _) =
                agent(&w, id, "ap-northeast-1c", &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")], &db);
            (db, a)
        })
        .unzip();
    let results = block_on(futures::future::join_all(agents.iter().map(|a| a.step())));
    let promoted: Vec<_> = results
        .iter()
        .filter_map(|r| match r {
            Ok((o, Did::Restored { promotion: Promotion::Promoted { .. }, .. })) => {
                Some(o.instance_id.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(promoted, vec![first], "{results:?}");
    assert!(matches!(&results[1], Ok((_, Did::Abandoned { .. }))), "{results:?}");
    let writable = dbs.iter().filter(|d| !d.state().read_only).count();
    assert_eq!(writable, 1, "exactly one server takes writes");
    let twin_state = block_on(w.ec2.describe(REGION, &twin)).expect("describe").expect("exists").state;
    assert_eq!(twin_state, InstanceState::Terminated, "the unrecorded standby leaves");
}

#[test]
fn a_standby_that_cannot_verify_never_promotes_and_records_the_fallback() {
    let w = World::new();
    let old_db = MemoryDatabase::new((1..=10).collect(), false);
    let (old, old_md) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &old_db);
    let standby = warned(&w);
    old_md.set(paths::SPOT_ACTION, "{}");
    block_on(old.step()).expect("drain");
    // Damage the backup after the drain.
    let key = "backups/epoch-1/manifest.json";
    let mut m: serde_json::Value =
        serde_json::from_slice(&block_on(w.store.get(key)).expect("get").expect("manifest").body)
            .expect("json");
    m["count"] = serde_json::json!(11);
    block_on(w.store.put(key, serde_json::to_vec(&m).expect("json"))).expect("tamper");
    let new_db = MemoryDatabase::new(Vec::new(), true);
    let (new, _) =
        agent(&w, &standby, "ap-northeast-1b", &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")], &new_db);
    let (_, did) = block_on(new.step()).expect("step");
    let Did::Refused { note, .. } = did else { panic!("{did:?}") };
    assert!(note.contains("the complete backup of epoch-1 is the fallback (data-loss window 0 s)"), "{note}");
    assert!(new_db.state().read_only, "a standby that refused never takes writes");
    let (record, _) = block_on(read_primary(&w.store)).expect("read").expect("record");
    assert_eq!(record.epoch, 1);
    let (lease, _) = block_on(read_handoff(&w.store, "epoch-1")).expect("read").expect("lease");
    assert_eq!((lease.attempts, lease.standby.as_ref()), (1, None), "the attempt is spent, the slot freed");
    assert!(lease.last_error.as_deref().is_some_and(|e| e.starts_with("refused to promote")), "{lease:?}");
    let gone = block_on(w.ec2.describe(REGION, &standby)).expect("describe").expect("exists").state;
    assert_eq!(gone, InstanceState::Terminated, "the standby that refused leaves");
}

#[test]
fn an_unknown_role_tag_is_an_error_not_a_silent_primary() {
    let w = World::new();
    let db = MemoryDatabase::new(Vec::new(), true);
    let (a, _) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "Primary")], &db);
    let err = block_on(a.step()).expect_err("refused");
    assert!(format!("{err:#}").contains("`Primary`"), "{err:#}");
}

#[test]
fn an_unwarned_loss_is_recovered_from_the_shipped_log_and_the_new_primary_ships_on() {
    let w = World::new();
    let old_db = MemoryDatabase::with_clock((1..=50).collect(), false, w.clock.clone());
    let (old, _) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &old_db);
    block_on(old.step()).expect("serve: begins timeline 1");
    assert_eq!(old_db.state().ships_to, Some((1, 1)));
    for row in 51..=60 {
        assert!(old_db.commit(row));
    }
    assert!(block_on(old_db.ship(&w.store)).expect("ship"));
    assert!(old_db.commit(61), "acknowledged, never shipped: the loss window");
    w.clock.advance(2);
    // Lost without a warning: the watchdog's next look recovers from the log, saying the window.
    w.ec2.set_state("i-primary", InstanceState::Terminated);
    block_on(w.handler().handle(&watchdog_tick("t1"))).expect("handled");
    let (h, _) = block_on(read_handoff(&w.store, "epoch-1")).expect("read").expect("epoch-1");
    assert_eq!(h.source(), spotctl_core::handoff::Source::Log, "{h:?}");
    // Two seconds since the safe instant, plus the skew two machines' clocks may have.
    let window = 2 + (spotctl_db::protect::CLOCK_SKEW_MS / 1000) as i64;
    assert_eq!((h.cause, h.data_loss_window_s), (spotctl_core::handoff::Cause::Recovery, Some(window)));
    let standby = w.standbys()[0].id.clone();
    let new_db = MemoryDatabase::with_clock(Vec::new(), true, w.clock.clone());
    let (new, _) =
        agent(&w, &standby, "ap-northeast-1b", &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")], &new_db);
    let (obs, did) = block_on(new.step()).expect("recover and promote");
    assert_eq!(
        obs.decision,
        Decision::Standby(StandbyAction::Restore { from: spotctl_core::handoff::Source::Log, until: None })
    );
    assert!(matches!(did, Did::Restored { promotion: Promotion::Promoted { epoch: 2, .. }, .. }), "{did:?}");
    assert_eq!(new_db.state().rows, (1..=60).collect::<Vec<_>>(), "every shipped row, not the unshipped one");
    assert_eq!(new_db.state().ships_to, Some((2, 2)), "the promotion began timeline 2, the recovery's");
    // Serving, the new primary keeps the timeline its recovery began, and ships on there.
    let (_, did) = block_on(new.step()).expect("serve");
    assert!(matches!(did, Did::Served { .. }), "{did:?}");
    assert!(new_db.commit(62));
    assert!(block_on(new_db.ship(&w.store)).expect("ship"));
    let rows = block_on(spotctl_aws::handoff::memory_log_rows(&w.store, 2)).expect("log");
    assert_eq!(rows.last(), Some(&62));
    let timelines = block_on(spotctl_aws::protect::read_timelines(&w.store)).expect("timelines");
    let two = &timelines[1].record;
    assert_eq!((two.parent, two.epoch), (Some(1), Some(2)));
}

#[test]
fn a_warned_handoff_gives_the_new_primary_a_timeline_of_its_own_and_fences_the_old_shipper() {
    let w = World::new();
    let old_db = MemoryDatabase::new((1..=10).collect(), false);
    let (old, old_md) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &old_db);
    block_on(old.step()).expect("serve");
    let standby = warned(&w);
    old_md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
    block_on(old.step()).expect("drain");
    let new_db = MemoryDatabase::new(Vec::new(), true);
    let (new, _) =
        agent(&w, &standby, "ap-northeast-1b", &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")], &new_db);
    block_on(new.step()).expect("restore");
    assert_eq!(new_db.state().ships_to, Some((2, 2)), "promoted: its log begun before it took a write");
    block_on(new.step()).expect("serve");
    assert_eq!(new_db.state().ships_to, Some((2, 2)));
    let timelines = block_on(spotctl_aws::protect::read_timelines(&w.store)).expect("timelines");
    let two = &timelines[1].record;
    assert_eq!(
        (two.parent, two.epoch, two.reason),
        (None, Some(2), spotctl_db::protect::timeline::Reason::Handoff)
    );
    // The old primary may never take the log back (its agent restarted: nothing remembered).
    let restarted = MemoryDatabase::new(old_db.state().rows, true);
    let err = block_on(restarted.begin_log(Arc::new(w.store.clone()), 1)).expect_err("superseded");
    assert!(format!("{err:#}").contains("epoch-2 primary"), "{err:#}");
}

/// EventBridge's note that `instance` went to `state`.
fn state_change(id: &str, instance: &str, state: &str) -> Vec<u8> {
    serde_json::json!({
        "version": "0", "id": id, "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
        "account": "123456789012", "time": "2026-11-29T10:00:00Z", "region": REGION, "resources": [],
        "detail": {"instance-id": instance, "state": state}
    })
    .to_string()
    .into_bytes()
}

#[test]
fn the_primary_terminated_without_a_warning_starts_its_recovery_at_once_and_others_are_not_ours() {
    let w = World::new();
    let db = MemoryDatabase::with_clock((1..=5).collect(), false, w.clock.clone());
    let (primary, _) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &db);
    block_on(primary.step()).expect("serve");
    assert!(block_on(db.ship(&w.store)).expect("ship"));
    // Another instance of the account stops: not this env's business, nothing recorded.
    let out =
        block_on(w.handler().handle(&state_change("s0", "i-someone-else", "stopped"))).expect("handled");
    assert!(matches!(out, spotctl_aws::handler::Outcome::NotOurs { .. }), "{out:?}");
    w.ec2.set_state("i-primary", InstanceState::Terminated);
    let out = block_on(w.handler().handle(&state_change("s1", "i-primary", "terminated"))).expect("handled");
    let text = serde_json::to_string(&out).expect("JSON");
    assert!(text.contains("\"handoff\":\"started\""), "{text}");
    let (h, _) = block_on(read_handoff(&w.store, "epoch-1")).expect("read").expect("epoch-1");
    assert_eq!(h.source(), spotctl_core::handoff::Source::Log, "{h:?}");
}

/// A standby whose restore is slow (150 rows at one row per second of the clock) while the
/// watchdog looks every 5 s with a 70 s stall clock (more than twice the stamps' 30 s). `stamping`: the agent's timer stamps the
/// restore's progress. Returns what the slow standby's step did, and the handoff's standby after.
fn slow_restore(stamping: bool) -> (Did, Option<String>) {
    let w = World::new();
    let old_db = MemoryDatabase::with_clock((1..=150).collect(), false, w.clock.clone());
    let (old, old_md) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &old_db);
    block_on(old.step()).expect("serve");
    let standby = warned(&w);
    old_md.set(paths::SPOT_ACTION, "{}");
    block_on(old.step()).expect("drain");
    let new_db = MemoryDatabase::with_clock(Vec::new(), true, w.clock.clone()).paced(1);
    let (new, _) =
        agent(&w, &standby, "ap-northeast-1b", &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")], &new_db);
    let placements = spotctl_aws::handoff::FixedPlacements::in_region(&crate::world::names(), REGION, 3);
    let seams = spotctl_aws::handoff::HandoffSeams {
        store: &w.store,
        instances: &w.ec2,
        placements: &placements,
        clock: w.clock.as_ref(),
        owner: "watchdog",
        limits: spotctl_aws::handoff::Limits { unhealthy_after_ms: None, standby_stall_s: 70 },
    };
    let restore = new.step();
    let driver = async {
        // The clock moves a second at a time; the watchdog looks every 5 s; the agent's timer
        // stamps every second (it writes only every STAMP_EVERY_S unless the restore moved).
        for second in 0..240 {
            w.clock.advance(1);
            if stamping {
                new.stamp_progress(&standby).await.expect("stamp");
            }
            if second % 5 == 0 {
                spotctl_aws::handoff::advance(&seams, None).await.expect("watchdog");
            }
            spotctl_aws::sdk::twin::interleave().await;
        }
    };
    let ((_, did), ()) = block_on(futures::future::join(async { restore.await.expect("step") }, driver));
    let (h, _) = block_on(read_handoff(&w.store, "epoch-1")).expect("read").expect("epoch-1");
    (did, h.standby.map(|s| s.instance_id))
}

#[test]
fn a_restore_longer_than_the_stall_clock_completes_because_it_moves() {
    let (did, standby) = slow_restore(true);
    assert!(
        matches!(&did, Did::Restored { promotion: Promotion::Promoted { .. }, .. }),
        "a 150 s restore under a 70 s stall clock promotes while it moves: {did:?}"
    );
    assert!(standby.is_some());
    // Without its progress stamped, the same restore is taken for stuck: the watchdog moves the
    // handoff on to another standby and the slow one, done at last, leaves without promoting.
    let (did, _) = slow_restore(false);
    assert!(
        matches!(&did, Did::Restored { promotion: Promotion::StoodDown { .. }, .. }),
        "not stamped: superseded by another standby ({did:?})"
    );
}
