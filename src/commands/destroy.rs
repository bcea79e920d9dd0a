//! `spotctl destroy [ENV_DIR] [--keep-backups]`: remove everything the env owns, in every region
//! it has used — the rules and the handler first, then the instances, then the rest; the state
//! bucket (every version of every object, the backups named in the plan) last, unless
//! `--keep-backups` leaves the bucket and its backups behind.

use super::args::EnvArgs;
use crate::exit::Outcome;
use anyhow::{bail, Result};
use clap::Args;
use spotctl_aws::reconcile::teardown;
use spotctl_core::plan::render;
use spotctl_core::plan::Kind;

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Destroy without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// Leave the state bucket, and the backups in it, behind (everything else goes).
    #[arg(long)]
    pub keep_backups: bool,
}

pub async fn exec(args: DestroyArgs, verbose: u8) -> Result<Outcome> {
    let env = super::open_env(&args.env.env_dir).await?;
    let progress = super::term::progress();
    let mut planned = env.plan_destroy(&progress).await?;
    let backups = if planned.live.iter().any(|r| r.address.kind == Kind::Bucket) {
        teardown::backups(env.store.as_ref()).await?
    } else {
        teardown::Backups::default()
    };
    progress.finish();
    if args.keep_backups {
        planned.plan.changes.retain(|c| c.address.kind != Kind::Bucket);
    }
    if planned.plan.is_empty() {
        println!("Nothing to destroy: env `{}` owns no resources.", env.names.env);
        super::print_calls(&env.aws.calls, verbose);
        return Ok(Outcome::Ok);
    }
    print!("{}", render(&planned.plan, &env.names.env, super::stdout_is_terminal()));
    println!(
        "  -   every database instance of env `{}`, once the rules and the handler are gone",
        env.names.env
    );
    println!("  -   log group {} (if any)", teardown::log_group(&env.names));
    let question = if args.keep_backups {
        if !backups.is_empty() {
            println!(
                "Kept: the state bucket with {} complete backup(s) ({}) and {} object(s) under backups/.",
                backups.complete.len(),
                teardown::named(&backups.complete),
                backups.objects
            );
        }
        "Destroy everything listed (the state bucket and its backups stay)?"
    } else if backups.is_empty() {
        "Destroy everything listed?"
    } else {
        println!(
            "Deleted with the bucket: {} complete backup(s) ({}){}, {} object(s) under backups/ \
             (--keep-backups leaves them).",
            backups.complete.len(),
            teardown::named(&backups.complete),
            if backups.partial.is_empty() {
                String::new()
            } else {
                format!(" and {} incomplete ({})", backups.partial.len(), teardown::named(&backups.partial))
            },
            backups.objects
        );
        "Destroy everything listed, including these backups?"
    };
    if !args.auto_approve && !super::confirm(question)? {
        bail!("destroy cancelled; nothing was changed");
    }
    let started = std::time::Instant::now();
    let progress = super::term::progress();
    let n = teardown::destroy(&env, &planned, &progress).await?;
    progress.finish();
    println!("Destroy complete: {n} resources removed in {:.1}s.", started.elapsed().as_secs_f64());
    super::print_calls(&env.aws.calls, verbose);
    Ok(Outcome::Ok)
}
