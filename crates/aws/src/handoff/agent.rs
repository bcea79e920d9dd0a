//! The on-instance agent: one look at the world (what this instance is, through instance metadata;
//! what the primary record and the handoff say), the decision `spotctl_core::handoff` makes of it,
//! and that decision carried out — serve (re-asserting the primary's tag and writes on), drain,
//! restore and promote, retire, or leave. The watcher (`spotctl agent watch`) calls
//! [`Agent::step`] every few seconds and logs what was done under the `spot-handler` syslog tag.
//!
//! Fencing is enforced, not logged: every database instance boots with writes off (user-data),
//! and only an agent whose instance the primary record names turns them on; every other decision
//! turns them off again if anything turned them on.

use super::apply::drain_state;
use super::database::{Database, LogTarget};
use super::endpoint::{EndpointDuty, EndpointStep};
use super::error::{HandoffError, Result};
use super::fence::{Allowed, LocalFence};
use super::progress::Restoring;
use super::promote::{promote, Promotion, Successor};
use super::report::{Decision, Did, Observation};
use crate::compute::Instances;
use crate::sdk::clock::Clock;
use crate::sdk::imds::{paths, Metadata};
use crate::state::{get_record, json_body, read_handoff, read_primary, update_json, StateStore, StoreError};
use spotctl_core::handoff::primary::{PrimaryRecord, Role};
use spotctl_core::handoff::{
    failure_note, fallback, primary_step, standby_step, Handoff, PrimaryAction, PrimaryView, Source,
    StandbyAction, StandbyView, Step,
};
use spotctl_core::handoff::{HealthChecks, HealthReport, NewerFormat};
use spotctl_core::names::{TAG_DRAIN, TAG_HANDOFF, TAG_ROLE};
use spotctl_layout::state::handoff_key;
use spotctl_layout::{handoff_id, health_key};
use std::sync::Arc;

/// Everything the agent touches.
pub struct Agent {
    pub store: Arc<dyn StateStore>,
    pub instances: Arc<dyn Instances>,
    pub metadata: Arc<dyn Metadata>,
    pub db: Arc<dyn Database>,
    pub clock: Arc<dyn Clock>,
    /// The endpoint this instance points while it is the primary (`None`: the env has none yet).
    pub endpoint: Option<Arc<EndpointDuty>>,
    /// Raised by the notice or a drain tag, before anything else; shared with the watcher's own
    /// check of it.
    pub fence: Arc<LocalFence>,
    /// The restore under way here, which the watcher's timer stamps on the handoff.
    pub restoring: Arc<Restoring>,
    /// This instance's credentials' `aws:userid` (`<role id>:<instance id>`): its health reports
    /// go under this writer's key, the only one of them its role may write.
    pub writer: String,
}

