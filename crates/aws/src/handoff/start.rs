//! The handler's side of the handoff: on a warning, a relocation or the watchdog's tick, look at
//! the current epoch's handoff, decide (`spotctl_core::handoff::on_trigger`), and carry it out —
//! take the handoff (create-only, or compare-and-swap over an attempt that died), launch a standby
//! in the best placement with capacity, record it and let the handoff go; or fall back to an older
//! backup, or give up and say why.
//!
//! An attempt holds the handoff (`lease`: an owner and a deadline) only while it launches. When the
//! launch fails it releases the handoff with the error, so the next delivery or the next tick
//! retries at once; when the attempt dies, the first trigger after the deadline takes over.

use super::error::{HandoffError, Result};
use super::launch::launch;
use super::lease::{create, held, take, HandoffOutcome, HandoffSeams};
use crate::state::{read_handoff, read_health, read_primary, update_json};
use spotctl_core::handoff::primary::PrimaryRecord;
use spotctl_core::handoff::{assess_health, Health};
use spotctl_core::handoff::{
    failure_note, fallback, fence_step, on_trigger, Cause, FenceStep, HandlerDecision, Handoff, HandoffView,
    Source, Step,
};
use spotctl_layout::state::handoff_key;

/// What a trigger is about: the warned or relocated primary, or nothing (the watchdog).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger<'a> {
    pub cause: Cause,
    pub instance_id: &'a str,
}

/// Looks at the current epoch's handoff and moves it on: start it, resume it, fall back, give up.
pub async fn advance(seams: &HandoffSeams<'_>, trigger: Option<Trigger<'_>>) -> Result<HandoffOutcome> {
    let outcome = decide_and_act(seams, trigger).await?;
    // Whatever the decision: the epoch's handoff, if its old primary did not fence itself, is
    // moved on towards the fence the control plane makes.
    if let Some((record, _)) = read_primary(seams.store).await? {
        fence_old(seams, &spotctl_layout::handoff_id(record.epoch)).await?;
    }
    Ok(outcome)
}

/// Terminates the old primary of handoff `id` through EC2 when the fencing rule asks for it, and
/// records [`Step::OldFenced`] once EC2 says it is terminated (a later trigger, the watchdog's
/// minute or EC2's own state change, records it when it is still shutting down now).
pub async fn fence_old(seams: &HandoffSeams<'_>, id: &str) -> Result<FenceStep> {
    let Some((lease, _)) = read_handoff(seams.store, id).await? else { return Ok(FenceStep::Nothing) };
    if lease.fenced() || !lease.is_open() {
        return Ok(FenceStep::Nothing);
    }
    let old = seams.instances.describe(&lease.old.region, &lease.old.instance_id).await?.map(|i| i.state);
    let step = fence_step(&lease, old);
    match &step {
        FenceStep::Nothing => {}
        FenceStep::Terminate { instance_id, region } => {
            tracing::warn!(handoff = %id, "fencing {instance_id}: terminating it before the standby goes on");
            seams.instances.terminate(region, instance_id).await?;
        }
        FenceStep::Record => {
            let now = seams.clock.now();
            // The old primary took commits until EC2 stopped it: a window from the log, stated
            // when the handoff began, is stated again to now, from the log's safe instant.
            let restated = match lease.from_log {
                true => {
                    let epoch = match read_primary(seams.store).await? {
                        Some((r, _)) if r.epoch == lease.from_epoch => r.log_epoch(),
                        _ => lease.from_epoch,
                    };
                    crate::protect::log_view(seams.store, epoch, now, true).await?.map(|l| l.window_s)
                }
                false => None,
            };
            update_json::<Handoff, _>(seams.store, &handoff_key(id), |h| {
                let before = (h.steps.len(), h.data_loss_window_s);
                h.reach(Step::OldFenced, now);
                if let (Some(w), Some(stated)) = (restated, h.data_loss_window_s) {
                    h.data_loss_window_s = Some(stated.max(w));
                }
                (h.steps.len(), h.data_loss_window_s) != before
            })
            .await
            .map_err(|e| HandoffError::during(format!("recording the fence of handoff {id}"), e))?;
        }
    }
    Ok(step)
}

