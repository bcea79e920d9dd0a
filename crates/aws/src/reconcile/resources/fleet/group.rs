//! A fleet's Auto Scaling groups (spot only, capacity rebalancing) and their target-tracking
//! policies.

use super::super::{owned, Ctx};
use crate::reconcile::progress::Progress;
use crate::sdk::error::is_not_found;
use anyhow::{bail, Context, Result};
use aws_sdk_autoscaling::types as asg;
use spotctl_core::desired::fleet::MetricSpec;
use spotctl_core::names::{TAG_ENV, TAG_FLEET};
use spotctl_core::plan::{Address, Kind, LiveResource, OnChange, Resource};
use std::time::Duration;

fn env_groups_filter(ctx: &Ctx<'_>) -> asg::Filter {
    asg::Filter::builder().name(format!("tag:{TAG_ENV}")).values(&ctx.names.env).build()
}

/// A number as the env file writes it (`20`, not `20.0`).
fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        v.to_string()
    }
}

pub(super) async fn discover(ctx: &Ctx<'_>, region: &str) -> Result<Vec<LiveResource>> {
    let client = ctx.aws.autoscaling(region);
    let out = client
        .describe_auto_scaling_groups()
        .filters(env_groups_filter(ctx))
        .send()
        .await
        .with_context(|| format!("listing Auto Scaling groups in {region}"))?;
    let mut live = Vec::new();
    for g in out.auto_scaling_groups() {
        let name = g.auto_scaling_group_name().unwrap_or_default();
        if !name.starts_with(&ctx.names.prefix()) {
            continue;
        }
        let mixed = g.mixed_instances_policy();
        let lt = mixed
            .and_then(|m| m.launch_template())
            .and_then(|l| l.launch_template_specification())
            .and_then(|s| s.launch_template_name())
            .unwrap_or_default();
        let mut types: Vec<String> = mixed
            .and_then(|m| m.launch_template())
            .map(|l| l.overrides().iter().filter_map(|o| o.instance_type().map(String::from)).collect())
            .unwrap_or_default();
        types.sort();
        let strategy = mixed
            .and_then(|m| m.instances_distribution())
            .and_then(|d| d.spot_allocation_strategy())
            .unwrap_or_default();
        let mut subnets: Vec<&str> =
            g.vpc_zone_identifier().unwrap_or_default().split(',').filter(|s| !s.is_empty()).collect();
        subnets.sort();
        let fleet =
            g.tags().iter().find(|t| t.key() == Some(TAG_FLEET)).and_then(|t| t.value()).unwrap_or_default();
        live.push(
            LiveResource::new(Address::new(Kind::AutoScalingGroup, region, name), name)
                .with("launch_template", lt)
                .with("types", serde_json::to_string(&types)?)
                .with("subnets", subnets.join(","))
                .with("capacity_rebalance", g.capacity_rebalance().unwrap_or(false).to_string())
                .with("spot_strategy", strategy)
                .with("fleet", fleet)
                .with("min", g.min_size().unwrap_or_default().to_string())
                .with("max", g.max_size().unwrap_or_default().to_string())
                .with("desired", g.desired_capacity().unwrap_or_default().to_string()),
        );
        let policies = client
            .describe_policies()
            .auto_scaling_group_name(name)
            .send()
            .await
            .with_context(|| format!("listing the scaling policies of {name}"))?;
        for p in policies.scaling_policies() {
            let pname = p.policy_name().unwrap_or_default();
            let Some(tt) = p.target_tracking_configuration() else { continue };
            let metric = tt.customized_metric_specification().map(|m| MetricSpec {
                namespace: m.namespace().unwrap_or_default().into(),
                name: m.metric_name().unwrap_or_default().into(),
                dimensions: m
                    .dimensions()
                    .iter()
                    .map(|d| {
                        (d.name().unwrap_or_default().to_string(), d.value().unwrap_or_default().to_string())
                    })
                    .collect(),
                statistic: m.statistic().map(|s| s.as_str().to_string()).unwrap_or_default(),
            });
            live.push(
                LiveResource::new(Address::new(Kind::ScalingPolicy, region, pname), pname)
                    .with("group", name)
                    .with("target", number(tt.target_value().unwrap_or_default()))
                    .with("metric", metric.map(|m| m.to_json()).unwrap_or_default()),
            );
        }
    }
    Ok(live)
}

fn mixed_policy(want: &Resource) -> Result<asg::MixedInstancesPolicy> {
    let types: Vec<String> = serde_json::from_str(want.value("types").unwrap_or("[]"))?;
    let template = asg::LaunchTemplate::builder()
        .launch_template_specification(
            asg::LaunchTemplateSpecification::builder()
                .launch_template_name(want.value("launch_template").unwrap_or_default())
                .version("$Default")
                .build(),
        )
        .set_overrides(Some(
            types
                .into_iter()
                .map(|t| asg::LaunchTemplateOverrides::builder().instance_type(t).build())
                .collect(),
        ))
        .build();
    Ok(asg::MixedInstancesPolicy::builder()
        .launch_template(template)
        .instances_distribution(
            asg::InstancesDistribution::builder()
                .on_demand_base_capacity(0)
                .on_demand_percentage_above_base_capacity(0)
                .spot_allocation_strategy(want.value("spot_strategy").unwrap_or("price-capacity-optimized"))
                .build(),
        )
        .build())
}

