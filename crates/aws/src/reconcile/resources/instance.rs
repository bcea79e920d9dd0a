//! The primary database instance in a plan: discovered by its `spotctl:role = primary` tag,
//! launched (through `compute`) exactly where the plan says and recorded in the primary record,
//! its metadata options kept at IMDSv2 required, terminated on destroy.
//!
//! Apply launches a primary only when none runs; moving it is the handoff's job. Standbys belong
//! to a handoff and are not apply's to touch, so discovery reports only the primary.

use super::Ctx;
use crate::compute::{self, describe_all, Described, LaunchRequest};
use crate::reconcile::progress::Progress;
use crate::sdk::clock::now_unix;
use crate::state::{read_primary, StateStore, StoreError};
use anyhow::{bail, Context, Result};
use aws_sdk_ec2::types::{HttpTokensState, InstanceMetadataTagsState, InstanceStateName};
use spotctl_core::names::keys;
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};
use spotctl_core::primary::{PrimaryRecord, Role};
use std::time::Duration;

/// Every live (pending, running, stopping, stopped) database instance of the env in `region`,
/// each with a known role (an unknown `spotctl:role` value is an error naming the instance).
pub async fn list(ctx: &Ctx<'_>, region: &str) -> Result<Vec<Described>> {
    let found = describe_all(ctx.aws, ctx.names, region).await?;
    compute::check_roles(&found)?;
    Ok(found)
}

pub async fn discover(ctx: &Ctx<'_>, region: &str) -> Result<Vec<LiveResource>> {
    Ok(list(ctx, region)
        .await?
        .into_iter()
        .filter(|i| i.view.role().ok().flatten() == Some(Role::Primary))
        .enumerate()
        .map(|(n, i)| {
            // A second primary can only come from outside spotctl; naming it apart makes the plan delete it.
            let name = if n == 0 { "primary".to_string() } else { format!("primary-{}", i.view.id) };
            LiveResource::new(Address::new(Kind::Instance, region, name), &i.view.id)
                .with("http_tokens", i.http_tokens)
                .with("hop_limit", i.hop_limit)
                .with("metadata_tags", i.metadata_tags)
                .with("availability_zone", i.view.az)
                .with("instance_type", i.view.instance_type)
        })
        .collect())
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
    store: &dyn StateStore,
    progress: &Progress,
) -> Result<String> {
    let req = LaunchRequest { want: want.clone(), role: Role::Primary, handoff: None };
    let inst = compute::launch(ctx.aws, ctx.names, &req).await?;
    progress.note(&format!("launched {} in {} ({})", inst.id, inst.az, inst.instance_type));
    wait_state(ctx, &inst.region, &inst.id, InstanceStateName::Running, progress).await?;
    let record = PrimaryRecord {
        epoch: 1,
        instance_id: inst.id.clone(),
        region: inst.region.clone(),
        availability_zone: inst.az.clone(),
        instance_type: inst.instance_type.clone(),
        since_unix: now_unix(),
        handoff: None,
    };
    let written = match read_primary(store).await? {
        None => store.put_if_absent(keys::PRIMARY, crate::state::json_body(keys::PRIMARY, &record)?).await,
        Some((old, etag)) => {
            let next = old.succeeded_by(record);
            store.put_if_match(keys::PRIMARY, &etag, crate::state::json_body(keys::PRIMARY, &next)?).await
        }
    };
    match written {
        Ok(_) => Ok(inst.id),
        Err(e @ (StoreError::Conflict { .. } | StoreError::NotFound { .. })) => {
            bail!(
                "another writer changed the primary record while {} launched ({e}); run plan again",
                inst.id
            )
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn update(ctx: &Ctx<'_>, region: &str, id: &str) -> Result<()> {
    ctx.aws
        .ec2(region)
        .modify_instance_metadata_options()
        .instance_id(id)
        .http_tokens(HttpTokensState::Required)
        .http_put_response_hop_limit(1)
        .http_endpoint(aws_sdk_ec2::types::InstanceMetadataEndpointState::Enabled)
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
        for i in describe_all(ctx.aws, ctx.names, region).await? {
            let role = i.view.tags.get(spotctl_core::names::TAG_ROLE).cloned().unwrap_or_default();
            progress.tick(&format!("terminating {} ({role}) in {region}", i.view.id));
            terminate(ctx, region, &i.view.id, progress).await?;
        }
    }
    Ok(())
}
