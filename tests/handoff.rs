//! The handoff end to end, with real parts: moto; two real MariaDB servers standing for the old
//! and the new instance; an IMDSv2 stand-in for each; the handler run through `spotctl handle`.
//! Rows are seeded, the warning is delivered 20 times at once, one standby is launched, the old
//! agent drains, the standby's agent restores, verifies and promotes, the old one retires, and
//! exactly one primary remains with every row.

mod support;

use serde_json::{json, Value};
use spotctl_testkit::mariadb::MariaDb;
use spotctl_testkit::moto::Moto;
use support::handoff::{count, imds, insert, scheduled, shipping_primary, Env, NOTICE};
use support::load::{held, ids, kill_under_load, recovered, Writer};
use support::path_str;

/// `status` shows `step` with its UTC time and how long ago.
fn stamped(status: &str, step: &str) -> bool {
    status.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with(step) && l[step.len()..].starts_with(' ') && l.contains("Z (") && l.contains(" ago)")
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn interruption_hands_off_to_exactly_one_verified_primary() {
    let (Some(old_db), Some(new_db)) = (MariaDb::start(), MariaDb::start()) else { return };
    let moto = Moto::start();
    let env = Env::applied(&moto, "dev", &old_db, 5000).await;

    let before = env.instances().await;
    assert_eq!(before.len(), 1, "{before:?}");
    let primary = before[0].0.clone();
    let old_imds = imds(&primary, "ap-northeast-1a", &[("spotctl:role", "primary")]);
    let serving = env.watch_once(&moto, &old_imds, &old_db.root_dsn(""), None).json();
    assert_eq!(
        (&serving["did"]["kind"], &serving["decision"]["next"]["action"]),
        (&json!("served"), &json!("serve")),
        "{serving:#}"
    );

    // The warning, delivered 20 times at once (EventBridge may deliver twice; IMDS and EventBridge
    // race; a late copy may come after the handoff): one handoff, one standby.
    let warned = std::time::Instant::now();
    let children: Vec<_> = (0..20)
        .map(|i| {
            let f = env.env.root.join(format!("event-{i}.json"));
            std::fs::write(&f, env.warning(&primary, &format!("warning-{i:05}"))).expect("event file");
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_spotctl"));
            cmd.envs(moto.env()).env("SPOTCTL_ADVISOR_URL", "http://127.0.0.1:1/").args([
                "handle",
                &env.dir,
                "--event",
                &path_str(&f),
            ]);
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("handle")
        })
        .collect();
    let outputs: Vec<String> = children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().expect("handled");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
        .collect();
    let started = outputs
        .iter()
        .map(|o| serde_json::from_str::<Value>(o).expect("handle prints JSON"))
        .filter(|o| o["next"]["handoff"] == "started")
        .count();
    assert_eq!(started, 1, "exactly one delivery starts the handoff: {outputs:#?}");
    let after = env.instances().await;
    let standbys: Vec<_> = after.iter().filter(|(_, role, _)| role == "standby").collect();
    assert_eq!(standbys.len(), 1, "{after:?}");
    assert_eq!(standbys[0].2, "epoch-1");
    let standby = standbys[0].0.clone();
    let launched_ms = warned.elapsed().as_millis();

    // The standby waits; the old agent sees the notice and drains.
    let new_imds =
        imds(&standby, "ap-northeast-1c", &[("spotctl:role", "standby"), ("spotctl:handoff", "epoch-1")]);
    env.give_addresses(&standby, &new_imds).await;
    let waiting = env.watch_once(&moto, &new_imds, &new_db.root_dsn(""), None).json();
    assert_eq!(waiting["decision"]["next"]["action"], "wait_for_manifest", "{waiting:#}");
    old_imds.update(|m| m.instance_action = Some(NOTICE.into()));
    let t = std::time::Instant::now();
    let drained = env.watch_once(&moto, &old_imds, &old_db.root_dsn(""), None).json();
    let drain_ms = t.elapsed().as_millis();
    let d = &drained["did"];
    assert_eq!(d["kind"], "drained", "{drained:#}");
    assert_eq!(
        (&d["drained"]["tables"], &d["drained"]["tables_as_files"], &d["drained"]["rows"]),
        (&json!(1), &json!(1), &json!(5000)),
        "{drained:#}"
    );

    // The standby restores, verifies and promotes: epoch 2, writes allowed, tagged primary, the
    // endpoint pointed at it.
    let t = std::time::Instant::now();
    let promoted = env.watch_once(&moto, &new_imds, &new_db.root_dsn(""), None).json();
    let promote_ms = t.elapsed().as_millis();
    let t = std::time::Instant::now();
    let mut w = mysql::Conn::new(mysql::Opts::from_url(&new_db.root_dsn("")).expect("dsn")).expect("connect");
    mysql::prelude::Queryable::query_drop(&mut w, "CREATE TABLE appdb.after_handoff (id INT PRIMARY KEY)")
        .expect("the new primary takes writes");
    let write_ms = t.elapsed().as_millis();
    let did = &promoted["did"];
    let restore_ms = did["restored"]["ms"].as_u64().unwrap_or(0) as u128;
    assert_eq!(did["endpoint"]["endpoint"], "pointed", "{promoted:#}");
    assert_eq!(did["endpoint"]["epoch"], 2, "{promoted:#}");
    // Time to writable, step by step, measured here (process starts included; moto's launch and
    // the local servers' restore, not EC2's boot: MEMO.md, Time to writable).
    let total = launched_ms + drain_ms + promote_ms + write_ms;
    println!("time to writable (5000 rows, moto + two local MariaDB servers):");
    println!("  warning -> standby launched  {launched_ms:>6} ms  (20 deliveries, one launch)");
    println!("  drain (fence, InnoDB files)  {drain_ms:>6} ms");
    println!("  restore + verify             {restore_ms:>6} ms  (the agent's own count)");
    println!(
        "  promote + record change      {:>6} ms  (the rest of that look)",
        promote_ms.saturating_sub(restore_ms)
    );
    println!("  first write on the new one   {write_ms:>6} ms");
    println!("  total                        {total:>6} ms");
    assert_eq!(did["kind"], "restored", "{promoted:#}");
    assert_eq!(
        (&did["restored"]["tables"], &did["restored"]["rows"]),
        (&json!(1), &json!(5000)),
        "{promoted:#}"
    );
    assert_eq!(
        did["promotion"],
        json!({"promotion": "promoted", "epoch": 2, "instance_id": standby}),
        "{promoted:#}"
    );
    assert_eq!(count(&new_db.root_dsn("")), 5000);

    // The old primary sees the new epoch and retires; a late warning changes nothing.
    let retired = env.watch_once(&moto, &old_imds, &old_db.root_dsn(""), None).json();
    assert_eq!(retired["did"]["kind"], "retired", "{retired:#}");
    let late = env.handle(&moto, "late.json", &env.warning(&primary, "late-00000"), None);
    assert!(late.stdout.contains("not the primary"), "{}{}", late.stdout, late.stderr);
    let end = env.instances().await;
    let primaries: Vec<_> = end.iter().filter(|(_, role, _)| role == "primary").collect();
    assert_eq!(primaries.len(), 1, "exactly one primary: {end:?}");
    assert_eq!(primaries[0].0, standby);

    let status = env.run(&moto, &["status", &env.dir], None);
    let text = status.stdout;
    assert!(text.contains(&format!("primary: {standby}")), "{text}{}", status.stderr);
    assert!(text.contains("epoch 2"), "{text}");
    assert!(text.contains("last complete backup: backups/epoch-1/manifest.json"), "{text}");
    assert!(text.contains("handoff epoch-1 (Interruption)"), "{text}");
    for step in [
        "LeaseTaken",
        "StandbyLaunched",
        "DrainStarted",
        "Drained",
        "RestoreStarted",
        "Verified",
        "Promoted",
        "EndpointPointed",
        "OldRetired",
    ] {
        assert!(stamped(&text, step), "status lacks {step}: {text}");
    }
    assert!(text.contains("(took "), "status shows each step's duration: {text}");
    assert!(
        text.contains("endpoint: db.dev.spotctl.internal -> ")
            && text.contains("(epoch 2, TTL 10 s): the primary"),
        "{text}"
    );
    let allowed = support::permissions::check(&moto, &env.aws, &env.name, support::handoff::REGION).await;
    println!("requests AWS would allow, by role: {allowed:?}");
}

/// A standby that cannot verify what it restored (a chunk altered after the drain) never
/// promotes: the primary record stays at epoch 1, the standby leaves, and the handoff record says
/// why, which backup is the fallback and the data-loss window; the attempt is spent.
#[tokio::test(flavor = "multi_thread")]
async fn a_standby_that_cannot_verify_refuses_and_reports_the_fallback() {
    let (Some(old_db), Some(new_db)) = (MariaDb::start(), MariaDb::start()) else { return };
    let moto = Moto::start();
    let env = Env::applied(&moto, "dev", &old_db, 2000).await;

    let primary = env.instances().await[0].0.clone();
    let said = env.handle(&moto, "event.json", &env.warning(&primary, "warning-1"), None);
    assert!(said.stdout.contains("started"), "{}{}", said.stdout, said.stderr);
    let standby =
        env.instances().await.into_iter().find(|(_, role, _)| role == "standby").expect("standby").0;

    let old_imds = imds(&primary, "ap-northeast-1a", &[("spotctl:role", "primary")]);
    old_imds.update(|m| m.instance_action = Some(NOTICE.into()));
    let drained = env.watch_once(&moto, &old_imds, &old_db.root_dsn(""), None).json();
    assert_eq!(drained["did"]["kind"], "drained", "{drained:#}");

    // Alter one stored chunk after the manifest was written.
    let s3 = env.aws.s3("ap-northeast-1", "123456789012");
    let listed =
        s3.list_objects_v2().bucket(env.bucket()).prefix("backups/epoch-1/").send().await.expect("list");
    let chunk = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|k| !k.ends_with("manifest.json"))
        .expect("a chunk")
        .to_string();
    s3.put_object()
        .bucket(env.bucket())
        .key(&chunk)
        .body(b"not what was drained".to_vec().into())
        .send()
        .await
        .expect("tamper");

    let new_imds =
        imds(&standby, "ap-northeast-1c", &[("spotctl:role", "standby"), ("spotctl:handoff", "epoch-1")]);
    let refused = env.watch_once(&moto, &new_imds, &new_db.root_dsn(""), None).json();
    assert_eq!(refused["did"]["kind"], "refused", "{refused:#}");
    let did = refused["did"]["note"].as_str().unwrap_or_default().to_string();
    assert!(did.starts_with("refused to promote"), "{did}");
    assert!(did.contains("the complete backup of epoch-1 is the fallback (data-loss window 0 s)"), "{did}");
    let roles = env.instances().await;
    assert!(
        roles.iter().any(|(id, role, _)| *id == primary && role == "primary")
            && !roles.iter().any(|(id, role, _)| *id == standby && role == "primary"),
        "the standby must not become primary: {roles:?}"
    );
    assert!(
        !roles.iter().any(|(id, _, _)| *id == standby),
        "the standby that refused terminated itself: {roles:?}"
    );
    let status = env.run(&moto, &["status", &env.dir], None);
    let text = status.stdout;
    assert!(text.contains(&format!("primary: {primary}")) && text.contains("epoch 1"), "{text}");
    // The attempt is spent (the handoff goes on with another standby from the watchdog), the
    // record says why and which backup is the fallback.
    assert!(text.contains("last attempt (1 so far): refused to promote"), "{text}");
    assert!(text.contains("the complete backup of epoch-1 is the fallback (data-loss window 0 s)"), "{text}");
}

