//! The AWS FIS experiment template that sends a spot interruption to the current primary. One per
//! candidate region (FIS acts only in its own region); it selects its target by the tags
//! `spotctl:env` and `spotctl:role = primary`, so it follows the primary without being rewritten.

use super::Ctx;
use crate::sdk::error::is_not_found;
use anyhow::{Context, Result};
use aws_sdk_fis::types::{
    CreateExperimentTemplateActionInput, CreateExperimentTemplateStopConditionInput,
    CreateExperimentTemplateTargetInput, ExperimentTemplateTargetInputFilter,
};
use serde_json::Value;
use spotctl_core::names::{TAG_ENV, TAG_SPEC};
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};
use std::collections::HashMap;

pub async fn discover(ctx: &Ctx<'_>, region: &str) -> Result<Vec<LiveResource>> {
    let out = ctx
        .aws
        .fis(region)
        .list_experiment_templates()
        .send()
        .await
        .with_context(|| format!("listing FIS experiment templates in {region}"))?;
    Ok(out
        .experiment_templates()
        .iter()
        .filter(|t| t.tags().and_then(|m| m.get(TAG_ENV)) == Some(&ctx.names.env))
        .map(|t| {
            let spec = t.tags().and_then(|m| m.get(TAG_SPEC)).cloned().unwrap_or_default();
            LiveResource::new(
                Address::new(Kind::FisTemplate, region, ctx.names.fis_template()),
                t.id().unwrap_or_default(),
            )
            .with("spec_sha256", spec)
        })
        .collect())
}

fn s(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

pub async fn create(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let region = &want.address.region;
    let body: Value =
        serde_json::from_str(want.value("body").unwrap_or("{}")).context("FIS template body")?;
    let mut req = ctx
        .aws
        .fis(region)
        .create_experiment_template()
        .description(s(&body, "description"))
        .role_arn(s(&body, "roleArn"))
        .stop_conditions(CreateExperimentTemplateStopConditionInput::builder().source("none").build()?);
    for (name, t) in body.get("targets").and_then(Value::as_object).into_iter().flatten() {
        let mut tb = CreateExperimentTemplateTargetInput::builder()
            .resource_type(s(t, "resourceType"))
            .selection_mode(s(t, "selectionMode"));
        for (k, v) in t.get("resourceTags").and_then(Value::as_object).into_iter().flatten() {
            tb = tb.resource_tags(k, v.as_str().unwrap_or_default());
        }
        for f in t.get("filters").and_then(Value::as_array).into_iter().flatten() {
            let values: Vec<String> = f
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            tb = tb.filters(
                ExperimentTemplateTargetInputFilter::builder()
                    .path(s(f, "path"))
                    .set_values(Some(values))
                    .build()?,
            );
        }
        req = req.targets(name, tb.build()?);
    }
    for (name, a) in body.get("actions").and_then(Value::as_object).into_iter().flatten() {
        let mut ab = CreateExperimentTemplateActionInput::builder().action_id(s(a, "actionId"));
        for (k, v) in a.get("parameters").and_then(Value::as_object).into_iter().flatten() {
            ab = ab.parameters(k, v.as_str().unwrap_or_default());
        }
        for (k, v) in a.get("targets").and_then(Value::as_object).into_iter().flatten() {
            ab = ab.targets(k, v.as_str().unwrap_or_default());
        }
        req = req.actions(name, ab.build()?);
    }
    let mut tags: HashMap<String, String> = ctx.tags("fis-template").into_iter().collect();
    tags.insert(TAG_SPEC.to_string(), want.value("spec_sha256").unwrap_or_default().to_string());
    tags.insert("Name".to_string(), want.address.name.clone());
    let out = req
        .set_tags(Some(tags))
        .send()
        .await
        .with_context(|| format!("creating the FIS template in {region}"))?;
    Ok(out.experiment_template().and_then(|t| t.id()).unwrap_or_default().to_string())
}

pub async fn delete(ctx: &Ctx<'_>, region: &str, id: &str) -> Result<()> {
    match ctx.aws.fis(region).delete_experiment_template().id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting FIS template {id} in {region}")),
    }
}
