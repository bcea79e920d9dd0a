//! `spotctl apply [ENV_DIR]`: show the plan, ask, and make AWS match the env file.

use super::args::EnvArgs;
use crate::exit::Outcome;
use anyhow::{bail, Result};
use clap::Args;
use spotctl_aws::reconcile::progress::Progress;
use spotctl_aws::state::Lock;
use spotctl_core::plan_render::render;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Apply without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// Delete a lock left by a dead run first (it says whose it was).
    #[arg(long)]
    pub break_lock: bool,
}

pub async fn exec(args: ApplyArgs, verbose: u8) -> Result<Outcome> {
    let env = super::open_env(&args.env.env_dir).await?;
    if args.break_lock {
        match Lock::break_stale(env.store.as_ref()).await? {
            Some(held) => eprintln!("broke the lock held by {held}"),
            None => eprintln!("no lock to break"),
        }
    }
    let progress = Progress::new();
    let planned = env.plan(&progress).await?;
    progress.finish();
    print!("{}", render(&planned.plan, &env.names.env, super::stdout_is_terminal()));
    if planned.plan.is_empty() {
        super::print_calls(&env.aws.calls, verbose);
        return Ok(Outcome::Ok);
    }
    if !args.auto_approve && !super::confirm("Apply these changes?")? {
        bail!("apply cancelled; nothing was changed");
    }
    let started = std::time::Instant::now();
    let progress = Progress::new();
    let n = env.apply(&planned, &progress).await?;
    progress.finish();
    println!("Apply complete: {n} changes in {:.1}s.", started.elapsed().as_secs_f64());
    super::print_calls(&env.aws.calls, verbose);
    Ok(Outcome::Ok)
}
