//! `spotctl apply [ENV_DIR]`: show the plan, ask, and make AWS match the env file.
//! `spotctl apply PLAN_FILE` (or `apply ENV_DIR PLAN_FILE`): carry out a plan saved by
//! `spotctl plan --out`, exactly as it was reviewed, without asking again — or refuse, naming
//! what moved since it was saved.

use crate::exit::{BadInput, Outcome};
use anyhow::Result;
use clap::Args;
use spotctl_aws::reconcile::{apply_saved, PrimaryOptions};
use spotctl_aws::state::Lock;
use spotctl_core::config::ENV_FILE;
use spotctl_core::plan::render;
use spotctl_core::time::rfc3339;
use spotctl_core::workflow::{SavedPlan, TARGET_WARNING};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The env directory holding spotctl.toml, or a plan file saved by `spotctl plan --out`.
    #[arg(default_value = "envs/dev", value_name = "ENV_DIR|PLAN_FILE")]
    pub path: PathBuf,
    /// A saved plan to apply to ENV_DIR (which must be the plan's env).
    #[arg(value_name = "PLAN_FILE")]
    pub plan_file: Option<PathBuf>,
    /// Apply without asking (a saved plan never asks: it was approved when it was saved).
    #[arg(long)]
    pub auto_approve: bool,
    /// Delete a lock left by a dead run first (it says whose it was).
    #[arg(long)]
    pub break_lock: bool,
    /// When the recorded primary is gone and no backup can restore it, launch a new, empty one
    /// (the schema only). Without it, apply refuses to put an empty database in its place.
    #[arg(long)]
    pub replace_lost_primary: bool,
    /// Apply only the changes to this resource (kind.name[region] or kind.name); repeatable.
    /// For exceptional situations only.
    #[arg(long, value_name = "ADDRESS")]
    pub target: Vec<String>,
}

pub async fn exec(args: ApplyArgs, verbose: u8) -> Result<Outcome> {
    match (args.path.is_file(), &args.plan_file) {
        (true, None) => apply_file(&args.path.clone(), None, &args, verbose).await,
        (false, Some(file)) => apply_file(file, Some(&args.path), &args, verbose).await,
        (true, Some(_)) => Err(BadInput(format!(
            "{} is a file; give the env directory first: spotctl apply ENV_DIR PLAN_FILE",
            args.path.display()
        ))
        .into()),
        (false, None) => apply_env(args, verbose).await,
    }
}

async fn apply_env(args: ApplyArgs, verbose: u8) -> Result<Outcome> {
    let targets = super::plan::targets(&args.target)?;
    let env = super::open_env(&args.path).await?;
    if args.break_lock {
        break_lock(&env).await?;
    }
    if !targets.is_empty() {
        eprintln!("{TARGET_WARNING}");
    }
    // The lock comes before the plan: what is shown is what runs, and no other apply can plan
    // against the same state meanwhile.
    let lock = env.lock("apply").await?;
    let opts =
        PrimaryOptions { replace_lost_primary: args.replace_lost_primary, targets, ..Default::default() };
    let progress = super::term::progress();
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
    let progress = super::term::progress();
    let n = env.apply(&planned, lock, &opts, &progress).await?;
    progress.finish();
    println!("Apply complete: {n} changes in {:.1}s.", started.elapsed().as_secs_f64());
    super::print_calls(&env.aws.calls, verbose);
    Ok(Outcome::Ok)
}

/// Applies a saved plan: read and checked first (bad input when it is of another version, was
/// edited, or is another env's), then carried out under the lock if nothing moved since.
async fn apply_file(file: &Path, env_dir: Option<&Path>, args: &ApplyArgs, verbose: u8) -> Result<Outcome> {
    if args.replace_lost_primary || !args.target.is_empty() {
        return Err(BadInput(
            "a saved plan carries the options it was made with; give --replace-lost-primary and --target \
             to `spotctl plan --out`"
                .into(),
        )
        .into());
    }
    let shown = file.display().to_string();
    let bytes =
        std::fs::read(file).map_err(|e| BadInput(format!("cannot read the plan file {shown}: {e}")))?;
    let saved = SavedPlan::from_file(&shown, &bytes)?;
    let dir = env_dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(&saved.env_dir));
    if !dir.join(ENV_FILE).is_file() {
        return Err(BadInput(format!(
            "{shown} was saved from the env directory {}, which holds no {ENV_FILE} from here; name it: \
             spotctl apply ENV_DIR {shown}",
            dir.display()
        ))
        .into());
    }
    let env = super::open_env(&dir).await?;
    if args.break_lock {
        break_lock(&env).await?;
    }
    println!(
        "The plan saved in {shown} at {} (spotctl {}), applied as it was approved:\n",
        rfc3339(saved.created_unix),
        saved.spotctl_version
    );
    print!("{}", render(&saved.plan, &saved.env, super::stdout_is_terminal()));
    let started = std::time::Instant::now();
    let progress = super::term::progress();
    let n = apply_saved(&env, &shown, &saved, &progress).await;
    progress.finish();
    let n = n?;
    println!("Apply complete: {n} changes in {:.1}s.", started.elapsed().as_secs_f64());
    super::print_calls(&env.aws.calls, verbose);
    Ok(Outcome::Ok)
}

async fn break_lock(env: &spotctl_aws::reconcile::Env) -> anyhow::Result<()> {
    match Lock::break_stale(env.store.as_ref()).await? {
        Some(held) => eprintln!("broke the lock held by {held}"),
        None => eprintln!("no lock to break"),
    }
    Ok(())
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
