//! A primary that cannot serve, with real parts: moto, two real MariaDB servers, the IMDSv2
//! stand-in, the handler run through `spotctl handle`. The primary's MariaDB is killed while its
//! instance runs on; its agent reports that the server does not answer; a watchdog look before
//! `[health] unhealthy_after` does nothing; the one after it has the control plane terminate the
//! old instance and see it `terminated` (`OldFenced`) before anything reads the log's end, and
//! the standby recovers the shipped log. Nothing acknowledged before the stated window is missing.

mod support;

use serde_json::json;
use spotctl_testkit::mariadb::MariaDb;
use spotctl_testkit::moto::Moto;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::handoff::{count, imds, insert, scheduled, shipping_primary_of, state_change, Env};

/// The threshold this env sets (the smallest valid one).
const UNHEALTHY_AFTER: &str = "[health]\nunhealthy_after = \"30s\"\n";

fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis()).expect("ms")
}

/// EC2's view of `id`'s state.
async fn state_of(env: &Env, id: &str) -> String {
    let i = env.instance(id).await.expect("the instance");
    i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_whose_server_dies_while_its_instance_runs_is_fenced_by_ec2_then_recovered_from_the_log() {
    let (Some(mut old_db), Some(new_db)) = (MariaDb::start_protected(), MariaDb::start_protected()) else {
        return;
    };
    let moto = Moto::start();
    let env = Env::applied_with(&moto, "sick", &old_db, 1000, UNHEALTHY_AFTER).await;
    let (env, primary, old_imds, mut shipper) = shipping_primary_of(env, &moto, &old_db).await;
    let healthy = env.health_report(&primary).await.expect("the serving agent reported its server's health");
    assert_eq!(healthy["checks"]["answers"], true, "{healthy:#}");

    insert(&old_db.root_dsn(""), 1001..=1500);
    let acknowledged_at_ms = now_ms();
    // Well past the shipper's half-second: every acknowledged commit is stored. Then MariaDB dies;
    // the instance, its agent and its shipper run on.
    std::thread::sleep(Duration::from_secs(3));
    let killed_at_ms = now_ms();
    old_db.kill();
    let look = env.watch_once(&moto, &old_imds, &old_db.root_dsn(""), None);
    assert!(!look.ok, "the agent cannot serve a dead server: {}{}", look.stdout, look.stderr);
    let sick = env.health_report(&primary).await.expect("a report");
    assert_eq!(sick["checks"]["answers"], false, "the report says the server does not answer: {sick:#}");
    let healthy_at = sick["healthy_at_ms"].as_u64().expect("when it was last healthy");

    // Before the threshold the watchdog does nothing, and `status` says what comes next.
    let early = env.handle(&moto, "tick-1.json", &scheduled(&env.name, "watchdog", "tick-1"), None).json();
    assert_eq!(early["next"]["handoff"], "ignored", "{early:#}");
    assert!(env.object("state/handoffs/epoch-1.json").await.is_none(), "no handoff on a short blip");
    let status = env.run(&moto, &["status", &env.dir], None);
    assert!(
        status.stdout.contains("NOT SERVING")
            && status.stdout.contains("the watchdog replaces it after 30 s"),
        "{}{}",
        status.stdout,
        status.stderr
    );

    // Past it: the control plane fences the old instance through EC2, and only then recovers.
    let wait = (healthy_at + 31_000).saturating_sub(now_ms());
    std::thread::sleep(Duration::from_millis(wait));
    let handled = env.handle(&moto, "tick-2.json", &scheduled(&env.name, "watchdog", "tick-2"), None).json();
    assert_eq!(handled["next"]["handoff"], "started", "{handled:#}");
    let h = env.object("state/handoffs/epoch-1.json").await.expect("the replacement's record");
    assert_eq!((&h["cause"], &h["from_log"]), (&json!("recovery"), &json!(true)), "{h:#}");
    assert!(h["steps"]["old_fenced"].is_null(), "not fenced until EC2 says so: {h:#}");
    assert_eq!(state_of(&env, &primary).await, "terminated", "the control plane terminated the old instance");
    let window_s = h["data_loss_window_s"].as_i64().expect("the stated window");

    let standby =
        env.instances().await.into_iter().find(|(_, role, _)| role == "standby").expect("a standby").0;
    let new_imds =
        imds(&standby, "ap-northeast-1c", &[("spotctl:role", "standby"), ("spotctl:handoff", "epoch-1")]);
    env.give_addresses(&standby, &new_imds).await;
    // The standby reads nothing of the log until the fence is recorded.
    let waits = env.watch_once(&moto, &new_imds, &new_db.root_dsn(""), None).json();
    assert!(waits.to_string().contains("wait_for_fence"), "{waits:#}");
    let record = env.object("state/primary.json").await.expect("record");
    assert_eq!((&record["epoch"], &record["instance_id"]), (&json!(1), &json!(primary)), "not moved");
    // EC2's state change reaches the handler: the fence is recorded.
    let fenced = env.handle(&moto, "gone.json", &state_change(&primary, "terminated"), None);
    assert!(fenced.ok, "{}{}", fenced.stdout, fenced.stderr);
    let h = env.object("state/handoffs/epoch-1.json").await.expect("the replacement's record");
    assert!(h["steps"]["old_fenced"].as_i64().is_some(), "the fence is recorded: {h:#}");
    let promoted = env.watch_once(&moto, &new_imds, &new_db.root_dsn(""), None).json();
    assert_eq!(promoted["did"]["kind"], "restored", "{promoted:#}");
    assert_eq!(promoted["did"]["promotion"]["epoch"], 2, "{promoted:#}");
    // The promise: nothing acknowledged more than the stated window before the kill is missing.
    // Every row here was acknowledged 3 s before it, and the shipper had stored them all.
    let rows = count(&new_db.root_dsn(""));
    let before_kill_s = (killed_at_ms - acknowledged_at_ms) / 1000;
    println!(
        "stated window {window_s} s; {rows} of 1500 rows, acknowledged {before_kill_s} s before the kill"
    );
    assert!(window_s >= 0, "{h:#}");
    assert_eq!(rows, 1500, "every acknowledged commit");
    let status = env.run(&moto, &["status", &env.dir], None);
    assert!(status.stdout.contains("OldFenced"), "{}", status.stdout);
    let _ = shipper.kill();
    let _ = shipper.wait();
    let allowed = support::permissions::check(&moto, &env.aws, &env.name, support::handoff::REGION).await;
    println!("requests AWS would allow, by role: {allowed:?}");
}