impl Agent {
    /// Looks once: this instance, its tags, the notice, the primary record and the handoff; decides.
    pub async fn observe(&self) -> Result<Observation> {
        let md = self.metadata.as_ref();
        let store = self.store.as_ref();
        let instance_id = md.require(paths::INSTANCE_ID).await?;
        let region = md.require(paths::REGION).await?;
        let role = md.read(&paths::tag(TAG_ROLE)).await?.ok_or(HandoffError::NoRoleTag)?;
        let role = Role::parse(&role)?;
        let handoff = md.read(&paths::tag(TAG_HANDOFF)).await?;
        let drain_tag = md.read(&paths::tag(TAG_DRAIN)).await?;
        let interruption_notice = md.read(paths::SPOT_ACTION).await?.is_some();
        // Before the bucket: a primary cut off from it is fenced all the same.
        let fenced = self.fence.observed(interruption_notice, drain_tag.as_deref(), self.db.as_ref()).await?;
        let primary = read_primary(store).await?.map(|(p, _)| p);
        let mut replaced_by = None;
        let (manifest_present, decision) = match (role, &primary) {
            // A standby the record names is the primary now: it serves (and says so) like one.
            (Role::Standby, Some(p)) if p.instance_id != instance_id => {
                let id = handoff.clone().unwrap_or_default();
                let lease = read_handoff(store, &id).await?.map(|(h, _)| h);
                let drain = match lease.as_ref() {
                    // The recovery checks the log and its base before it writes anything.
                    Some(h) if h.from_log && !h.waits_for_drain() => None,
                    // The old primary's own drain (stored or sealed; for a point in time, the
                    // fence), or the backup a recovery names.
                    Some(h) if h.waits_for_drain() => Some(h.id.clone()),
                    Some(h) => Some(h.backup_id().to_string()),
                    None => Some(id.clone()),
                };
                let (present, sealed) = match &drain {
                    None => (true, false),
                    Some(b) => drain_state(store, b).await?,
                };
                // A handoff that restores from elsewhere: the old primary's own drain, if it
                // completed after all (an agent back in time), is lossless and comes first. Read
                // once the fence is recorded: after that, nothing of the old primary moves.
                let own_drain = match lease.as_ref() {
                    Some(h) if h.names_its_source() && h.fenced() && h.until_unix.is_none() => {
                        drain_state(store, &h.id).await?
                    }
                    _ => (false, false),
                };
                let view = StandbyView {
                    self_id: instance_id.clone(),
                    handoff_id: id,
                    record: primary.clone(),
                    lease,
                    manifest_present: present,
                    sealed,
                    own_drain,
                    verified: false,
                    failure: None,
                };
                (present || sealed, Decision::Standby(standby_step(&view)))
            }
            _ => {
                let own = primary.as_ref().map(|p| handoff_id(p.epoch));
                let drained = match &own {
                    Some(id) if primary.as_ref().is_some_and(|p| p.instance_id == instance_id) => {
                        let (stored, sealed) = drain_state(store, id).await?;
                        stored || sealed
                    }
                    _ => false,
                };
                replaced_by = match primary.as_ref() {
                    Some(p) if p.instance_id != instance_id => replaced(store, p, &instance_id).await?,
                    _ => None,
                };
                let succeeded_me = replaced_by.is_some();
                let view = PrimaryView {
                    self_id: instance_id.clone(),
                    record: primary.clone(),
                    interruption_notice,
                    drain_tag: drain_tag.clone(),
                    drained,
                    succeeded_me,
                };
                (drained, Decision::Primary(primary_step(&view)))
            }
        };
        Ok(Observation {
            instance_id,
            region,
            role,
            handoff,
            drain_tag,
            interruption_notice,
            fenced,
            primary,
            manifest_present,
            replaced_by,
            decision,
        })
    }

