//! `spotctl replay` through the real binary, on the synthetic traces of `tests/traces/` (the
//! measured ones are never read here): the JSON shape and its figures, the table, the common span,
//! and bad input refused with exit code 2 naming the file or the region. Not one connection is made
//! to AWS: the endpoint is a listener that counts connections.

use assert_cmd::Command;
use serde_json::Value;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const ENV: &str = "tests/traces/env";

fn counting_endpoint() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            c.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (format!("http://127.0.0.1:{port}"), count)
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn replay(args: &[&str]) -> Run {
    let (endpoint, connections) = counting_endpoint();
    let out = Command::cargo_bin("spotctl")
        .expect("binary")
        .arg("replay")
        .args(args)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SPOTCTL_ADVISOR_URL", &endpoint)
        .output()
        .expect("runs");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "replay {args:?} connected to AWS");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let run = replay(&all);
    assert_eq!(run.code, Some(0), "replay {args:?}: {}{}", run.stdout, run.stderr);
    serde_json::from_str(&run.stdout).expect("json")
}

fn policy<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["policies"].as_array().and_then(|p| p.iter().find(|p| p["name"] == name)).expect(name)
}

#[test]
fn fleet_json_has_every_policy_with_its_metrics() {
    let v = json(&["fleet", ENV, "--traces", "tests/traces/flapping"]);
    let names: Vec<&str> =
        v["policies"].as_array().expect("policies").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["spotctl", "naive", "primary-only", "oracle"]);
    assert_eq!(v["traces"]["steps"], 20);
    assert_eq!(v["traces"]["gap_seconds"], 60);
    assert_eq!(v["fleet"]["want"], 2);
    assert_eq!(v["fleet"]["failback"], "adaptive");
    let s = policy(&v, "spotctl");
    assert_eq!(s["served_fraction"], 0.45);
    assert_eq!(s["transitions_per_day"], 72.0);
    assert_eq!(s["fallback_worker_hours"], 0.483);
    assert_eq!(s["worker_hours_by_region"], serde_json::json!({"us-east-1": 0.333, "us-west-2": 0.483}));
    assert_eq!(policy(&v, "naive")["transitions_per_day"], 1368.0);
    assert_eq!(policy(&v, "oracle")["served_fraction"], 0.95);
    assert_eq!(policy(&v, "primary-only")["served_fraction"], 0.0);
    assert_eq!(v["goals"]["transitions_vs_naive"], 0.0526);
}

#[test]
fn the_text_is_a_table_and_says_what_was_replayed() {
    let run = replay(&["fleet", ENV, "--traces", "tests/traces/aligned"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let t = &run.stdout;
    assert!(
        t.contains(
            "aligned at their start (us-east-1 24, us-west-2 20): the replay covers the common 20 steps"
        ),
        "{t}"
    );
    assert!(t.contains("fleet gpu: 2 workers wanted in us-east-1, falling back to us-west-2"), "{t}");
    let spotctl = t.lines().find(|l| l.starts_with("spotctl ")).expect("a spotctl row");
    assert!(spotctl.contains("45.0 %") && spotctl.contains("72.00"), "{spotctl}");
    assert!(t.contains("goals of spotctl: served 47.4 % of oracle's (at least 98 %: MISSED)"), "{t}");
}

#[test]
fn placement_json_has_every_policy_with_its_metrics() {
    let v = json(&["placement", ENV, "--traces", "tests/traces/placement", "--handoff-seconds", "100"]);
    assert_eq!(v["placement"]["home_zone"], "us-east-1a");
    let s = policy(&v, "spotctl");
    assert_eq!(s["interruptions"], 2);
    assert_eq!(s["handoffs"], 2);
    assert_eq!(s["downtime_s"], 200);
    assert_eq!(
        s["seconds_by_zone"],
        serde_json::json!({"us-east-1a": 60, "us-east-1b": 60, "us-west-2a": 600})
    );
    assert_eq!(policy(&v, "stay")["interruptions"], 6);
    assert_eq!(policy(&v, "naive")["interruptions"], 3);
    assert_eq!(policy(&v, "oracle")["interruptions"], 1);
    assert_eq!(v["goals"]["met"], true);
    let run = replay(&["placement", ENV, "--traces", "tests/traces/placement"]);
    assert!(run.stdout.contains("handoff 120 s"), "{}", run.stdout);
}

#[test]
fn bad_traces_are_refused_naming_the_file_or_the_region() {
    let cases = [
        ("zero-gap", "us-east-1a_p3.json: gap_seconds is 0"),
        (
            "uneven-region",
            "us-east-1b_p3.json: 2 values, but us-east-1a_p3.json has 3 in the same region (us-east-1)",
        ),
        ("not-a-trace", "us-east-1a_p3.json: not a spot trace (missing field `data`"),
        ("no-fallback", "region us-west-2 (fallback region) has no trace file"),
    ];
    for (case, message) in cases {
        let dir = format!("tests/traces/{case}");
        let run = replay(&["fleet", ENV, "--traces", &dir]);
        assert_eq!(run.code, Some(2), "{case}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("cannot replay the traces in {dir}: {message}")),
            "{case}: {}",
            run.stderr
        );
    }
    let run = replay(&["placement", ENV, "--traces", "tests/traces/no-such-folder"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot read the traces folder tests/traces/no-such-folder"),
        "{}",
        run.stderr
    );
    let run = replay(&["fleet", ENV, "--traces", "tests/traces/flapping", "--fleet", "cpu"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("the env has no fleet named \"cpu\"; valid: one of gpu"), "{}", run.stderr);
}
