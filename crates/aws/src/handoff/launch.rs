//! Launching a handoff's standby: the placements tried best first (the next on a refusal of
//! capacity, stopping on any other error), the attempt recorded on the handoff, which is let go
//! either way, and the old primary asked to drain when nothing else will tell it.

use super::error::{HandoffError, NoCapacity, Result};
use super::lease::{take, HandoffOutcome, HandoffSeams};
use super::placements::Placement;
use crate::compute::{Instances, LaunchRequest};
use crate::state::{open, Etag, StateStore};
use spotctl_core::handoff::primary::{PrimaryRecord, Role};
use spotctl_core::handoff::{
    next_launch, Cause, Handoff, InstanceRef, LaunchResult, NextLaunch, OpenedBy, Opening, Step,
};
use spotctl_core::names::TAG_DRAIN;

/// Launches the standby of `handoff` (which this attempt holds, at `etag`) in the first placement
/// with capacity, records it and releases the handoff. A failure releases it too, with the error.
pub(super) async fn launch(
    seams: &HandoffSeams<'_>,
    record: &PrimaryRecord,
    mut handoff: Handoff,
    etag: Etag,
) -> Result<HandoffOutcome> {
    let id = handoff.id.clone();
    let interrupted = handoff.cause == Cause::Interruption;
    let (placements, unranked) = match seams.placements.standby(record, interrupted, seams.clock.now()).await
    {
        Ok(p) => (p.placements, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let tried = match unranked {
        None => try_placements(seams, &id, &placements).await,
        Some(e) => Err(e.into()),
    };
    let now = seams.clock.now();
    handoff.lease = None;
    match tried {
        Ok((placement, standby, refused)) => {
            handoff.standby = Some(InstanceRef {
                instance_id: standby.id.clone(),
                region: standby.region.clone(),
                availability_zone: standby.az.clone(),
                instance_type: standby.instance_type.clone(),
            });
            handoff.placement_reason = placement.spec.reason.clone();
            handoff.last_error = None;
            handoff.steps.remove(&Step::StandbyLaunched);
            handoff.reach(Step::StandbyLaunched, now);
            // Before the standby is recorded (it never promotes unrecorded): the epoch it would
            // be promoted to is opened for it, which no instance can write.
            let opening = Opening::new(handoff.from_epoch + 1, &standby.id, Some(&id), OpenedBy::Launch, now);
            open(seams.store, &opening).await.map_err(|e| {
                HandoffError::during(format!("opening epoch {} for standby {}", opening.epoch, standby.id), e)
            })?;
            record_launch(seams.store, &handoff, &etag).await?;
            if matches!(handoff.cause, Cause::Relocation | Cause::PointInTime) {
                // No FIS, no interruption event, no loop: the old primary's agent reads this tag.
                request_drain(seams.instances, record, &id).await?;
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
        Err(e) => {
            // Released with the error, so the next delivery or tick retries at once. A shortage of
            // capacity is not the attempt's fault and does not count against the handoff.
            if !matches!(e.root(), HandoffError::NoCapacity(_)) {
                handoff.attempts += 1;
            }
            handoff.last_error = Some(e.to_string());
            if let Err(released) = record_launch(seams.store, &handoff, &etag).await {
                return Err(HandoffError::during(
                    format!("{e}; and releasing handoff {id} failed too"),
                    released,
                ));
            }
            Err(e)
        }
    }
}

/// Writes the attempt's result over the version it took. Losing that race means another trigger
/// took the handoff over meanwhile (the lease had run out): theirs stands, ours is reported.
async fn record_launch(store: &dyn StateStore, h: &Handoff, etag: &str) -> Result<()> {
    let taken = take(store, h, etag)
        .await
        .map_err(|e| HandoffError::during(format!("recording the attempt on handoff {}", h.id), e))?;
    match taken {
        Some(_) => Ok(()),
        None => Err(HandoffError::Moved(format!(
            "handoff {} was taken over while this attempt launched; the other attempt stands",
            h.id
        ))),
    }
}

/// Tries the placements best first (`spotctl_core::handoff::next_launch`): the next on a refusal
/// of capacity, stop on any other error.
async fn try_placements<'p>(
    seams: &HandoffSeams<'_>,
    id: &str,
    placements: &'p [Placement],
) -> Result<(&'p Placement, crate::compute::InstanceView, Vec<String>)> {
    let mut attempts = Vec::new();
    let (mut launched, mut failed) = (None, None);
    loop {
        match next_launch(&attempts, placements.len()) {
            NextLaunch::Try(i) => {
                let req = LaunchRequest {
                    want: placements[i].want.clone(),
                    role: Role::Standby,
                    handoff: Some(id.to_string()),
                    launch_token: None,
                };
                match seams.instances.launch(&req).await {
                    Ok(v) => {
                        launched = Some(v);
                        attempts.push(LaunchResult::Launched);
                    }
                    Err(e) => {
                        attempts.push(LaunchResult::of_error(e.code()));
                        failed = Some(e);
                    }
                }
            }
            NextLaunch::Launched(i) => match launched.take() {
                Some(v) => return Ok((&placements[i], v, refusals(&attempts, placements))),
                None => {
                    let why = format!("launch {i} was reported launched without an instance; this is a bug");
                    return Err(HandoffError::Moved(why));
                }
            },
            NextLaunch::Stop(_) => {
                let what = format!("launching the standby of {id}");
                return Err(match failed.take() {
                    Some(e) => HandoffError::during(what, e),
                    None => HandoffError::Moved(format!("{what}: no launch was tried")),
                });
            }
            NextLaunch::NoCapacity => {
                return Err(NoCapacity { id: id.to_string(), refused: refusals(&attempts, placements) }.into())
            }
        }
    }
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
    Ok(instances.tag(&primary.region, &primary.instance_id, TAG_DRAIN, id).await?)
}
