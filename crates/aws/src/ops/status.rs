//! What `spotctl status` reports, read from the state bucket and EC2. Times are kept as unix
//! seconds in the JSON and shown to people as UTC RFC 3339 with how long ago.

use crate::compute::{describe_all, InstanceView};
use crate::fleet::{AwsFleet, FleetStatus, Fleets};
use crate::reconcile::Env;
use crate::sdk::clock::{Clock, SystemClock};
use crate::state::{list_handoffs, read_primary};
use anyhow::Result;
use serde::Serialize;
use spotctl_core::fleet::Side;
use spotctl_core::handoff::{newest_backup, Handoff};
use spotctl_core::names::keys;
use spotctl_core::primary::{PrimaryRecord, Role};
use spotctl_core::time::when;
use std::fmt::Write;

/// How many handoffs `status` shows, newest first.
const SHOWN_HANDOFFS: usize = 5;

#[derive(Debug, Serialize)]
pub struct Status {
    pub env: String,
    pub now_unix: i64,
    pub primary: Option<PrimaryRecord>,
    /// The handoff whose backup is the newest complete one (highest epoch with a manifest).
    pub last_backup: Option<String>,
    pub handoffs: Vec<Handoff>,
    pub standbys: Vec<Standby>,
    /// Each fleet: its groups per region, backlog per instance, failover state.
    pub fleets: Vec<FleetStatus>,
}

#[derive(Debug, Serialize)]
pub struct Standby {
    pub instance_id: String,
    pub region: String,
    pub availability_zone: String,
    pub instance_type: String,
    pub state: String,
    pub handoff: Option<String>,
}

impl Standby {
    fn of(v: &InstanceView) -> Standby {
        Standby {
            instance_id: v.id.clone(),
            region: v.region.clone(),
            availability_zone: v.az.clone(),
            instance_type: v.instance_type.clone(),
            state: v.state.as_str().to_string(),
            handoff: v.handoff().map(String::from),
        }
    }
}

pub async fn status(env: &Env) -> Result<Status> {
    let store = env.store.as_ref();
    let primary = read_primary(store).await?.map(|(p, _)| p);
    let mut handoffs = list_handoffs(store).await?;
    handoffs.reverse();
    handoffs.truncate(SHOWN_HANDOFFS);
    let backups = store.list(keys::BACKUPS).await?;
    let last_backup = newest_backup(backups.iter().map(String::as_str));
    let mut standbys = Vec::new();
    for region in &env.regions {
        for d in describe_all(&env.aws, &env.names, region).await? {
            if d.view.role()? == Some(Role::Standby) {
                standbys.push(Standby::of(&d.view));
            }
        }
    }
    let api = AwsFleet { aws: env.aws.clone() };
    let fleets = Fleets { names: &env.names, store, api: &api, clock: &SystemClock }.status().await?;
    Ok(Status {
        env: env.names.env.clone(),
        now_unix: SystemClock.now(),
        primary,
        last_backup,
        handoffs,
        standbys,
        fleets,
    })
}

impl Status {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let now = self.now_unix;
        match &self.primary {
            Some(p) => {
                let _ = writeln!(
                    out,
                    "primary: {} in {} ({}), epoch {}, since {}",
                    p.instance_id,
                    p.availability_zone,
                    p.instance_type,
                    p.epoch,
                    when(now, p.since_unix)
                );
            }
            None => out.push_str("primary: none recorded (run `spotctl apply`)\n"),
        }
        match &self.last_backup {
            Some(id) => {
                let _ = writeln!(out, "last complete backup: {}{id}/manifest.json", keys::BACKUPS);
            }
            None => out.push_str("last complete backup: none\n"),
        }
        for s in &self.standbys {
            let _ = writeln!(
                out,
                "standby: {} in {} ({}, {}) for {}",
                s.instance_id,
                s.availability_zone,
                s.instance_type,
                s.state,
                s.handoff.as_deref().unwrap_or("no handoff")
            );
        }
        for h in &self.handoffs {
            let _ = writeln!(out, "handoff {} ({:?}) from {}:", h.id, h.cause, h.old.instance_id);
            for (step, at) in &h.steps {
                let _ = writeln!(out, "  {:<15} {}", format!("{step:?}"), when(now, *at));
            }
            if let Some(f) = &h.failure {
                let _ = writeln!(out, "  failed: {f}");
            }
        }
        for f in &self.fleets {
            let backlog = match (f.visible_messages, f.backlog_per_instance) {
                (Some(v), Some(b)) => format!("{v} visible, {b:.1} per in-service primary worker"),
                _ => "queue not readable".into(),
            };
            let _ =
                writeln!(out, "fleet {}: {:?} since {}; {backlog}", f.name, f.mode, when(now, f.since_unix));
            if !f.groups.iter().any(|g| g.side == Side::Primary) {
                let _ = writeln!(out, "  the primary group is missing (run `spotctl apply`)");
            }
            for g in &f.groups {
                let _ = writeln!(
                    out,
                    "  {} in {}: desired {} (min {}, max {}), {} in service",
                    g.name, g.region, g.desired, g.min, g.max, g.in_service
                );
            }
        }
        out
    }
}