    /// One look and the action it calls for, carried out.
    pub async fn step(&self) -> Result<(Observation, Did)> {
        let obs = match self.observe().await {
            Ok(obs) => obs,
            Err(e) => {
                // A record a newer spotctl wrote: act on nothing (the fence the notice raised
                // stays), and say so where `status` reads it.
                if let HandoffError::Store(StoreError::Newer(newer)) = e.root() {
                    if let Err(r) = self.report_refused(newer).await {
                        tracing::warn!("reporting the refusal: {r}");
                    }
                }
                return Err(e);
            }
        };
        // The recorded primary reports why it does not serve when its agent keeps it fenced (it
        // serves: `serve` reports what its checks found).
        let recorded = obs.primary.as_ref().filter(|p| p.instance_id == obs.instance_id);
        let fenced_why = match &obs.decision {
            Decision::Primary(PrimaryAction::Drain { id }) => Some(format!("draining for {id}")),
            Decision::Primary(PrimaryAction::WaitForSuccessor) => {
                Some("drained; waiting for its successor".into())
            }
            _ => None,
        };
        if let (Some(p), Some(why)) = (recorded, &fenced_why) {
            self.report_fenced(&obs.instance_id, p.epoch, why).await?;
        }
        let did = match &obs.decision {
            Decision::Primary(PrimaryAction::Serve) => self.serve(&obs).await?,
            // A promotion cut short after the record write: serve, and stamp what was missed.
            Decision::Standby(StandbyAction::Serve) => {
                let did = self.serve(&obs).await?;
                if let Some(h) = &obs.handoff {
                    self.stamp(h, &[(Step::Promoted, self.clock.now())]).await?;
                }
                did
            }
            Decision::Primary(PrimaryAction::Drain { id }) => {
                let began = self.clock.now();
                let epoch = obs.primary.as_ref().map(|p| p.log_epoch()).unwrap_or(0);
                // Sealed when the shipped log holds everything (the warning then bounds only
                // the log's tail); else stored in full, as before. Either fences for good.
                let did = match self.db.seal(self.store.clone(), id, epoch).await {
                    Ok(sealed) => Did::Sealed { id: id.clone(), sealed },
                    Err(e) => {
                        let drained = self.db.drain(self.store.clone(), id).await?;
                        Did::Drained { id: id.clone(), drained, unsealed: Some(e.to_string()) }
                    }
                };
                self.stamp(id, &[(Step::DrainStarted, began), (Step::Drained, self.clock.now())]).await?;
                did
            }
            Decision::Primary(PrimaryAction::Retire { successor }) => {
                self.db.set_writable(false).await?;
                if let Some(h) = &obs.replaced_by {
                    self.stamp(h, &[(Step::OldRetired, self.clock.now())]).await?;
                }
                self.instances.terminate(&obs.region, &obs.instance_id).await?;
                Did::Retired { successor: successor.clone(), instance_id: obs.instance_id.clone() }
            }
            Decision::Primary(PrimaryAction::WaitForSuccessor | PrimaryAction::StayFenced(_))
            | Decision::Standby(StandbyAction::WaitForManifest | StandbyAction::WaitForFence) => {
                self.db.set_writable(false).await?;
                Did::Nothing
            }
            Decision::Standby(StandbyAction::Restore { from, until }) => {
                let id = obs.handoff.clone().unwrap_or_default();
                self.restore_and_promote(&obs, &id, from, *until).await?
            }
            // Reached only by a step that restored in this process (`restore_and_promote`).
            Decision::Standby(StandbyAction::Promote { .. }) => Did::Nothing,
            Decision::Standby(StandbyAction::Abandon(why) | StandbyAction::Refuse(why)) => {
                self.leave(&obs, why).await?
            }
        };
        Ok((obs, did))
    }

    /// The recorded primary: tagged `primary`, writes on. Either may be missing after a promotion
    /// cut short, or a hand edit; each look puts them back.
    async fn serve(&self, obs: &Observation) -> Result<Did> {
        let epoch = obs.primary.as_ref().map(|p| p.epoch).unwrap_or(0);
        // The log this primary ships continues its own timeline (after a handoff, a new one),
        // begun before it takes a write, as a promotion does: a promotion cut short before its
        // timeline took no write, and none is taken here until the timeline is begun (a failure
        // ends this look; the shipper starts only after). Writes on first would leave commits no
        // shipper stores, and the handler's window for a loss would not count them. First of
        // all, so that what lowers a kept primary's fence and what turns writes on stay together.
        let log_epoch = obs.primary.as_ref().map(|p| p.log_epoch()).unwrap_or(0);
        self.db.begin_log(self.store.clone(), log_epoch).await?;
        let mut repaired = false;
        if obs.role != Role::Primary {
            self.instances.tag(&obs.region, &obs.instance_id, TAG_ROLE, Role::Primary.as_str()).await?;
            repaired = true;
        }
        // Kept by a person (`spotctl keep-primary`): the fence the given-up handoff's drain tag
        // raised comes down (never one the notice raised).
        // (`serve` runs for the recorded primary only: the record names this instance.)
        if let Some(k) = obs.primary.as_ref().and_then(|p| p.kept.as_ref()) {
            if self.fence.lift_kept(obs.interruption_notice, obs.drain_tag.as_deref(), &k.gave_up).await {
                tracing::warn!("kept as the primary by a person: the drain tag's fence is lowered");
            }
        }
        let fenced = self.fence.raised().await;
        if fenced.is_none() {
            // Before anything that needs the server: one that does not answer is reported so.
            self.report_health(&obs.instance_id, epoch).await?;
        }
        match self.fence.allow_writes(self.db.as_ref()).await? {
            Allowed::Already => {}
            Allowed::TurnedOn => repaired = true,
            // Fenced by a drain tag that does not name this epoch's handoff: the record names this
            // instance, but writes stay off until a person keeps it (`spotctl keep-primary`).
            Allowed::Fenced(why) => {
                self.report_fenced(&obs.instance_id, epoch, &format!("kept fenced by {why}")).await?;
                return Ok(Did::KeptFenced { why });
            }
        }
        let endpoint = self.point_endpoint(epoch, false).await;
        Ok(Did::Served { repaired, endpoint })
    }

