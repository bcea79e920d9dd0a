//! The handler: what the Lambda (and `spotctl handle`) does with one event.
//!
//! Every event is parsed, checked to belong to this env, and recorded in the state bucket under its
//! EventBridge id with a create-only write, so a duplicate delivery finds its record taken and
//! does nothing more. What follows a recorded event (the handoff, the fleet failover) hangs off
//! the decision returned here.

use crate::clients::Aws;
use crate::store::{Cas, S3Store};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use spotctl_core::event::{parse, Envelope, Trigger};
use spotctl_core::names::{keys, Names, TAG_ENV};

/// Where the handler runs: an env's names and its state bucket.
pub struct HandlerEnv {
    pub aws: Aws,
    pub names: Names,
    pub store: S3Store,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Recorded for the first time; `next` says what spotctl does about it.
    Recorded { key: String, next: String },
    /// The same event id was recorded before: a duplicate delivery.
    Duplicate { key: String },
    /// The event is about something that is not this env's.
    NotOurs { reason: String },
}

/// The error a Lambda invocation returns: it says whether EventBridge retrying can help.
#[derive(Debug, thiserror::Error)]
#[error("{message} (retryable: {retryable})")]
pub struct HandlerError {
    pub message: String,
    pub retryable: bool,
}

impl HandlerEnv {
    /// From the variables apply gives the function (`SPOTCTL_ENV`, `SPOTCTL_BUCKET`,
    /// `SPOTCTL_HOME_REGION`) and the account the function runs in.
    pub fn from_lambda(aws: Aws, env: &str, bucket: &str, home: &str, account: &str) -> HandlerEnv {
        let names = Names::new(env, account, home);
        let store = S3Store::new(aws.s3(home), bucket);
        HandlerEnv { aws, names, store }
    }

    pub async fn handle(&self, raw: &[u8]) -> Result<Outcome, HandlerError> {
        let event = parse(raw).map_err(|e| HandlerError { message: e.to_string(), retryable: false })?;
        let ours = self
            .belongs(&event)
            .await
            .map_err(|e| HandlerError { message: format!("{e:#}"), retryable: true })?;
        if let Some(reason) = ours {
            return Ok(Outcome::NotOurs { reason });
        }
        // The id and the kind of event: a redelivery repeats both; two different events that
        // share an id (hand-written or sample events do) are still told apart.
        let key = format!("{}{}-{}.json", keys::EVENTS, sanitize(&event.id), event.trigger.kind());
        let body = serde_json::to_vec_pretty(&event)
            .map_err(|e| HandlerError { message: e.to_string(), retryable: false })?;
        match self.store.put_if_absent(&key, body).await {
            Ok(Cas::Written) => Ok(Outcome::Recorded { key, next: self.act(&event).await }),
            Ok(Cas::Conflict) => Ok(Outcome::Duplicate { key }),
            Err(e) => Err(HandlerError { message: format!("recording the event: {e:#}"), retryable: true }),
        }
    }

    /// Carries out what a recorded event asks for, where that is this module's to do, and says
    /// what happened. The daily advisor refresh is done here: the live feed is fetched and cached
    /// in the state bucket, so no person refreshes interruption data by hand.
    async fn act(&self, event: &Envelope) -> String {
        match &event.trigger {
            Trigger::Schedule { rule } if rule.ends_with("-advisor-refresh") => {
                let (_, source, notes) =
                    crate::advisor_source::load(Some(&self.store), crate::lock::now_unix()).await;
                let mut said = format!("advisor refresh: using {:?} data ({})", source.kind, source.snapshot);
                for n in notes {
                    said.push_str("; ");
                    said.push_str(&n);
                }
                said
            }
            Trigger::Schedule { rule }
                if rule.ends_with(&format!("-{}", spotctl_core::desired::fleet::METRICS_RULE)) =>
            {
                match self.fleets().tick().await {
                    Ok(said) => said,
                    Err(e) => format!("fleet tick failed: {e:#}"),
                }
            }
            Trigger::FleetLaunch { group, success, .. } => {
                let id = format!("{}-{}", event.id, event.trigger.kind());
                match self.fleets().on_launch(&id, &event.time, group, *success).await {
                    Ok(said) => said,
                    Err(e) => format!("fleet failover check failed: {e:#}"),
                }
            }
            Trigger::Schedule { rule } if rule.ends_with("-relocation") => match self.relocate().await {
                Ok(said) => said,
                Err(e) => format!("relocation check failed: {e:#}"),
            },
            Trigger::Interruption { instance_id, .. } => match self.hand_off(instance_id).await {
                Ok(said) => said,
                Err(e) => format!("handoff failed: {e:#}"),
            },
            _ => next_step(event),
        }
    }

