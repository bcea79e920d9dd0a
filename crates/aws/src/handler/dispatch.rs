//! One event, start to end: parse, check ownership, act, record.
//!
//! Every event is recorded under its EventBridge id and kind with a create-only write, but only
//! after its action succeeded: a redelivery of a handled event finds its record and stops, while
//! the redelivery of an event whose action failed acts again. Actions are idempotent on their own
//! (the handoff lease, the fleet state's compare-and-swap), so two deliveries racing both act and
//! one of them wins.

use super::outcome::{ActError, HandlerError, Next, Outcome, Relocation};
use crate::compute::Instances;
use crate::fleet::{FleetApi, Fleets};
use crate::handoff::{advance, HandoffSeams, Limits, Placements, Trigger as HandoffTrigger};
use crate::protect::retention::RetentionReport;
use crate::sdk::clock::Clock;
use crate::state::{json_body, read_primary, StateStore, StoreError};
use spotctl_core::event::{parse, Envelope, Trigger};
use spotctl_core::handoff::Cause;
use spotctl_core::names::{Names, Schedule};
use spotctl_core::placement::{relocation_decision, Candidate, RelocationDecision};
use spotctl_layout::state as keys;
use std::sync::Arc;

/// The handler and the seams it works through.
pub struct Handler {
    pub names: Names,
    pub store: Arc<dyn StateStore>,
    pub instances: Arc<dyn Instances>,
    pub placements: Arc<dyn Placements>,
    pub fleet: Arc<dyn FleetApi>,
    pub clock: Arc<dyn Clock>,
}

impl Handler {
    pub async fn handle(&self, raw: &[u8]) -> Result<Outcome, HandlerError> {
        let event = parse(raw).map_err(|e| HandlerError::permanent(e.to_string()))?;
        if let Some(reason) = self.belongs(&event).await.map_err(|e| HandlerError::of(&e))? {
            return Ok(Outcome::NotOurs { reason });
        }
        // The id and the kind of event: a redelivery repeats both; two different events that
        // share an id (hand-written or sample events do) are still told apart.
        let key = keys::event_key(&format!("{}-{}", sanitize(&event.id), event.trigger.kind()));
        if self.store.get(&key).await.map_err(|e| HandlerError::of(&e.into()))?.is_some() {
            return Ok(Outcome::Duplicate { key });
        }
        let next = self.act(&event).await.map_err(|e| HandlerError::of(&e))?;
        let body = json_body(&key, &event).map_err(|e| HandlerError::permanent(e.to_string()))?;
        match self.store.put_if_absent(&key, body).await {
            Ok(_) => Ok(Outcome::Handled { key, next }),
            // Another delivery of the same event acted at the same time and recorded it first.
            Err(StoreError::Conflict { .. }) => Ok(Outcome::Duplicate { key }),
            Err(e) => Err(HandlerError::of(&ActError::During {
                what: "recording the event",
                source: Box::new(e.into()),
            })),
        }
    }

    /// Carries out what the event asks for.
    async fn act(&self, event: &Envelope) -> Result<Next, ActError> {
        Ok(match &event.trigger {
            Trigger::Interruption { instance_id, .. } => {
                let trigger = HandoffTrigger { cause: Cause::Interruption, instance_id };
                Next::Handoff(advance(&self.seams(&event.id), Some(trigger)).await?)
            }
            Trigger::Rebalance { .. } => {
                Next::Recorded { note: "a rebalance recommendation alone does not move the database".into() }
            }
            // The recorded primary is going or gone: the watchdog's look, at once (with no
            // handoff open and the primary gone, the recovery; with one open, its fallback).
            Trigger::StateChange { .. } => Next::Watchdog(advance(&self.seams(&event.id), None).await?),
            Trigger::FleetLaunch { group, success, .. } => {
                let id = format!("{}-{}", event.id, event.trigger.kind());
                Next::Fleet(self.fleets().on_launch(&id, &event.time, group, *success).await?)
            }
            Trigger::Schedule { rule } => match self.names.schedule(rule) {
                Some(Schedule::Relocation) => Next::Relocation(self.relocate(&event.id).await?),
                Some(Schedule::Watchdog) => {
                    // Only the watchdog's look judges the primary's health, at the env's threshold.
                    let env = crate::state::StoredEnv::read(self.store.as_ref()).await?;
                    let after = env.map(|s| s.env_file()).transpose()?.map(|e| e.health).unwrap_or_default();
                    let mut seams = self.seams(&event.id);
                    seams.limits.unhealthy_after_ms = Some(after.unhealthy_after.as_secs() * 1000);
                    Next::Watchdog(advance(&seams, None).await?)
                }
                Some(Schedule::Retention) => Next::Retention(self.retention().await?),
                Some(Schedule::FleetMetrics) => Next::FleetTick { fleets: self.fleets().tick().await? },
                // The daily advisor refresh: the live feed is fetched and cached in the state
                // bucket, so no person refreshes interruption data by hand.
                Some(Schedule::AdvisorRefresh) => {
                    let (_, source, notes) =
                        crate::placement::advisor::load(Some(self.store.as_ref()), self.clock.now()).await;
                    Next::AdvisorRefresh { source, notes }
                }
                None => {
                    return Err(ActError::NotASchedule { rule: rule.clone(), env: self.names.env.clone() })
                }
            },
        })
    }

