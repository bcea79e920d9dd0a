//! Mixed versions: agents older than the records a newer spotctl wrote. They act on nothing they
//! cannot read (no drain, no promotion, no retirement), write nothing over it, keep the fence the
//! notice raised, and say why in their health report, where `status` reads it.

use crate::handoff::{agent, warned};
use crate::world::{warning, World};
use futures::executor::block_on;
use spotctl_aws::handoff::{HandoffError, MemoryDatabase};
use spotctl_aws::sdk::{imds::paths, twin};
use spotctl_aws::state::{get_json, json_body, read_primary, StateStore, StoreError};
use spotctl_core::handoff::{HealthReport, Step};
use spotctl_core::names::{TAG_HANDOFF, TAG_ROLE};
use spotctl_layout::state::{self as keys, handoff_key};
use spotctl_layout::{health_key, BackupRoot};

/// Rewrites the JSON record at `key` as a newer spotctl would have written it: format 99, with a
/// field this build does not know.
fn from_a_newer_spotctl(w: &World, key: &str) -> Vec<u8> {
    let got = block_on(w.store.get(key)).expect("read").expect("present");
    let mut v: serde_json::Value = serde_json::from_slice(&got.body).expect("json");
    v["format"] = 99.into();
    v["a_field_of_format_99"] = "kept as written".into();
    let body = json_body(key, &v).expect("json");
    block_on(w.store.put(key, body.clone())).expect("write");
    body
}

fn refusal(w: &World, instance: &str) -> String {
    let key = health_key(instance, &twin::writer(instance));
    let (r, _) = block_on(get_json::<HealthReport>(&w.store, &key)).expect("read").expect("a report");
    r.refused.expect("the report says it refuses")
}

fn is_newer(e: &HandoffError) -> bool {
    matches!(e.root(), HandoffError::Store(StoreError::Newer(_)))
}

#[test]
fn an_old_primary_warned_under_a_newer_record_fences_and_drains_nothing() {
    let w = World::new();
    let standby = warned(&w);
    let written = from_a_newer_spotctl(&w, keys::PRIMARY);
    let db = MemoryDatabase::new((1..=50).collect(), false);
    let (old, md) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &db);
    md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
    let e = block_on(old.step()).expect_err("refuses");
    assert!(is_newer(&e), "{e}");
    // The notice's fence holds, whatever the bucket says; nothing was drained or sealed.
    assert!(!db.writable_now(), "fenced on the notice");
    let root = BackupRoot::handoff("epoch-1").expect("root");
    for key in [root.manifest_key(), root.seal_key()] {
        assert!(block_on(w.store.get(&key)).expect("read").is_none(), "{key}: nothing drained");
    }
    // The record stays as the newer spotctl wrote it; the refusal is reported, naming the record.
    assert_eq!(block_on(w.store.get(keys::PRIMARY)).expect("read").expect("present").body, written);
    let why = refusal(&w, "i-primary");
    assert!(why.contains("state/primary.json is format 99") && why.contains("up to 4"), "{why}");
    // A standby finds the same record: it neither restores nor promotes.
    let sdb = MemoryDatabase::new(Vec::new(), true);
    let tags = [(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")];
    let (s, _) = agent(&w, &standby, "ap-northeast-1c", &tags, &sdb);
    assert!(is_newer(&block_on(s.step()).expect_err("refuses")));
    assert!(sdb.state().rows.is_empty() && !sdb.writable_now(), "nothing restored, writes off");
    assert!(refusal(&w, &standby).contains("state/primary.json"));
}

#[test]
fn a_standby_older_than_its_handoff_never_promotes_nor_stamps_it() {
    let w = World::new();
    let standby = warned(&w);
    // The old primary drains under a record it reads.
    let db = MemoryDatabase::new((1..=50).collect(), false);
    let (old, md) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &db);
    md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
    block_on(old.step()).expect("drains");
    let written = from_a_newer_spotctl(&w, &handoff_key("epoch-1"));
    let sdb = MemoryDatabase::new(Vec::new(), true);
    let tags = [(TAG_ROLE, "standby"), (TAG_HANDOFF, "epoch-1")];
    let (s, _) = agent(&w, &standby, "ap-northeast-1c", &tags, &sdb);
    for _ in 0..3 {
        assert!(is_newer(&block_on(s.step()).expect_err("refuses")));
    }
    let (record, _) = block_on(read_primary(&w.store)).expect("read").expect("record");
    assert_eq!((record.epoch, record.instance_id.as_str()), (1, "i-primary"), "no promotion");
    assert!(!sdb.writable_now());
    let now = block_on(w.store.get(&handoff_key("epoch-1"))).expect("read").expect("present").body;
    assert_eq!(now, written, "nothing written over the newer handoff (no {:?})", Step::Promoted);
    assert!(refusal(&w, &standby).contains("state/handoffs/epoch-1.json is format 99"));
    // The handler, as old, refuses it too: it acts on nothing it cannot read.
    let refused = block_on(w.handler().handle(&warning("e2", "i-primary"))).expect_err("refuses");
    assert!(refused.to_string().contains("epoch-1.json is format 99"), "{refused}");
    assert!(!refused.retryable, "the same handler will never read it: {refused}");
    assert_eq!(w.standbys().len(), 1, "no second standby for a record it cannot read");
    assert_eq!(block_on(w.store.get(&handoff_key("epoch-1"))).expect("read").expect("present").body, written);
}

