//! The handler's side of the handoff: take the lease for the primary's epoch, launch a standby in
//! the best placement (the next one when capacity is refused), and, for a planned relocation, ask
//! the old primary to drain through its `spotctl:drain` tag.
//!
//! The decisions are `spotctl_core::handoff`'s; this module reads and writes S3 and EC2.

use crate::lock::now_unix;
use crate::progress::Progress;
use crate::resources::{instance, Ctx};
use crate::store::{Cas, S3Store};
use anyhow::{bail, Context, Result};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use spotctl_core::desired::LaunchSpec;
use spotctl_core::handoff::{lease_key, on_trigger, Cause, HandlerDecision, Handoff, InstanceRef, Step};
use spotctl_core::names::{keys, TAG_DRAIN};
use spotctl_core::plan::{Kind, Resource};
use spotctl_core::primary::PrimaryRecord;

/// What happened to one trigger.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "handoff", rename_all = "snake_case")]
pub enum HandoffOutcome {
    Started { id: String, standby: String, region: String, availability_zone: String, instance_type: String },
    Ignored { reason: String },
}

/// Error codes with which EC2 refuses a spot launch for lack of capacity or price: try the next
/// placement. Anything else is a real error.
pub fn is_capacity_refusal(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "InsufficientInstanceCapacity"
                | "SpotMaxPriceTooLow"
                | "MaxSpotInstanceCountExceeded"
                | "InsufficientCapacity"
                | "Unsupported"
                | "InstanceLimitExceeded"
        )
    )
}

pub async fn read_primary(store: &S3Store) -> Result<Option<(PrimaryRecord, String)>> {
    store.get_json::<PrimaryRecord>(keys::PRIMARY).await
}

/// Starts the handoff away from `instance_id`, unless it is not the primary or a handoff for its
/// epoch is already under way. `placements` are the standby candidates, best first, already
/// excluding the interrupted pool.
pub async fn start(
    ctx: &Ctx<'_>,
    store: &S3Store,
    cause: Cause,
    instance_id: &str,
    placements: &[(LaunchSpec, Resource)],
    progress: &Progress,
) -> Result<HandoffOutcome> {
    let primary = read_primary(store).await?.map(|(p, _)| p);
    let lease_taken = match &primary {
        Some(p) => store.get(&lease_key(&spotctl_core::handoff::handoff_id(p.epoch))).await?.is_some(),
        None => false,
    };
    let id = match on_trigger(primary.as_ref(), instance_id, lease_taken) {
        HandlerDecision::Ignore(reason) => return Ok(HandoffOutcome::Ignored { reason }),
        HandlerDecision::Start { id } => id,
    };
    let Some(primary) = primary else { bail!("no primary record") };
    let mut handoff = Handoff::new(cause, &primary, now_unix());
    // The lease: of any number of concurrent deliveries, one create succeeds.
    let key = lease_key(&id);
    if store.put_if_absent(&key, serde_json::to_vec_pretty(&handoff)?).await? == Cas::Conflict {
        return Ok(HandoffOutcome::Ignored { reason: format!("handoff {id} is already under way") });
    }
    let mut launched = None;
    let mut refusals = Vec::new();
    for (spec, want) in placements {
        match instance::launch(ctx, want, "standby", Some(&id)).await {
            Ok(i) => {
                launched = Some((spec.clone(), i));
                break;
            }
            Err(e) => {
                let code = e
                    .downcast_ref::<aws_sdk_ec2::error::SdkError<aws_sdk_ec2::operation::run_instances::RunInstancesError>>()
                    .and_then(|s| s.code().map(String::from));
                if is_capacity_refusal(code.as_deref()) {
                    progress.note(&format!(
                        "{} {} refused: {}",
                        spec.az,
                        spec.instance_type,
                        code.unwrap_or_default()
                    ));
                    refusals.push(format!("{} {}", spec.az, spec.instance_type));
                    continue;
                }
                return Err(e).context("launching the standby");
            }
        }
    }
    let Some((spec, standby)) = launched else {
        handoff.failure = Some(format!("every placement refused capacity: {}", refusals.join(", ")));
        handoff.reach(Step::Failed, now_unix());
        store.put(&key, serde_json::to_vec_pretty(&handoff)?).await?;
        bail!("no placement had capacity for the standby ({})", refusals.join(", "));
    };
    handoff.standby = Some(InstanceRef {
        instance_id: standby.id.clone(),
        region: standby.region.clone(),
        availability_zone: standby.az.clone(),
        instance_type: standby.instance_type.clone(),
    });
    handoff.placement_reason = spec.reason.clone();
    handoff.reach(Step::StandbyLaunched, now_unix());
    store.put(&key, serde_json::to_vec_pretty(&handoff)?).await?;
    if cause == Cause::Relocation {
        // No FIS, no interruption event, no loop: the old primary's agent reads this tag.
        request_drain(ctx, &primary, &id).await?;
    }
    Ok(HandoffOutcome::Started {
        id,
        standby: standby.id,
        region: standby.region,
        availability_zone: standby.az,
        instance_type: standby.instance_type,
    })
}

/// Tags the old primary `spotctl:drain = <handoff id>`; its agent sees it in instance metadata.
pub async fn request_drain(ctx: &Ctx<'_>, primary: &PrimaryRecord, id: &str) -> Result<()> {
    ctx.aws
        .ec2(&primary.region)
        .create_tags()
        .resources(&primary.instance_id)
        .tags(aws_sdk_ec2::types::Tag::builder().key(TAG_DRAIN).value(id).build())
        .send()
        .await
        .with_context(|| format!("asking {} to drain", primary.instance_id))?;
    Ok(())
}

/// The standby's launch request for a placement: the primary's resource with another placement.
pub fn standby_resource(template: &Resource, spec: &LaunchSpec) -> Resource {
    let mut r = Resource::new(Kind::Instance, &spec.region, "standby");
    for (k, a) in &template.attrs {
        r = r.attr(k, a.value.clone(), a.on_change);
    }
    r.create_only("availability_zone", spec.az.clone())
        .create_only("subnet", spec.subnet.clone())
        .create_only("instance_type", spec.instance_type.clone())
        .create_only("ami", spec.ami.clone())
        .create_only("why", spec.reason.clone())
}
