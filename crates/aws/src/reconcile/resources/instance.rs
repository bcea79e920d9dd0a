//! The primary database instance: a one-time spot instance with IMDSv2 required and instance
//! metadata tags enabled, launched exactly where the plan says.
//!
//! Apply launches a primary only when none runs; moving it is the handoff's job. Standbys belong
//! to a handoff and are not apply's to touch, so discovery reports only the primary.

use super::network::{env_filter, tag_spec};
use super::Ctx;
use crate::progress::Progress;
use crate::store::{Cas, S3Store};
use anyhow::{bail, Context, Result};
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMarketOptionsRequest, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceMetadataTagsState, InstanceStateName, InstanceType, MarketType, ResourceType, SpotInstanceType,
    SpotMarketOptions, VolumeType,
};
use base64::Engine as _;
use spotctl_core::names::{keys, TAG_KIND, TAG_ROLE};
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};
use spotctl_core::primary::PrimaryRecord;
use std::time::Duration;

/// An instance of this env as EC2 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbInstance {
    pub id: String,
    pub region: String,
    pub az: String,
    pub instance_type: String,
    pub role: String,
    pub state: String,
    pub http_tokens: String,
    pub metadata_tags: String,
}

/// Every live (pending, running, stopping, stopped) database instance of the env in `region`.
pub async fn list(ctx: &Ctx<'_>, region: &str) -> Result<Vec<DbInstance>> {
    let out = ctx
        .aws
        .ec2(region)
        .describe_instances()
        .filters(env_filter(ctx))
        .filters(Filter::builder().name(format!("tag:{TAG_KIND}")).values("db").build())
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .values("stopping")
                .values("stopped")
                .build(),
        )
        .send()
        .await
        .with_context(|| format!("listing database instances in {region}"))?;
    let mut found = Vec::new();
    for r in out.reservations() {
        for i in r.instances() {
            let tag = |k: &str| {
                i.tags()
                    .iter()
                    .find(|t| t.key() == Some(k))
                    .and_then(|t| t.value())
                    .unwrap_or_default()
                    .to_string()
            };
            let meta = i.metadata_options();
            found.push(DbInstance {
                id: i.instance_id().unwrap_or_default().to_string(),
                region: region.to_string(),
                az: i.placement().and_then(|p| p.availability_zone()).unwrap_or_default().to_string(),
                instance_type: i.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                role: tag(TAG_ROLE),
                state: i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default(),
                http_tokens: meta
                    .and_then(|m| m.http_tokens())
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                metadata_tags: meta
                    .and_then(|m| m.instance_metadata_tags())
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
            });
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

pub async fn discover(ctx: &Ctx<'_>, region: &str) -> Result<Vec<LiveResource>> {
    Ok(list(ctx, region)
        .await?
        .into_iter()
        .filter(|i| i.role == "primary")
        .enumerate()
        .map(|(n, i)| {
            // A second primary can only come from outside spotctl; naming it apart makes the plan delete it.
            let name = if n == 0 { "primary".to_string() } else { format!("primary-{}", i.id) };
            LiveResource::new(Address::new(Kind::Instance, region, name), &i.id)
                .with("http_tokens", i.http_tokens)
                .with("metadata_tags", i.metadata_tags)
                .with("availability_zone", i.az)
                .with("instance_type", i.instance_type)
        })
        .collect())
}

/// The launch request for `want` (its attributes were fixed by the planner).
pub async fn launch(ctx: &Ctx<'_>, want: &Resource, role: &str, handoff: Option<&str>) -> Result<DbInstance> {
    let region = &want.address.region;
    let user_data = want.value("user_data").unwrap_or_default();
    let group_id = security_group_id(ctx, region, &ctx.names.security_group()).await?;
    let v = |k: &str| want.value(k).unwrap_or_default().to_string();
    let mut extra: Vec<(&str, &str)> = vec![(TAG_KIND, "db"), (TAG_ROLE, role)];
    if let Some(h) = handoff {
        extra.push((spotctl_core::names::TAG_HANDOFF, h));
    }
    let name = ctx.names.instance_name();
    extra.push(("Name", &name));
    let mut tags = tag_spec(ctx, ResourceType::Instance, "db", &extra);
    // tag_spec already carries Name/kind from ctx.tags; the explicit ones above win by coming last.
    tags = dedup_tags(tags);
    let out = ctx
        .aws
        .ec2(region)
        .run_instances()
        .image_id(v("ami"))
        .instance_type(InstanceType::from(v("instance_type").as_str()))
        .subnet_id(v("subnet"))
        .min_count(1)
        .max_count(1)
        .key_name(v("key_pair"))
        .security_group_ids(group_id)
        .iam_instance_profile(IamInstanceProfileSpecification::builder().name(v("instance_profile")).build())
        .instance_market_options(
            InstanceMarketOptionsRequest::builder()
                .market_type(MarketType::Spot)
                .spot_options(
                    SpotMarketOptions::builder().spot_instance_type(SpotInstanceType::OneTime).build(),
                )
                .build(),
        )
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(HttpTokensState::Required)
                .http_endpoint(InstanceMetadataEndpointState::Enabled)
                .instance_metadata_tags(InstanceMetadataTagsState::Enabled)
                .build(),
        )
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name("/dev/xvda")
                .ebs(
                    EbsBlockDevice::builder()
                        .volume_size(v("volume_gb").parse().unwrap_or(20))
                        .volume_type(VolumeType::Gp3)
                        .encrypted(true)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .user_data(base64::engine::general_purpose::STANDARD.encode(user_data))
        .tag_specifications(tags)
        .send()
        .await
        .with_context(|| {
            format!("launching a {} spot instance in {}", v("instance_type"), v("availability_zone"))
        })?;
    let Some(i) = out.instances().first() else { bail!("RunInstances returned no instance") };
    Ok(DbInstance {
        id: i.instance_id().unwrap_or_default().to_string(),
        region: region.clone(),
        az: i.placement().and_then(|p| p.availability_zone()).unwrap_or_default().to_string(),
        instance_type: v("instance_type"),
        role: role.to_string(),
        state: "pending".into(),
        http_tokens: "required".into(),
        metadata_tags: "enabled".into(),
    })
}

/// The id of the env's security group in `region` (created earlier in the same apply).
/// The id of the env's security group `name` in `region`.
pub(crate) async fn security_group_id(ctx: &Ctx<'_>, region: &str, name: &str) -> Result<String> {
    let out = ctx
        .aws
        .ec2(region)
        .describe_security_groups()
        .filters(env_filter(ctx))
        .filters(Filter::builder().name("group-name").values(name).build())
        .send()
        .await?;
    out.security_groups()
        .first()
        .and_then(|g| g.group_id())
        .map(String::from)
        .with_context(|| format!("security group {name} is missing in {region}"))
}

fn dedup_tags(spec: aws_sdk_ec2::types::TagSpecification) -> aws_sdk_ec2::types::TagSpecification {
    let mut seen = std::collections::BTreeMap::new();
    for t in spec.tags() {
        seen.insert(t.key().unwrap_or_default().to_string(), t.clone());
    }
    aws_sdk_ec2::types::TagSpecification::builder()
        .set_resource_type(spec.resource_type().cloned())
        .set_tags(Some(seen.into_values().collect()))
        .build()
}

pub async fn wait_state(
    ctx: &Ctx<'_>,
    region: &str,
    id: &str,
    want: InstanceStateName,
    progress: &Progress,
) -> Result<()> {
    let ec2 = ctx.aws.ec2(region);
    for _ in 0..300 {
        let out = ec2.describe_instances().instance_ids(id).send().await?;
        let state = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| i.state().and_then(|s| s.name()).cloned());
        match state {
            Some(s) if s == want => return Ok(()),
            Some(InstanceStateName::Terminated) if want != InstanceStateName::Terminated => {
                bail!("instance {id} terminated while waiting for it to be {}", want.as_str())
            }
            s => progress.tick(&format!(
                "waiting for instance {id} to be {} (now {})",
                want.as_str(),
                s.map(|s| s.as_str().to_string()).unwrap_or_else(|| "unknown".into())
            )),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    bail!("instance {id} did not become {} in 10 minutes", want.as_str())
}

/// Launches the first primary and records it (epoch 1, or one past a record left by a primary
/// that is gone).
pub async fn create_primary(
    ctx: &Ctx<'_>,
    want: &Resource,
    store: &S3Store,
    progress: &Progress,
) -> Result<String> {
    let inst = launch(ctx, want, "primary", None).await?;
    progress.note(&format!("launched {} in {} ({})", inst.id, inst.az, inst.instance_type));
    wait_state(ctx, &inst.region, &inst.id, InstanceStateName::Running, progress).await?;
    let record = PrimaryRecord {
        epoch: 1,
        instance_id: inst.id.clone(),
        region: inst.region.clone(),
        availability_zone: inst.az.clone(),
        instance_type: inst.instance_type.clone(),
        since_unix: crate::lock::now_unix(),
        handoff: None,
    };
    match store.get_json::<PrimaryRecord>(keys::PRIMARY).await? {
        None => {
            if store.put_if_absent(keys::PRIMARY, serde_json::to_vec_pretty(&record)?).await? == Cas::Conflict
            {
                bail!("another writer recorded a primary while this one launched; run plan again");
            }
        }
        Some((old, etag)) => {
            let next = old.succeeded_by(record);
            if store.put_if_match(keys::PRIMARY, &etag, serde_json::to_vec_pretty(&next)?).await?
                == Cas::Conflict
            {
                bail!("the primary record changed while this instance launched; run plan again");
            }
        }
    }
    Ok(inst.id)
}

pub async fn update(ctx: &Ctx<'_>, region: &str, id: &str) -> Result<()> {
    ctx.aws
        .ec2(region)
        .modify_instance_metadata_options()
        .instance_id(id)
        .http_tokens(HttpTokensState::Required)
        .instance_metadata_tags(InstanceMetadataTagsState::Enabled)
        .send()
        .await
        .with_context(|| format!("requiring IMDSv2 on {id}"))?;
    Ok(())
}

pub async fn terminate(ctx: &Ctx<'_>, region: &str, id: &str, progress: &Progress) -> Result<()> {
    ctx.aws
        .ec2(region)
        .terminate_instances()
        .instance_ids(id)
        .send()
        .await
        .with_context(|| format!("terminating {id} in {region}"))?;
    wait_state(ctx, region, id, InstanceStateName::Terminated, progress).await
}

/// Terminates every database instance of the env (primary and standbys) in the context's regions,
/// and waits for them: destroy must not leave a standby a handoff launched.
pub async fn terminate_all(ctx: &Ctx<'_>, progress: &Progress) -> Result<()> {
    for region in ctx.regions {
        for i in list(ctx, region).await? {
            progress.tick(&format!("terminating {} ({}) in {region}", i.id, i.role));
            terminate(ctx, region, &i.id, progress).await?;
        }
    }
    Ok(())
}
