//! No row is lost when anything fails during a handoff, with real parts: one moto server for the
//! whole matrix, a pair of real MariaDB servers per case, the IMDS stand-in. Each case ends with
//! exactly one primary holding every row.
//!
//! - `apply` while a handoff is open (the old primary already reclaimed) never launches an empty
//!   primary, and leaves the handoff's instances alone.
//! - a launch that fails for a reason other than capacity fails the invocation (nothing is taken
//!   for done), releases the handoff with the error, and the next delivery retries it.
//! - the handler killed after each of its AWS calls in turn, then delivered again.
//! - the standby's agent killed in the middle of its restore, then started again.
//! - `apply` run in every phase of a handoff.

mod support;

use serde_json::Value;
use spotctl_testkit::imds::ImdsServer;
use spotctl_testkit::mariadb::MariaDb;
use spotctl_testkit::moto::Moto;
use support::handoff::{count, imds, writable, Env, NOTICE, REGION};

const ROWS: usize = 800;

fn servers() -> Option<(MariaDb, MariaDb)> {
    Some((MariaDb::start()?, MariaDb::start()?))
}

/// The recorded primary's instance id and epoch.
async fn recorded(env: &Env) -> (String, u64) {
    let r = env.object("state/primary.json").await.expect("a primary record");
    (r["instance_id"].as_str().unwrap_or_default().to_string(), r["epoch"].as_u64().unwrap_or(0))
}

/// The handoff record of epoch `n`.
async fn handoff(env: &Env, n: u64) -> Value {
    env.object(&format!("state/handoffs/epoch-{n}.json")).await.unwrap_or(Value::Null)
}

/// Time passes: a lease an attempt died holding runs out.
async fn expire_lease(env: &Env, n: u64) {
    let key = format!("state/handoffs/epoch-{n}.json");
    let Some(mut h) = env.object(&key).await else { return };
    if h.get("lease").is_some_and(|l| !l.is_null()) {
        h["lease"]["until_unix"] = 0.into();
        let s3 = env.aws.s3(REGION, "123456789012");
        s3.put_object()
            .bucket(env.bucket())
            .key(&key)
            .body(serde_json::to_vec(&h).expect("json").into())
            .send()
            .await
            .expect("expire the lease");
    }
}

/// The standby the handoff of epoch `n` records.
async fn recorded_standby(env: &Env, n: u64) -> Option<String> {
    handoff(env, n).await["standby"]["instance_id"].as_str().map(String::from)
}

fn standby_imds(id: &str, n: u64) -> ImdsServer {
    imds(id, "ap-northeast-1c", &[("spotctl:role", "standby"), ("spotctl:handoff", &format!("epoch-{n}"))])
}

/// The old primary drains (its notice is out), the recorded standby restores and promotes, the
/// old one retires; every other standby of the handoff leaves. Ends with one primary, every row.
async fn finish(moto: &Moto, env: &Env, old: (&str, &MariaDb), new_db: &MariaDb) {
    let old_imds = imds(old.0, "ap-northeast-1a", &[("spotctl:role", "primary")]);
    old_imds.update(|m| m.instance_action = Some(NOTICE.into()));
    if env.instances().await.iter().any(|(id, _, _)| id == old.0) {
        let drained = env.watch_once(moto, &old_imds, &old.1.root_dsn(""), None);
        assert!(drained.ok, "{}{}", drained.stdout, drained.stderr);
    }
    let standby = recorded_standby(env, 1).await.expect("a standby is recorded");
    let standby_md = standby_imds(&standby, 1);
    env.give_addresses(&standby, &standby_md).await;
    let promoted = env.watch_once(moto, &standby_md, &new_db.root_dsn(""), None).json();
    assert_eq!(promoted["did"]["promotion"]["promotion"], "promoted", "{promoted:#}");
    // The new primary names itself by the endpoint as it promotes (epoch 1's handoff: epoch 2).
    assert_eq!(promoted["did"]["endpoint"]["endpoint"], "pointed", "{promoted:#}");
    assert_eq!(promoted["did"]["endpoint"]["epoch"], 2, "{promoted:#}");
    for (id, role, _) in env.instances().await {
        if id == old.0 {
            let retired = env.watch_once(moto, &old_imds, &old.1.root_dsn(""), None).json();
            assert_eq!(retired["did"]["kind"], "retired", "{retired:#}");
        } else if id != standby && role == "standby" {
            // A standby an attempt launched but never recorded (the old server, fenced, stands
            // for its own: leaving only refuses writes before it terminates).
            let left = env.watch_once(moto, &standby_imds(&id, 1), &old.1.root_dsn(""), None).json();
            assert_eq!(left["did"]["kind"], "abandoned", "{id} should leave: {left:#}");
        }
    }
    one_primary_with_every_row(env, &standby, new_db).await;
}

