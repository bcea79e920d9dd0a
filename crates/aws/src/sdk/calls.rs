//! Counts the AWS calls a command makes, by service and operation.
//!
//! An SDK interceptor sees every operation once it is over (retries included in one), so the count is exact and needs no
//! cooperation from the code that makes the calls. `-v` prints it and `--output json` includes it:
//! it is how we hold a no-op `plan` to at most one describe/list call per resource kind per region.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
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

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "spotctl::CallLog"
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
