//! The handoff end to end, with real parts: moto; two real MariaDB servers standing for the old
//! and the new instance; an IMDSv2 stand-in for each; the handler run through `spotctl handle`.
//! Rows are seeded, the warning is delivered 20 times at once, one standby is launched, the old
//! agent drains, the standby's agent restores, verifies and promotes, the old one retires, and
//! exactly one primary remains with every row.

mod support;

use mysql::prelude::Queryable;
use serde_json::{json, Value};
use spotctl_aws::sdk::Aws;
use spotctl_testkit::imds::{ImdsServer, InstanceMetadata};
use spotctl_testkit::mariadb::MariaDb;
use spotctl_testkit::moto::Moto;
use support::{path_str, spotctl, stderr, stdout, temp_env, TempEnv};

const BUCKET: &str = "spotctl-dev-123456789012-ap-northeast-1";

fn watch_once(moto: &Moto, imds: &ImdsServer, mysql: &str) -> Value {
    let out = spotctl(moto)
        .env("SPOTCTL_IMDS_ENDPOINT", imds.endpoint())
        .env("SPOTCTL_ADVISOR_URL", "http://127.0.0.1:1/")
        .args([
            "agent",
            "watch",
            "--once",
            "--bucket",
            BUCKET,
            "--bucket-region",
            "ap-northeast-1",
            "--env",
            "dev",
        ])
        .args(["--mysql", mysql])
        .output()
        .expect("runs");
    assert!(out.status.success(), "watch: {}{}", stdout(&out), stderr(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

async fn db_instances(aws: &Aws) -> Vec<(String, String, String)> {
    let out = aws
        .ec2("ap-northeast-1")
        .describe_instances()
        .filters(aws_sdk_ec2::types::Filter::builder().name("tag:spotctl:env").values("dev").build())
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .build(),
        )
        .send()
        .await
        .expect("describe");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            let tag = |k: &str| {
                i.tags()
                    .iter()
                    .find(|t| t.key() == Some(k))
                    .and_then(|t| t.value())
                    .unwrap_or_default()
                    .to_string()
            };
            (i.instance_id().unwrap_or_default().to_string(), tag("spotctl:role"), tag("spotctl:handoff"))
        })
        .collect()
}

fn count(dsn: &str) -> i64 {
    let mut c = mysql::Conn::new(mysql::Opts::from_url(dsn).expect("dsn")).expect("connect");
    c.query_first("SELECT COUNT(*) FROM appdb.employees").expect("count").unwrap_or(-1)
}

/// `status` shows `step` with its UTC time and how long ago.
fn stamped(status: &str, step: &str) -> bool {
    status.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with(step) && l[step.len()..].starts_with(' ') && l.contains("Z (") && l.ends_with(" ago)")
    })
}

/// The spot interruption notice as IMDS shows it.
const NOTICE: &str = r#"{"action":"terminate","time":"2026-11-22T12:02:00Z"}"#;

/// Instance metadata of the old primary (in ap-northeast-1a).
fn old_primary_imds(id: &str) -> ImdsServer {
    ImdsServer::start(InstanceMetadata {
        instance_id: id.to_string(),
        region: "ap-northeast-1".into(),
        availability_zone: "ap-northeast-1a".into(),
        instance_type: "m5.large".into(),
        tags: [("spotctl:role".to_string(), "primary".to_string())].into(),
        ..Default::default()
    })
}

/// Instance metadata of the standby launched for handoff epoch-1.
fn standby_imds(id: &str) -> ImdsServer {
    ImdsServer::start(InstanceMetadata {
        instance_id: id.to_string(),
        region: "ap-northeast-1".into(),
        availability_zone: "ap-northeast-1c".into(),
        instance_type: "r5.large".into(),
        tags: [
            ("spotctl:role".to_string(), "standby".to_string()),
            ("spotctl:handoff".to_string(), "epoch-1".to_string()),
        ]
        .into(),
        ..Default::default()
    })
}