async fn one_primary_with_every_row(env: &Env, primary: &str, db: &MariaDb) {
    let live = env.instances().await;
    let primaries: Vec<_> =
        live.iter().filter(|(_, role, _)| role == "primary").map(|(id, _, _)| id.clone()).collect();
    let others: Vec<_> = live.iter().filter(|(id, _, _)| id != primary).collect();
    assert!(primaries == [primary.to_string()] || primaries.is_empty() && others.is_empty(), "{live:?}");
    assert!(others.iter().all(|(_, role, _)| role != "standby"), "a standby was left behind: {live:?}");
    assert_eq!(recorded(env).await.0, primary);
    assert_eq!(count(&db.root_dsn("")), ROWS as i64, "every row");
    assert!(writable(&db.root_dsn("")), "the new primary takes writes");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_row_is_lost_whatever_fails_during_a_handoff() {
    if servers().is_none() {
        return;
    }
    let moto = Moto::start();
    apply_during_an_open_handoff_never_launches_an_empty_primary(&moto).await;
    a_failed_launch_fails_the_invocation_and_the_next_delivery_retries(&moto).await;
    the_handler_killed_after_any_of_its_calls(&moto).await;
    the_standby_killed_in_the_middle_of_its_restore(&moto).await;
    apply_in_every_phase_of_a_handoff(&moto).await;
}

async fn apply_during_an_open_handoff_never_launches_an_empty_primary(moto: &Moto) {
    let (old_db, new_db) = servers().expect("servers");
    let env = Env::applied(moto, "fa", &old_db, ROWS).await;
    let (primary, _) = recorded(&env).await;
    let said = env.handle(moto, "w.json", &env.warning(&primary, "w-1"), None);
    assert!(said.ok && said.json()["next"]["handoff"] == "started", "{}{}", said.stdout, said.stderr);
    let old_imds = imds(&primary, "ap-northeast-1a", &[("spotctl:role", "primary")]);
    old_imds.update(|m| m.instance_action = Some(NOTICE.into()));
    assert!(env.watch_once(moto, &old_imds, &old_db.root_dsn(""), None).ok);
    env.reclaim(&primary).await;
    let plan = env.run(moto, &["plan", &env.dir, "--output", "json"], None).json();
    let changes = plan["changes"].as_array().cloned().unwrap_or_default();
    assert!(!changes.iter().any(|c| c["address"]["kind"] == "instance"), "{plan:#}");
    assert!(plan["notes"].to_string().contains("handoff epoch-1 is under way"), "{plan:#}");
    let before = env.instances().await;
    let applied = env.run(moto, &["apply", &env.dir, "--auto-approve"], None);
    assert!(applied.ok, "{}{}", applied.stdout, applied.stderr);
    assert_eq!(env.instances().await, before, "apply touched a database instance during the handoff");
    finish(moto, &env, (&primary, &old_db), &new_db).await;
    let plan = env.run(moto, &["plan", &env.dir, "--detailed-exitcode"], None);
    assert!(plan.ok, "a converged env plans nothing: {}{}", plan.stdout, plan.stderr);
}

async fn a_failed_launch_fails_the_invocation_and_the_next_delivery_retries(moto: &Moto) {
    let (old_db, new_db) = servers().expect("servers");
    let env = Env::applied(moto, "fb", &old_db, ROWS).await;
    let (primary, _) = recorded(&env).await;
    // Something outside spotctl removed the env's security group: launching fails, not for capacity.
    let ec2 = env.aws.ec2(REGION);
    let groups = ec2
        .describe_security_groups()
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-name").values("spotctl-fb-db").build())
        .send()
        .await
        .expect("groups");
    let group = groups.security_groups()[0].group_id().unwrap_or_default().to_string();
    ec2.delete_security_group().group_id(&group).send().await.expect("delete the group");
    let event = env.warning(&primary, "w-1");
    for _ in 0..2 {
        let failed = env.handle(moto, "w.json", &event, None);
        assert!(!failed.ok, "a failed launch fails the invocation: {}", failed.stdout);
        assert!(failed.stderr.contains("security group spotctl-fb-db is missing"), "{}", failed.stderr);
        let h = handoff(&env, 1).await;
        assert!(h["lease"].is_null(), "the attempt let the handoff go: {h:#}");
        assert!(h["last_error"].to_string().contains("security group"), "{h:#}");
        assert!(
            env.object("state/events/w-1-interruption.json").await.is_none(),
            "a failed event is not recorded as handled"
        );
    }
    // The operator's apply puts the group back (and leaves the database instances alone).
    let applied = env.run(moto, &["apply", &env.dir, "--auto-approve"], None);
    assert!(applied.ok && applied.stdout.contains("security_group"), "{}{}", applied.stdout, applied.stderr);
    let retried = env.handle(moto, "w.json", &event, None);
    assert!(
        retried.ok && retried.json()["next"]["handoff"] == "started",
        "{}{}",
        retried.stdout,
        retried.stderr
    );
    finish(moto, &env, (&primary, &old_db), &new_db).await;
}

async fn the_handler_killed_after_any_of_its_calls(moto: &Moto) {
    let (old_db, new_db) = servers().expect("servers");
    let env = Env::applied(moto, "fc", &old_db, ROWS).await;
    let (primary, _) = recorded(&env).await;
    let event = env.warning(&primary, "w-1");
    let mut n = 1;
    loop {
        let run = env.handle(moto, "w.json", &event, Some(n));
        if run.ok {
            break;
        }
        assert!(run.stderr.contains("aborting after AWS call"), "call {n}: {}", run.stderr);
        expire_lease(&env, 1).await;
        n += 1;
        assert!(n < 100, "the handler never finished");
    }
    // Delivered again until a standby is recorded (a kill after the launch left the lease held).
    for _ in 0..3 {
        if recorded_standby(&env, 1).await.is_some() {
            break;
        }
        expire_lease(&env, 1).await;
        let again = env.handle(moto, "w2.json", &env.warning(&primary, "w-2"), None);
        assert!(again.ok, "{}{}", again.stdout, again.stderr);
    }
    eprintln!("the handler was killed after each of its first {} calls", n - 1);
    finish(moto, &env, (&primary, &old_db), &new_db).await;
}

async fn the_standby_killed_in_the_middle_of_its_restore(moto: &Moto) {
    let (old_db, new_db) = servers().expect("servers");
    let env = Env::applied(moto, "fd", &old_db, ROWS).await;
    let (primary, _) = recorded(&env).await;
    assert!(env.handle(moto, "w.json", &env.warning(&primary, "w-1"), None).ok);
    let old_imds = imds(&primary, "ap-northeast-1a", &[("spotctl:role", "primary")]);
    old_imds.update(|m| m.instance_action = Some(NOTICE.into()));
    assert!(env.watch_once(moto, &old_imds, &old_db.root_dsn(""), None).ok);
    let standby = recorded_standby(&env, 1).await.expect("standby");
    let md = standby_imds(&standby, 1);
    // Its look reads the record, the handoff and the manifest; the restore then reads the manifest
    // and the backup's parts: killed after the first of those.
    let killed = env.watch_once(moto, &md, &new_db.root_dsn(""), Some(5));
    assert!(!killed.ok && killed.stderr.contains("aborting after AWS call 5"), "{}", killed.stderr);
    assert_eq!(recorded(&env).await.0, primary, "nothing promoted by a killed restore");
    let promoted = env.watch_once(moto, &md, &new_db.root_dsn(""), None).json();
    assert_eq!(promoted["did"]["promotion"]["promotion"], "promoted", "{promoted:#}");
    let retired = env.watch_once(moto, &old_imds, &old_db.root_dsn(""), None).json();
    assert_eq!(retired["did"]["kind"], "retired", "{retired:#}");
    one_primary_with_every_row(&env, &standby, &new_db).await;
}

async fn apply_in_every_phase_of_a_handoff(moto: &Moto) {
    let (old_db, new_db) = servers().expect("servers");
    let env = Env::applied(moto, "fe", &old_db, ROWS).await;
    let (primary, _) = recorded(&env).await;
    let apply = |phase: &'static str| {
        let env = &env;
        async move {
            let before = (env.instances().await, recorded(env).await);
            let applied = env.run(moto, &["apply", &env.dir, "--auto-approve"], None);
            assert!(applied.ok, "apply {phase}: {}{}", applied.stdout, applied.stderr);
            assert!(
                !applied.stdout.contains("instance primary"),
                "apply {phase} planned an instance: {}",
                applied.stdout
            );
            assert_eq!(
                (env.instances().await, recorded(env).await),
                before,
                "apply {phase} changed the database"
            );
        }
    };
    apply("before the warning").await;
    assert!(env.handle(moto, "w.json", &env.warning(&primary, "w-1"), None).ok);
    apply("with the standby launched").await;
    let old_imds = imds(&primary, "ap-northeast-1a", &[("spotctl:role", "primary")]);
    old_imds.update(|m| m.instance_action = Some(NOTICE.into()));
    assert!(env.watch_once(moto, &old_imds, &old_db.root_dsn(""), None).ok);
    apply("after the drain").await;
    let standby = recorded_standby(&env, 1).await.expect("standby");
    let promoted = env.watch_once(moto, &standby_imds(&standby, 1), &new_db.root_dsn(""), None).json();
    assert_eq!(promoted["did"]["promotion"]["promotion"], "promoted", "{promoted:#}");
    apply("after the promotion").await;
    let retired = env.watch_once(moto, &old_imds, &old_db.root_dsn(""), None).json();
    assert_eq!(retired["did"]["kind"], "retired", "{retired:#}");
    apply("after the old primary retired").await;
    one_primary_with_every_row(&env, &standby, &new_db).await;
}