    /// `[backup] retention`, as the stored env sets it, applied to the bucket.
    async fn retention(&self) -> Result<RetentionReport, ActError> {
        let env = crate::state::StoredEnv::require(self.store.as_ref()).await?.env_file()?;
        let keep = std::time::Duration::from_secs(env.backup.retention.as_secs());
        Ok(crate::protect::retention::apply(self.store.clone(), keep).await?)
    }

    fn fleets(&self) -> Fleets<'_> {
        Fleets {
            names: &self.names,
            store: self.store.as_ref(),
            api: self.fleet.as_ref(),
            clock: self.clock.as_ref(),
        }
    }

    /// The handoff's seams, acting as this event's handler.
    fn seams<'a>(&'a self, event: &'a str) -> HandoffSeams<'a> {
        HandoffSeams {
            store: self.store.as_ref(),
            instances: self.instances.as_ref(),
            placements: self.placements.as_ref(),
            clock: self.clock.as_ref(),
            owner: event,
            limits: Limits { standby_stall_s: standby_stall_s(), ..Default::default() },
        }
    }

    /// The scheduled relocation: rank, and move only if the best placement beats the current one
    /// by the env's margin (or the current one is no longer allowed). The old primary is asked to
    /// drain through its `spotctl:drain` tag — no FIS, so no interruption event, so no loop.
    async fn relocate(&self, event: &str) -> Result<Relocation, ActError> {
        let Some((primary, _)) = read_primary(self.store.as_ref()).await? else {
            return Ok(Relocation::NoPrimary);
        };
        let standby = self.placements.standby(&primary, false, self.clock.now()).await?;
        let here = Candidate::new(&primary.region, &primary.availability_zone, None, &primary.instance_type);
        let current = standby
            .ranking
            .entries
            .iter()
            .map(|r| r.candidate.clone())
            .find(|c| c.region == here.region && c.az == here.az && c.instance_type == here.instance_type)
            .unwrap_or(here);
        Ok(match relocation_decision(&current, &standby.ranking, &standby.policy) {
            RelocationDecision::Stay { reason } => Relocation::Stay { reason },
            RelocationDecision::Move { reason, .. } => {
                let trigger = HandoffTrigger { cause: Cause::Relocation, instance_id: &primary.instance_id };
                Relocation::Move { reason, handoff: advance(&self.seams(event), Some(trigger)).await? }
            }
        })
    }

    /// `None` when the event is this env's; else why not.
    async fn belongs(&self, event: &Envelope) -> Result<Option<String>, ActError> {
        match &event.trigger {
            Trigger::Interruption { instance_id, region, .. }
            | Trigger::Rebalance { instance_id, region } => {
                let Some(i) = self.instances.describe(region, instance_id).await? else {
                    return Ok(Some(format!("instance {instance_id} does not exist in {region}")));
                };
                Ok(match i.env() {
                    Some(e) if e == self.names.env => None,
                    Some(e) => Some(format!("instance {instance_id} belongs to env `{e}`")),
                    None => Some(format!("instance {instance_id} is not a spotctl instance")),
                })
            }
            Trigger::Schedule { rule } => Ok(self
                .names
                .schedule(rule)
                .is_none()
                .then(|| format!("rule {rule} is not one of env `{}`'s schedules", self.names.env))),
            Trigger::FleetLaunch { group, .. } => Ok((!group.starts_with(&self.names.prefix()))
                .then(|| format!("group {group} is not one of env `{}`'s", self.names.env))),
            // Every instance of the account in a candidate region changes state: only the
            // recorded primary's matters (one read of the record, no EC2 call).
            Trigger::StateChange { instance_id, .. } => {
                Ok(match read_primary(self.store.as_ref()).await?.map(|(p, _)| p.instance_id) {
                    Some(p) if &p == instance_id => None,
                    _ => Some(format!(
                        "instance {instance_id} is not env `{}`'s recorded primary",
                        self.names.env
                    )),
                })
            }
        }
    }
}

/// Event ids are UUID-like; keep keys safe whatever arrives.
fn sanitize(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

impl Handler {
    /// The handler on AWS: EC2 for instances, the env's ranking for placements, Auto Scaling, SQS
    /// and CloudWatch for fleets, the machine's clock.
    pub fn on_aws(aws: crate::sdk::Aws, names: Names, store: Arc<dyn StateStore>) -> Handler {
        use crate::compute::Ec2Instances;
        use crate::fleet::AwsFleet;
        use crate::handoff::AwsPlacements;
        Handler {
            instances: Arc::new(Ec2Instances { aws: aws.clone(), names: names.clone() }),
            placements: Arc::new(AwsPlacements {
                aws: aws.clone(),
                names: names.clone(),
                store: store.clone(),
            }),
            fleet: Arc::new(AwsFleet { aws }),
            clock: Arc::new(crate::sdk::clock::SystemClock),
            names,
            store,
        }
    }
}

/// How long a standby may go without moving: `STANDBY_STALL_SECS`, or, for the end-to-end test of a
/// restore longer than it, `SPOTCTL_TEST_STANDBY_STALL_S` (never set by an env or by `apply`).
fn standby_stall_s() -> i64 {
    static STALL: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *STALL.get_or_init(|| {
        let hook = std::env::var("SPOTCTL_TEST_STANDBY_STALL_S").ok().and_then(|v| v.parse().ok());
        hook.unwrap_or(spotctl_core::handoff::STANDBY_STALL_SECS)
    })
}
