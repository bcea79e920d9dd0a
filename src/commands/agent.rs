//! `spotctl agent watch`: the on-instance watcher that user-data installs as a systemd unit
//! (`SyslogIdentifier=spot-handler`). It polls IMDSv2 and the state bucket every few seconds and
//! logs what the handoff protocol decides for this instance.

use crate::commands::protect;
use crate::exit::{BadInput, Outcome};
use anyhow::Result;
use clap::{Args, Subcommand};
use spotctl_aws::compute::Ec2Instances;
use spotctl_aws::handoff::{resolve_endpoint, Agent, Did, EndpointStep, MariaDbServer};
use spotctl_aws::sdk::clock::SystemClock;
use spotctl_aws::sdk::imds::{Imds, DEFAULT_IMDS};
use spotctl_aws::sdk::Aws;
use spotctl_aws::state::S3Store;
use spotctl_core::names::Names;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Watch for the interruption notice, a drain request and the primary record, and act.
    Watch(WatchArgs),
    /// Drain once: fence, dump to S3, write the manifest last. Exit 0 only when it is complete.
    Drain(OneShot),
    /// Restore once and verify every table. Exit 0 only when every table verified.
    Restore(OneShot),
    /// Fleet worker: run the fleet's command per queue message; stop taking messages on a spot
    /// notice or rebalance recommendation; retire the instance when idle.
    Worker(WorkerArgs),
    /// Ship the primary's binary log to the bucket continuously, until stopped or fenced.
    Ship(protect::ShipArgs),
    /// Take a base backup while writes go on (and apply retention). Exit 0 only when complete.
    BaseBackup(protect::BaseBackupArgs),
    /// Restore the newest base and replay the log to its end or --until. Exit 0 only when verified.
    Recover(protect::RecoverArgs),
    /// Write this instance's server certificate (signed by the env's CA, naming the endpoint).
    Tls(super::tls::TlsArgs),
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The queue's name (`spotctl-<env>-<queue>`).
    #[arg(long)]
    pub queue: String,
    /// The queue's region (the fleet's primary region).
    #[arg(long)]
    pub queue_region: String,
    /// What to run per message, with `sh -c` (the message body on stdin).
    #[arg(long, conflicts_with = "command_file", required_unless_present = "command_file")]
    pub command: Option<String>,
    /// A file holding the command (what user-data writes).
    #[arg(long)]
    pub command_file: Option<std::path::PathBuf>,
    /// Retire after this long without a message (`30s`, `5m`).
    #[arg(long, default_value = "30s")]
    pub idle_timeout: String,
    /// The queue's visibility timeout (`5m`): extended by this much while a command runs.
    #[arg(long, default_value = "5m")]
    pub visibility_timeout: String,
    /// The instance metadata service.
    #[arg(long, env = "SPOTCTL_IMDS_ENDPOINT", default_value = DEFAULT_IMDS)]
    pub imds_endpoint: String,
}

#[derive(Debug, Args)]
pub struct OneShot {
    /// How to reach the server (`mysql://user@host:port/` or `…?socket=PATH`).
    #[arg(long)]
    pub mysql: String,
    /// Where the backup goes (`drain --to`) or comes from (`restore --from`): s3://BUCKET/PREFIX.
    #[arg(long, alias = "from")]
    pub to: String,
    /// The handoff id: the backup lives under PREFIX/ID.
    #[arg(long)]
    pub handoff: String,
    #[arg(long, default_value = "appdb")]
    pub database: String,
    /// The bucket's region (default: the standard AWS region setting).
    #[arg(long)]
    pub bucket_region: Option<String>,
    /// drain: send every table as rows, never as its InnoDB file (for a restore into another
    /// server series, or a drain run off the database host). Restore reads either.
    #[arg(long)]
    pub logical: bool,
    /// restore: replace the database even though it already holds rows (a restore cut short and
    /// run again); without it such a target is refused.
    #[arg(long)]
    pub replace_existing: bool,
    /// drain: seal instead of storing the tables when the log shipped under the same prefix
    /// (`spotctl agent ship`, with a base) holds everything this server committed: fenced for
    /// good, PREFIX/ID/seal.json written; `agent recover` then restores everything. When it
    /// cannot seal (the JSON says why), it drains in full.
    #[arg(long)]
    pub seal: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The env's state bucket.
    #[arg(long)]
    pub bucket: String,
    /// The bucket's (home) region.
    #[arg(long)]
    pub bucket_region: String,
    #[arg(long)]
    pub env: String,
    /// The database the agent keeps.
    #[arg(long, default_value = "appdb")]
    pub database: String,
    /// How to reach the local server (`mysql://user@host/db?socket=…`); never holds a password.
    #[arg(long)]
    pub mysql: Option<String>,
    /// Seconds between looks.
    #[arg(long, default_value_t = 2)]
    pub interval: u64,
    /// Look once, print the observation as JSON, and exit.
    #[arg(long)]
    pub once: bool,
    /// The instance metadata service.
    #[arg(long, env = "SPOTCTL_IMDS_ENDPOINT", default_value = DEFAULT_IMDS)]
    pub imds_endpoint: String,
    /// A systemd unit only the primary runs (continuous protection's shipper and base timer):
    /// started (`systemctl enable --now`) once this instance serves as the primary, a promoted
    /// standby included. Repeatable.
    #[arg(long = "primary-unit")]
    pub primary_units: Vec<String>,
}