fn int(want: &Resource, key: &str) -> i32 {
    want.value(key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

pub async fn create_group(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let region = &want.address.region;
    let name = &want.address.name;
    let mut tags: Vec<asg::Tag> = ctx
        .tags("fleet-group")
        .into_iter()
        .map(|(k, v)| asg::Tag::builder().key(k).value(v).propagate_at_launch(false).build())
        .collect();
    tags.push(
        asg::Tag::builder()
            .key(TAG_FLEET)
            .value(want.value("fleet").unwrap_or_default())
            .propagate_at_launch(false)
            .build(),
    );
    let created = ctx
        .aws
        .autoscaling(region)
        .create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(int(want, "min"))
        .max_size(int(want, "max"))
        .desired_capacity(int(want, "desired"))
        .mixed_instances_policy(mixed_policy(want)?)
        .vpc_zone_identifier(want.value("subnets").unwrap_or_default())
        .capacity_rebalance(want.value("capacity_rebalance") == Some("true"))
        .set_tags(Some(tags))
        .send()
        .await;
    match created {
        Ok(_) => Ok(name.clone()),
        Err(e) if crate::sdk::error::code(&e) == Some("AlreadyExists") => {
            update_group(ctx, want).await?;
            Ok(name.clone())
        }
        Err(e) => Err(e).with_context(|| format!("creating Auto Scaling group {name} in {region}")),
    }
}

/// How the group launches, and the primary's maximum; never the fallback's size (the failover
/// state owns it) nor anyone's desired count (the scaling policies own it).
pub async fn update_group(ctx: &Ctx<'_>, want: &Resource) -> Result<()> {
    let region = &want.address.region;
    let name = &want.address.name;
    let mut req = ctx
        .aws
        .autoscaling(region)
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .mixed_instances_policy(mixed_policy(want)?)
        .vpc_zone_identifier(want.value("subnets").unwrap_or_default())
        .capacity_rebalance(want.value("capacity_rebalance") == Some("true"));
    if want.attrs.get("max").is_some_and(|a| a.on_change == OnChange::Update) {
        req = req.max_size(int(want, "max"));
    }
    req.send().await.with_context(|| format!("updating Auto Scaling group {name} in {region}"))?;
    Ok(())
}

/// Deletes the group and its instances, and waits until it is gone (its instances hold the
/// workers' security group).
pub async fn delete_group(ctx: &Ctx<'_>, region: &str, name: &str, progress: &Progress) -> Result<()> {
    let client = ctx.aws.autoscaling(region);
    let found = client.describe_auto_scaling_groups().auto_scaling_group_names(name).send().await?;
    let Some(g) = found.auto_scaling_groups().first() else { return Ok(()) };
    if !owned(ctx.names, g.tags().iter().map(|t| (t.key().unwrap_or(""), t.value().unwrap_or("")))) {
        bail!(
            "Auto Scaling group {name} is not tagged {TAG_ENV}={}; spotctl will not delete it",
            ctx.names.env
        );
    }
    match client.delete_auto_scaling_group().auto_scaling_group_name(name).force_delete(true).send().await {
        Ok(_) => {}
        Err(e) if crate::sdk::error::code(&e) == Some("ValidationError") => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("deleting Auto Scaling group {name} in {region}")),
    }
    for _ in 0..120 {
        let left = client.describe_auto_scaling_groups().auto_scaling_group_names(name).send().await?;
        if left.auto_scaling_groups().is_empty() {
            return Ok(());
        }
        progress.tick(&format!("waiting for group {name} to terminate its instances"));
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    bail!("Auto Scaling group {name} in {region} still exists after 10 minutes; run destroy again")
}

pub async fn put_policy(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let region = &want.address.region;
    let metric: MetricSpec = serde_json::from_str(want.value("metric").unwrap_or_default())
        .context("the planned metric is not readable")?;
    let target: f64 = want.value("target").and_then(|v| v.parse().ok()).unwrap_or(1.0);
    let spec = asg::CustomizedMetricSpecification::builder()
        .namespace(metric.namespace)
        .metric_name(metric.name)
        .set_dimensions(Some(
            metric
                .dimensions
                .into_iter()
                .map(|(k, v)| asg::MetricDimension::builder().name(k).value(v).build())
                .collect(),
        ))
        .statistic(asg::MetricStatistic::from(metric.statistic.as_str()))
        .build();
    let out = ctx
        .aws
        .autoscaling(region)
        .put_scaling_policy()
        .auto_scaling_group_name(want.value("group").unwrap_or_default())
        .policy_name(&want.address.name)
        .policy_type("TargetTrackingScaling")
        .target_tracking_configuration(
            asg::TargetTrackingConfiguration::builder()
                .customized_metric_specification(spec)
                .target_value(target)
                .build(),
        )
        .send()
        .await
        .with_context(|| format!("writing scaling policy {} in {region}", want.address.name))?;
    Ok(out.policy_arn().unwrap_or_default().to_string())
}

pub async fn delete_policy(ctx: &Ctx<'_>, region: &str, name: &str, group: &str) -> Result<()> {
    match ctx
        .aws
        .autoscaling(region)
        .delete_policy()
        .auto_scaling_group_name(group)
        .policy_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) || crate::sdk::error::code(&e) == Some("ValidationError") => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting scaling policy {name} in {region}")),
    }
}
