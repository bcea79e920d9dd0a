//! Lambda mode: when `AWS_LAMBDA_RUNTIME_API` is set, the binary is the handler (`bootstrap`).
//! A failed action fails the invocation with an error that says whether a retry can help, so
//! EventBridge's asynchronous retries (and the watchdog) try again.

use crate::exit::Outcome;
use anyhow::{Context, Result};
use lambda_runtime::{service_fn, LambdaEvent};
use spotctl_aws::handler::Handler;
use spotctl_aws::sdk::Aws;
use spotctl_aws::state::S3Store;
use spotctl_core::names::Names;
use std::sync::Arc;

fn var(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("the function has no {name} variable; run `spotctl apply`"))
}

pub fn run() -> Result<Outcome> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).without_time().init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let (env, bucket, home) = (var("SPOTCTL_ENV")?, var("SPOTCTL_BUCKET")?, var("SPOTCTL_HOME_REGION")?);
        let aws = Aws::load().await;
        let handler = Arc::new(tokio::sync::OnceCell::<Handler>::new());
        lambda_runtime::run(service_fn(move |ev: LambdaEvent<serde_json::Value>| {
            let (handler, aws, env, bucket, home) =
                (handler.clone(), aws.clone(), env.clone(), bucket.clone(), home.clone());
            async move {
                // The account is the one the function runs in: the fifth field of its ARN.
                let account =
                    ev.context.invoked_function_arn.split(':').nth(4).unwrap_or_default().to_string();
                let h = handler
                    .get_or_init(|| async {
                        let store = Arc::new(S3Store::new(aws.s3(&home, &account), bucket));
                        Handler::on_aws(aws, Names::new(&env, &account, &home), store)
                    })
                    .await;
                let raw = serde_json::to_vec(&ev.payload)?;
                let outcome = h.handle(&raw).await?;
                tracing::info!(outcome = ?outcome, "handled");
                Ok::<_, lambda_runtime::Error>(serde_json::to_value(outcome)?)
            }
        }))
        .await
        .map_err(|e| anyhow::anyhow!("the Lambda runtime stopped: {e}"))?;
        Ok(Outcome::Ok)
    })
}