async fn decide_and_act(seams: &HandoffSeams<'_>, trigger: Option<Trigger<'_>>) -> Result<HandoffOutcome> {
    let store = seams.store;
    let now = seams.clock.now();
    let Some((record, _)) = read_primary(store).await? else {
        return Ok(HandoffOutcome::Ignored { reason: "no primary is recorded for this env".into() });
    };
    let lease = read_handoff(store, &spotctl_layout::handoff_id(record.epoch)).await?;
    let h = lease.as_ref().map(|(h, _)| h);
    let standby_state = match h.and_then(|h| h.standby.as_ref()) {
        Some(s) => seams.instances.describe(&s.region, &s.instance_id).await?.map(|v| v.state),
        None => None,
    };
    let old_state = if record.has_instance() {
        seams.instances.describe(&record.region, &record.instance_id).await?.map(|v| v.state)
    } else {
        None
    };
    let own_id = spotctl_layout::handoff_id(record.epoch);
    let own_backup = {
        let (stored, sealed) = super::apply::drain_state(store, &own_id).await?;
        stored || sealed
    };
    let fallback = fallback(super::apply::newest_complete_backup(store).await?.as_ref(), &own_id, now);
    // The watchdog judges the recorded primary's health when no handoff is open and it runs.
    let health = match (trigger, seams.limits.unhealthy_after_ms, h, old_state) {
        (None, Some(after), None, Some(s)) if s.is_alive() && record.has_instance() => {
            let report = read_health(store, &record.instance_id).await?.map(|(r, _)| r);
            let now_ms = u64::try_from(now).unwrap_or(0) * 1000;
            let legacy = spotctl_layout::backup::legacy_health_key(&record.instance_id);
            match report {
                // An agent of a build before per-writer reports still reports under the shared
                // key (which any instance may write, so it is not read): not judged.
                None if store.get(&legacy).await?.is_some() => Health::Unknown,
                report => assess_health(&record, report.as_ref(), now_ms, after),
            }
        }
        _ => Health::Unknown,
    };
    // The shipped log matters only when the primary is gone (a recovery, or a fallback), or must
    // be replaced.
    let log = match old_state {
        Some(s) if !s.is_alive() || health.is_unhealthy() => {
            crate::protect::log_view(store, record.log_epoch(), now, true).await?
        }
        _ => None,
    };
    let view = HandoffView {
        record: Some(&record),
        trigger: trigger.map(|t| t.instance_id),
        lease: h,
        standby_state,
        old_state,
        own_backup,
        fallback: fallback.clone(),
        log,
        health,
        stall_after_s: seams.limits.standby_stall_s,
        now,
    };
    let cause = trigger.map(|t| t.cause).or(h.map(|h| h.cause)).unwrap_or(Cause::Interruption);
    match on_trigger(&view) {
        HandlerDecision::Ignore { why } => Ok(HandoffOutcome::Ignored { reason: why }),
        HandlerDecision::Start { id } => {
            // Of any number of concurrent deliveries, one create succeeds.
            let handoff = held(seams, Handoff::new(cause, &record, now), now);
            match create(store, &handoff).await? {
                Some(etag) => launch(seams, &record, handoff, etag).await,
                None => Ok(HandoffOutcome::Ignored { reason: format!("handoff {id} is already under way") }),
            }
        }
        HandlerDecision::Recover { id, from, data_loss_window_s } => {
            tracing::warn!(handoff = %id, from = ?from, data_loss_window_s = ?data_loss_window_s, "{} is gone with no handoff open: recovering", record.instance_id);
            let handoff = held(seams, Handoff::recovery_from(&record, &from, data_loss_window_s, now), now);
            match create(store, &handoff).await? {
                Some(etag) => launch(seams, &record, handoff, etag).await,
                None => Ok(HandoffOutcome::Ignored { reason: format!("handoff {id} is already under way") }),
            }
        }
        HandlerDecision::Replace { id, why, data_loss_window_s } => {
            tracing::warn!(handoff = %id, "{why}: replacing it (fenced first, then recovered from the shipped log)");
            let mut handoff = Handoff::recovery_from(&record, &Source::Log, data_loss_window_s, now);
            handoff.reason = Some(why);
            let handoff = held(seams, handoff, now);
            match create(store, &handoff).await? {
                Some(etag) => launch(seams, &record, handoff, etag).await,
                None => Ok(HandoffOutcome::Ignored { reason: format!("handoff {id} is already under way") }),
            }
        }
        HandlerDecision::Resume { id, why } => {
            let Some((handoff, etag)) = lease else { return Err(vanished(&id)) };
            let mut handoff = held(seams, handoff, now);
            handoff.last_error = Some(format!("resumed: {why}"));
            if handoff.standby.take().is_some() {
                // The standby it had is gone or stuck: that counts as an attempt.
                handoff.attempts += 1;
            }
            match take(store, &handoff, &etag).await? {
                Some(etag) => launch(seams, &record, handoff, etag).await,
                None => Ok(HandoffOutcome::Ignored {
                    reason: format!("handoff {id} was resumed by another trigger"),
                }),
            }
        }
        HandlerDecision::Fallback { id, from, data_loss_window_s, why } => {
            let Some((mut handoff, etag)) = lease else { return Err(vanished(&id)) };
            handoff.restore_from(&from, data_loss_window_s);
            handoff.cause = Cause::Recovery;
            handoff.last_error = Some(why);
            if take(store, &handoff, &etag).await?.is_none() {
                return Ok(HandoffOutcome::Ignored {
                    reason: format!("handoff {id} changed while falling back"),
                });
            }
            Ok(HandoffOutcome::FellBack { id, from, data_loss_window_s })
        }
        HandlerDecision::Reopen { id, why } => {
            let Some((failed, etag)) = lease else { return Err(vanished(&id)) };
            let handoff = held(seams, failed.again(&record, now), now);
            tracing::warn!(handoff = %id, "reopening: {why}");
            match take(store, &handoff, &etag).await? {
                Some(etag) => launch(seams, &record, handoff, etag).await,
                None => {
                    Ok(HandoffOutcome::Ignored { reason: format!("handoff {id} changed while reopening") })
                }
            }
        }
        HandlerDecision::GiveUp { id, why } => {
            let Some((mut handoff, etag)) = lease else { return Err(vanished(&id)) };
            let note = failure_note(&why, fallback.as_ref());
            handoff.reach(Step::Failed, now);
            handoff.failure = Some(note.clone());
            handoff.lease = None;
            take(store, &handoff, &etag).await?;
            Ok(HandoffOutcome::Failed { id, why: note })
        }
    }
}

