//! Every env file in `tests/bad-envs/` is refused by the real binary with exit code 2, the exact
//! message in the case's `expected.txt`, and not one byte sent to AWS: the endpoint is a listener
//! that counts connections, and it must count none.

use assert_cmd::Command;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A TCP listener that counts the connections made to it (and answers none).
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

#[test]
fn every_bad_env_is_refused_before_any_aws_call() {
    let (endpoint, connections) = counting_endpoint();
    let mut cases: Vec<_> = std::fs::read_dir("tests/bad-envs")
        .expect("tests/bad-envs exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expected.txt").exists())
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "the corpus has only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let expected = std::fs::read_to_string(case.join("expected.txt")).expect("expected.txt");
        for command in [vec!["plan"], vec!["apply", "--auto-approve"], vec!["destroy", "--auto-approve"]] {
            let out = Command::cargo_bin("spotctl")
                .expect("binary")
                .args(&command)
                .arg(case)
                .env("AWS_ENDPOINT_URL", &endpoint)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_REGION", "us-east-1")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("SPOTCTL_ADVISOR_URL", &endpoint)
                .output()
                .expect("runs");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let ok = out.status.code() == Some(2) && stderr.contains(expected.trim_end());
            if !ok {
                failures.push(format!(
                    "{} ({}): exit {:?}\n--- expected (in stderr) ---\n{}\n--- stderr ---\n{}",
                    case.display(),
                    command.join(" "),
                    out.status.code(),
                    expected.trim_end(),
                    stderr
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(connections.load(Ordering::SeqCst), 0, "a bad env file caused a connection to AWS");
}
