//! The handler Lambda (provided.al2023, x86_64, the spotctl binary itself as `bootstrap`) and the
//! permission that lets this env's EventBridge rules invoke it.

use super::{owned, Ctx};
use crate::reconcile::progress::Progress;
use crate::sdk::error::is_not_found;
use anyhow::{bail, Context, Result};
use aws_sdk_lambda::types::{Architecture, Environment, FunctionCode, Runtime, State};
use serde_json::Value;
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};
use spotctl_core::templates::canonical_json;
use std::collections::HashMap;
use std::time::Duration;

const PERMISSION_SID: &str = "spotctl-events-invoke";

pub async fn discover(ctx: &Ctx<'_>) -> Result<Vec<LiveResource>> {
    let lambda = ctx.aws.lambda(ctx.home());
    let name = ctx.names.function();
    let f = match lambda.get_function().function_name(&name).send().await {
        Ok(f) => f,
        Err(e) if is_not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading function {name}")),
    };
    if !owned(ctx.names, f.tags().into_iter().flatten().map(|(k, v)| (k.as_str(), v.as_str()))) {
        bail!(
            "function {name} exists but is not tagged spotctl:env={}; spotctl will not touch it",
            ctx.names.env
        );
    }
    let mut out = Vec::new();
    if let Some(c) = f.configuration() {
        let vars: std::collections::BTreeMap<String, String> = c
            .environment()
            .and_then(|e| e.variables())
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        out.push(
            LiveResource::new(
                Address::new(Kind::LambdaFunction, ctx.home(), &name),
                c.function_arn().unwrap_or_default(),
            )
            .with("runtime", c.runtime().map(|r| r.as_str()).unwrap_or_default())
            .with("architecture", c.architectures().first().map(|a| a.as_str()).unwrap_or_default())
            .with("handler", c.handler().unwrap_or_default())
            .with("role", c.role().unwrap_or_default())
            .with("memory_mb", c.memory_size().map(|m| m.to_string()).unwrap_or_default())
            .with("timeout_s", c.timeout().map(|t| t.to_string()).unwrap_or_default())
            .with("environment", serde_json::to_string(&vars)?)
            .with("code_sha256", c.code_sha256().unwrap_or_default()),
        );
    }
    match lambda.get_policy().function_name(&name).send().await {
        Ok(p) => {
            let doc: Value = serde_json::from_str(p.policy().unwrap_or("{}")).unwrap_or(Value::Null);
            let stmt = doc
                .get("Statement")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|s| s.get("Sid").and_then(Value::as_str) == Some(PERMISSION_SID));
            if let Some(s) = stmt {
                let principal = s.pointer("/Principal/Service").and_then(Value::as_str).unwrap_or_default();
                let source =
                    s.pointer("/Condition/ArnLike/AWS:SourceArn").and_then(Value::as_str).unwrap_or_default();
                let account = s
                    .pointer("/Condition/StringEquals/AWS:SourceAccount")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                out.push(
                    LiveResource::new(
                        Address::new(Kind::LambdaPermission, ctx.home(), "events-invoke"),
                        PERMISSION_SID,
                    )
                    .with("principal", principal)
                    .with("source_arn", source)
                    .with("source_account", account),
                );
            }
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e).with_context(|| format!("reading the resource policy of {name}")),
    }
    Ok(out)
}

fn environment(want: &Resource) -> Result<Environment> {
    let vars: HashMap<String, String> = serde_json::from_str(want.value("environment").unwrap_or("{}"))?;
    Ok(Environment::builder().set_variables(Some(vars)).build())
}