pub async fn exec(args: AgentArgs) -> Result<Outcome> {
    match args.command {
        AgentCommand::Watch(w) => watch(w).await,
        AgentCommand::Drain(o) => one_shot(o, true).await,
        AgentCommand::Restore(o) => one_shot(o, false).await,
        AgentCommand::Worker(w) => worker(w).await,
        AgentCommand::Ship(a) => protect::ship::exec(a).await,
        AgentCommand::BaseBackup(a) => protect::base_backup::exec(a).await,
        AgentCommand::Recover(a) => protect::recover::exec(a).await,
        AgentCommand::Tls(a) => super::tls::exec(a).await,
    }
}

async fn worker(w: WorkerArgs) -> Result<Outcome> {
    let idle = spotctl_core::config::Period::parse(&w.idle_timeout)
        .map_err(|e| BadInput(format!("--idle-timeout: {e}")))?;
    let visibility = spotctl_core::config::Period::parse(&w.visibility_timeout)
        .map_err(|e| BadInput(format!("--visibility-timeout: {e}")))?;
    let command = match (&w.command, &w.command_file) {
        (Some(c), _) => c.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| BadInput(format!("--command-file {}: {e}", path.display())))?
            .trim()
            .to_string(),
        (None, None) => return Err(BadInput("give --command or --command-file".into()).into()),
    };
    let aws = Aws::load().await;
    let imds = Imds::new(&w.imds_endpoint)?;
    let opts = spotctl_aws::fleet::WorkerOptions {
        queue: w.queue,
        queue_region: w.queue_region,
        command,
        idle: idle.to_std(),
        visibility: visibility.to_std(),
    };
    let exit = spotctl_aws::fleet::run_worker(&aws, &imds, &opts).await?;
    println!("{}", serde_json::to_string(&exit)?);
    Ok(Outcome::Ok)
}

async fn one_shot(o: OneShot, drain: bool) -> Result<Outcome> {
    let (blobs, prefix) = protect::bucket::open(&o.to, o.bucket_region.as_deref()).await?;
    if o.seal && !drain {
        return Err(BadInput("--seal is for `agent drain` only".into()).into());
    }
    let (dsn, database, handoff, logical, replace_existing, seal) =
        (o.mysql.clone(), o.database.clone(), o.handoff.clone(), o.logical, o.replace_existing, o.seal);
    let report = tokio::task::spawn_blocking(move || -> Result<serde_json::Value> {
        if drain {
            let mut unsealed = None;
            if seal {
                let key = spotctl_layout::BackupRoot::new(&prefix, &handoff)?.seal_key();
                let opts = spotctl_db::protect::SealOptions::for_epoch(None);
                match spotctl_db::protect::seal(&dsn, &blobs, &prefix, &key, &opts) {
                    Ok(s) => return Ok(serde_json::json!({ "sealed": s, "key": key })),
                    Err(e) => unsealed = Some(e.to_string()),
                }
            }
            let method =
                if logical { spotctl_db::backup::Method::Rows } else { spotctl_db::backup::Method::Auto };
            let opts =
                spotctl_db::backup::DrainOptions { databases: vec![database], method, ..Default::default() };
            let m = spotctl_db::backup::drain(&dsn, &blobs, &prefix, &handoff, &opts)?;
            Ok(match unsealed {
                Some(why) => serde_json::json!({ "drained": m, "unsealed": why }),
                None => serde_json::to_value(m)?,
            })
        } else {
            // Only the env's database is written, whatever the manifest names.
            let opts = spotctl_db::backup::RestoreOptions {
                databases: Some(vec![database]),
                replace_existing,
                ..Default::default()
            };
            Ok(serde_json::to_value(spotctl_db::backup::restore(&dsn, &blobs, &prefix, &handoff, &opts)?)?)
        }
    })
    .await??;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(Outcome::Ok)
}