    /// Checks the server and reports what it found under this agent's own key (the watchdog judges
    /// the primary from these reports: ARD.md, *A primary that cannot serve*).
    async fn report_health(&self, instance_id: &str, epoch: u64) -> Result<()> {
        let checks = self.db.health().await;
        let same = |b: &HealthReport| {
            b.epoch == epoch && b.fenced.is_none() && b.refused.is_none() && same_checks(b, &checks)
        };
        self.report(instance_id, same, |before, now_ms| {
            HealthReport::after(before, instance_id, epoch, checks.clone(), now_ms)
        })
        .await
    }

    /// Reports that this agent refuses a record a newer spotctl wrote, with what its checks found
    /// (a primary's server may go on serving: the health rule still watches it).
    async fn report_refused(&self, newer: &NewerFormat) -> Result<()> {
        let instance_id = self.metadata.require(paths::INSTANCE_ID).await?;
        let checks = self.db.health().await;
        let why = newer.to_string();
        let same = |b: &HealthReport| b.refused.as_deref() == Some(why.as_str()) && same_checks(b, &checks);
        self.report(&instance_id, same, |before, now_ms| {
            let epoch = before.map_or(0, |b| b.epoch);
            let report = HealthReport::after(before, &instance_id, epoch, checks.clone(), now_ms);
            HealthReport { refused: Some(why.clone()), ..report }
        })
        .await
    }

    /// Reports that this server's agent keeps it fenced, and why (not serving is expected).
    async fn report_fenced(&self, instance_id: &str, epoch: u64, why: &str) -> Result<()> {
        let same = |b: &HealthReport| b.fenced.as_deref() == Some(why);
        self.report(instance_id, same, |_, now_ms| HealthReport::fenced(instance_id, epoch, why, now_ms))
            .await
    }

    /// Writes the report `make` makes of this instance's previous one, under its key: every
    /// [`HEALTH_EVERY_MS`] while the previous one says the `same`, at once when it does not.
    async fn report(
        &self,
        instance_id: &str,
        same: impl Fn(&HealthReport) -> bool,
        make: impl FnOnce(Option<&HealthReport>, u64) -> HealthReport,
    ) -> Result<()> {
        let key = health_key(instance_id, &self.writer);
        let before = get_record::<HealthReport>(self.store.as_ref(), &key).await?.map(|(r, _)| r);
        let now_ms = u64::try_from(self.clock.now()).unwrap_or(0) * 1000;
        let fresh = |b: &HealthReport| now_ms.saturating_sub(b.written_at_ms) < HEALTH_EVERY_MS;
        if before.as_ref().is_some_and(|b| same(b) && fresh(b)) {
            return Ok(());
        }
        let report = make(before.as_ref(), now_ms);
        self.store.put(&key, json_body(&key, &report)?).await?;
        Ok(())
    }

