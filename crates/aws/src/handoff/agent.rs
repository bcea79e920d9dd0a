//! The on-instance agent: one look at the world (what this instance is, through instance metadata;
//! what the primary record says), the decision `spotctl_core::handoff` makes of it, and that
//! decision carried out — drain, restore and promote, or retire. The watcher (`spotctl agent
//! watch`) calls [`Agent::step`] every few seconds and logs what was done under the
//! `spot-handler` syslog tag.

use super::database::{Database, Drained, Restored};
use super::promote::{promote, Promotion, Successor};
use crate::compute::Instances;
use crate::sdk::clock::Clock;
use crate::sdk::imds::{paths, Metadata};
use crate::state::{list_handoffs, read_primary, update_json, StateStore};
use anyhow::{Context, Result};
use serde::Serialize;
use spotctl_core::handoff::{
    backup_prefix, failure_note, fallback, lease_key, primary_step, standby_step, Handoff, PrimaryAction,
    PrimaryView, StandbyAction, StandbyView, Step,
};
use spotctl_core::names::{TAG_DRAIN, TAG_HANDOFF, TAG_ROLE};
use spotctl_core::primary::{PrimaryRecord, Role};
use std::sync::Arc;

/// Everything the agent touches.
pub struct Agent {
    pub store: Arc<dyn StateStore>,
    pub instances: Arc<dyn Instances>,
    pub metadata: Arc<dyn Metadata>,
    pub db: Arc<dyn Database>,
    pub clock: Arc<dyn Clock>,
}

/// Which actor decided, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "actor", content = "next", rename_all = "snake_case")]
pub enum Decision {
    Primary(PrimaryAction),
    Standby(StandbyAction),
}

/// One look at the world and the decision it leads to.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub instance_id: String,
    pub region: String,
    pub role: Role,
    pub handoff: Option<String>,
    pub drain_tag: Option<String>,
    pub interruption_notice: bool,
    pub primary: Option<PrimaryRecord>,
    /// A standby's handoff has its manifest (the backup is complete).
    pub manifest_present: bool,
    pub decision: Decision,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Did {
    /// Nothing but what the decision says (serve, wait).
    Nothing,
    Drained {
        id: String,
        drained: Drained,
    },
    Restored {
        id: String,
        restored: Restored,
        promotion: Promotion,
    },
    /// Restore or verification failed: never promoted; the note names the fallback.
    Refused {
        id: String,
        note: String,
    },
    Retired {
        successor: String,
        instance_id: String,
    },
}

impl std::fmt::Display for Did {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Did::Nothing => f.write_str("nothing to do"),
            Did::Drained { id, drained: d } => write!(
                f,
                "drained {} tables ({} as InnoDB files), {} rows, to {} in {} ms",
                d.tables,
                d.tables_as_files,
                d.rows,
                backup_prefix(id),
                d.ms
            ),
            Did::Restored { restored: r, promotion, .. } => {
                write!(
                    f,
                    "restored and verified {} tables, {} rows in {} ms; {promotion}",
                    r.tables, r.rows, r.ms
                )
            }
            Did::Refused { note, .. } => f.write_str(note),
            Did::Retired { successor, instance_id } => {
                write!(f, "retired: {successor} is the primary; terminating {instance_id}")
            }
        }
    }
}

impl Agent {
    /// Looks once: this instance, its tags, the notice, the primary record; and decides.
    pub async fn observe(&self, drained: bool) -> Result<Observation> {
        let md = self.metadata.as_ref();
        let instance_id = md.require(paths::INSTANCE_ID).await?;
        let region = md.require(paths::REGION).await?;
        let role = md.read(&paths::tag(TAG_ROLE)).await?.with_context(|| {
            format!("this instance has no {TAG_ROLE} tag in its metadata (are instance metadata tags on?)")
        })?;
        let role = Role::parse(&role)?;
        let handoff = md.read(&paths::tag(TAG_HANDOFF)).await?;
        let drain_tag = md.read(&paths::tag(TAG_DRAIN)).await?;
        let interruption_notice = md.read(paths::SPOT_ACTION).await?.is_some();
        let primary = read_primary(self.store.as_ref()).await?.map(|(p, _)| p);
        let (manifest_present, decision) = match role {
            Role::Standby => {
                let id = handoff.clone().unwrap_or_default();
                let manifest = format!("{}/manifest.json", backup_prefix(&id));
                let present = self.store.get(&manifest).await?.is_some();
                let view = StandbyView {
                    self_id: instance_id.clone(),
                    handoff_id: id,
                    record: primary.clone(),
                    manifest_present: present,
                    verified: false,
                    failure: None,
                };
                (present, Decision::Standby(standby_step(&view)))
            }
            Role::Primary => {
                let view = PrimaryView {
                    self_id: instance_id.clone(),
                    record: primary.clone(),
                    interruption_notice,
                    drain_tag: drain_tag.clone(),
                    drained,
                };
                (false, Decision::Primary(primary_step(&view)))
            }
        };
        Ok(Observation {
            instance_id,
            region,
            role,
            handoff,
            drain_tag,
            interruption_notice,
            primary,
            manifest_present,
            decision,
        })
    }

