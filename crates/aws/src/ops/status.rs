//! What `spotctl status` reports, read from the state bucket and EC2. Times are kept as unix
//! seconds in the JSON and shown to people as UTC RFC 3339 with how long ago.

use crate::compute::{describe_all, InstanceView};
use crate::dns::{zone_id, Dns, Route53};
use crate::fleet::{AwsFleet, FleetStatus, Fleets};
use crate::reconcile::Env;
use crate::sdk::clock::{Clock, SystemClock};
use crate::state::{list_handoffs, read_health, read_primary_checked};
use anyhow::Result;
use serde::Serialize;
use spotctl_core::desired::endpoint::{EndpointInput, RecordTarget};
use spotctl_core::endpoint::EndpointRecord;
use spotctl_core::fleet::Side;
use spotctl_core::handoff::primary::{PrimaryRecord, Role};
use spotctl_core::handoff::{assess_health, newest_backup, Handoff, Health, HealthReport};
use spotctl_core::time::when;
use spotctl_layout::{BackupRoot, Key};
use std::fmt::Write;

/// How many handoffs `status` shows, newest first.
const SHOWN_HANDOFFS: usize = 5;

#[derive(Debug, Serialize)]
pub struct Status {
    pub env: String,
    pub now_unix: i64,
    pub primary: Option<PrimaryRecord>,
    /// The stored primary record when no opening allows it: a compromised instance wrote it, and
    /// nothing obeys it (the record above is the newest version one allows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forged_record: Option<String>,
    /// The handoff whose backup is the newest complete one (highest epoch with a manifest).
    pub last_backup: Option<String>,
    /// The handoffs whose old primary sealed its drain rather than storing it (a seal exists).
    pub sealed: Vec<String>,
    pub handoffs: Vec<Handoff>,
    pub standbys: Vec<Standby>,
    /// Each fleet: its groups per region, backlog per instance, failover state.
    pub fleets: Vec<FleetStatus>,
    /// Events whose handling failed and whose retries are spent (`None`: the queue is unreadable).
    pub dead_letters: Option<DeadLetters>,
    /// The name applications connect to and where it points (`None`: Route 53 is unreadable).
    pub endpoint: Option<Endpoint>,
    /// Continuous protection: what losing the primary now, with no warning, would cost.
    pub protection: Option<Protection>,
    /// The recorded primary's health as its agent reports it, judged as the watchdog judges it.
    pub health: Option<PrimaryHealth>,
}

/// The recorded primary's health, and the threshold past which the watchdog replaces it.
#[derive(Debug, Serialize)]
pub struct PrimaryHealth {
    #[serde(flatten)]
    pub health: Health,
    pub unhealthy_after_s: u64,
    /// The agent's last report, as it wrote it.
    pub report: Option<HealthReport>,
}

/// The shipped log as the bucket has it (`spotctl_db::protect::status`), and whether the
/// recorded primary, lost now, would be recovered from it.
#[derive(Debug, Serialize)]
pub struct Protection {
    #[serde(flatten)]
    pub status: spotctl_db::protect::ProtectStatus,
    /// An unwarned loss of the recorded primary now is recovered from the log, losing at most
    /// this many seconds (`None`: not from the log — its timeline has no base yet, or it ships
    /// none).
    pub recoverable_window_s: Option<i64>,
}

async fn protection(env: &Env, primary: Option<&PrimaryRecord>) -> Result<Protection> {
    let blobs =
        crate::protect::StoreBlobs { store: env.store.clone(), handle: tokio::runtime::Handle::current() };
    // The window is counted to the moment after the reads (it grows while commits wait), so the
    // figure printed holds from the moment `status` started.
    let status = tokio::task::spawn_blocking(move || {
        use spotctl_db::store::BlobStore;
        // A timeline's writer is held to its opening; a failed read of it fails `status`.
        let failed = std::cell::RefCell::new(None);
        let opened = |epoch: Option<u64>, session: &str| match crate::protect::writer_opening(epoch, session)
        {
            Some(key) => blobs.get(&key).map_err(|e| failed.replace(Some(e))).ok().flatten().is_some(),
            None => false,
        };
        let status = spotctl_db::protect::status(
            &blobs,
            spotctl_layout::BACKUPS,
            &spotctl_db::protect::clock::now_ms,
            &Default::default(),
            &opened,
        )?;
        match failed.into_inner() {
            Some(e) => Err(anyhow::Error::from(e)),
            None => Ok(status),
        }
    })
    .await??;
    let now = SystemClock.now();
    let recoverable_window_s = match primary {
        Some(p) => {
            crate::protect::log_view(env.store.as_ref(), p.log_epoch(), now, false).await?.map(|l| l.window_s)
        }
        None => None,
    };
    Ok(Protection { status, recoverable_window_s })
}