    /// Points the endpoint at this instance for `epoch` (see `endpoint.rs`).
    async fn point_endpoint(&self, epoch: u64, force: bool) -> Option<EndpointStep> {
        let duty = self.endpoint.as_ref()?;
        duty.point(self.metadata.as_ref(), epoch, self.clock.now(), force).await
    }

    /// A standby that will never promote: writes off, and the instance terminates itself.
    async fn leave(&self, obs: &Observation, why: &str) -> Result<Did> {
        self.db.set_writable(false).await?;
        self.instances.terminate(&obs.region, &obs.instance_id).await?;
        Ok(Did::Abandoned { why: why.to_string() })
    }

    async fn restore_and_promote(
        &self,
        obs: &Observation,
        id: &str,
        from: &Source,
        until: Option<i64>,
    ) -> Result<Did> {
        let began = self.clock.now();
        // The epoch this standby will serve as names the timeline a recovery begins.
        let epoch = obs.primary.as_ref().map(|p| p.epoch + 1).unwrap_or(1);
        let progress = self.restoring.begin(id, began);
        let result = match from {
            Source::Backup(backup) => self.db.restore(self.store.clone(), backup, progress).await,
            Source::Log => {
                let to = match until.and_then(|u| u32::try_from(u).ok()) {
                    Some(u) => LogTarget::Until(u),
                    None => LogTarget::End,
                };
                self.db.recover_log(self.store.clone(), epoch, &to, progress).await
            }
            Source::Sealed(backup) => {
                let to = LogTarget::Seal(backup.clone());
                self.db.recover_log(self.store.clone(), epoch, &to, progress).await
            }
        };
        self.restoring.end();
        let restored = match result {
            Ok(r) => r,
            // The bucket could not be read just then: this look fails, the next tries again
            // (what the restore wrote so far is replaced; nothing was verified or promoted).
            Err(e) if e.bucket_unavailable() => {
                return Err(HandoffError::during("restoring: the state bucket did not answer", e))
            }
            // A standby that cannot verify never promotes. It says why on the record (with the
            // backup to fall back to and the data-loss window), gives the handoff back for another
            // attempt, and leaves.
            Err(e) => {
                let why = format!("refused to promote: {e}");
                let note = self.record_refusal(id, &obs.instance_id, &why).await.unwrap_or_else(|e2| {
                    format!("{why} (and the handoff record could not be updated: {e2})")
                });
                self.db.set_writable(false).await?;
                self.instances.terminate(&obs.region, &obs.instance_id).await?;
                return Ok(Did::Refused { id: id.to_string(), note });
            }
        };
        self.stamp(id, &[(Step::RestoreStarted, began), (Step::Verified, self.clock.now())]).await?;
        // Decide again on what is stored now: the restore took time, the handoff may have moved on.
        let lease = read_handoff(self.store.as_ref(), id).await?.map(|(h, _)| h);
        let view = StandbyView {
            self_id: obs.instance_id.clone(),
            handoff_id: id.to_string(),
            record: read_primary(self.store.as_ref()).await?.map(|(p, _)| p),
            lease,
            manifest_present: true,
            sealed: false,
            own_drain: (false, false),
            verified: true,
            failure: None,
        };
        let mut endpoint = None;
        let promotion = match standby_step(&view) {
            StandbyAction::Promote { .. } => {
                let md = self.metadata.as_ref();
                let me = Successor {
                    instance_id: obs.instance_id.clone(),
                    region: obs.region.clone(),
                    availability_zone: md.require(paths::AZ).await?,
                    instance_type: md.require(paths::INSTANCE_TYPE).await?,
                };
                let (db, ec2) = (self.db.as_ref(), self.instances.as_ref());
                promote(&self.store, db, &self.fence, ec2, me, id, self.clock.now()).await?
            }
            StandbyAction::Serve => {
                self.serve(obs).await?;
                Promotion::Promoted {
                    epoch: view.record.map(|r| r.epoch).unwrap_or(0),
                    instance_id: obs.instance_id.clone(),
                }
            }
            other => Promotion::StoodDown { reason: format!("{other:?}") },
        };
        match &promotion {
            Promotion::Promoted { epoch, .. } => {
                self.stamp(id, &[(Step::Promoted, self.clock.now())]).await?;
                // The last step: the name follows. A failure here is retried by every look of the
                // serving agent; the promotion stands.
                endpoint = self.point_endpoint(*epoch, true).await;
                if matches!(endpoint, Some(EndpointStep::Pointed { .. } | EndpointStep::Unchanged)) {
                    self.stamp(id, &[(Step::EndpointPointed, self.clock.now())]).await?;
                }
            }
            Promotion::StoodDown { reason } => {
                self.leave(obs, reason).await?;
            }
        }
        Ok(Did::Restored { id: id.to_string(), restored, promotion, endpoint })
    }

