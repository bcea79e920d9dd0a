//! The real binary as the Lambda handler: its `lambda_runtime` loop against a Runtime API
//! stand-in, with moto behind it. Events are recorded once; a duplicate delivery is recognised;
//! an event of another env is not acted on; a malformed event is an error that says retrying
//! cannot help.

mod support;

use spotctl_testkit::lambda_api::RuntimeApi;
use spotctl_testkit::moto::Moto;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{path_str, spotctl, stderr, stdout, temp_env};

#[test]
fn the_handler_runs_in_the_lambda_runtime_loop() {
    let moto = Moto::start();
    let env = temp_env("dev", |t| {
        let line = t.lines().find(|l| l.trim_start().starts_with("regions")).expect("regions").to_string();
        t.replace(&line, "regions = [\"ap-northeast-1\"]")
    });
    let out = spotctl(&moto).args(["apply", &path_str(&env.dir), "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "apply: {}{}", stdout(&out), stderr(&out));

    let api = RuntimeApi::start();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spotctl"))
        .envs(moto.env())
        .env("AWS_REGION", "ap-northeast-1")
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "spotctl-dev-handler")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("SPOTCTL_ENV", "dev")
        .env("SPOTCTL_BUCKET", "spotctl-dev-123456789012-ap-northeast-1")
        .env("SPOTCTL_HOME_REGION", "ap-northeast-1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the handler");

    let schedule = r#"{"version":"0","id":"sched-1","detail-type":"Scheduled Event","source":"aws.events",
        "account":"123456789012","time":"2026-11-22T00:00:00Z","region":"ap-northeast-1",
        "resources":["arn:aws:events:ap-northeast-1:123456789012:rule/spotctl-dev-relocation"],"detail":{}}"#;
    let stranger =
        schedule.replace("sched-1", "sched-2").replace("spotctl-dev-relocation", "someone-elses-rule");
    api.invoke("req-1", schedule);
    api.invoke("req-2", schedule);
    api.invoke("req-3", &stranger);
    api.invoke("req-4", "{\"not\": \"an event\"}");
    let answers = api.answers(4, Duration::from_secs(60));
    let _ = child.kill();
    let output = child.wait_with_output().expect("handler output");
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(answers.len(), 4, "answers: {answers:#?}\nhandler log:\n{log}");
    let by_id = |id: &str| answers.iter().find(|a| a.request_id == id).cloned().expect("answered");
    assert!(by_id("req-1").body.contains("\"handled\""), "{:?}", by_id("req-1"));
    assert!(by_id("req-2").body.contains("\"duplicate\""), "{:?}", by_id("req-2"));
    assert!(by_id("req-3").body.contains("\"not_ours\""), "{:?}", by_id("req-3"));
    let bad = by_id("req-4");
    assert!(bad.error, "{bad:?}");
    assert!(bad.body.contains("retryable: false"), "{bad:?}");
}

/// The advisor-refresh schedule fetches the feed and caches it in the state bucket, where every
/// later reader (score, the handler's ranking) finds it: nobody refreshes it by hand.
#[test]
fn the_daily_schedule_refreshes_the_advisor_cache() {
    let moto = Moto::start();
    let env = temp_env("dev", |t| {
        let line = t.lines().find(|l| l.trim_start().starts_with("regions")).expect("regions").to_string();
        t.replace(&line, "regions = [\"ap-northeast-1\"]")
    });
    let dir = path_str(&env.dir);
    let out = spotctl(&moto).args(["apply", &dir, "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "apply: {}{}", stdout(&out), stderr(&out));
    let feed = spotctl_testkit::http::StaticServer::start(
        std::fs::read("crates/core/data/spot-advisor-data.json")
            .expect("the advisor snapshot in the repository"),
    );
    let event = env.root.join("refresh.json");
    std::fs::write(
        &event,
        r#"{"version":"0","id":"refresh-1","detail-type":"Scheduled Event","source":"aws.events",
        "account":"123456789012","time":"2026-11-22T00:00:00Z","region":"ap-northeast-1",
        "resources":["arn:aws:events:ap-northeast-1:123456789012:rule/spotctl-dev-advisor-refresh"],"detail":{}}"#,
    )
    .expect("write event");
    let out = spotctl(&moto)
        .env("SPOTCTL_ADVISOR_URL", feed.url())
        .args(["handle", &dir, "--event", &path_str(&event)])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let said: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(said["next"]["action"], "advisor_refresh", "{said:#}");
    assert_eq!(said["next"]["source"]["kind"], "live", "{said:#}");
    assert_eq!(feed.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    // With the feed unreachable, score now reads the bucket's copy.
    let out = spotctl(&moto)
        .env("SPOTCTL_ADVISOR_URL", "http://127.0.0.1:1/gone")
        .env("XDG_CACHE_HOME", env.root.join("no-local-cache"))
        .args(["score", &dir, "--output", "json"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(j["sources"]["advisor"]["kind"], "cached", "{:#}", j["sources"]);
    assert!(j["sources"]["advisor"]["snapshot"].as_str().is_some_and(|s| s.starts_with("s3://")));
}
