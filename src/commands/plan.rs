//! `spotctl plan [ENV_DIR]`: show what apply would change.

use super::args::{EnvArgs, Output};
use crate::exit::Outcome;
use anyhow::Result;
use clap::Args;
use spotctl_aws::reconcile::progress::Progress;
use spotctl_aws::reconcile::PrimaryOptions;
use spotctl_core::plan_render::render;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Exit 0 when there is nothing to change, 2 when there are changes (1 on any error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// Plan a new, empty primary in place of a lost one that no backup can restore.
    #[arg(long)]
    pub replace_lost_primary: bool,
}

pub async fn exec(args: PlanArgs, verbose: u8) -> Result<Outcome> {
    let env = super::open_env(&args.env.env_dir).await?;
    let progress = Progress::new();
    let opts = PrimaryOptions { replace_lost_primary: args.replace_lost_primary, ..Default::default() };
    let planned = env.plan(&opts, &progress).await?;
    progress.finish();
    match args.output {
        Output::Text => print!("{}", render(&planned.plan, &env.names.env, super::stdout_is_terminal())),
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "env": env.names.env,
                "summary": planned.plan.summary(),
                "changes": planned.plan.changes,
                "recovery": planned.plan.recovery,
                "notes": planned.plan.notes,
                "calls": env.aws.calls.snapshot(),
            }))?
        ),
    }
    super::print_calls(&env.aws.calls, verbose);
    Ok(if args.detailed_exitcode && !planned.plan.is_empty() { Outcome::Changes } else { Outcome::Ok })
}
