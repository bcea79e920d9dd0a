//! `ExpectedBucketOwner` on every S3 call: the state bucket's name is predictable
//! (`spotctl-<env>-<account>-<region>`), so a bucket of that name in another account (made after a
//! `destroy`, or before the first `apply`) must never receive a backup or hand us a record. S3
//! refuses a request whose bucket belongs to another account with 403 when the header is set.
//!
//! One interceptor on the client rather than a call-site argument, so no call can forget it.
//! `CreateBucket` and `ListBuckets` take no owner (the first is refused if the name is taken).

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

pub const HEADER: &str = "x-amz-expected-bucket-owner";

/// Operations that take no expected owner.
const WITHOUT_OWNER: [&str; 2] = ["CreateBucket", "ListBuckets"];

#[derive(Debug, Clone)]
pub struct ExpectedOwner(pub String);

impl Intercept for ExpectedOwner {
    fn name(&self) -> &'static str {
        "spotctl::ExpectedOwner"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg.load::<Metadata>().map(|m| m.name().to_string()).unwrap_or_default();
        if !self.0.is_empty() && !WITHOUT_OWNER.contains(&op.as_str()) {
            context.request_mut().headers_mut().insert(HEADER, self.0.clone());
        }
        Ok(())
    }
}
