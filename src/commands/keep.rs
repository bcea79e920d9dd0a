//! `spotctl keep-primary [ENV_DIR]`: keep the recorded primary instead of handing it off — its
//! epoch's handoff is given up, and its agent turns writes back on. Shown and confirmed like
//! `apply`; the recorded operation that replaces lifting a fence by hand (ARD.md, *The fencing
//! rule*). The work is `spotctl_aws::handoff::keep_primary`.

use super::args::EnvArgs;
use crate::exit::{BadInput, Outcome};
use anyhow::{bail, Result};
use clap::Args;
use spotctl_aws::handoff::{keep_primary, plan_keep, HandoffError};
use spotctl_aws::state::LockInfo;

#[derive(Debug, Args)]
pub struct KeepArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Keep it without asking.
    #[arg(long)]
    pub auto_approve: bool,
}

pub async fn exec(args: KeepArgs, verbose: u8) -> Result<Outcome> {
    let env = super::open_env(&args.env.env_dir).await?;
    let parts = env.command_seams("keep-primary");
    let plan = match plan_keep(&parts.seams()).await {
        Ok(p) => p,
        Err(HandoffError::Refused(why)) => return Err(BadInput(why).into()),
        Err(e) => return Err(e.into()),
    };
    print!("{}", plan.render());
    if !args.auto_approve && !super::confirm("Keep this primary?")? {
        bail!("nothing was kept");
    }
    let who = LockInfo::here("keep-primary").holder;
    let kept = keep_primary(&parts.seams(), &plan.primary.instance_id, &who).await?;
    println!("{}", serde_json::to_string_pretty(&kept)?);
    println!("Kept: its agent turns writes on within seconds; `spotctl status` shows it.");
    super::print_calls(&env.aws.calls, verbose);
    Ok(Outcome::Ok)
}
