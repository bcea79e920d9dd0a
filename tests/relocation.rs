//! The planned relocation: the schedule finds the current placement no longer allowed (its type
//! was dropped from the env), launches a standby elsewhere and asks the old primary to drain through
//! its `spotctl:drain` tag. No FIS experiment and no interruption event are involved, so nothing can
//! loop (the original's failure). With nothing better, the schedule leaves the database alone.

mod support;

use spotctl_aws::sdk::Aws;
use spotctl_testkit::moto::Moto;
use support::{path_str, spotctl, stderr, stdout, temp_env};

const SCHEDULE: &str = r#"{"version":"0","id":"ID","detail-type":"Scheduled Event","source":"aws.events",
  "account":"123456789012","time":"2026-11-22T00:00:00Z","region":"ap-northeast-1",
  "resources":["arn:aws:events:ap-northeast-1:123456789012:rule/spotctl-dev-relocation"],"detail":{}}"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_schedule_relocates_through_the_drain_tag_not_fis() {
    let moto = Moto::start();
    let env = temp_env("dev", |t| {
        let line = t.lines().find(|l| l.trim_start().starts_with("regions")).expect("regions").to_string();
        t.replace(&line, "regions = [\"ap-northeast-1\"]")
    });
    let dir = path_str(&env.dir);
    let handle = |id: &str| {
        let f = env.root.join(format!("{id}.json"));
        std::fs::write(&f, SCHEDULE.replace("\"ID\"", &format!("\"{id}\""))).expect("event");
        let out = spotctl(&moto).args(["handle", &dir, "--event", &path_str(&f)]).output().expect("runs");
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).expect("JSON")
    };
    let out = spotctl(&moto).args(["apply", &dir, "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "apply: {}{}", stdout(&out), stderr(&out));
    let said = handle("check-1");
    assert_eq!(said["next"]["decision"], "stay", "the primary was placed at the best placement: {said:#}");

    // Drop the primary's type from the env: the next check must move it.
    let aws = Aws::for_emulator(&moto.endpoint()).await;
    let ec2 = aws.ec2("ap-northeast-1");
    let live = ec2
        .describe_instances()
        .filters(aws_sdk_ec2::types::Filter::builder().name("tag:spotctl:role").values("primary").build())
        .send()
        .await
        .expect("describe");
    let old = live.reservations()[0].instances()[0].clone();
    let old_type = old.instance_type().map(|t| t.as_str().to_string()).expect("type");
    let toml = env.dir.join("spotctl.toml");
    let text = std::fs::read_to_string(&toml).expect("env");
    std::fs::write(
        &toml,
        text.replace(&format!("\"{old_type}\", "), "").replace(&format!(", \"{old_type}\""), ""),
    )
    .expect("edit env");
    let out = spotctl(&moto).args(["apply", &dir, "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "apply: {}{}", stdout(&out), stderr(&out));
    assert!(
        !stdout(&out).contains("instance primary"),
        "apply must not move the database itself: {}",
        stdout(&out)
    );

    let said = handle("check-2");
    assert_eq!(said["next"]["decision"], "move", "{said:#}");
    assert_eq!(said["next"]["handoff"]["handoff"], "started", "{said:#}");
    let tagged = ec2
        .describe_instances()
        .instance_ids(old.instance_id().unwrap_or_default())
        .send()
        .await
        .expect("describe");
    let drain = tagged.reservations()[0].instances()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some("spotctl:drain"))
        .and_then(|t| t.value())
        .map(String::from);
    assert_eq!(drain.as_deref(), Some("epoch-1"), "the old primary is asked to drain by tag");
    let standby = ec2
        .describe_instances()
        .filters(aws_sdk_ec2::types::Filter::builder().name("tag:spotctl:role").values("standby").build())
        .send()
        .await
        .expect("describe");
    let s = &standby.reservations()[0].instances()[0];
    assert_ne!(
        s.instance_type().map(|t| t.as_str()),
        Some(old_type.as_str()),
        "the standby avoids the dropped type"
    );
    let experiments = aws.fis("ap-northeast-1").list_experiments().send().await.expect("list experiments");
    assert!(experiments.experiments().is_empty(), "relocation never goes through FIS");
    // A second check while the handoff runs does not start another.
    let said = handle("check-3");
    let ignored = said["next"]["handoff"]["reason"].as_str().unwrap_or_default();
    assert!(ignored.contains("is under way"), "{said:#}");
    let allowed = support::permissions::check(&moto, &aws, "dev", "ap-northeast-1").await;
    println!("requests AWS would allow, by role: {allowed:?}");
}