/// `envs/dev` applied to moto in one region, and the old instance's database as user-data would
/// have made it, with `rows` employees.
async fn applied_dev(moto: &Moto, old_db: &MariaDb, rows: usize) -> (TempEnv, String, Aws) {
    let env = temp_env("dev", |t| {
        let line = t.lines().find(|l| l.trim_start().starts_with("regions")).expect("regions").to_string();
        t.replace(&line, "regions = [\"ap-northeast-1\"]")
    });
    let dir = path_str(&env.dir);
    let out = spotctl(moto).args(["apply", &dir, "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "apply: {}{}", stdout(&out), stderr(&out));
    let aws = Aws::for_emulator(&moto.endpoint()).await;
    let mut c = mysql::Conn::new(mysql::Opts::from_url(&old_db.root_dsn("")).expect("dsn")).expect("connect");
    c.query_drop("CREATE DATABASE appdb").expect("db");
    c.query_drop(
        std::fs::read_to_string("envs/dev/schema.sql")
            .expect("schema")
            .replace("CREATE TABLE", "CREATE TABLE appdb."),
    )
    .ok();
    c.query_drop("CREATE TABLE IF NOT EXISTS appdb.employees (id INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, email VARCHAR(255) NOT NULL)")
        .expect("table");
    let values: Vec<String> = (1..=rows).map(|i| format!("({i}, 'name{i}', 'e{i}@example.com')")).collect();
    c.query_drop(format!("INSERT INTO appdb.employees VALUES {}", values.join(","))).expect("seed");
    (env, dir, aws)
}

#[tokio::test(flavor = "multi_thread")]
async fn interruption_hands_off_to_exactly_one_verified_primary() {
    let (Some(old_db), Some(new_db)) = (MariaDb::start(), MariaDb::start()) else { return };
    let moto = Moto::start();
    let (env, dir, aws) = applied_dev(&moto, &old_db, 5000).await;

    let before = db_instances(&aws).await;
    assert_eq!(before.len(), 1, "{before:?}");
    let primary = before[0].0.clone();
    let old_imds = old_primary_imds(&primary);
    let serving = watch_once(&moto, &old_imds, &old_db.root_dsn(""));
    assert_eq!(
        (&serving["did"]["kind"], &serving["decision"]["next"]["action"]),
        (&json!("nothing"), &json!("serve")),
        "{serving:#}"
    );

    // The warning, delivered 20 times at once (EventBridge may deliver twice; IMDS and EventBridge
    // race; a late copy may come after the handoff): one handoff, one standby.
    let event = std::fs::read_to_string("tests/events/seed-interruption.json")
        .expect("seed event")
        .replace("i-0abcd1234efgh5678", &primary)
        .replace("us-west-2", "ap-northeast-1");
    let children: Vec<_> = (0..20)
        .map(|i| {
            let f = env.root.join(format!("event-{i}.json"));
            std::fs::write(&f, event.replace("EXAMPLE11111", &format!("EXAMPLE{i:05}"))).expect("event file");
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_spotctl"));
            cmd.envs(moto.env()).env("SPOTCTL_ADVISOR_URL", "http://127.0.0.1:1/").args([
                "handle",
                &dir,
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
    let after = db_instances(&aws).await;
    let standbys: Vec<_> = after.iter().filter(|(_, role, _)| role == "standby").collect();
    assert_eq!(standbys.len(), 1, "{after:?}");
    assert_eq!(standbys[0].2, "epoch-1");
    let standby = standbys[0].0.clone();

    // The standby waits; the old agent sees the notice and drains.
    let new_imds = standby_imds(&standby);
    let waiting = watch_once(&moto, &new_imds, &new_db.root_dsn(""));
    assert_eq!(waiting["decision"]["next"]["action"], "wait_for_manifest", "{waiting:#}");
    old_imds.update(|m| m.instance_action = Some(NOTICE.into()));
    let drained = watch_once(&moto, &old_imds, &old_db.root_dsn(""));
    let d = &drained["did"];
    assert_eq!(d["kind"], "drained", "{drained:#}");
    assert_eq!(
        (&d["drained"]["tables"], &d["drained"]["tables_as_files"], &d["drained"]["rows"]),
        (&json!(1), &json!(1), &json!(5000)),
        "{drained:#}"
    );

    // The standby restores, verifies and promotes: epoch 2, writes allowed, tagged primary.
    let promoted = watch_once(&moto, &new_imds, &new_db.root_dsn(""));
    let did = &promoted["did"];
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
    let retired = watch_once(&moto, &old_imds, &old_db.root_dsn(""));
    assert_eq!(retired["did"]["kind"], "retired", "{retired:#}");
    let late = env.root.join("late.json");
    std::fs::write(&late, event.replace("EXAMPLE11111", "LATE00000")).expect("late event");
    let out = spotctl(&moto).args(["handle", &dir, "--event", &path_str(&late)]).output().expect("runs");
    assert!(stdout(&out).contains("not the primary"), "{}{}", stdout(&out), stderr(&out));
    let end = db_instances(&aws).await;
    let primaries: Vec<_> = end.iter().filter(|(_, role, _)| role == "primary").collect();
    assert_eq!(primaries.len(), 1, "exactly one primary: {end:?}");
    assert_eq!(primaries[0].0, standby);

    let out = spotctl(&moto).args(["status", &dir]).output().expect("runs");
    let text = stdout(&out);
    assert!(text.contains(&format!("primary: {standby}")), "{text}{}", stderr(&out));
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
        "OldRetired",
    ] {
        assert!(stamped(&text, step), "status lacks {step}: {text}");
    }
}

/// A standby that cannot verify what it restored (a chunk altered after the drain) never
/// promotes: the primary record stays at epoch 1, the standby is not tagged primary, and the
/// handoff record says why, which backup is the fallback and the data-loss window.
#[tokio::test(flavor = "multi_thread")]
async fn a_standby_that_cannot_verify_refuses_and_reports_the_fallback() {
    let (Some(old_db), Some(new_db)) = (MariaDb::start(), MariaDb::start()) else { return };
    let moto = Moto::start();
    let (env, dir, aws) = applied_dev(&moto, &old_db, 2000).await;

    let primary = db_instances(&aws).await[0].0.clone();
    let event = std::fs::read_to_string("tests/events/seed-interruption.json")
        .expect("seed event")
        .replace("i-0abcd1234efgh5678", &primary)
        .replace("us-west-2", "ap-northeast-1");
    let f = env.root.join("event.json");
    std::fs::write(&f, event).expect("event file");
    let out = spotctl(&moto)
        .env("SPOTCTL_ADVISOR_URL", "http://127.0.0.1:1/")
        .args(["handle", &dir, "--event", &path_str(&f)])
        .output()
        .expect("runs");
    assert!(stdout(&out).contains("started"), "{}{}", stdout(&out), stderr(&out));
    let standby =
        db_instances(&aws).await.into_iter().find(|(_, role, _)| role == "standby").expect("standby").0;

    let old_imds = old_primary_imds(&primary);
    old_imds.update(|m| m.instance_action = Some(NOTICE.into()));
    let drained = watch_once(&moto, &old_imds, &old_db.root_dsn(""));
    assert_eq!(drained["did"]["kind"], "drained", "{drained:#}");

    // Alter one stored chunk after the manifest was written.
    let s3 = aws.s3("ap-northeast-1", "123456789012");
    let listed = s3.list_objects_v2().bucket(BUCKET).prefix("backups/epoch-1/").send().await.expect("list");
    let chunk = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|k| !k.ends_with("manifest.json"))
        .expect("a chunk")
        .to_string();
    s3.put_object()
        .bucket(BUCKET)
        .key(&chunk)
        .body(b"not what was drained".to_vec().into())
        .send()
        .await
        .expect("tamper");

    let new_imds = standby_imds(&standby);
    let refused = watch_once(&moto, &new_imds, &new_db.root_dsn(""));
    assert_eq!(refused["did"]["kind"], "refused", "{refused:#}");
    let did = refused["did"]["note"].as_str().unwrap_or_default().to_string();
    assert!(did.starts_with("refused to promote"), "{did}");
    assert!(did.contains("the complete backup of epoch-1 is the fallback (data-loss window 0 s)"), "{did}");
    let roles = db_instances(&aws).await;
    assert!(
        roles.iter().any(|(id, role, _)| *id == primary && role == "primary")
            && !roles.iter().any(|(id, role, _)| *id == standby && role == "primary"),
        "the standby must not become primary: {roles:?}"
    );
    let out = spotctl(&moto).args(["status", &dir]).output().expect("runs");
    let text = stdout(&out);
    assert!(text.contains(&format!("primary: {primary}")) && text.contains("epoch 1"), "{text}");
    assert!(stamped(&text, "Failed"), "{text}");
    assert!(text.contains("failed: refused to promote"), "{text}");
}
