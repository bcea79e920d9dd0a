//! EventBridge rules: the spot interruption and rebalance rules in every candidate region (events
//! are regional; away from home they forward to the home region's default bus), and at home the
//! rules that invoke the handler, including the relocation and advisor-refresh schedules.
//!
//! Discovery is one `ListRules` (by the `spotctl-<env>-` prefix) and one `ListRuleNamesByTarget`
//! per region; the ownership tag is checked before a rule is changed or deleted.

use super::{owned, Ctx};
use crate::sdk::error::is_not_found;
use anyhow::{bail, Context, Result};
use aws_sdk_eventbridge::types::{RuleState, Tag, Target};
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};
use spotctl_core::templates::canonical_json;

const TARGET_ID: &str = "spotctl";

fn target_arn(ctx: &Ctx<'_>, region: &str) -> String {
    if region == ctx.home() {
        ctx.names.function_arn()
    } else {
        ctx.names.home_bus_arn()
    }
}

pub async fn discover(ctx: &Ctx<'_>, region: &str) -> Result<Vec<LiveResource>> {
    let eb = ctx.aws.events(region);
    let rules = eb
        .list_rules()
        .name_prefix(ctx.names.prefix())
        .send()
        .await
        .with_context(|| format!("listing EventBridge rules in {region}"))?;
    if rules.rules().is_empty() {
        return Ok(Vec::new());
    }
    let target = target_arn(ctx, region);
    let targeted = eb
        .list_rule_names_by_target()
        .target_arn(&target)
        .send()
        .await
        .with_context(|| format!("listing rules that target {target}"))?;
    let mut out = Vec::new();
    for r in rules.rules() {
        let name = r.name().unwrap_or_default();
        let mut live =
            LiveResource::new(Address::new(Kind::EventRule, region, name), r.arn().unwrap_or_default())
                .with("state", r.state().map(|s| s.as_str()).unwrap_or_default());
        if let Some(p) = r.event_pattern() {
            live = live.with("pattern", canonical_json(p).unwrap_or_else(|_| p.to_string()));
        }
        if let Some(s) = r.schedule_expression() {
            live = live.with("schedule", s);
        }
        if targeted.rule_names().iter().any(|n| n == name) {
            live = live.with("target", target.clone());
        }
        out.push(live);
    }
    Ok(out)
}

async fn check_owned(ctx: &Ctx<'_>, region: &str, arn: &str) -> Result<()> {
    let tags = ctx.aws.events(region).list_tags_for_resource().resource_arn(arn).send().await?;
    if !owned(ctx.names, tags.tags().iter().map(|t| (t.key(), t.value()))) {
        bail!("rule {arn} is not tagged spotctl:env={}; spotctl will not touch it", ctx.names.env);
    }
    Ok(())
}

/// Creates or updates a rule and its single target (PutRule and PutTargets are both upserts).
pub async fn put(ctx: &Ctx<'_>, want: &Resource, existing: Option<&str>) -> Result<String> {
    let region = &want.address.region;
    if let Some(arn) = existing {
        check_owned(ctx, region, arn).await?;
    }
    let eb = ctx.aws.events(region);
    let tags: Vec<Tag> = ctx
        .tags("event-rule")
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()?;
    let mut req = eb
        .put_rule()
        .name(&want.address.name)
        .description(format!("spotctl {}: {}", ctx.names.env, want.address.name))
        .state(RuleState::from(want.value("state").unwrap_or("ENABLED")))
        .set_event_pattern(want.value("pattern").map(String::from))
        .set_schedule_expression(want.value("schedule").map(String::from));
    if existing.is_none() {
        req = req.set_tags(Some(tags));
    }
    let arn = req.send().await.with_context(|| format!("writing rule {} in {region}", want.address.name))?;
    let target = Target::builder()
        .id(TARGET_ID)
        .arn(want.value("target").unwrap_or_default())
        .set_role_arn(want.value("target_role").map(String::from))
        .build()?;
    eb.put_targets()
        .rule(&want.address.name)
        .targets(target)
        .send()
        .await
        .with_context(|| format!("pointing rule {} at its target", want.address.name))?;
    Ok(arn.rule_arn().unwrap_or_default().to_string())
}

pub async fn delete(ctx: &Ctx<'_>, region: &str, name: &str, arn: &str) -> Result<()> {
    check_owned(ctx, region, arn).await?;
    let eb = ctx.aws.events(region);
    match eb.remove_targets().rule(name).ids(TARGET_ID).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e).with_context(|| format!("removing the target of rule {name}")),
    }
    match eb.delete_rule().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting rule {name} in {region}")),
    }
}
