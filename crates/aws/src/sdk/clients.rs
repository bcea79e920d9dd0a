//! One place that turns the standard AWS configuration into service clients.
//!
//! Credentials, `AWS_PROFILE`, `AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_<SERVICE>`)
//! all come from the SDK's own chain: spotctl adds no flags of its own. Two things are added here:
//! every client carries the call counter, and S3 uses path-style addressing whenever an endpoint is
//! set (emulators serve buckets on a path, not a subdomain).

use super::calls::CallLog;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Aws {
    sdk: SdkConfig,
    pub calls: CallLog,
}

macro_rules! regional_client {
    ($fn:ident, $krate:ident) => {
        pub fn $fn(&self, region: &str) -> $krate::Client {
            let conf = $krate::config::Builder::from(&self.sdk)
                .region(Region::new(region.to_string()))
                .interceptor(self.calls.clone())
                .build();
            $krate::Client::from_conf(conf)
        }
    };
}

impl Aws {
    /// Loads the standard configuration chain. Retries use the SDK's standard mode (throttling and
    /// transient errors back off and retry); every operation has a time limit so nothing hangs.
    pub async fn load() -> Aws {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(5))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .operation_timeout(Duration::from_secs(180))
                    .build(),
            )
            .load()
            .await;
        Aws { sdk, calls: CallLog::default() }
    }

    pub fn endpoint_url(&self) -> Option<&str> {
        self.sdk.endpoint_url()
    }

    regional_client!(ec2, aws_sdk_ec2);
    regional_client!(iam_in, aws_sdk_iam);
    regional_client!(events, aws_sdk_eventbridge);
    regional_client!(lambda, aws_sdk_lambda);
    regional_client!(fis, aws_sdk_fis);
    regional_client!(ssm, aws_sdk_ssm);
    regional_client!(sts, aws_sdk_sts);
    regional_client!(autoscaling, aws_sdk_autoscaling);
    regional_client!(sqs, aws_sdk_sqs);
    regional_client!(cloudwatch, aws_sdk_cloudwatch);
    regional_client!(route53_in, aws_sdk_route53);

    /// Route 53 is global; its endpoint lives in us-east-1.
    pub fn route53(&self) -> aws_sdk_route53::Client {
        self.route53_in("us-east-1")
    }
    regional_client!(logs, aws_sdk_cloudwatchlogs);

    /// IAM is global; its endpoint lives in us-east-1.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        self.iam_in("us-east-1")
    }

    /// An S3 client whose every call (but `CreateBucket`/`ListBuckets`) says the bucket must
    /// belong to `owner`, the account id (`sdk::owner`).
    pub fn s3(&self, region: &str, owner: &str) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .force_path_style(self.sdk.endpoint_url().is_some())
            .interceptor(self.calls.clone())
            .interceptor(super::owner::ExpectedOwner(owner.to_string()))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// The account id of the caller (one STS call).
    pub async fn account_id(&self, region: &str) -> Result<String, super::error::AwsError> {
        Ok(self.caller(region).await?.0)
    }

    /// The caller's account id and `aws:userid` (`<role id>:<session>` for a role's session, as
    /// an instance's role is: the session is the instance id), from one STS call that needs no
    /// permission. Whoever makes a key of the id checks it first ([`Aws::writer`]).
    pub async fn caller(&self, region: &str) -> Result<(String, String), super::error::AwsError> {
        use super::error::AwsError;
        let what = "asking STS who the caller is (are AWS credentials configured?)";
        let out = self.sts(region).get_caller_identity().send().await.map_err(|e| AwsError::of(what, &e))?;
        let account = out.account.ok_or_else(|| AwsError::other(what, "STS returned no account id"))?;
        let userid = out.user_id.filter(|u| !u.is_empty());
        let userid = userid.ok_or_else(|| AwsError::other(what, "STS returned no user id"))?;
        Ok((account, userid))
    }

    /// [`Aws::caller`], with the user id checked as a key segment by `usable` (the layout's rule).
    pub async fn writer(
        &self,
        region: &str,
        usable: impl Fn(&str) -> bool,
    ) -> Result<(String, String), super::error::AwsError> {
        let (account, userid) = self.caller(region).await?;
        match usable(&userid) {
            true => Ok((account, userid)),
            false => Err(super::error::AwsError::other(
                "asking STS who the caller is",
                format!("its user id {userid:?} cannot name a key of the bucket"),
            )),
        }
    }
}

impl Aws {
    /// A client set for an emulator at `endpoint` with fixed test credentials (used by the tests
    /// to look at what spotctl did, independently of spotctl's own discovery).
    pub async fn for_emulator(endpoint: &str) -> Aws {
        let creds = aws_sdk_sts::config::Credentials::new("testing", "testing", None, None, "spotctl-tests");
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .credentials_provider(creds)
            .region(Region::new("us-east-1"))
            .load()
            .await;
        Aws { sdk, calls: CallLog::default() }
    }
}
