//! Progress, not age, with real parts: moto, two real MariaDB servers, the IMDSv2 stand-in, the
//! real agent's watch loop (`spotctl agent watch`, with its timer that stamps a restore's progress)
//! and the handler's watchdog run through `spotctl handle` every few seconds. The standby's restore
//! is slowed on purpose (`SPOTCTL_TEST_RESTORE_PACE_MS`) until it lasts longer than the stall clock
//! (`SPOTCTL_TEST_STANDBY_STALL_S`, 30 minutes in production): the watchdog never takes the
//! standby for stuck, because its restore moves, and it promotes.

mod support;

use serde_json::json;
use spotctl_testkit::mariadb::MariaDb;
use spotctl_testkit::moto::Moto;
use std::time::{Duration, Instant};
use support::handoff::{count, imds, scheduled, Env, NOTICE};

/// The stall clock of this test: longer than the agent's stamps are apart (at most 40 s: every
/// 30 s, on a 10 s timer), shorter than the restore.
const STALL_S: i64 = 50;
/// Each step of the restore waits this long after it is counted.
const PACE_MS: u64 = 25_000;

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_longer_than_the_stall_clock_promotes_because_its_progress_is_stamped() {
    let (Some(old_db), Some(new_db)) = (MariaDb::start(), MariaDb::start()) else { return };
    let moto = Moto::start();
    let env = Env::applied(&moto, "slow", &old_db, 5000).await;
    let primary = env.instances().await[0].0.clone();
    let old_imds = imds(&primary, "ap-northeast-1a", &[("spotctl:role", "primary")]);
    let served = env.watch_once(&moto, &old_imds, &old_db.root_dsn(""), None).json();
    assert_eq!(served["did"]["kind"], "served", "{served:#}");
    let warned = env.handle(&moto, "warning.json", &env.warning(&primary, "warning-1"), None).json();
    assert_eq!(warned["next"]["handoff"], "started", "{warned:#}");
    let standby = warned["next"]["standby"].as_str().expect("the standby launched").to_string();
    old_imds.update(|m| m.instance_action = Some(NOTICE.into()));
    let drained = env.watch_once(&moto, &old_imds, &old_db.root_dsn(""), None).json();
    assert_eq!(drained["did"]["kind"], "drained", "{drained:#}");

    // The standby's agent, as user-data runs it, with its restore slowed.
    let new_imds =
        imds(&standby, "ap-northeast-1c", &[("spotctl:role", "standby"), ("spotctl:handoff", "epoch-1")]);
    env.give_addresses(&standby, &new_imds).await;
    let pace = PACE_MS.to_string();
    let _agent =
        env.watch(&moto, &new_imds, &new_db.root_dsn(""), &[("SPOTCTL_TEST_RESTORE_PACE_MS", &pace)]);

    // The watchdog looks every 5 s with the short stall clock, until the standby promotes.
    let started = Instant::now();
    let mut stamps = Vec::new();
    let mut looks = 0;
    loop {
        assert!(started.elapsed() < Duration::from_secs(600), "no promotion within 10 minutes");
        std::thread::sleep(Duration::from_secs(5));
        looks += 1;
        let tick = scheduled(&env.name, "watchdog", &format!("tick-{looks}"));
        let f = env.env.root.join("tick.json");
        std::fs::write(&f, tick).expect("event");
        let out = support::spotctl(&moto)
            .env("SPOTCTL_ADVISOR_URL", "http://127.0.0.1:1/")
            .env("SPOTCTL_TEST_STANDBY_STALL_S", STALL_S.to_string())
            .args(["handle", &env.dir, "--event", &support::path_str(&f)])
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}{}", support::stdout(&out), support::stderr(&out));
        let h = env.object("state/handoffs/epoch-1.json").await.expect("the handoff");
        assert_eq!(h["standby"]["instance_id"], json!(standby), "never superseded: {h:#}");
        assert_eq!(h["attempts"].as_u64().unwrap_or(0), 0, "no attempt spent on it: {h:#}");
        if let Some(steps) = h["progress"]["steps"].as_u64() {
            if stamps.last() != Some(&steps) {
                stamps.push(steps);
            }
        }
        let record = env.object("state/primary.json").await.expect("record");
        if record["epoch"] == 2 {
            assert_eq!(record["instance_id"], json!(standby), "{record:#}");
            let steps = &h["steps"];
            let took = steps["verified"].as_i64().expect("verified")
                - steps["restore_started"].as_i64().expect("began");
            println!(
                "restore took {took} s under a {STALL_S} s stall clock; {looks} watchdog looks; progress stamped {stamps:?}"
            );
            assert!(took > STALL_S, "the restore outlasted the stall clock ({took} s): {h:#}");
            assert!(stamps.len() >= 2, "its progress was stamped as it moved: {stamps:?}");
            break;
        }
    }
    let standbys: Vec<_> =
        env.instances().await.into_iter().filter(|(_, role, _)| role == "standby").collect();
    assert!(standbys.is_empty(), "no second standby was launched: {standbys:?}");
    assert_eq!(count(&new_db.root_dsn("")), 5000, "every row");
    let allowed = support::permissions::check(&moto, &env.aws, &env.name, support::handoff::REGION).await;
    println!("requests AWS would allow, by role: {allowed:?}");
}
