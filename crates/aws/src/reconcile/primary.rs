//! The database instance in a plan. The primary record is the truth (`handoff::assess_listed`,
//! deciding with `spotctl_core::handoff::assess`): keep the recorded primary; launch one only when
//! none was ever recorded (or finish the launch an interrupted apply began); hold every database
//! instance while a handoff of the recorded epoch is open; recover a lost primary from its newest
//! complete backup through the handoff path; and never put an empty database where one with data
//! was, unless asked.

use super::progress::Progress;
use super::resources::instance::live_primary;
use crate::compute::Described;
use crate::handoff::assess_listed;
use crate::placement::facts::choose_launch;
use crate::sdk::Aws;
use crate::state::{LockInfo, StateStore};
use anyhow::Result;
use sha2::{Digest, Sha256};
use spotctl_core::config::LoadedEnv;
use spotctl_core::desired::endpoint::RecordTarget;
use spotctl_core::desired::PrimarySpec;
use spotctl_core::endpoint::EndpointRecord;
use spotctl_core::handoff::primary::PrimaryRecord;
use spotctl_core::handoff::{Handoff, PrimaryPlan};
use spotctl_core::plan::{LiveResource, Recovery};
use spotctl_core::workflow::Target;
use std::sync::Arc;

/// What a plan does about the database instance.
pub struct PrimaryPart {
    pub spec: PrimarySpec,
    /// The recorded primary as a live resource, when it runs.
    pub live: Option<LiveResource>,
    pub recovery: Option<Recovery>,
    pub notes: Vec<String>,
    /// The token a launch in this plan tags its instance with.
    pub launch_token: Option<String>,
    /// What the endpoint's record should name.
    pub endpoint: RecordTarget,
    /// What the part was decided from: the record and its epoch's handoff (the fingerprint's).
    pub record: Option<PrimaryRecord>,
    pub handoff: Option<Handoff>,
}

/// Choices a person makes on the command line.
#[derive(Debug, Clone, Default)]
pub struct PrimaryOptions {
    /// Put a new, empty primary (schema only) in place of a lost one that no backup can restore.
    pub replace_lost_primary: bool,
    /// The token of the launch a reviewed plan showed (a re-plan under the lock keeps it).
    pub launch_token: Option<String>,
    /// `--target`: the plan keeps only the changes these name (`workflow::restrict`).
    pub targets: Vec<Target>,
}

pub async fn plan_primary(
    aws: &Aws,
    loaded: &LoadedEnv,
    store: &dyn StateStore,
    described: &[Described],
    opts: &PrimaryOptions,
    now: i64,
    progress: &Progress,
) -> Result<PrimaryPart> {
    let views = described.iter().map(|d| d.view.clone()).collect();
    let assessed = assess_listed(store, views, now).await?;
    let mut notes: Vec<String> = assessed
        .unknown
        .iter()
        .map(|u| {
            format!(
                "instance {} in {} is tagged primary but the primary record does not name it: it stays \
                 fenced (read-only). Adopt it with `spotctl import`, or remove it with `aws ec2 \
                 terminate-instances --region {} --instance-ids {}`",
                u.id, u.region, u.region, u.id
            )
        })
        .collect();
    let mut part = PrimaryPart {
        spec: PrimarySpec::Hold,
        live: None,
        recovery: None,
        notes: Vec::new(),
        launch_token: None,
        endpoint: RecordTarget::Leave,
        record: assessed.record.clone(),
        handoff: assessed.handoff.clone(),
    };
    let ttl = loaded.env.endpoint.ttl;
    match &assessed.plan {
        PrimaryPlan::Keep { instance_id, region } => {
            part.spec = PrimarySpec::Existing { region: region.clone() };
            let kept = described.iter().find(|d| d.view.id == *instance_id);
            part.live = kept.map(live_primary);
            if let (Some(address), Some(record)) = (kept.and_then(|d| d.view.address.clone()), &assessed.record) {
                part.endpoint = RecordTarget::Primary(EndpointRecord { address, epoch: record.epoch, ttl });
            }
        }
        PrimaryPlan::Hold { handoff, step } => {
            let at = step.map(|s| format!("{s:?}")).unwrap_or_else(|| "started".into());
            notes.push(format!(
                "handoff {handoff} is under way (last step: {at}): the database instances are the handoff's, \
                 and apply neither creates, replaces nor deletes any of them"
            ));
        }
        PrimaryPlan::Recover { lost, from, data_loss_window_s } => {
            part.recovery =
                Some(Recovery { lost: lost.clone(), from: from.clone(), data_loss_window_s: *data_loss_window_s });
        }
        PrimaryPlan::Lost { lost } if !opts.replace_lost_primary => notes.push(format!(
            "the recorded primary {lost} is gone and neither a complete backup nor a recoverable shipped log exists, so nothing can bring its data \
             back. `spotctl apply --replace-lost-primary` launches a new, empty one (the schema only)"
        )),
        PrimaryPlan::Lost { .. } | PrimaryPlan::Launch => {
            part.launch_token = Some(opts.launch_token.clone().unwrap_or_else(|| new_token(now)));
        }
        PrimaryPlan::FinishLaunch { token, adopt } => {
            if let Some(i) = adopt {
                notes.push(format!("an interrupted apply launched {i}; this apply records it as the primary"));
            }
            part.launch_token = Some(token.clone());
        }
    }
    if part.launch_token.is_some() {
        part.endpoint = RecordTarget::Launched { ttl };
        progress.tick("choosing a placement for the primary");
        part.spec = PrimarySpec::Launch(choose_launch(aws, loaded).await?);
    }
    part.notes = notes;
    Ok(part)
}

/// A token no other launch has: this host, this process, this moment.
fn new_token(now: i64) -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let seed = format!("{host}\0{}\0{now}\0{nanos}", std::process::id());
    Sha256::digest(seed.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What `Env::command_seams` owns, lent out as [`crate::handoff::HandoffSeams`].
pub struct CommandSeams {
    store: Arc<dyn StateStore>,
    instances: crate::compute::Ec2Instances,
    placements: crate::handoff::AwsPlacements,
    owner: String,
}

impl CommandSeams {
    /// The handoff's real seams for a person's `command` (named in the lease).
    pub fn new(
        aws: &Aws,
        names: &spotctl_core::names::Names,
        store: Arc<dyn StateStore>,
        command: &str,
    ) -> CommandSeams {
        CommandSeams {
            store: store.clone(),
            instances: crate::compute::Ec2Instances { aws: aws.clone(), names: names.clone() },
            placements: crate::handoff::AwsPlacements { aws: aws.clone(), names: names.clone(), store },
            owner: format!("{command}:{}", LockInfo::here(command).holder),
        }
    }

    pub fn seams(&self) -> crate::handoff::HandoffSeams<'_> {
        crate::handoff::HandoffSeams {
            store: self.store.as_ref(),
            instances: &self.instances,
            placements: &self.placements,
            clock: &crate::sdk::clock::SystemClock,
            owner: &self.owner,
            limits: Default::default(),
        }
    }
}