fn vanished(id: &str) -> HandoffError {
    HandoffError::Moved(format!("handoff {id} vanished while deciding"))
}

/// Starts the recovery of `lost`, the recorded primary, from `from`: the handoff is created
/// create-only (a concurrent recovery or trigger finds it taken) and launched like any other. The
/// decision was made on an earlier look: it is checked again here — the record must still name
/// `lost`, and EC2 must still say it is gone — so a recovery never replaces a primary that took
/// over meanwhile.
pub async fn recover(
    seams: &HandoffSeams<'_>,
    lost: &str,
    from: &Source,
    data_loss_window_s: Option<i64>,
) -> Result<HandoffOutcome> {
    let (record, state) = still_recorded(seams, lost).await?;
    match state {
        Some(s) if !s.is_alive() => {}
        other => {
            let now = other.map(|s| s.as_str()).unwrap_or("unknown to EC2");
            return Err(HandoffError::Refused(format!("{lost} is {now} now, not gone; plan again")));
        }
    }
    let now = seams.clock.now();
    let handoff = held(seams, Handoff::recovery_from(&record, from, data_loss_window_s, now), now);
    let id = handoff.id.clone();
    match begin(seams, &record, handoff).await? {
        Ok(started) => {
            fence_old(seams, &id).await?;
            Ok(started)
        }
        // A handoff of this epoch is open, or another writer was first: move it on instead (the
        // watchdog's path).
        Err(_) => advance(seams, None).await,
    }
}

