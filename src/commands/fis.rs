//! `spotctl fis start|status [ENV_DIR]`: interrupt the primary on purpose with AWS FIS, to test the
//! real warning path of the handoff, and follow the experiment.

use super::args::EnvArgs;
use crate::exit::{BadInput, Outcome};
use anyhow::Result;
use clap::{Args, Subcommand};
use spotctl_aws::ops::fis::{experiment_status, start_on_primary};

#[derive(Debug, Args)]
pub struct FisArgs {
    #[command(subcommand)]
    pub command: FisCommand,
}

#[derive(Debug, Subcommand)]
pub enum FisCommand {
    /// Start the experiment against the current primary and print its id.
    Start {
        #[command(flatten)]
        env: EnvArgs,
    },
    /// Show an experiment's state (the last one started when no id is given).
    Status {
        #[command(flatten)]
        env: EnvArgs,
        /// The experiment id.
        id: Option<String>,
    },
}

pub async fn exec(args: FisArgs, verbose: u8) -> Result<Outcome> {
    match args.command {
        FisCommand::Start { env } => {
            let env = super::open_env(&env.env_dir).await?;
            let started = start_on_primary(&env).await?;
            println!("{}", started.id);
            eprintln!(
                "started FIS experiment {} in {} against {} (template {})",
                started.id, started.region, started.instance_id, started.template_id
            );
            super::print_calls(&env.aws.calls, verbose);
        }
        FisCommand::Status { env, id } => {
            let env = super::open_env(&env.env_dir).await?;
            let status = experiment_status(&env, id.as_deref()).await?;
            let Some(s) = status else {
                return Err(BadInput(
                    "no FIS experiment was started for this env and no id was given".into(),
                )
                .into());
            };
            println!("{} {} in {}: {}", s.id, s.state, s.region, s.reason);
            super::print_calls(&env.aws.calls, verbose);
        }
    }
    Ok(Outcome::Ok)
}
