//! `spotctl destroy [ENV_DIR]`: remove everything the env owns, in reverse order, in every region
//! it has used; the state bucket (with its backups) goes last.

use super::args::EnvArgs;
use crate::exit::Outcome;
use anyhow::{bail, Result};
use clap::Args;
use spotctl_core::plan_render::render;

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Destroy without asking.
    #[arg(long)]
    pub auto_approve: bool,
}

pub async fn exec(args: DestroyArgs, verbose: u8) -> Result<Outcome> {
    let env = super::open_env(&args.env.env_dir).await?;
    let progress = super::term::progress();
    let planned = env.plan_destroy(&progress).await?;
    progress.finish();
    if planned.plan.is_empty() {
        println!("Nothing to destroy: env `{}` owns no resources.", env.names.env);
        super::print_calls(&env.aws.calls, verbose);
        return Ok(Outcome::Ok);
    }
    print!("{}", render(&planned.plan, &env.names.env, super::stdout_is_terminal()));
    if !args.auto_approve
        && !super::confirm("Destroy everything listed, including every backup in the state bucket?")?
    {
        bail!("destroy cancelled; nothing was changed");
    }
    let started = std::time::Instant::now();
    let progress = super::term::progress();
    let n = env.destroy(&planned, &progress).await?;
    progress.finish();
    println!("Destroy complete: {n} resources removed in {:.1}s.", started.elapsed().as_secs_f64());
    super::print_calls(&env.aws.calls, verbose);
    Ok(Outcome::Ok)
}