/// The endpoint as Route 53 has it now.
#[derive(Debug, Serialize)]
pub struct Endpoint {
    pub name: String,
    /// The hosted zone's id (`None`: the zone spotctl makes does not exist yet).
    pub zone: Option<String>,
    /// The record (`None`: there is none yet).
    pub record: Option<EndpointRecord>,
    /// The recorded primary's address, to compare with.
    pub primary_address: Option<String>,
}

/// Where env `env`'s endpoint is and what it names now.
pub async fn endpoint(env: &Env, primary_address: Option<String>) -> Result<Endpoint> {
    let e = EndpointInput::for_env(&env.loaded.env, RecordTarget::Leave);
    let zone = zone_id(&env.aws, &e.zone, &env.names.env).await?;
    let record = match &zone {
        Some(z) => Route53 { aws: env.aws.clone() }.read(z, &e.name).await.map_err(anyhow::Error::from)?,
        None => None,
    };
    Ok(Endpoint { name: e.name, zone, record, primary_address })
}

/// The handler's dead-letter queue: how many events wait there, and the first few.
#[derive(Debug, Serialize)]
pub struct DeadLetters {
    pub queue: String,
    pub count: u64,
    /// `event id: error` of up to three of them.
    pub first: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Standby {
    pub instance_id: String,
    pub region: String,
    pub availability_zone: String,
    pub instance_type: String,
    pub state: String,
    pub handoff: Option<String>,
    /// Why its agent refuses to act (a record newer than it reads), from its last report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
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
            refused: None,
        }
    }
}

pub async fn status(env: &Env) -> Result<Status> {
    let store = env.store.as_ref();
    let read = read_primary_checked(store).await?;
    let forged_record = read.as_ref().and_then(|r| r.forged.as_ref()).map(ToString::to_string);
    let primary = read.map(|r| r.record);
    let mut handoffs = list_handoffs(store).await?;
    handoffs.reverse();
    handoffs.truncate(SHOWN_HANDOFFS);
    let backups = store.list(&spotctl_layout::backup::handoff_drains()).await?;
    let last_backup = newest_backup(backups.iter().map(String::as_str));
    let sealed = backups
        .iter()
        .filter_map(|k| match Key::parse(k)? {
            Key::DrainSeal(id) => Some(id.to_string()),
            _ => None,
        })
        .collect();
    let mut standbys = Vec::new();
    let mut primary_address = None;
    for region in &env.regions {
        for d in describe_all(&env.aws, &env.names, region).await? {
            if d.view.role()? == Some(Role::Standby) {
                let mut standby = Standby::of(&d.view);
                let report = read_health(store, &d.view.id).await;
                standby.refused = report.ok().flatten().and_then(|(r, _)| r.refused);
                standbys.push(standby);
            }
            if primary.as_ref().is_some_and(|p| p.instance_id == d.view.id) {
                primary_address = d.view.address.clone();
            }
        }
    }
    let endpoint = endpoint(env, primary_address).await.ok();
    let api = AwsFleet { aws: env.aws.clone() };
    let fleets = Fleets { names: &env.names, store, api: &api, clock: &SystemClock }.status().await?;
    let dead_letters = dead_letters(env).await.ok();
    let health = match &primary {
        Some(p) if p.has_instance() => {
            let report = read_health(store, &p.instance_id).await?.map(|(r, _)| r);
            let after = env.loaded.env.health.unhealthy_after.as_secs();
            let now_ms = u64::try_from(SystemClock.now()).unwrap_or(0) * 1000;
            let health = assess_health(p, report.as_ref(), now_ms, after * 1000);
            Some(PrimaryHealth { health, unhealthy_after_s: after, report })
        }
        _ => None,
    };
    let protection = match protection(env, primary.as_ref()).await {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!("continuous protection's records are not readable: {e:#}");
            None
        }
    };
    Ok(Status {
        env: env.names.env.clone(),
        now_unix: SystemClock.now(),
        primary,
        forged_record,
        last_backup,
        sealed,
        handoffs,
        standbys,
        fleets,
        dead_letters,
        endpoint,
        protection,
        health,
    })
}

