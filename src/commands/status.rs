//! `spotctl status [ENV_DIR]`: the primary, the age of the last complete backup, the last
//! handoffs with the time of each step, and any standby.

use super::args::{EnvArgs, Output};
use crate::exit::Outcome;
use anyhow::Result;
use clap::Args;
use spotctl_aws::ops::status::status;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

pub async fn exec(args: StatusArgs, verbose: u8) -> Result<Outcome> {
    let env = super::open_env(&args.env.env_dir).await?;
    let s = status(&env).await?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&s)?),
        Output::Text => print!("{}", s.render()),
    }
    super::print_calls(&env.aws.calls, verbose);
    Ok(Outcome::Ok)
}