    fn fleets(&self) -> crate::fleet::Fleets<'_> {
        crate::fleet::Fleets { aws: &self.aws, names: &self.names, store: &self.store }
    }

    /// The scheduled relocation: rank, and move only if the best placement beats the current one
    /// by the env's margin (or the current one is no longer allowed). The old primary is asked to
    /// drain through its `spotctl:drain` tag — no FIS, so no interruption event, so no loop.
    async fn relocate(&self) -> anyhow::Result<String> {
        use spotctl_core::handoff::Cause;
        use spotctl_core::placement::{relocation_decision, Candidate, RelocationDecision};
        let now = crate::lock::now_unix();
        let Some((primary, _)) = crate::handoff::read_primary(&self.store).await? else {
            return Ok("relocation: no primary is recorded".into());
        };
        let (ranking, policy, placements) =
            crate::standby::ranked_placements(&self.aws, &self.names, &self.store, &primary, false, now)
                .await?;
        let current =
            Candidate::new(&primary.region, &primary.availability_zone, None, &primary.instance_type);
        let current = ranking
            .entries
            .iter()
            .map(|r| r.candidate.clone())
            .find(|c| {
                c.region == current.region && c.az == current.az && c.instance_type == current.instance_type
            })
            .unwrap_or(current);
        match relocation_decision(&current, &ranking, &policy) {
            RelocationDecision::Stay { reason } => Ok(format!("relocation: stay ({reason})")),
            RelocationDecision::Move { reason, .. } => {
                let outcome = self.start(Cause::Relocation, &primary.instance_id, &placements).await?;
                Ok(format!("relocation: move ({reason}): {outcome}"))
            }
        }
    }

    /// The interruption warning for the primary: take the lease and launch the standby.
    async fn hand_off(&self, instance_id: &str) -> anyhow::Result<String> {
        use spotctl_core::handoff::Cause;
        let now = crate::lock::now_unix();
        let Some((primary, _)) = crate::handoff::read_primary(&self.store).await? else {
            return Ok("no primary is recorded; nothing to hand off".into());
        };
        if primary.instance_id != instance_id {
            return Ok(format!(
                "{instance_id} is not the primary ({}); nothing to hand off",
                primary.instance_id
            ));
        }
        let (_, _, placements) =
            crate::standby::ranked_placements(&self.aws, &self.names, &self.store, &primary, true, now)
                .await?;
        self.start(Cause::Interruption, instance_id, &placements).await
    }

    /// Takes the lease and launches the standby in the first placement with capacity.
    async fn start(
        &self,
        cause: spotctl_core::handoff::Cause,
        instance_id: &str,
        placements: &[(spotctl_core::desired::LaunchSpec, spotctl_core::plan::Resource)],
    ) -> anyhow::Result<String> {
        let regions: Vec<String> = placements.iter().map(|(s, _)| s.region.clone()).collect();
        let artifacts = std::collections::BTreeMap::new();
        let ctx = crate::resources::Ctx {
            aws: &self.aws,
            names: &self.names,
            regions: &regions,
            artifacts: &artifacts,
        };
        let progress = crate::progress::Progress::quiet();
        let outcome =
            crate::handoff::start(&ctx, &self.store, cause, instance_id, placements, &progress).await?;
        Ok(serde_json::to_string(&outcome)?)
    }

    /// `None` when the event is this env's; else why not.
    async fn belongs(&self, event: &Envelope) -> Result<Option<String>> {
        match &event.trigger {
            Trigger::Interruption { instance_id, region, .. }
            | Trigger::Rebalance { instance_id, region } => {
                let out = self.aws.ec2(region).describe_instances().instance_ids(instance_id).send().await;
                let out = match out {
                    Ok(o) => o,
                    Err(e) if crate::error::is_not_found(&e) => {
                        return Ok(Some(format!("instance {instance_id} does not exist in {region}")))
                    }
                    Err(e) => return Err(e).with_context(|| format!("looking up {instance_id} in {region}")),
                };
                let env = out
                    .reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .flat_map(|i| i.tags())
                    .find(|t| t.key() == Some(TAG_ENV))
                    .and_then(|t| t.value())
                    .map(String::from);
                Ok(match env {
                    Some(e) if e == self.names.env => None,
                    Some(e) => Some(format!("instance {instance_id} belongs to env `{e}`")),
                    None => Some(format!("instance {instance_id} is not a spotctl instance")),
                })
            }
            Trigger::Schedule { rule } => Ok((!rule.starts_with(&self.names.prefix()))
                .then(|| format!("rule {rule} is not one of env `{}`'s", self.names.env))),
            Trigger::FleetLaunch { group, .. } => Ok((!group.starts_with(&self.names.prefix()))
                .then(|| format!("group {group} is not one of env `{}`'s", self.names.env))),
        }
    }
}

fn next_step(event: &Envelope) -> String {
    match &event.trigger {
        Trigger::Interruption { .. } => "handoff (interruption)".into(),
        Trigger::Rebalance { .. } => {
            "recorded; a rebalance recommendation alone does not move the database".into()
        }
        Trigger::Schedule { rule } if rule.ends_with("-relocation") => "relocation check".into(),
        Trigger::Schedule { .. } => "advisor refresh".into(),
        Trigger::FleetLaunch { success, .. } => {
            if *success {
                "fleet failback check".into()
            } else {
                "fleet failover".into()
            }
        }
    }
}

/// Event ids are UUID-like; keep keys safe whatever arrives.
fn sanitize(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