/// Reads the dead-letter queue's depth and peeks at up to three messages (received with no
/// visibility timeout, so they stay for the next look).
async fn dead_letters(env: &Env) -> Result<DeadLetters> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = env.aws.sqs(&env.names.home_region);
    let queue = env.names.dead_letter_queue();
    let url =
        sqs.get_queue_url().queue_name(&queue).send().await?.queue_url().unwrap_or_default().to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await?;
    let count = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut first = Vec::new();
    if count > 0 {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(3)
            .visibility_timeout(0)
            .send()
            .await?;
        for m in got.messages() {
            first.push(dead_letter_line(m.body().unwrap_or_default()));
        }
    }
    Ok(DeadLetters { queue, count, first })
}

/// `<event id> (<detail-type>): <error>` of a Lambda on-failure record.
fn dead_letter_line(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let text = |p: &str| v.pointer(p).and_then(serde_json::Value::as_str).unwrap_or("?").to_string();
    format!(
        "{} ({}): {}",
        text("/requestPayload/id"),
        text("/requestPayload/detail-type"),
        text("/responsePayload/errorMessage")
    )
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
        if let Some(f) = &self.forged_record {
            let _ = writeln!(
                out,
                "FORGED: {f}; nothing obeys it. Find the instance that wrote it and restore the record \
                 (MEMO.md, \"A forged primary record\")"
            );
        }
        if let Some(h) = &self.health {
            let recoverable = self.protection.as_ref().is_some_and(|p| p.recoverable_window_s.is_some());
            let said = match &h.health {
                Health::Unknown => "not reported (its agent is older than health reports)".to_string(),
                Health::Healthy { reported_ms_ago } => {
                    format!("healthy (checked {} s ago)", reported_ms_ago / 1000)
                }
                Health::Fenced { why } => format!("fenced by its agent: {why}"),
                Health::Suspect { for_ms, why } | Health::Unhealthy { for_ms, why } => {
                    let next = match recoverable {
                        true => format!("the watchdog replaces it after {} s", h.unhealthy_after_s),
                        false => {
                            "NOT replaced: the shipped log cannot bring it back (no base on its timeline); \
                                  look at the instance (MEMO.md, When something is stuck)"
                                .to_string()
                        }
                    };
                    format!("NOT SERVING for {} s: {why}; {next}", for_ms / 1000)
                }
            };
            let _ = writeln!(out, "  health: {said}");
            if let Some(why) = h.report.as_ref().and_then(|r| r.refused.as_ref()) {
                let _ = writeln!(out, "  its agent REFUSES to act: {why}");
            }
        }
        match &self.endpoint {
            Some(Endpoint { name, record: Some(r), primary_address, .. }) => {
                let state = match primary_address {
                    Some(a) if *a == r.address => "the primary".to_string(),
                    Some(a) => format!("not the primary ({a}); its agent repoints it within a minute"),
                    None => "no running primary".to_string(),
                };
                let _ = writeln!(
                    out,
                    "endpoint: {name} -> {} (epoch {}, TTL {} s): {state}",
                    r.address, r.epoch, r.ttl
                );
            }
            Some(Endpoint { name, zone: None, .. }) => {
                let _ = writeln!(
                    out,
                    "endpoint: {name}: its hosted zone does not exist yet (run `spotctl apply`)"
                );
            }
            Some(Endpoint { name, .. }) => {
                let _ = writeln!(out, "endpoint: {name}: no record yet (run `spotctl apply`)");
            }
            None => out.push_str("endpoint: Route 53 not readable\n"),
        }
        if let Some(r) = self.primary.as_ref().and_then(|p| p.recovered.as_ref()) {
            let _ = writeln!(
                out,
                "  recovered from {} (data-loss window {})",
                r.what(),
                spotctl_core::handoff::window_text(r.data_loss_window_s)
            );
        }
        if let Some(p) = &self.protection {
            use spotctl_db::protect::LossWindow;
            let shipping = match &p.status.loss_window {
                LossWindow::Shipping { bound_ms } => {
                    format!("shipping, caught up; a commit stored within about {bound_ms} ms")
                }
                LossWindow::Behind { since, ms } => {
                    format!("shipping, BEHIND: commits since {since} wait ({ms} ms would be lost now)")
                }
                LossWindow::Silent { since, ms } => format!("SILENT since {since} ({} s)", ms / 1000),
                LossWindow::NotShipping => "nothing shipped yet".into(),
            };
            let t = p.status.timeline.map(|t| format!("timeline {t}, ")).unwrap_or_default();
            let _ = writeln!(out, "binary log: {t}{shipping}");
            let _ = writeln!(
                out,
                "  base backups: {} (newest {}; restorable from {})",
                p.status.bases,
                p.status.newest_base.as_deref().unwrap_or("none"),
                p.status.oldest_restorable.as_deref().unwrap_or("nowhere")
            );
            let _ = match p.recoverable_window_s {
                Some(w) => writeln!(out, "  lost now without a warning: recovered from the log, losing at most {w} s"),
                None => writeln!(
                    out,
                    "  lost now without a warning: NOT recoverable from the log (no base on the primary's timeline yet); \
                     the last complete backup is what is left"
                ),
            };
        }
        match &self.last_backup {
            Some(id) => {
                let key = BackupRoot::handoff(id).map(|r| r.manifest_key()).unwrap_or_else(|_| id.clone());
                let _ = writeln!(out, "last complete backup: {key}");
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
            if let Some(why) = &s.refused {
                let _ = writeln!(out, "  its agent REFUSES to act: {why}");
            }
        }
        for h in &self.handoffs {
            let _ = writeln!(out, "handoff {} ({:?}) from {}:", h.id, h.cause, h.old.instance_id);
            let mut prev: Option<i64> = None;
            for (step, at) in &h.steps {
                let took = prev.map(|p| format!(" (took {} s)", at - p)).unwrap_or_default();
                let _ = writeln!(out, "  {:<15} {}{took}", format!("{step:?}"), when(now, *at));
                prev = Some(*at);
            }
            if h.is_open() {
                if let Some(l) = h.held_at(now) {
                    let _ = writeln!(out, "  held by {} for {} s more", l.owner, l.until_unix - now);
                }
                if let Some(e) = &h.last_error {
                    let _ = writeln!(out, "  last attempt ({} so far): {e}", h.attempts);
                }
                if !h.fenced() {
                    let _ = writeln!(
                        out,
                        "  fencing {}: the standby goes on once EC2 says it is terminated (it did not fence itself)",
                        h.old.instance_id
                    );
                }
            }
            if self.sealed.contains(&h.id) {
                let _ = writeln!(
                    out,
                    "  drain sealed: {} (fenced; the shipped log holds everything it committed)",
                    BackupRoot::handoff(&h.id).map(|r| r.seal_key()).unwrap_or_default()
                );
            }
            if h.names_its_source() {
                let _ = writeln!(
                    out,
                    "  recovers from {} (data-loss window {})",
                    h.source(),
                    spotctl_core::handoff::window_text(h.data_loss_window_s)
                );
            }
            if let Some(f) = &h.failure {
                let _ = writeln!(out, "  failed: {f}");
            }
        }
        if let Some(d) = &self.dead_letters {
            if d.count > 0 {
                let _ = writeln!(
                    out,
                    "dead letters: {} in {} (events whose handling failed after every retry; MEMO.md)",
                    d.count, d.queue
                );
                for line in &d.first {
                    let _ = writeln!(out, "  {line}");
                }
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
