//! The handler's side of the handoff: take the lease for the primary's epoch, launch a standby in
//! the best placement (the next one when capacity is refused), and, for a planned relocation, ask
//! the old primary to drain through its `spotctl:drain` tag.
//!
//! The decisions are `spotctl_core::handoff`'s; this module reads and writes through the seams.

use super::placements::Placement;
use crate::compute::{Instances, LaunchRequest};
use crate::sdk::clock::Clock;
use crate::state::{json_body, read_handoff, read_primary, update_json, StateStore, StoreError};
use anyhow::{bail, Result};
use serde::Serialize;
use spotctl_core::handoff::{
    lease_key, next_launch, on_trigger, Cause, HandlerDecision, Handoff, InstanceRef, LaunchResult,
    NextLaunch, Step,
};
use spotctl_core::names::TAG_DRAIN;
use spotctl_core::primary::{PrimaryRecord, Role};

/// What the handoff needs from the world.
pub struct HandoffSeams<'a> {
    pub store: &'a dyn StateStore,
    pub instances: &'a dyn Instances,
    pub clock: &'a dyn Clock,
}

/// What happened to one trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "handoff", rename_all = "snake_case")]
pub enum HandoffOutcome {
    Started {
        id: String,
        standby: String,
        region: String,
        availability_zone: String,
        instance_type: String,
        /// Placements that refused capacity first, best first (`zone type: code`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        refused: Vec<String>,
    },
    Ignored {
        reason: String,
    },
}

/// No placement had capacity for the standby: a later attempt may find some.
#[derive(Debug, thiserror::Error)]
#[error("no placement had capacity for the standby of {id} ({})", refused.join(", "))]
pub struct NoCapacity {
    pub id: String,
    pub refused: Vec<String>,
}

/// Starts the handoff away from `instance_id`, unless it is not the primary or a handoff for its
/// epoch is already under way. `placements` are the standby candidates, best first.
pub async fn start(
    seams: &HandoffSeams<'_>,
    cause: Cause,
    instance_id: &str,
    placements: &[Placement],
) -> Result<HandoffOutcome> {
    let store = seams.store;
    let primary = read_primary(store).await?.map(|(p, _)| p);
    let lease_taken = match &primary {
        Some(p) => read_handoff(store, &spotctl_core::handoff::handoff_id(p.epoch)).await?.is_some(),
        None => false,
    };
    let id = match on_trigger(primary.as_ref(), instance_id, lease_taken) {
        HandlerDecision::Ignore(reason) => return Ok(HandoffOutcome::Ignored { reason }),
        HandlerDecision::Start { id } => id,
    };
    let Some(primary) = primary else { bail!("no primary record") };
    let handoff = Handoff::new(cause, &primary, seams.clock.now());
    // The lease: of any number of concurrent deliveries, one create succeeds.
    let key = lease_key(&id);
    match store.put_if_absent(&key, json_body(&key, &handoff)?).await {
        Ok(_) => {}
        Err(StoreError::Conflict { .. }) => {
            return Ok(HandoffOutcome::Ignored { reason: format!("handoff {id} is already under way") })
        }
        Err(e) => return Err(e.into()),
    }
    let mut attempts = Vec::new();
    let (mut launched, mut failed) = (None, None);
    let (placement, standby) = loop {
        match next_launch(&attempts, placements.len()) {
            NextLaunch::Try(i) => {
                let p = &placements[i];
                let req =
                    LaunchRequest { want: p.want.clone(), role: Role::Standby, handoff: Some(id.clone()) };
                match seams.instances.launch(&req).await {
                    Ok(v) => {
                        launched = Some(v);
                        attempts.push(LaunchResult::Launched);
                    }
                    Err(e) => {
                        attempts.push(LaunchResult::of_error(e.code.as_deref()));
                        failed = Some(e);
                    }
                }
            }
            NextLaunch::Launched(i) => match launched.take() {
                Some(v) => break (&placements[i], v),
                None => bail!("launch {i} was reported launched without an instance; this is a bug"),
            },
            NextLaunch::Stop(_) => {
                let e = failed.take().map(|e| e.error).unwrap_or_else(|| anyhow::anyhow!("launch failed"));
                return Err(e.context(format!("launching the standby of {id}")));
            }
            NextLaunch::NoCapacity => {
                let refused = refusals(&attempts, placements);
                let why = format!("every placement refused capacity: {}", refused.join(", "));
                let now = seams.clock.now();
                update_json::<Handoff, _>(store, &key, |h| {
                    h.failure = Some(why.clone());
                    h.reach(Step::Failed, now);
                    true
                })
                .await?;
                return Err(NoCapacity { id, refused }.into());
            }
        }
    };
    let refused = refusals(&attempts, placements);
    let now = seams.clock.now();
    update_json::<Handoff, _>(store, &key, |h| {
        h.standby = Some(InstanceRef {
            instance_id: standby.id.clone(),
            region: standby.region.clone(),
            availability_zone: standby.az.clone(),
            instance_type: standby.instance_type.clone(),
        });
        h.placement_reason = placement.spec.reason.clone();
        h.reach(Step::StandbyLaunched, now);
        true
    })
    .await?;
    if cause == Cause::Relocation {
        // No FIS, no interruption event, no loop: the old primary's agent reads this tag.
        request_drain(seams.instances, &primary, &id).await?;
    }
    Ok(HandoffOutcome::Started {
        id,
        standby: standby.id,
        region: standby.region,
        availability_zone: standby.az,
        instance_type: standby.instance_type,
        refused,
    })
}

/// `zone type: code` of each placement that refused capacity, in the order tried.
fn refusals(attempts: &[LaunchResult], placements: &[Placement]) -> Vec<String> {
    attempts
        .iter()
        .zip(placements)
        .filter_map(|(a, p)| match a {
            LaunchResult::CapacityRefused { code } => {
                Some(format!("{} {}: {code}", p.spec.az, p.spec.instance_type))
            }
            _ => None,
        })
        .collect()
}

/// Tags the old primary `spotctl:drain = <handoff id>`; its agent sees it in instance metadata.
pub async fn request_drain(instances: &dyn Instances, primary: &PrimaryRecord, id: &str) -> Result<()> {
    instances.tag(&primary.region, &primary.instance_id, TAG_DRAIN, id).await
}
