//! Counts the AWS calls a command makes, by service and operation.
//!
//! An SDK interceptor sees every operation once it is over (retries included in one), so the count is exact and needs no
//! cooperation from the code that makes the calls. `-v` prints it and `--output json` includes it:
//! it is how we hold a no-op `plan` to at most one describe/list call per resource kind per region.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A shared tally of calls, keyed `service:Operation`.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

/// Fault injection for the end-to-end tests: `SPOTCTL_TEST_ABORT_AFTER_CALLS=N` kills the process
/// (SIGABRT, no cleanup, as a Lambda timeout or a reclaimed instance would) right after its N-th
/// AWS call completes, so a test can stop a run between any two of its calls.
fn abort_after() -> Option<u64> {
    static AFTER: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *AFTER.get_or_init(|| std::env::var("SPOTCTL_TEST_ABORT_AFTER_CALLS").ok().and_then(|v| v.parse().ok()))
}

impl CallLog {
    pub fn record(&self, service: &str, operation: &str) {
        let total = match self.counts.lock() {
            Ok(mut counts) => {
                *counts.entry(format!("{service}:{operation}")).or_insert(0) += 1;
                counts.values().sum::<u64>()
            }
            Err(_) => 0,
        };
        if abort_after().is_some_and(|n| total >= n) {
            eprintln!("spotctl: aborting after AWS call {total} ({service}:{operation}), as SPOTCTL_TEST_ABORT_AFTER_CALLS asks");
            std::process::abort();
        }
    }

    /// The counts so far, sorted by key.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }
}

/// For the end-to-end tests' permission check: `SPOTCTL_TEST_REQUEST_LOG=<dir>` (set by the test
/// kit's moto, never on an instance) appends every request sent (each attempt) to
/// `<dir>/<pid>.jsonl`: the service and operation, method, URI, the region of its signature, the
/// conditional headers, which command sent it (`SPOTCTL_TEST_REQUEST_LOG_AS` names the instance
/// whose credentials it stands for), and the body of EC2 and Route 53 requests (their parameters;
/// never an S3 object, never an SSM request but its parameter's name, so no secret is written).
fn request_log() -> Option<&'static std::path::Path> {
    static DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| std::env::var_os("SPOTCTL_TEST_REQUEST_LOG").map(Into::into)).as_deref()
}

fn log_request(
    dir: &std::path::Path,
    service: &str,
    operation: &str,
    req: &aws_smithy_runtime_api::http::Request,
) {
    let header = |k: &str| req.headers().get(k).map(String::from);
    // `Credential=<key id>/<date>/<region>/<service>/aws4_request`: only the region is kept.
    let region = header("authorization")
        .and_then(|a| a.split("Credential=").nth(1).and_then(|c| c.split('/').nth(2)).map(String::from));
    let body = req.body().bytes().and_then(|b| std::str::from_utf8(b).ok());
    let body = match service.to_ascii_lowercase().as_str() {
        "ec2" | "route 53" | "route53" => body.map(String::from),
        "ssm" => body
            .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
            .and_then(|v| v.get("Name").cloned())
            .map(|n| serde_json::json!({ "Name": n }).to_string()),
        _ => None,
    };
    let argv: Vec<String> = std::env::args().skip(1).take(2).collect();
    let line = serde_json::json!({
        "command": argv,
        "as_instance": std::env::var("SPOTCTL_TEST_REQUEST_LOG_AS").ok(),
        "service": service,
        "operation": operation,
        "method": req.method(),
        "uri": req.uri(),
        "region": region,
        "if_match": header("if-match").is_some(),
        "if_none_match": header("if-none-match").is_some(),
        "body": body,
    });
    // One write of the whole line, one writer at a time: concurrent requests of a process must
    // not interleave their lines.
    use std::io::Write;
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _held = ONE_AT_A_TIME.lock();
    let path = dir.join(format!("{}.jsonl", std::process::id()));
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "spotctl::CallLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(dir) = request_log() {
            let (service, operation) =
                cfg.load::<Metadata>().map(|m| (m.service(), m.name())).unwrap_or(("unknown", "unknown"));
            log_request(dir, service, operation, context.request());
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match cfg.load::<Metadata>() {
            Some(meta) => self.record(meta.service(), meta.name()),
            None => self.record("unknown", "unknown"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_key_and_total() {
        let log = CallLog::default();
        log.record("ec2", "DescribeInstances");
        log.record("ec2", "DescribeInstances");
        log.record("s3", "GetObject");
        let snap = log.snapshot();
        assert_eq!(snap.get("ec2:DescribeInstances"), Some(&2));
        assert_eq!(log.total(), 3);
    }
}
