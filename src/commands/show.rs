//! `spotctl show FILE [--output json]`: a plan saved by `spotctl plan --out`, as `plan` showed it
//! (or as the documented JSON, docs/plan-json.md). Reads the file only: no AWS call.

use super::args::Output;
use crate::exit::{BadInput, Outcome};
use anyhow::Result;
use clap::Args;
use spotctl_core::plan::render;
use spotctl_core::time::rfc3339;
use spotctl_core::workflow::{PlanDocument, SavedFrom, SavedPlan, Target};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The plan file.
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn exec(args: ShowArgs) -> Result<Outcome> {
    let shown = args.file.display().to_string();
    let bytes =
        std::fs::read(&args.file).map_err(|e| BadInput(format!("cannot read the plan file {shown}: {e}")))?;
    let saved = SavedPlan::from_file(&shown, &bytes)?;
    let targets: Vec<String> = saved.options.targets.iter().map(Target::to_string).collect();
    match args.output {
        Output::Json => {
            let mut doc = PlanDocument::of(&saved.plan, &saved.env, targets);
            doc.saved = Some(SavedFrom {
                file: shown,
                env_dir: saved.env_dir.clone(),
                created_unix: saved.created_unix,
                spotctl_version: saved.spotctl_version.clone(),
                handler_sha256: saved.handler.sha256_hex.clone(),
                env_files: saved.env_files.clone(),
                fingerprint: saved.fingerprint.0.clone(),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Output::Text => {
            println!(
                "Saved plan {shown}: env `{}` ({}), from {}, saved at {} by spotctl {}",
                saved.env,
                saved.bucket,
                saved.env_dir,
                rfc3339(saved.created_unix),
                saved.spotctl_version
            );
            if !targets.is_empty() {
                println!("Restricted to: {}", targets.join(", "));
            }
            println!();
            print!("{}", render(&saved.plan, &saved.env, super::stdout_is_terminal()));
            if !saved.plan.is_empty() {
                println!("\nTo carry out exactly these changes: spotctl apply {shown}");
            }
        }
    }
    Ok(Outcome::Ok)
}
