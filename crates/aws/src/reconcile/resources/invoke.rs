//! The handler's asynchronous-invocation settings. EventBridge invokes the Lambda asynchronously:
//! a failed invocation is retried by Lambda itself (`max_retry_attempts`, while the event is
//! younger than `max_event_age_s`), then sent to the dead-letter queue (`on_failure`), which
//! `status` shows. One `GetFunctionEventInvokeConfig` call discovers it.

use super::Ctx;
use crate::sdk::error::is_not_found;
use anyhow::{Context, Result};
use aws_sdk_lambda::types::{DestinationConfig, OnFailure};
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};

pub async fn discover(ctx: &Ctx<'_>) -> Result<Vec<LiveResource>> {
    let name = ctx.names.function();
    let got = ctx.aws.lambda(ctx.home()).get_function_event_invoke_config().function_name(&name).send().await;
    let c = match got {
        Ok(c) => c,
        Err(e) if is_not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading the invoke settings of {name}")),
    };
    let on_failure = c
        .destination_config()
        .and_then(|d| d.on_failure())
        .and_then(|f| f.destination())
        .unwrap_or_default()
        .to_string();
    Ok(vec![LiveResource::new(Address::new(Kind::InvokeConfig, ctx.home(), &name), &name)
        .with("max_retry_attempts", c.maximum_retry_attempts().map(|n| n.to_string()).unwrap_or_default())
        .with("max_event_age_s", c.maximum_event_age_in_seconds().map(|n| n.to_string()).unwrap_or_default())
        .with("on_failure", on_failure)])
}

/// Sets the settings. An existing configuration is deleted first: replacing it is one thing on
/// AWS, and the emulator keeps the first one it was given otherwise.
pub async fn put(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let lambda = ctx.aws.lambda(ctx.home());
    let name = &want.address.name;
    delete(ctx, name).await?;
    let num = |k: &str| want.value(k).and_then(|v| v.parse::<i32>().ok());
    lambda
        .put_function_event_invoke_config()
        .function_name(name)
        .set_maximum_retry_attempts(num("max_retry_attempts"))
        .set_maximum_event_age_in_seconds(num("max_event_age_s"))
        .destination_config(
            DestinationConfig::builder()
                .on_failure(
                    OnFailure::builder().destination(want.value("on_failure").unwrap_or_default()).build(),
                )
                .build(),
        )
        .send()
        .await
        .with_context(|| format!("setting the invoke settings of {name}"))?;
    Ok(name.clone())
}

pub async fn delete(ctx: &Ctx<'_>, name: &str) -> Result<()> {
    match ctx.aws.lambda(ctx.home()).delete_function_event_invoke_config().function_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting the invoke settings of {name}")),
    }
}
