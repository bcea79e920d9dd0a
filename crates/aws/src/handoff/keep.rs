//! Keeping the old primary instead of handing it off (`spotctl keep-primary`): the recorded
//! operation that replaces lifting a fence by hand. A handoff that cannot finish (no capacity
//! anywhere, a relocation nobody wants any more) leaves its old primary fenced; a person keeps it.
//!
//! The record moves by compare-and-swap from epoch N to N+1, naming the same instance: from then
//! on no standby of handoff `epoch-N` can win the record (its conditional write names epoch N),
//! a reopened `epoch-N` is about an epoch that is over, and the watchdog looks at `epoch-N+1`,
//! which does not exist. Of a standby promoting and a person keeping, exactly one write lands.
//! Then the handoff given up is marked failed (it says why), the drain tag is removed, and the
//! primary's agent, seeing itself kept and the tag gone, lowers the fence the tag raised and
//! turns writes on. A fence the interruption notice raised is never lowered: that instance is
//! going away, and a primary AWS warned is not kept at all.

use super::error::{HandoffError, Result};
use super::lease::HandoffSeams;
use crate::state::{json_body, open, read_handoff, read_health, read_primary, update_json, StoreError};
use serde::Serialize;
use spotctl_core::handoff::primary::{PrimaryRecord, RECORD_FORMAT_KEPT};
use spotctl_core::handoff::{Cause, Handoff, OpenedBy, Opening, Step};
use spotctl_core::names::TAG_DRAIN;
use spotctl_layout::handoff_id;
use spotctl_layout::state::{self as keys, handoff_key};

/// What keeping the primary changes, for a person to read before it does.
#[derive(Debug, Clone, Serialize)]
pub struct KeepPlan {
    pub primary: PrimaryRecord,
    /// The handoff of its epoch, given up (when there is one).
    pub handoff: Option<Handoff>,
    /// Its `spotctl:drain` tag, removed.
    pub drain_tag: Option<String>,
}

/// What keeping the primary did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptPrimary {
    pub instance_id: String,
    pub epoch: u64,
    pub gave_up: String,
}

/// Reads what keeping the recorded primary would change; refuses what cannot be kept.
pub async fn plan_keep(seams: &HandoffSeams<'_>) -> Result<KeepPlan> {
    let Some((primary, _)) = read_primary(seams.store).await? else {
        return Err(HandoffError::Refused("no primary is recorded: there is nothing to keep".into()));
    };
    let inst = seams.instances.describe(&primary.region, &primary.instance_id).await?;
    let Some(inst) = inst.filter(|i| i.state.is_alive()) else {
        return Err(HandoffError::Refused(format!(
            "the primary {} is not running: there is nothing to keep (`spotctl status` shows its recovery)",
            primary.instance_id
        )));
    };
    let handoff = read_handoff(seams.store, &handoff_id(primary.epoch)).await?.map(|(h, _)| h);
    refuse_warned(seams, &primary, handoff.as_ref()).await?;
    refuse_older_agent(seams, &primary).await?;
    let drain_tag = inst.tags.get(TAG_DRAIN).cloned();
    if handoff.is_none() && drain_tag.is_none() {
        return Err(HandoffError::Refused(format!(
            "{} is the primary and nothing is handing it off (no handoff {}, no {TAG_DRAIN} tag): there is \
             nothing to give up, and nothing was changed",
            primary.instance_id,
            handoff_id(primary.epoch)
        )));
    }
    Ok(KeepPlan { drain_tag, primary, handoff })
}

/// A primary AWS warned is being reclaimed: keeping it would only lose what it takes next. Its
/// handoff says so (the warning), or, when no handoff was opened, its own drain (only the notice
/// drains a primary with no handoff).
async fn refuse_warned(seams: &HandoffSeams<'_>, primary: &PrimaryRecord, h: Option<&Handoff>) -> Result<()> {
    let id = handoff_id(primary.epoch);
    let warned = match h {
        Some(h) => h.cause == Cause::Interruption,
        None => {
            let (stored, sealed) = super::apply::drain_state(seams.store, &id).await?;
            stored || sealed
        }
    };
    if warned {
        return Err(HandoffError::Refused(format!(
            "{} was warned of its interruption (handoff {id}): it is being reclaimed, and keeping it would lose \
             what it takes next",
            primary.instance_id
        )));
    }
    Ok(())
}