    /// One look and the action it calls for, carried out.
    pub async fn step(&self, drained: bool) -> Result<(Observation, Did)> {
        let obs = self.observe(drained).await?;
        let did = match &obs.decision {
            Decision::Standby(StandbyAction::Restore) => {
                let id = obs.handoff.clone().unwrap_or_default();
                self.restore_and_promote(&obs, &id).await?
            }
            Decision::Primary(PrimaryAction::Drain { id }) => {
                let began = self.clock.now();
                let d = self.db.drain(self.store.clone(), id).await?;
                self.stamp(id, &[(Step::DrainStarted, began), (Step::Drained, self.clock.now())]).await?;
                Did::Drained { id: id.clone(), drained: d }
            }
            Decision::Primary(PrimaryAction::Retire { successor }) => {
                if let Some(h) = obs.primary.as_ref().and_then(|p| p.handoff.clone()) {
                    self.stamp(&h, &[(Step::OldRetired, self.clock.now())]).await?;
                }
                self.instances.terminate(&obs.region, &obs.instance_id).await?;
                Did::Retired { successor: successor.clone(), instance_id: obs.instance_id.clone() }
            }
            Decision::Primary(_) | Decision::Standby(_) => Did::Nothing,
        };
        Ok((obs, did))
    }

    async fn restore_and_promote(&self, obs: &Observation, id: &str) -> Result<Did> {
        let began = self.clock.now();
        match self.db.restore(self.store.clone(), id).await {
            Ok(restored) => {
                self.stamp(id, &[(Step::RestoreStarted, began), (Step::Verified, self.clock.now())]).await?;
                let md = self.metadata.as_ref();
                let me = Successor {
                    instance_id: obs.instance_id.clone(),
                    region: obs.region.clone(),
                    availability_zone: md.require(paths::AZ).await?,
                    instance_type: md.require(paths::INSTANCE_TYPE).await?,
                };
                let (store, db, ec2) = (self.store.as_ref(), self.db.as_ref(), self.instances.as_ref());
                let promotion = promote(store, db, ec2, me, id, self.clock.now()).await?;
                if let Promotion::Promoted { .. } = promotion {
                    self.stamp(id, &[(Step::Promoted, self.clock.now())]).await?;
                }
                Ok(Did::Restored { id: id.to_string(), restored, promotion })
            }
            // A standby that cannot verify never promotes, and says why, on the record too: with
            // the backup to fall back to and the data-loss window it means.
            Err(e) => {
                let why = format!("refused to promote: {e:#}");
                let note = self.record_failure(id, &why).await.unwrap_or_else(|e2| {
                    format!("{why} (and the handoff record could not be updated: {e2:#})")
                });
                Ok(Did::Refused { id: id.to_string(), note })
            }
        }
    }

    /// Stamps steps on the handoff's record (a conditional write: the handler and both agents
    /// write it). A missing record (a drain the handler never saw, such as one started by the
    /// IMDS notice alone) is left missing.
    pub(crate) async fn stamp(&self, id: &str, steps: &[(Step, i64)]) -> Result<()> {
        update_json::<Handoff, _>(self.store.as_ref(), &lease_key(id), |h| {
            for (step, at) in steps {
                h.reach(*step, *at);
            }
            true
        })
        .await
        .with_context(|| format!("recording the progress of handoff {id}"))?;
        Ok(())
    }

    /// Marks the handoff failed with why, the fallback backup and the data-loss window.
    async fn record_failure(&self, id: &str, why: &str) -> Result<String> {
        let now = self.clock.now();
        let all = list_handoffs(self.store.as_ref()).await?;
        let note = failure_note(why, fallback(&all, id, now).as_ref());
        update_json::<Handoff, _>(self.store.as_ref(), &lease_key(id), |h| {
            h.reach(Step::Failed, now);
            h.failure = Some(note.clone());
            true
        })
        .await?;
        Ok(note)
    }
}
