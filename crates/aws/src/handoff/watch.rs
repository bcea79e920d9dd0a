//! The on-instance watcher (`spotctl agent watch`, installed by user-data as the `spotctl-agent`
//! unit, syslog tag `spot-handler`): the [`Agent`] on AWS, stepped every few seconds; what it did
//! logged when it changed; the endpoint's zone found (and looked for again each minute until it is
//! there); and the primary's own units (the shipper and the base timer) started once this instance
//! serves as the primary.

use super::agent::Agent;
use super::database::MariaDbServer;
use super::endpoint::{resolve, EndpointStep};
use super::error::Result;
use super::fence::LocalFence;
use super::progress::{stamp, Restoring, STAMP_EVERY_S};
use super::report::Did;
use crate::compute::Ec2Instances;
use crate::sdk::clock::SystemClock;
use crate::sdk::imds::Imds;
use crate::sdk::Aws;
use crate::state::{S3Store, StateStore};
use spotctl_core::names::Names;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the agent's world is and how it watches it.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub bucket: String,
    pub bucket_region: String,
    pub env: String,
    pub database: String,
    /// How to reach the local server (never holds a password).
    pub mysql: String,
    pub imds_endpoint: String,
    pub interval: Duration,
    /// Systemd units only the primary runs, started once it serves.
    pub primary_units: Vec<String>,
}

impl Agent {
    /// The agent on this instance: the state bucket (whose expected owner is this instance's own
    /// account), EC2, instance metadata, the local server, the machine's clock.
    pub async fn on_aws(aws: &Aws, o: &WatchOptions) -> Result<Agent> {
        let (account, writer) = aws.writer(&o.bucket_region, spotctl_layout::writer_ok).await?;
        let store = Arc::new(S3Store::new(aws.s3(&o.bucket_region, &account), &o.bucket));
        // The account is not needed to tag or terminate this instance: names only carry the env.
        let names = Names::new(&o.env, "", &o.bucket_region);
        Ok(Agent {
            store,
            instances: Arc::new(Ec2Instances { aws: aws.clone(), names }),
            metadata: Arc::new(Imds::new(&o.imds_endpoint)?),
            db: Arc::new(MariaDbServer::new(o.mysql.clone(), o.database.clone(), Some(writer.clone()))),
            clock: Arc::new(SystemClock),
            endpoint: None,
            fence: Arc::new(LocalFence::default()),
            restoring: Arc::new(Restoring::default()),
            writer,
        })
    }
}

/// Looks once and returns what it saw and did, as JSON (`agent watch --once`).
pub async fn look_once(aws: &Aws, o: &WatchOptions) -> Result<serde_json::Value> {
    let mut agent = Agent::on_aws(aws, o).await?;
    find_endpoint(aws, &mut agent).await;
    let (obs, did) = agent.step().await?;
    if !o.primary_units.is_empty() && matches!(did, Did::Served { .. }) {
        start_units(&o.primary_units).await;
    }
    let mut v = serde_json::to_value(&obs).unwrap_or_default();
    v["did"] = serde_json::to_value(&did).unwrap_or_default();
    Ok(v)
}