/// A kept record is format [`RECORD_FORMAT_KEPT`]: an agent that reads only older ones would
/// refuse it and stay fenced for good. Its health report says what it reads; with no report, it
/// is not known to read it.
async fn refuse_older_agent(seams: &HandoffSeams<'_>, primary: &PrimaryRecord) -> Result<()> {
    let key = spotctl_layout::health_dir(&primary.instance_id);
    let report = read_health(seams.store, &primary.instance_id).await?.map(|(r, _)| r);
    let reads = report.filter(|r| r.instance_id == primary.instance_id).map(|r| r.reads().primary);
    match reads {
        Some(n) if n >= RECORD_FORMAT_KEPT => Ok(()),
        Some(n) => Err(HandoffError::Refused(format!(
            "the agent of {} reads primary records up to format {n}, and a kept record is format \
             {RECORD_FORMAT_KEPT}: it would stay fenced; nothing was kept (let the handoff go on)",
            primary.instance_id
        ))),
        None => Err(HandoffError::Refused(format!(
            "the agent of {} has not reported which records it reads ({key}): nothing was kept; try again \
             once it has (within a minute of its next look)",
            primary.instance_id
        ))),
    }
}

impl KeepPlan {
    pub fn render(&self) -> String {
        let p = &self.primary;
        let id = handoff_id(p.epoch);
        let mut out = format!(
            "spotctl will keep {} as the primary (epoch {} becomes {}):\n",
            p.instance_id,
            p.epoch,
            p.epoch + 1
        );
        match &self.handoff {
            Some(h) if h.is_open() => {
                out.push_str(&format!("  handoff {id} ({:?}) is given up", h.cause));
                if let Some(s) = &h.standby {
                    out.push_str(&format!("; its standby {} never promotes and leaves", s.instance_id));
                }
                out.push('\n');
            }
            Some(_) => out.push_str(&format!("  handoff {id} is over already; it stays as it is\n")),
            None => out.push_str(&format!("  no handoff {id} is open\n")),
        }
        if let Some(t) = &self.drain_tag {
            out.push_str(&format!("  its {TAG_DRAIN} tag ({t}) is removed\n"));
        }
        out.push_str(
            "  its agent lowers the fence a drain tag raised and turns writes on within seconds (never one the \
             interruption notice raised)\n",
        );
        out
    }
}

/// Keeps `expected` (the primary the person saw in the plan) as the primary, as `who`.
pub async fn keep_primary(seams: &HandoffSeams<'_>, expected: &str, who: &str) -> Result<KeptPrimary> {
    let Some((record, etag)) = read_primary(seams.store).await? else {
        return Err(HandoffError::Refused("no primary is recorded: there is nothing to keep".into()));
    };
    if record.instance_id != expected {
        return Err(HandoffError::Refused(format!(
            "the primary changed since the plan (epoch {} is {} now, not {expected}): nothing was kept",
            record.epoch, record.instance_id
        )));
    }
    let gave_up = handoff_id(record.epoch);
    refuse_warned(seams, &record, read_handoff(seams.store, &gave_up).await?.map(|(h, _)| h).as_ref())
        .await?;
    refuse_older_agent(seams, &record).await?;
    let now = seams.clock.now();
    let kept = record.kept(&gave_up, who, now);
    open(seams.store, &Opening::new(kept.epoch, &kept.instance_id, None, OpenedBy::Keep, now)).await?;
    match seams.store.put_if_match(keys::PRIMARY, &etag, json_body(keys::PRIMARY, &kept)?).await {
        Ok(_) => {}
        Err(e) if e.is_conflict() => {
            return Err(HandoffError::Moved(
                "the primary record changed meanwhile (a standby promoted?): nothing was kept; look at \
                 `spotctl status`"
                    .into(),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    // The record moved: nothing can promote for `gave_up` any more. What follows says so and
    // lets the agent lift its fence; the next run finishes it if this one stops here.
    let note = format!("given up: {who} kept {expected} as the primary (epoch {})", kept.epoch);
    update_json::<Handoff, _>(seams.store, &handoff_key(&gave_up), |h| {
        if !h.is_open() {
            return false;
        }
        h.reach(Step::Failed, now);
        h.failure = Some(note.clone());
        h.lease = None;
        true
    })
    .await
    .map_err(|e: StoreError| HandoffError::during(format!("marking {gave_up} given up"), e))?;
    seams.instances.untag(&record.region, &record.instance_id, TAG_DRAIN).await?;
    Ok(KeptPrimary { instance_id: expected.to_string(), epoch: kept.epoch, gave_up })
}
