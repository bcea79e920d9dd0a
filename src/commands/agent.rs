//! `spotctl agent …`: the commands that run on an instance. `agent watch` is the watcher user-data
//! installs as a systemd unit (`SyslogIdentifier=spot-handler`; the loop is
//! `spotctl_aws::handoff::watch`); `agent drain` and `agent restore` are one-shot
//! (`spotctl_aws::protect::once`); the protection commands are in `protect/`.

use crate::commands::protect;
use crate::exit::{BadInput, Outcome};
use anyhow::Result;
use clap::{Args, Subcommand};
use spotctl_aws::handoff::{look_once, watch as watch_forever, WatchOptions};
use spotctl_aws::protect::once::Once;
use spotctl_aws::sdk::imds::{Imds, DEFAULT_IMDS};
use spotctl_aws::sdk::Aws;
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
    if o.seal && !drain {
        return Err(BadInput("--seal is for `agent drain` only".into()).into());
    }
    let (blobs, prefix, _writer) = protect::bucket::open(&o.to, o.bucket_region.as_deref()).await?;
    let once = Once { dsn: o.mysql, prefix, handoff: o.handoff, database: o.database };
    let report = match drain {
        true => spotctl_aws::protect::once::drain(blobs, once, o.logical, o.seal).await?,
        false => spotctl_aws::protect::once::restore(blobs, once, o.replace_existing).await?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(Outcome::Ok)
}

async fn watch(w: WatchArgs) -> Result<Outcome> {
    let opts = WatchOptions {
        bucket: w.bucket,
        bucket_region: w.bucket_region,
        env: w.env,
        database: w.database,
        mysql: w
            .mysql
            .unwrap_or_else(|| "mysql://root@localhost/?socket=/var/lib/mysql/mysql.sock".to_string()),
        imds_endpoint: w.imds_endpoint,
        interval: Duration::from_secs(w.interval),
        primary_units: w.primary_units,
    };
    let aws = Aws::load().await;
    if w.once {
        println!("{}", serde_json::to_string_pretty(&look_once(&aws, &opts).await?)?);
        return Ok(Outcome::Ok);
    }
    watch_forever(&aws, &opts).await?;
    Ok(Outcome::Ok)
}
