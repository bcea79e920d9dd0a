//! `spotctl plan [ENV_DIR]`: show what apply would change; `--out FILE` saves it for
//! `spotctl apply FILE`; `--refresh-only` shows drift instead (what changed outside spotctl).

use super::args::{EnvArgs, Output};
use crate::exit::{BadInput, Outcome};
use anyhow::{Context, Result};
use clap::Args;
use spotctl_aws::reconcile::{plan_drift, save, PrimaryOptions};
use spotctl_core::plan::render;
use spotctl_core::workflow::{render_drift, PlanDocument, Target, TARGET_WARNING};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Exit 0 when there is nothing to change (or no drift), 2 when there is (1 on any error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// Plan a new, empty primary in place of a lost one that no backup can restore.
    #[arg(long)]
    pub replace_lost_primary: bool,
    /// Save the plan to FILE; `spotctl apply FILE` then carries out exactly this plan.
    #[arg(long, value_name = "FILE", conflicts_with = "refresh_only")]
    pub out: Option<PathBuf>,
    /// Only report drift: what changed outside spotctl since the last apply, by resource and
    /// attribute, without the env file's own changes.
    #[arg(long)]
    pub refresh_only: bool,
    /// Plan only this resource (kind.name[region] as the plan prints it, or kind.name); repeatable.
    /// For exceptional situations only.
    #[arg(long, value_name = "ADDRESS", conflicts_with = "refresh_only")]
    pub target: Vec<String>,
}

/// Parses `--target`s (bad input, exit 2, when one is not an address).
pub fn targets(given: &[String]) -> Result<Vec<Target>> {
    given.iter().map(|t| t.parse::<Target>().map_err(|e| BadInput(e.to_string()).into())).collect()
}

pub async fn exec(args: PlanArgs, verbose: u8) -> Result<Outcome> {
    let targets = targets(&args.target)?;
    let env = super::open_env(&args.env.env_dir).await?;
    let progress = super::term::progress();
    if args.refresh_only {
        let report = plan_drift(&env, &progress).await?;
        progress.finish();
        match args.output {
            Output::Text => print!("{}", render_drift(&report, &env.names.env)),
            Output::Json => {
                let mut doc =
                    PlanDocument::of_drift(report.drift.clone(), report.notes.clone(), &env.names.env);
                doc.calls = Some(env.aws.calls.snapshot());
                println!("{}", serde_json::to_string_pretty(&doc)?);
            }
        }
        super::print_calls(&env.aws.calls, verbose);
        return Ok(if args.detailed_exitcode && !report.is_empty() { Outcome::Changes } else { Outcome::Ok });
    }
    if !targets.is_empty() {
        eprintln!("{TARGET_WARNING}");
    }
    let opts =
        PrimaryOptions { replace_lost_primary: args.replace_lost_primary, targets, ..Default::default() };
    let planned = env.plan(&opts, &progress).await?;
    progress.finish();
    match args.output {
        Output::Text => print!("{}", render(&planned.plan, &env.names.env, super::stdout_is_terminal())),
        Output::Json => {
            let shown = opts.targets.iter().map(Target::to_string).collect();
            let mut doc = PlanDocument::of(&planned.plan, &env.names.env, shown);
            doc.calls = Some(env.aws.calls.snapshot());
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
    }
    if let Some(out) = &args.out {
        let saved = save(&env, &planned, &opts, &args.env.env_dir.to_string_lossy())?;
        std::fs::write(out, saved.to_file())
            .with_context(|| format!("writing the plan to {}", out.display()))?;
        eprintln!(
            "\nSaved the plan to {0}. To carry out exactly these changes, run: spotctl apply {0}",
            out.display()
        );
    }
    super::print_calls(&env.aws.calls, verbose);
    Ok(if args.detailed_exitcode && !planned.plan.is_empty() { Outcome::Changes } else { Outcome::Ok })
}
