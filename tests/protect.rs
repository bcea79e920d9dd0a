//! The continuous-protection agent commands through the real binary, against moto S3 and real
//! MariaDB: `agent ship` runs beside a primary whose password comes from the environment,
//! `agent base-backup` takes a base while rows go in, the server and the shipper are killed at
//! once, and `agent recover` into a fresh server holds every acknowledged row. Bad input exits 2.

mod support;

use mysql::prelude::Queryable;
use serde_json::Value;
use spotctl_aws::sdk::Aws;
use spotctl_testkit::mariadb::MariaDb;
use spotctl_testkit::moto::Moto;
use std::io::BufRead;
use std::process::{Command, Stdio};
use support::{spotctl, stderr, stdout};

const BUCKET: &str = "protect-test";
const PASSWORD: &str = "s3cr@t: /pw";

fn conn(dsn: &str) -> mysql::Conn {
    mysql::Conn::new(mysql::Opts::from_url(dsn).expect("dsn")).expect("connect")
}

fn count(dsn: &str) -> u64 {
    conn(dsn).query_first("SELECT COUNT(*) FROM appdb.t").expect("count").unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn ship_base_backup_kill_and_recover_through_the_binary() {
    let (Some(mut db), Some(target)) = (MariaDb::start_protected(), MariaDb::start_protected()) else {
        return;
    };
    let moto = Moto::start();
    let aws = Aws::for_emulator(&moto.endpoint()).await;
    aws.s3("us-east-1", "123456789012").create_bucket().bucket(BUCKET).send().await.expect("bucket");
    let mut root = conn(&db.root_dsn(""));
    for sql in [
        "CREATE DATABASE appdb CHARACTER SET utf8mb4",
        "CREATE TABLE appdb.t (id INT PRIMARY KEY, v VARCHAR(50))",
        &format!("CREATE USER 'agent'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'"),
        "GRANT ALL PRIVILEGES ON *.* TO 'agent'@'127.0.0.1'",
    ] {
        root.query_drop(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let agent_dsn = format!("mysql://agent@127.0.0.1:{}/", db.port);
    let to = format!("s3://{BUCKET}/backups");

    let mut shipper = Command::new(assert_cmd::cargo::cargo_bin("spotctl"))
        .args(["agent", "ship", "--mysql", &agent_dsn, "--to", &to, "--stats-every", "1s"])
        .envs(moto.env())
        .env("SPOTCTL_MYSQL_PASSWORD", PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ship starts");
    let stats = std::io::BufReader::new(shipper.stdout.take().expect("stdout"));
    let insert = |from: u32, to: u32| {
        let mut c = conn(&db.root_dsn(""));
        for i in from..to {
            c.exec_drop("INSERT INTO appdb.t VALUES (?, 'x')", (i,)).expect("insert");
        }
    };
    insert(0, 200);
    let password_file = db.dir.join("pw");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("password file");
    let out = spotctl(&moto)
        .args(["agent", "base-backup", "--mysql", &agent_dsn, "--to", &to, "--retention", "7d"])
        .arg("--mysql-password-file")
        .arg(&password_file)
        .output()
        .expect("runs");
    assert!(out.status.success(), "base-backup: {}{}", stdout(&out), stderr(&out));
    let base: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(base["base"]["rows"].as_u64().is_some_and(|r| r >= 200), "{base:#}");
    assert!(!stdout(&out).contains(PASSWORD) && !stderr(&out).contains(PASSWORD));
    insert(200, 400);
    // The first stats line shows pieces stored; then both die at once, with no warning.
    let first: Value =
        serde_json::from_str(&stats.lines().next().expect("a stats line").expect("line")).expect("stats");
    assert!(first["requests"]["put"].as_u64().is_some_and(|p| p > 0), "{first}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let acknowledged = count(&db.root_dsn(""));
    db.kill();
    let _ = shipper.kill();
    let _ = shipper.wait();

    let out = spotctl(&moto)
        .args(["agent", "recover", "--mysql", &target.root_dsn(""), "--from", &to])
        .output()
        .expect("runs");
    assert!(out.status.success(), "recover: {}{}", stdout(&out), stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(count(&target.root_dsn("")), acknowledged, "{report:#}");
    assert_eq!(report["new_timeline"], 2);

    let out = spotctl(&moto)
        .args(["agent", "recover", "--mysql", &target.root_dsn(""), "--from", &to, "--until", "yesterday"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = spotctl(&moto)
        .args(["agent", "recover", "--mysql", "mysql://agent:inline@127.0.0.1:1/", "--from", &to])
        .env("SPOTCTL_MYSQL_PASSWORD", PASSWORD)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already has a password") && !stderr(&out).contains("inline"),
        "{}",
        stderr(&out)
    );
}