/// Starts a point-in-time recovery (`spotctl recover --to-time`): the recorded primary, alive,
/// drains (the fence: nothing is written after it, and its backup keeps everything up to now),
/// and a standby recovers the shipped log up to `until` and is promoted. `expected` is the primary
/// the person saw in the plan; a recovery never moves a primary that took over meanwhile, nor
/// starts while another handoff of the epoch is open.
pub async fn point_in_time(seams: &HandoffSeams<'_>, expected: &str, until: i64) -> Result<HandoffOutcome> {
    let (record, state) = still_recorded(seams, expected).await?;
    match state {
        Some(s) if s.is_alive() => {}
        other => {
            return Err(HandoffError::Refused(format!(
            "the primary {} is {}: the handler recovers it to the end of the log first; recover to a point \
                 in time after that",
            record.instance_id,
            other.map(|s| s.as_str()).unwrap_or("unknown to EC2")
        )))
        }
    }
    let now = seams.clock.now();
    let handoff = held(seams, Handoff::point_in_time(&record, until, now), now);
    let id = handoff.id.clone();
    match begin(seams, &record, handoff).await? {
        Ok(started) => Ok(started),
        Err(Some(open)) => Err(HandoffError::Refused(format!(
            "handoff {} ({:?}) of this primary is {}; recover to a point in time once it is over",
            open.id,
            open.cause,
            if open.is_open() { "under way" } else { "already done" }
        ))),
        Err(None) => Err(HandoffError::Moved(format!(
            "handoff {id} changed meanwhile; look at `spotctl status` and try again"
        ))),
    }
}

/// The primary record, which must still name `expected` (the instance a person or an earlier look
/// decided about), and what EC2 says of that instance now.
async fn still_recorded(
    seams: &HandoffSeams<'_>,
    expected: &str,
) -> Result<(PrimaryRecord, Option<spotctl_core::handoff::primary::InstanceState>)> {
    let Some((record, _)) = read_primary(seams.store).await? else {
        return Err(HandoffError::Refused("no primary is recorded: there is nothing to recover".into()));
    };
    if record.instance_id != expected {
        return Err(HandoffError::Refused(format!(
            "the primary changed since the plan (epoch {} is {} now, not {expected}); plan again",
            record.epoch, record.instance_id
        )));
    }
    let state = seams.instances.describe(&record.region, expected).await?.map(|i| i.state);
    Ok((record, state))
}

/// Creates `handoff` (held by this actor) and launches it, or takes the place of the epoch's
/// handoff that gave up (by compare-and-swap, with a fresh attempt budget: the failed one's
/// standbys are named no more, never promote and leave). `Err` when neither could be done: the
/// epoch's handoff as found (open, or done), or `None` when another writer changed it first.
async fn begin(
    seams: &HandoffSeams<'_>,
    record: &PrimaryRecord,
    handoff: Handoff,
) -> Result<std::result::Result<HandoffOutcome, Option<Handoff>>> {
    let store = seams.store;
    if let Some(etag) = create(store, &handoff).await? {
        return launch(seams, record, handoff, etag).await.map(Ok);
    }
    match read_handoff(store, &handoff.id).await? {
        Some((failed, etag)) if failed.failed_at().is_some() => match take(store, &handoff, &etag).await? {
            Some(etag) => launch(seams, record, handoff, etag).await.map(Ok),
            None => Ok(Err(None)),
        },
        Some((found, _)) => Ok(Err(Some(found))),
        None => Ok(Err(None)),
    }
}
