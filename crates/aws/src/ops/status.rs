//! What `spotctl status` reports, read from the state bucket and EC2.

use crate::env::Env;
use crate::lock::now_unix;
use crate::resources::{instance, Ctx};
use anyhow::Result;
use serde::Serialize;
use spotctl_core::handoff::Handoff;
use spotctl_core::names::keys;
use spotctl_core::primary::PrimaryRecord;
use std::fmt::Write;

#[derive(Debug, Serialize)]
pub struct Status {
    pub env: String,
    pub primary: Option<PrimaryRecord>,
    /// Seconds since the newest complete backup (manifest) was written, if any.
    pub last_backup: Option<String>,
    pub handoffs: Vec<Handoff>,
    pub standbys: Vec<String>,
    /// Each fleet: its groups per region, backlog per instance, failover state.
    pub fleets: Vec<crate::fleet::FleetStatus>,
}

pub async fn status(env: &Env) -> Result<Status> {
    let store = env.store();
    let primary = store.get_json::<PrimaryRecord>(keys::PRIMARY).await.ok().flatten().map(|(p, _)| p);
    let mut handoffs = Vec::new();
    for key in store.list(keys::HANDOFFS).await.unwrap_or_default() {
        if let Ok(Some((h, _))) = store.get_json::<Handoff>(&key).await {
            handoffs.push(h);
        }
    }
    handoffs.sort_by_key(|h| std::cmp::Reverse(h.from_epoch));
    handoffs.truncate(5);
    let last_backup = store
        .list(keys::BACKUPS)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|k| k.ends_with("/manifest.json"))
        .max();
    let artifacts = std::collections::BTreeMap::new();
    let ctx = Ctx { aws: &env.aws, names: &env.names, regions: &env.regions, artifacts: &artifacts };
    let mut standbys = Vec::new();
    for region in &env.regions {
        for i in instance::list(&ctx, region).await? {
            if i.role == "standby" {
                standbys.push(format!("{} in {} ({}, {})", i.id, i.az, i.instance_type, i.state));
            }
        }
    }
    let fleets = crate::fleet::Fleets { aws: &env.aws, names: &env.names, store: &store }.status().await?;
    Ok(Status { env: env.names.env.clone(), primary, last_backup, handoffs, standbys, fleets })
}

impl Status {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let now = now_unix();
        match &self.primary {
            Some(p) => {
                let _ = writeln!(
                    out,
                    "primary: {} in {} ({}), epoch {}, for {}s",
                    p.instance_id,
                    p.availability_zone,
                    p.instance_type,
                    p.epoch,
                    now - p.since_unix
                );
            }
            None => out.push_str("primary: none recorded (run `spotctl apply`)\n"),
        }
        let _ = writeln!(out, "last complete backup: {}", self.last_backup.as_deref().unwrap_or("none"));
        for s in &self.standbys {
            let _ = writeln!(out, "standby: {s}");
        }
        for h in &self.handoffs {
            let _ = writeln!(out, "handoff {} ({:?}) from {}:", h.id, h.cause, h.old.instance_id);
            for (step, at) in &h.steps {
                let _ = writeln!(out, "  {step:?} at unix {at}");
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
            let _ = writeln!(out, "fleet {}: {:?} since unix {}; {backlog}", f.name, f.mode, f.since_unix);
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