/// The primary is lost with no warning while its log is shipped and commits are still arriving:
/// `status` states what a loss now would cost, then the server and its shipper die at once and
/// EC2's state change reaches the handler, which starts a recovery from the shipped log; the
/// standby restores the base, replays the log, verifies and promotes. Every commit acknowledged
/// longer than the stated bound before the loss is there; its log goes on in a timeline of its
/// own; `status` says where the data came from.
#[tokio::test(flavor = "multi_thread")]
async fn an_unwarned_loss_is_recovered_from_the_shipped_log() {
    let (Some(mut old_db), Some(new_db)) = (MariaDb::start_protected(), MariaDb::start_protected()) else {
        return;
    };
    let moto = Moto::start();
    let (env, primary, _, mut shipper) = shipping_primary(&moto, &old_db).await;
    insert(&old_db.root_dsn(""), 1001..=1500);
    let writer = Writer::start(&old_db.root_dsn(""), 100_001);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (written, promise, lost_at) =
        kill_under_load(&env, &moto, &mut old_db, &primary, &mut shipper, writer).await;

    let (standby, promoted) = recovered(&env, &moto, &primary, &new_db).await;
    let h = env.object("state/handoffs/epoch-1.json").await.expect("the recovery's record");
    assert_eq!((&h["cause"], &h["from_log"]), (&json!("recovery"), &json!(true)), "{h:#}");
    let did = &promoted["did"];
    assert_eq!(did["promotion"]["epoch"], 2, "{promoted:#}");
    assert!(did["restored"]["replayed"].as_u64().is_some_and(|n| n >= 500), "{promoted:#}");
    let present = ids(&new_db.root_dsn(""));
    assert!((1..=1500).all(|id| present.contains(&id)), "every commit acknowledged before the writer");
    held("unwarned loss under load", &written, &present, &promise, lost_at, &h);

    // Serving, its log goes on in the timeline its recovery began (epoch 2, branched from 1).
    let new_imds2 = imds(&standby, "ap-northeast-1c", &[("spotctl:role", "primary")]);
    env.give_addresses(&standby, &new_imds2).await;
    let serving = env.watch_once(&moto, &new_imds2, &new_db.root_dsn(""), None).json();
    assert_eq!(serving["did"]["kind"], "served", "{serving:#}");
    let t2 = env.object("backups/timelines/0002/timeline.json").await.expect("timeline 2");
    assert_eq!(
        (&t2["reason"], &t2["epoch"], &t2["parent"]),
        (&json!("recovery"), &json!(2), &json!(1)),
        "{t2:#}"
    );
    assert!(env.object("backups/timelines/0003/timeline.json").await.is_none(), "no third timeline");

    let status = env.run(&moto, &["status", &env.dir], None);
    assert!(status.stdout.contains("recovered from the shipped log"), "{}{}", status.stdout, status.stderr);
    assert!(status.stdout.contains("binary log: timeline 2"), "{}", status.stdout);

    // The daily retention is the handler's (an instance deletes nothing): inside the window
    // (`[backup] retention`, 7 days by default) every base and piece stays.
    let tick = scheduled("dev", "retention", "retention-1");
    let kept = env.handle(&moto, "retention.json", &tick, None).json();
    assert_eq!(kept["next"]["action"], "retention", "{kept:#}");
    assert_eq!(kept["next"]["deleted_objects"], 0, "{kept:#}");
    assert_eq!(kept["next"]["plan"]["keep_bases"].as_array().map(Vec::len), Some(1), "{kept:#}");
    let allowed = support::permissions::check(&moto, &env.aws, &env.name, support::handoff::REGION).await;
    println!("requests AWS would allow, by role: {allowed:?}");
}