async fn watch(w: WatchArgs) -> Result<Outcome> {
    let aws = Aws::load().await;
    // Every S3 call names the bucket's expected owner: this instance's own account.
    let account = aws.account_id(&w.bucket_region).await?;
    let store = Arc::new(S3Store::new(aws.s3(&w.bucket_region, &account), &w.bucket));
    // The account is not needed to tag or terminate this instance: names only carry the env.
    let names = Names::new(&w.env, "", &w.bucket_region);
    let mut agent = Agent {
        store: store.clone(),
        instances: Arc::new(Ec2Instances { aws: aws.clone(), names }),
        metadata: Arc::new(Imds::new(&w.imds_endpoint)?),
        db: Arc::new(MariaDbServer::new(
            w.mysql
                .clone()
                .unwrap_or_else(|| "mysql://root@localhost/?socket=/var/lib/mysql/mysql.sock".to_string()),
            w.database.clone(),
        )),
        clock: Arc::new(SystemClock),
        endpoint: None,
    };
    let mut last = None;
    let mut endpoint_looked = None;
    let mut units_started = w.primary_units.is_empty();
    loop {
        // The endpoint's zone, found once (looked for again each minute until it is there).
        if agent.endpoint.is_none()
            && endpoint_looked.is_none_or(|t: std::time::Instant| t.elapsed().as_secs() >= 60)
        {
            endpoint_looked = Some(std::time::Instant::now());
            match resolve_endpoint(&aws, store.as_ref()).await {
                Ok(Some(duty)) => {
                    tracing::info!(name = %duty.name, zone = %duty.zone, "the endpoint this instance points while primary");
                    agent.endpoint = Some(Arc::new(duty));
                }
                Ok(None) => tracing::warn!("no endpoint zone yet; serving without pointing the endpoint"),
                Err(e) => tracing::warn!("cannot find the endpoint's zone yet: {e:#}"),
            }
        }
        match agent.step().await {
            Ok((o, did)) => {
                if !units_started && serves(&did) {
                    units_started = start_units(&w.primary_units).await;
                }
                if w.once {
                    let mut v = serde_json::to_value(&o)?;
                    v["did"] = serde_json::to_value(&did)?;
                    println!("{}", serde_json::to_string_pretty(&v)?);
                    return Ok(Outcome::Ok);
                }
                // Log what changed only: the same decision every two seconds is not news.
                let quiet = match &did {
                    Did::Served { repaired: false, endpoint: None | Some(EndpointStep::Unchanged) } => {
                        Did::Served { repaired: false, endpoint: None }
                    }
                    d => d.clone(),
                };
                let now = Some((o.decision.clone(), quiet));
                if now != last {
                    let said = match &did {
                        Did::Nothing => format!("{:?}", o.decision),
                        did => did.to_string(),
                    };
                    tracing::warn!(env = %w.env, instance = %o.instance_id, role = %o.role, notice = o.interruption_notice, "{said}");
                    last = now;
                }
            }
            Err(e) if !w.once => tracing::error!("watch: {e:#}"),
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_secs(w.interval)).await;
    }
}

/// Whether this step left the instance serving as the primary with its log timeline begun (a
/// promotion is followed by such a look two seconds later).
fn serves(did: &Did) -> bool {
    matches!(did, Did::Served { .. })
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
