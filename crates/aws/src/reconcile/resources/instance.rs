//! The primary database instance in a plan: the instance the primary record names (never merely
//! one tagged primary), launched exactly where the plan says and recorded, its metadata options
//! kept at IMDSv2 required, terminated on destroy.
//!
//! Apply launches a primary only when none was ever recorded; moving it is the handoff's job, and
//! replacing a lost one is a recovery handoff. Standbys belong to a handoff and are not apply's.

use super::Ctx;
use crate::compute::{self, describe_all, Described, Ec2Instances};
use crate::handoff::launch_primary;
use crate::reconcile::progress::Progress;
use crate::sdk::clock::now_unix;
use crate::state::StateStore;
use anyhow::{bail, Context, Result};
use aws_sdk_ec2::types::{HttpTokensState, InstanceMetadataTagsState, InstanceStateName};
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};
use std::time::Duration;

/// Every live (pending, running, stopping, stopped) database instance of the env in `region`,
/// each with a known role (an unknown `spotctl:role` value is an error naming the instance).
pub async fn list(ctx: &Ctx<'_>, region: &str) -> Result<Vec<Described>> {
    let found = describe_all(ctx.aws, ctx.names, region).await?;
    compute::check_roles(&found)?;
    Ok(found)
}

/// The recorded primary as a live resource (its metadata options are what a plan compares).
pub fn live_primary(d: &Described) -> LiveResource {
    LiveResource::new(Address::new(Kind::Instance, &d.view.region, "primary"), &d.view.id)
        .with("http_tokens", d.http_tokens.clone())
        .with("hop_limit", d.hop_limit.clone())
        .with("metadata_tags", d.metadata_tags.clone())
        .with("availability_zone", d.view.az.clone())
        .with("instance_type", d.view.instance_type.clone())
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

/// Launches the primary the plan describes and records it (`handoff::launch_primary`: the record
/// names the launch before it happens, so the next apply finishes an interrupted one), then waits
/// for it to run.
pub async fn create_primary(
    ctx: &Ctx<'_>,
    want: &Resource,
    store: &dyn StateStore,
    progress: &Progress,
) -> Result<String> {
    let token = want.value("launch_token").context("the planned primary has no launch token; plan again")?;
    let ec2 = Ec2Instances { aws: ctx.aws.clone(), names: ctx.names.clone() };
    let inst = launch_primary(store, &ec2, want, token, now_unix()).await?;
    progress.note(&format!("launched {} in {} ({})", inst.id, inst.az, inst.instance_type));
    wait_state(ctx, &inst.region, &inst.id, InstanceStateName::Running, progress).await?;
    Ok(inst.id)
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