/// The warning while the log is shipped: the old primary fences and seals instead of draining its
/// tables (the warning then bounds only the log's tail, not the database's size); the standby
/// recovers the base and the log, reaches the seal and promotes with every acknowledged commit.
#[tokio::test(flavor = "multi_thread")]
async fn a_warned_primary_whose_log_is_shipped_seals_and_the_standby_loses_nothing() {
    let (Some(old_db), Some(new_db)) = (MariaDb::start_protected(), MariaDb::start_protected()) else {
        return;
    };
    let moto = Moto::start();
    let (env, primary, old_imds, mut shipper) = shipping_primary(&moto, &old_db).await;
    // Acknowledged just before the warning: the seal waits until the shipper has stored them.
    insert(&old_db.root_dsn(""), 1001..=1500);
    let handled = env.handle(&moto, "warning.json", &env.warning(&primary, "warning-00001"), None).json();
    assert_eq!(handled["next"]["handoff"], "started", "{handled:#}");
    let standby =
        env.instances().await.into_iter().find(|(_, role, _)| role == "standby").expect("a standby").0;
    let new_imds =
        imds(&standby, "ap-northeast-1c", &[("spotctl:role", "standby"), ("spotctl:handoff", "epoch-1")]);
    env.give_addresses(&standby, &new_imds).await;
    let waiting = env.watch_once(&moto, &new_imds, &new_db.root_dsn(""), None).json();
    assert_eq!(waiting["decision"]["next"]["action"], "wait_for_manifest", "{waiting:#}");

    old_imds.update(|m| m.instance_action = Some(NOTICE.into()));
    let sealed = env.watch_once(&moto, &old_imds, &old_db.root_dsn(""), None).json();
    assert_eq!(sealed["did"]["kind"], "sealed", "{sealed:#}");
    let mut c = mysql::Conn::new(mysql::Opts::from_url(&old_db.root_dsn("")).expect("dsn")).expect("connect");
    let pos: String = mysql::prelude::Queryable::query_first(&mut c, "SELECT @@gtid_binlog_pos")
        .expect("pos")
        .unwrap_or_default();
    let read_only: Option<u8> =
        mysql::prelude::Queryable::query_first(&mut c, "SELECT @@read_only").expect("read_only");
    assert_eq!(read_only, Some(1), "fenced for good");
    let seal = env.object("backups/epoch-1/seal.json").await.expect("the seal");
    assert_eq!(
        (&seal["gtid"], &seal["epoch"], &seal["timeline"]),
        (&json!(pos), &json!(1), &json!(1)),
        "{seal:#}"
    );
    assert!(env.object("backups/epoch-1/manifest.json").await.is_none(), "no table was drained");
    let _ = shipper.kill();
    let _ = shipper.wait();

    let promoted = env.watch_once(&moto, &new_imds, &new_db.root_dsn(""), None).json();
    assert_eq!(
        promoted["decision"]["next"]["detail"]["from"],
        json!({"from": "sealed", "backup": "epoch-1"}),
        "{promoted:#}"
    );
    let did = &promoted["did"];
    assert_eq!(did["kind"], "restored", "{promoted:#}");
    assert_eq!(did["promotion"]["epoch"], 2, "{promoted:#}");
    assert!(did["restored"]["replayed"].as_u64().is_some_and(|n| n >= 500), "{promoted:#}");
    assert_eq!(count(&new_db.root_dsn("")), 1500, "every acknowledged commit");
    let retired = env.watch_once(&moto, &old_imds, &old_db.root_dsn(""), None).json();
    assert_eq!(retired["did"]["kind"], "retired", "{retired:#}");
    let status = env.run(&moto, &["status", &env.dir], None);
    assert!(
        status.stdout.contains("drain sealed: backups/epoch-1/seal.json"),
        "{}{}",
        status.stdout,
        status.stderr
    );
    let allowed = support::permissions::check(&moto, &env.aws, &env.name, support::handoff::REGION).await;
    println!("requests AWS would allow, by role: {allowed:?}");
}

