//! A crash half-way through apply loses nothing and orphans nothing: the process is killed while
//! it creates resources, the next plan shows exactly what is left, the dead run's lock is
//! reported with its holder and broken explicitly, and the next apply converges.

mod support;

use spotctl_testkit::moto::Moto;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use support::{path_str, spotctl, stderr, stdout, temp_env};

#[test]
fn killed_apply_converges_on_the_next_run() {
    let moto = Moto::start();
    let env = temp_env("dev", |t| t);
    let dir = path_str(&env.dir);

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_spotctl"));
    cmd.envs(moto.env()).env("SPOTCTL_ADVISOR_URL", "http://127.0.0.1:1/").args([
        "apply",
        &dir,
        "--auto-approve",
    ]);
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("apply starts");
    let mut seen = Vec::new();
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            seen.push(line.clone());
            // Kill it the moment the first security group exists: IAM and S3 are done, the rest not.
            if line.contains("+   security_group") {
                child.kill().expect("kill");
                break;
            }
        }
    }
    let _ = child.wait();
    assert!(seen.iter().any(|l| l.contains("+   security_group")), "apply never got that far: {seen:#?}");

    let out = spotctl(&moto).args(["plan", &dir, "--detailed-exitcode"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    let left = stdout(&out);
    assert!(!left.contains("bucket spotctl-dev"), "the bucket was made before the crash: {left}");
    assert!(left.contains("+   lambda_function"), "{left}");
    assert!(!left.contains("  -   "), "nothing should be deleted after a crash: {left}");

    let out = spotctl(&moto).args(["apply", &dir, "--auto-approve"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("locked by"), "{}", stderr(&out));
    assert!(stderr(&out).contains("`apply`"), "the message names the dead run's command: {}", stderr(&out));

    let out = spotctl(&moto).args(["apply", &dir, "--auto-approve", "--break-lock"]).output().expect("runs");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("broke the lock held by"), "{}", stderr(&out));

    let out = spotctl(&moto).args(["plan", &dir, "--detailed-exitcode"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let out = spotctl(&moto).args(["destroy", &dir, "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}