/// How often the watcher checks for the notice and the drain tag, apart from its looks: the fence
/// is up within about this long of the notice (plus an IMDS read and a `SET GLOBAL`).
pub const FENCE_CHECK: Duration = Duration::from_millis(500);
/// Once the fence is up, how often it is asserted again (a hand may lift it).
const FENCE_REASSERT: Duration = Duration::from_secs(5);
/// The longest one fence check may take before it is counted as failed and tried again.
const FENCE_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Checks for the notice and the drain tag on its own timer until the process stops: nothing
/// here waits on the bucket or on a look of the agent's (ARD.md, *Fencing*).
fn watch_notice(agent: &Agent) {
    let (md, db, fence) = (agent.metadata.clone(), agent.db.clone(), agent.fence.clone());
    tokio::spawn(async move {
        let mut said: Option<String> = None;
        loop {
            match tokio::time::timeout(FENCE_CHECK_TIMEOUT, fence.check(md.as_ref(), db.as_ref())).await {
                Ok(Ok(why)) if why != said => {
                    if let Some(w) = &why {
                        tracing::warn!("fenced by {w}: this server takes no more writes");
                    }
                    said = why;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!("checking for the notice: {e}"),
                Err(_) => {
                    tracing::error!("checking for the notice: no answer within {FENCE_CHECK_TIMEOUT:?}")
                }
            }
            tokio::time::sleep(if said.is_some() { FENCE_REASSERT } else { FENCE_CHECK }).await;
        }
    });
}

/// Stamps a restore under way on its handoff on its own timer, apart from the look that runs it.
fn watch_restore(agent: &Agent, instance_id: String) {
    let (store, clock, restoring) = (agent.store.clone(), agent.clock.clone(), agent.restoring.clone());
    tokio::spawn(async move {
        loop {
            if let Err(e) = stamp(store.as_ref(), clock.as_ref(), &restoring, &instance_id).await {
                tracing::warn!("stamping the restore's progress: {e}");
            }
            tokio::time::sleep(Duration::from_secs(STAMP_EVERY_S.unsigned_abs() / 3)).await;
        }
    });
}

/// Watches until the process is stopped: a failed look is logged and the next one tries again.
pub async fn watch(aws: &Aws, o: &WatchOptions) -> Result<()> {
    let mut agent = Agent::on_aws(aws, o).await?;
    watch_notice(&agent);
    watch_restore(&agent, agent.metadata.require(crate::sdk::imds::paths::INSTANCE_ID).await?);
    let mut last = None;
    let mut endpoint_looked: Option<Instant> = None;
    let mut units_started = o.primary_units.is_empty();
    loop {
        if agent.endpoint.is_none() && endpoint_looked.is_none_or(|t| t.elapsed().as_secs() >= 60) {
            endpoint_looked = Some(Instant::now());
            find_endpoint(aws, &mut agent).await;
        }
        match agent.step().await {
            Ok((obs, did)) => {
                if !units_started && matches!(did, Did::Served { .. }) {
                    units_started = start_units(&o.primary_units).await;
                }
                // Log what changed only: the same decision every two seconds is not news.
                let quiet = match &did {
                    Did::Served { repaired: false, endpoint: None | Some(EndpointStep::Unchanged) } => {
                        Did::Served { repaired: false, endpoint: None }
                    }
                    d => d.clone(),
                };
                let now = Some((obs.decision.clone(), quiet));
                if now != last {
                    let said = match &did {
                        Did::Nothing => format!("{:?}", obs.decision),
                        did => did.to_string(),
                    };
                    tracing::warn!(env = %o.env, instance = %obs.instance_id, role = %obs.role, notice = obs.interruption_notice, "{said}");
                    last = now;
                }
            }
            Err(e) => tracing::error!("watch: {e}"),
        }
        tokio::time::sleep(o.interval).await;
    }
}

/// The endpoint's zone, once the env has one.
async fn find_endpoint(aws: &Aws, agent: &mut Agent) {
    let store: &dyn StateStore = agent.store.as_ref();
    match resolve(aws, store).await {
        Ok(Some(duty)) => {
            tracing::info!(name = %duty.name, zone = %duty.zone, "the endpoint this instance points while primary");
            agent.endpoint = Some(Arc::new(duty));
        }
        Ok(None) => tracing::warn!("no endpoint zone yet; serving without pointing the endpoint"),
        Err(e) => tracing::warn!("cannot find the endpoint's zone yet: {e}"),
    }
}

/// `systemctl enable UNITS` then `systemctl restart UNITS`: true when both succeeded (else the next
/// look tries again). Restarted, not only started: a shipper left running from before this agent
/// (an upgrade) resumes on the timeline this primary just began instead of staying on one a newer
/// timeline fenced; a shipper resumes from the bucket, so a restart loses nothing.
async fn start_units(units: &[String]) -> bool {
    let run = |verb: &'static str| tokio::process::Command::new("systemctl").arg(verb).args(units).output();
    let out = match run("enable").await {
        Ok(o) if o.status.success() => run("restart").await,
        other => other,
    };
    match out {
        Ok(o) if o.status.success() => {
            tracing::warn!(units = %units.join(" "), "the primary's units are started");
            true
        }
        Ok(o) => {
            tracing::error!(units = %units.join(" "), "starting the primary's units: {}", String::from_utf8_lossy(&o.stderr).trim());
            false
        }
        Err(e) => {
            tracing::error!(units = %units.join(" "), "starting the primary's units: {e}");
            false
        }
    }
}
