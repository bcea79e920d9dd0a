//! `spotctl handle [ENV_DIR] --event FILE`: run the Lambda's handler locally on an event file,
//! exactly as the Lambda would (same code, same state bucket).

use super::args::EnvArgs;
use crate::exit::{BadInput, Outcome};
use anyhow::Result;
use clap::Args;
use spotctl_aws::handler::Handler;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct HandleArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// The EventBridge event, as JSON.
    #[arg(long)]
    pub event: PathBuf,
}

pub async fn exec(args: HandleArgs, verbose: u8) -> Result<Outcome> {
    let raw = std::fs::read(&args.event)
        .map_err(|e| BadInput(format!("cannot read event file {}: {e}", args.event.display())))?;
    let env = super::open_env(&args.env.env_dir).await?;
    let handler = Handler::on_aws(env.aws.clone(), env.names.clone(), env.store.clone());
    let outcome = handler.handle(&raw).await;
    super::print_calls(&env.aws.calls, verbose);
    println!("{}", serde_json::to_string_pretty(&outcome?)?);
    Ok(Outcome::Ok)
}
