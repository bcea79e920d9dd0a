//! The agents' steps and promotion against the in-memory twins: a whole warned handoff, two
//! standbys racing for one epoch, a standby that cannot verify, the old primary retiring.

use super::{Agent, Decision, Did, MemoryDatabase, Promotion};
use crate::compute::Instances;
use crate::handler::tests::{warning, World, REGION};
use crate::sdk::imds::{paths, StaticMetadata};
use crate::state::{read_handoff, read_primary, Fault, Op, StateStore};
use futures::executor::block_on;
use spotctl_core::handoff::{PrimaryAction, StandbyAction, Step};
use spotctl_core::names::keys;
use spotctl_core::names::{TAG_HANDOFF, TAG_ROLE};
use spotctl_core::primary::{InstanceState, Role};
use std::sync::Arc;

fn agent(
    w: &World,
    id: &str,
    az: &str,
    tags: &[(&str, &str)],
    db: &MemoryDatabase,
) -> (Agent, Arc<StaticMetadata>) {
    let md = Arc::new(StaticMetadata::instance(id, REGION, az, "m5.large"));
    for (k, v) in tags {
        md.set(&paths::tag(k), v);
    }
    let agent = Agent {
        store: Arc::new(w.store.clone()),
        instances: Arc::new(w.ec2.clone()),
        metadata: md.clone(),
        db: Arc::new(db.clone()),
        clock: w.clock.clone(),
    };
    (agent, md)
}

/// The warning handled: a standby launched for epoch-1. Returns its id.
fn warned(w: &World) -> String {
    block_on(w.handler().handle(&warning("e1", "i-primary"))).expect("handled");
    w.standbys()[0].id.clone()
}

#[test]
fn a_warned_handoff_moves_every_row_to_exactly_one_new_primary() {
    let w = World::new();
    let old_db = MemoryDatabase::new((1..=100).collect(), false);
    let (old, old_md) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &old_db);
    let (_, did) = block_on(old.step()).expect("step");
    assert_eq!(did, Did::Served { repaired: false });
    let standby = warned(&w);
    let new_db = MemoryDatabase::new(Vec::new(), true);
    let (new, _) =
        agent(&w, &standby, "ap-northeast-1b", &[(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")], &new_db);
    let (obs, _) = block_on(new.step()).expect("step");
    assert_eq!(obs.decision, Decision::Standby(StandbyAction::WaitForManifest));

    old_md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
    let (_, did) = block_on(old.step()).expect("drain");
    assert!(
        matches!(&did, Did::Drained { id, drained } if id == "epoch-1" && drained.rows == 100),
        "{did:?}"
    );
    assert!(!old_db.commit(101), "the old primary takes no write once fenced");

    let (_, did) = block_on(new.step()).expect("restore");
    let Did::Restored { restored, promotion, .. } = did else { panic!("{did:?}") };
    assert_eq!(restored.rows, 100);
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
        Step::OldRetired,
    ] {
        assert!(lease.steps.contains_key(&step), "{step:?} missing: {lease:?}");
    }
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
    let twin = block_on(w.ec2.launch(&crate::compute::LaunchRequest {
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
fn of_two_promotions_racing_for_one_epoch_exactly_one_wins_and_a_lost_reply_is_read_again() {
    use super::promote::{promote, Successor};
    let w = World::new();
    warned(&w);
    let me = |id: &str| Successor {
        instance_id: id.into(),
        region: REGION.into(),
        availability_zone: "ap-northeast-1b".into(),
        instance_type: "m5.large".into(),
    };
    w.ec2.insert(standby_view("i-a"));
    w.ec2.insert(standby_view("i-b"));
    let (a, b) = (MemoryDatabase::new(vec![], true), MemoryDatabase::new(vec![], true));
    let (pa, pb) = block_on(futures::future::join(
        promote(&w.store, &a, &w.ec2, me("i-a"), "epoch-1", 1_100),
        promote(&w.store, &b, &w.ec2, me("i-b"), "epoch-1", 1_100),
    ));
    let won = [&pa, &pb].iter().filter(|p| matches!(p, Ok(Promotion::Promoted { .. }))).count();
    assert_eq!(won, 1, "{pa:?} {pb:?}");
    assert_eq!([a.state().read_only, b.state().read_only].iter().filter(|r| !**r).count(), 1);
    // A write that lands but whose reply is lost: the promoter reads again and knows it won.
    let w = World::new();
    warned(&w);
    w.ec2.insert(standby_view("i-c"));
    let lossy = w
        .store
        .with_faults(|op, key| (op == Op::PutIfMatch && key == keys::PRIMARY).then_some(Fault::LoseReply));
    let c = MemoryDatabase::new(vec![], true);
    let p = block_on(promote(&lossy, &c, &w.ec2, me("i-c"), "epoch-1", 1_100)).expect("promotes");
    assert_eq!(p, Promotion::Promoted { epoch: 2, instance_id: "i-c".into() });
    assert!(!c.state().read_only);
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

fn standby_view(id: &str) -> crate::compute::InstanceView {
    crate::compute::InstanceView {
        id: id.into(),
        region: REGION.into(),
        az: "ap-northeast-1b".into(),
        instance_type: "m5.large".into(),
        state: InstanceState::Running,
        tags: [
            (TAG_ROLE.to_string(), "standby".to_string()),
            (TAG_HANDOFF.to_string(), "epoch-1".to_string()),
        ]
        .into(),
    }
}