pub async fn create(ctx: &Ctx<'_>, want: &Resource, progress: &Progress) -> Result<String> {
    let code_key = want.value("code_key").unwrap_or_default();
    let tags: HashMap<String, String> = ctx.tags("handler").into_iter().collect();
    let lambda = ctx.aws.lambda(ctx.home());
    let mut attempt = 0;
    let out = loop {
        let sent = lambda
            .create_function()
            .function_name(&want.address.name)
            .runtime(Runtime::from(want.value("runtime").unwrap_or("provided.al2023")))
            .architectures(Architecture::from(want.value("architecture").unwrap_or("x86_64")))
            .handler(want.value("handler").unwrap_or("bootstrap"))
            .role(want.value("role").unwrap_or_default())
            .memory_size(want.value("memory_mb").and_then(|m| m.parse().ok()).unwrap_or(512))
            .timeout(want.value("timeout_s").and_then(|m| m.parse().ok()).unwrap_or(120))
            .environment(environment(want)?)
            .code(FunctionCode::builder().s3_bucket(ctx.names.bucket()).s3_key(code_key).build())
            .set_tags(Some(tags.clone()))
            .send()
            .await;
        match sent {
            Ok(out) => break out,
            // A role created seconds ago is not yet assumable by Lambda (IAM is eventually consistent).
            Err(e)
                if attempt < 10
                    && e.as_service_error().is_some_and(|s| s.is_invalid_parameter_value_exception()) =>
            {
                attempt += 1;
                progress
                    .note(&format!("waiting for the new role to become usable by Lambda (try {attempt})"));
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_conflict_exception()) => {
                return Ok(ctx.names.function_arn());
            }
            Err(e) => return Err(e).with_context(|| format!("creating function {}", want.address.name)),
        }
    };
    wait_active(ctx, &want.address.name, progress).await?;
    Ok(out.function_arn().unwrap_or_default().to_string())
}

pub async fn update(
    ctx: &Ctx<'_>,
    want: &Resource,
    live: Option<&std::collections::BTreeMap<String, String>>,
    progress: &Progress,
) -> Result<()> {
    let lambda = ctx.aws.lambda(ctx.home());
    let name = &want.address.name;
    let live_code = live.and_then(|l| l.get("code_sha256")).map(String::as_str);
    if live_code != want.value("code_sha256") {
        lambda
            .update_function_code()
            .function_name(name)
            .s3_bucket(ctx.names.bucket())
            .s3_key(want.value("code_key").unwrap_or_default())
            .send()
            .await
            .with_context(|| format!("updating the code of {name}"))?;
        wait_active(ctx, name, progress).await?;
    }
    lambda
        .update_function_configuration()
        .function_name(name)
        .handler(want.value("handler").unwrap_or("bootstrap"))
        .role(want.value("role").unwrap_or_default())
        .memory_size(want.value("memory_mb").and_then(|m| m.parse().ok()).unwrap_or(512))
        .timeout(want.value("timeout_s").and_then(|m| m.parse().ok()).unwrap_or(120))
        .environment(environment(want)?)
        .send()
        .await
        .with_context(|| format!("updating the configuration of {name}"))?;
    wait_active(ctx, name, progress).await
}

async fn wait_active(ctx: &Ctx<'_>, name: &str, progress: &Progress) -> Result<()> {
    let lambda = ctx.aws.lambda(ctx.home());
    for _ in 0..120 {
        let c = lambda.get_function_configuration().function_name(name).send().await?;
        let updating = c.last_update_status().is_some_and(|s| s.as_str() == "InProgress");
        match c.state() {
            Some(State::Active) | None if !updating => return Ok(()),
            Some(State::Failed) => {
                bail!("function {name} failed to become active: {}", c.state_reason().unwrap_or_default())
            }
            _ => progress.tick(&format!("waiting for function {name} to become active")),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!("function {name} did not become active in 2 minutes")
}

pub async fn delete(ctx: &Ctx<'_>, name: &str) -> Result<()> {
    match ctx.aws.lambda(ctx.home()).delete_function().function_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting function {name}")),
    }
}

pub async fn add_permission(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    ctx.aws
        .lambda(ctx.home())
        .add_permission()
        .function_name(ctx.names.function())
        .statement_id(PERMISSION_SID)
        .action("lambda:InvokeFunction")
        .principal(want.value("principal").unwrap_or("events.amazonaws.com"))
        .source_arn(want.value("source_arn").unwrap_or_default())
        .set_source_account(want.value("source_account").map(String::from))
        .send()
        .await
        .context("allowing EventBridge to invoke the handler")?;
    Ok(PERMISSION_SID.to_string())
}

pub async fn remove_permission(ctx: &Ctx<'_>) -> Result<()> {
    match ctx
        .aws
        .lambda(ctx.home())
        .remove_permission()
        .function_name(ctx.names.function())
        .statement_id(PERMISSION_SID)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).context("removing the EventBridge invoke permission"),
    }
}

/// Canonical form of a Lambda environment map (sorted keys), as discovery reports it.
pub fn canonical_environment(json: &str) -> String {
    canonical_json(json).unwrap_or_else(|_| json.to_string())
}