    /// Stamps steps on the handoff's record (a conditional write: the handler and both agents
    /// write it). A missing record (a drain the handler never saw, such as one started by the
    /// IMDS notice alone) is left missing.
    pub(crate) async fn stamp(&self, id: &str, steps: &[(Step, i64)]) -> Result<()> {
        update_json::<Handoff, _>(self.store.as_ref(), &handoff_key(id), |h| {
            let before = h.steps.clone();
            for (step, at) in steps {
                h.reach(*step, *at);
            }
            h.steps != before
        })
        .await
        .map_err(|e| HandoffError::during(format!("recording the progress of handoff {id}"), e))?;
        Ok(())
    }

    /// Records a failed restore on the handoff: one more attempt spent, the standby slot freed
    /// (only if it is still this instance's), why, the fallback and its data-loss window.
    async fn record_refusal(&self, id: &str, me: &str, why: &str) -> Result<String> {
        let now = self.clock.now();
        let newest = super::apply::newest_complete_backup(self.store.as_ref()).await?;
        let note = failure_note(why, fallback(newest.as_ref(), id, now).as_ref());
        update_json::<Handoff, _>(self.store.as_ref(), &handoff_key(id), |h| {
            if h.standby.as_ref().is_none_or(|s| s.instance_id != me) {
                return false;
            }
            h.standby = None;
            h.attempts += 1;
            h.last_error = Some(note.clone());
            true
        })
        .await?;
        Ok(note)
    }
}

/// How often a serving primary's health report is written while nothing changes.
pub const HEALTH_EVERY_MS: u64 = 10_000;

/// Whether a previous report found what `checks` found.
fn same_checks(before: &HealthReport, checks: &HealthChecks) -> bool {
    before.checks.passed() == checks.passed() && before.checks.problem == checks.problem
}

/// How many epochs back an old primary looks for the handoff that replaced it (a primary that
/// missed its retirement while its successor was replaced in turn).
const REPLACED_LOOKBACK: u64 = 8;

/// Whether a handoff that promoted replaced `me`: the one that made the recorded primary, or one
/// of the few before it (the record may have moved on more than once while this agent was down).
async fn replaced(store: &dyn StateStore, record: &PrimaryRecord, me: &str) -> Result<Option<String>> {
    if let Some(h) = &record.handoff {
        if read_handoff(store, h).await?.is_some_and(|(h, _)| h.old.instance_id == me) {
            return Ok(Some(h.clone()));
        }
    }
    for epoch in (record.epoch.saturating_sub(REPLACED_LOOKBACK).max(1)..record.epoch).rev() {
        let id = handoff_id(epoch);
        if record.handoff.as_deref() == Some(id.as_str()) {
            continue;
        }
        // The record is past epoch `epoch`, and only a standby of handoff `epoch-N` moves it
        // from N to N+1: that handoff replaced its old primary, whether or not its standby lived
        // to stamp `Promoted` (a crash right after the record write leaves it unstamped).
        if let Some((h, _)) = read_handoff(store, &id).await? {
            if h.old.instance_id == me {
                return Ok(Some(id));
            }
        }
    }
    Ok(None)
}
