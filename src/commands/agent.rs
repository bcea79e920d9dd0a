//! `spotctl agent watch`: the on-instance watcher that user-data installs as a systemd unit
//! (`SyslogIdentifier=spot-handler`). It polls IMDSv2 and the state bucket every few seconds and
//! logs what the handoff protocol decides for this instance.

use crate::exit::Outcome;
use anyhow::Result;
use clap::{Args, Subcommand};
use spotctl_aws::agent::{imds_client, observe, DEFAULT_IMDS};
use spotctl_aws::clients::Aws;
use spotctl_aws::store::S3Store;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Watch for the interruption notice, a drain request and the primary record.
    Watch(WatchArgs),
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
}

pub async fn exec(args: AgentArgs) -> Result<Outcome> {
    let AgentCommand::Watch(w) = args.command;
    let aws = Aws::load().await;
    let store = S3Store::new(aws.s3(&w.bucket_region), &w.bucket);
    let imds = imds_client(&w.imds_endpoint)?;
    let mut last = String::new();
    loop {
        match observe(&imds, &store, false).await {
            Ok(o) => {
                if w.once {
                    println!("{}", serde_json::to_string_pretty(&o)?);
                    return Ok(Outcome::Ok);
                }
                if o.decision != last {
                    tracing::warn!(env = %w.env, instance = %o.instance_id, role = %o.role, notice = o.interruption_notice, "{}", o.decision);
                    last = o.decision;
                }
            }
            Err(e) if !w.once => tracing::error!("watch: {e:#}"),
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_secs(w.interval)).await;
    }
}