/// `keep-primary` writes a kept record (format 4) only for an agent whose report says it reads
/// it: an older agent would refuse the record and stay fenced for good.
#[test]
fn keep_primary_refuses_a_primary_whose_agent_cannot_read_a_kept_record() {
    use spotctl_aws::handoff::{advance, keep_primary, plan_keep, FixedPlacements, HandoffSeams, Trigger};
    use spotctl_core::handoff::Cause;
    let w = World::new();
    let db = MemoryDatabase::new((1..=50).collect(), false);
    let (old, _) = agent(&w, "i-primary", "ap-northeast-1a", &[(TAG_ROLE, "primary")], &db);
    block_on(old.step()).expect("serves, and reports what it reads");
    let placements = FixedPlacements::in_region(&crate::world::names(), crate::world::REGION, 3);
    let seams = HandoffSeams {
        store: &w.store,
        instances: &w.ec2,
        placements: &placements,
        clock: w.clock.as_ref(),
        owner: "test",
        limits: Default::default(),
    };
    let moving = Trigger { cause: Cause::Relocation, instance_id: "i-primary" };
    block_on(advance(&seams, Some(moving))).expect("a relocation starts");
    // An agent of the build before kept records: its report does not say what it reads.
    let key = health_key("i-primary", &twin::writer("i-primary"));
    let (mut report, _) =
        block_on(get_json::<serde_json::Value>(&w.store, &key)).expect("read").expect("report");
    let as_written = report.clone();
    report.as_object_mut().expect("object").remove("reads");
    block_on(w.store.put(&key, json_body(&key, &report).expect("json"))).expect("write");
    // Another instance's word for it (a report saying it reads kept records, under the only key of
    // i-primary's reports that instance's role may write) is not i-primary's: still refused.
    for forger in ["i-standby", "i-other"] {
        let forged = health_key("i-primary", &twin::writer(forger));
        block_on(w.store.put(&forged, json_body(&forged, &as_written).expect("json"))).expect("write");
    }
    let refused = block_on(plan_keep(&seams)).expect_err("refused");
    assert!(refused.to_string().contains("reads primary records up to format 3"), "{refused}");
    let refused = block_on(keep_primary(&seams, "i-primary", "op")).expect_err("refused");
    assert!(refused.to_string().contains("up to format 3"), "{refused}");
    let (record, _) = block_on(read_primary(&w.store)).expect("read").expect("record");
    assert_eq!((record.epoch, record.kept.as_ref()), (1, None), "nothing was kept");
    // The agent of this build says it reads it (its next report, 10 s on): kept.
    w.clock.advance(11);
    block_on(old.step()).expect("reports again");
    let plan = block_on(plan_keep(&seams)).expect("keepable");
    block_on(keep_primary(&seams, &plan.primary.instance_id, "op")).expect("kept");
    let (record, _) = block_on(read_primary(&w.store)).expect("read").expect("record");
    assert_eq!((record.epoch, record.format), (2, 4));
}