/// `spotctl recover --to-time T`: the plan is shown, the primary drains (the fence: no second
/// writer; sealed, as the log is shipped), a standby recovers the shipped log up to T and is
/// promoted — every commit before that second, none after; the shipped log keeps the rest. Bad
/// input exits 2 and starts nothing.
#[tokio::test(flavor = "multi_thread")]
async fn recover_to_a_point_in_time_keeps_every_commit_before_that_second_and_none_after() {
    let (Some(old_db), Some(new_db)) = (MariaDb::start_protected(), MariaDb::start_protected()) else {
        return;
    };
    let moto = Moto::start();
    let (env, _, old_imds, mut shipper) = shipping_primary(&moto, &old_db).await;
    insert(&old_db.root_dsn(""), 1001..=1200);
    // T: a whole second after the last of those; the next ones commit at or after it.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    let t = now.as_secs() + 2;
    std::thread::sleep(std::time::Duration::from_secs(t) + std::time::Duration::from_millis(300) - now);
    insert(&old_db.root_dsn(""), 1201..=1300);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let at = spotctl_core::time::rfc3339(t as i64);

    // Bad input: before the oldest base, or in the future, or no answer to the question.
    let early =
        env.run(&moto, &["recover", &env.dir, "--to-time", "2020-01-01T00:00:00Z", "--auto-approve"], None);
    assert_eq!(early.code, Some(2), "{}{}", early.stdout, early.stderr);
    assert!(early.stderr.contains("before the oldest base backup"), "{}", early.stderr);
    let later =
        env.run(&moto, &["recover", &env.dir, "--to-time", "2999-01-01T00:00:00Z", "--auto-approve"], None);
    assert_eq!(later.code, Some(2), "{}", later.stderr);
    let asked = env.run(&moto, &["recover", &env.dir, "--to-time", &at], None);
    assert_eq!(asked.code, Some(2), "no terminal, no --auto-approve: {}", asked.stderr);
    assert!(asked.stdout.contains("move the primary"), "the plan is shown first: {}", asked.stdout);
    assert_eq!(env.instances().await.len(), 1, "nothing was started");

    let ran = env.run(&moto, &["recover", &env.dir, "--to-time", &at, "--auto-approve"], None);
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    let standby =
        env.instances().await.into_iter().find(|(_, role, _)| role == "standby").expect("a standby").0;
    let new_imds =
        imds(&standby, "ap-northeast-1c", &[("spotctl:role", "standby"), ("spotctl:handoff", "epoch-1")]);
    env.give_addresses(&standby, &new_imds).await;
    let waiting = env.watch_once(&moto, &new_imds, &new_db.root_dsn(""), None).json();
    assert_eq!(waiting["decision"]["next"]["action"], "wait_for_manifest", "the fence first: {waiting:#}");
    // The primary reads its drain tag (as instance metadata shows it) and drains: writes stop.
    old_imds.update(|m| {
        m.tags.insert("spotctl:drain".into(), "epoch-1".into());
    });
    // The log is shipped and has a base: the drain is sealed (the log keeps everything).
    let drained = env.watch_once(&moto, &old_imds, &old_db.root_dsn(""), None).json();
    assert_eq!(drained["did"]["kind"], "sealed", "{drained:#}");
    assert!(env.object("backups/epoch-1/seal.json").await.is_some(), "{drained:#}");
    let _ = shipper.kill();
    let _ = shipper.wait();

    let promoted = env.watch_once(&moto, &new_imds, &new_db.root_dsn(""), None).json();
    assert_eq!(promoted["did"]["kind"], "restored", "{promoted:#}");
    assert_eq!(promoted["did"]["promotion"]["epoch"], 2, "{promoted:#}");
    assert_eq!(count(&new_db.root_dsn("")), 1200, "every commit before {at}, none after");
    let h = env.object("state/handoffs/epoch-1.json").await.expect("the handoff");
    assert_eq!((&h["cause"], &h["until_unix"]), (&json!("point_in_time"), &json!(t)), "{h:#}");
}
