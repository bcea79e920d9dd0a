//! The on-instance watcher against an IMDSv2 stand-in and moto: what it sees and what the handoff
//! protocol decides, for the primary (serve; drain on the notice or on its drain tag) and for a
//! standby (wait for the backup manifest). Every metadata read carries a session token.

mod support;

use serde_json::Value;
use spotctl_testkit::imds::{ImdsServer, InstanceMetadata};
use spotctl_testkit::moto::Moto;
use support::{path_str, spotctl, stderr, stdout, temp_env};

fn watch_once(moto: &Moto, imds: &ImdsServer, bucket: &str) -> Value {
    let out = spotctl(moto)
        .env("SPOTCTL_IMDS_ENDPOINT", imds.endpoint())
        .args([
            "agent",
            "watch",
            "--once",
            "--bucket",
            bucket,
            "--bucket-region",
            "ap-northeast-1",
            "--env",
            "dev",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success(), "watch: {}{}", stdout(&out), stderr(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn the_watcher_decides_from_imds_and_the_primary_record() {
    let moto = Moto::start();
    let env = temp_env("dev", |t| {
        let line = t.lines().find(|l| l.trim_start().starts_with("regions")).expect("regions").to_string();
        t.replace(&line, "regions = [\"ap-northeast-1\"]")
    });
    let out = spotctl(&moto).args(["apply", &path_str(&env.dir), "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "apply: {}{}", stdout(&out), stderr(&out));
    let bucket = "spotctl-dev-123456789012-ap-northeast-1";

    let first = watch_once(&moto, &ImdsServer::start(InstanceMetadata::default()), bucket);
    let primary = first["primary"]["instance_id"].as_str().expect("a primary is recorded").to_string();

    let imds = ImdsServer::start(InstanceMetadata {
        instance_id: primary.clone(),
        region: "ap-northeast-1".into(),
        tags: [("spotctl:role".to_string(), "primary".to_string())].into(),
        ..Default::default()
    });
    assert_eq!(watch_once(&moto, &imds, bucket)["decision"], "Serve");

    imds.update(|m| {
        m.tags.insert("spotctl:drain".into(), "epoch-1".into());
    });
    assert_eq!(watch_once(&moto, &imds, bucket)["decision"], "Drain { id: \"epoch-1\" }");

    imds.update(|m| {
        m.tags.remove("spotctl:drain");
        m.instance_action = Some(r#"{"action":"terminate","time":"2026-11-22T12:00:00Z"}"#.into());
    });
    let seen = watch_once(&moto, &imds, bucket);
    assert_eq!(seen["interruption_notice"], true);
    assert_eq!(seen["decision"], "Drain { id: \"epoch-1\" }");

    let standby = ImdsServer::start(InstanceMetadata {
        instance_id: "i-standby".into(),
        tags: [
            ("spotctl:role".to_string(), "standby".to_string()),
            ("spotctl:handoff".to_string(), "epoch-1".to_string()),
        ]
        .into(),
        ..Default::default()
    });
    assert_eq!(watch_once(&moto, &standby, bucket)["decision"], "WaitForManifest");
    for server in [&imds, &standby] {
        assert_eq!(*server.unauthorized.lock().expect("lock"), 0, "an IMDS read went without a token");
    }
}
