//! `spotctl apply [ENV_DIR]`: show the plan, ask, and make AWS match the env file.

use super::args::EnvArgs;
use crate::exit::Outcome;
use anyhow::Result;
use clap::Args;
use spotctl_aws::reconcile::progress::Progress;
use spotctl_aws::reconcile::PrimaryOptions;
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
    /// When the recorded primary is gone and no backup can restore it, launch a new, empty one
    /// (the schema only). Without it, apply refuses to put an empty database in its place.
    #[arg(long)]
    pub replace_lost_primary: bool,
}

pub async fn exec(args: ApplyArgs, verbose: u8) -> Result<Outcome> {
    let env = super::open_env(&args.env.env_dir).await?;
    if args.break_lock {
        match Lock::break_stale(env.store.as_ref()).await? {
            Some(held) => eprintln!("broke the lock held by {held}"),
            None => eprintln!("no lock to break"),
        }
    }
    // The lock comes before the plan: what is shown is what runs, and no other apply can plan
    // against the same state meanwhile.
    let lock = env.lock("apply").await?;
    let opts = PrimaryOptions { replace_lost_primary: args.replace_lost_primary, ..Default::default() };
    let progress = Progress::new();
    let planned = match env.plan(&opts, &progress).await {
        Ok(p) => p,
        Err(e) => return Err(release(lock, e).await),
    };
    progress.finish();
    print!("{}", render(&planned.plan, &env.names.env, super::stdout_is_terminal()));
    if planned.plan.is_empty() {
        if let Some(l) = lock {
            l.release().await?;
        }
        super::print_calls(&env.aws.calls, verbose);
        return Ok(Outcome::Ok);
    }
    let approved = if args.auto_approve { Ok(true) } else { super::confirm("Apply these changes?") };
    match approved {
        Ok(true) => {}
        Ok(false) => return Err(release(lock, anyhow::anyhow!("apply cancelled; nothing was changed")).await),
        Err(e) => return Err(release(lock, e).await),
    }
    let started = std::time::Instant::now();
    let progress = Progress::new();
    let n = env.apply(&planned, lock, &opts, &progress).await?;
    progress.finish();
    println!("Apply complete: {n} changes in {:.1}s.", started.elapsed().as_secs_f64());
    super::print_calls(&env.aws.calls, verbose);
    Ok(Outcome::Ok)
}

/// Releases the lock on the way out of a failed or cancelled apply, keeping the first error.
async fn release(lock: Option<Lock<'_>>, e: anyhow::Error) -> anyhow::Error {
    match lock {
        Some(l) => match l.release().await {
            Ok(()) => e,
            Err(r) => e.context(format!("and releasing the lock failed: {r:#}")),
        },
        None => e,
    }
}
