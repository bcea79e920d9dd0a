//! Saved plans on the AWS side: what `plan --out` writes, and `apply FILE`, which carries out
//! exactly the saved plan — or refuses, naming what moved, and touches nothing.
//!
//! Apply of a saved plan: the plan file was read and checked by `spotctl_core::workflow` (version,
//! checksums); here the env must be the plan's (name, account, home region), its input files and
//! the handler the plan's, then — under the lock — live state is read again and its fingerprint
//! compared with the saved one, and the plan made now must hold the same changes and the same
//! recovery. Only then does the executor run the saved plan, with the saved launch token. A
//! handoff of the recorded epoch opened since the plan was saved is named first: that is the guard
//! that holds database instances while a handoff runs.

use super::env::{Env, Planned};
use super::package::package_hash;
use super::primary::PrimaryOptions;
use super::progress::Progress;
use super::resources::{bucket, Ctx};
use crate::sdk::clock::now_unix;
use crate::state::{Lock, LockInfo};
use anyhow::{Context, Result};
use spotctl_core::plan::Kind;
use spotctl_core::workflow::{changes_moved, HandlerHash, SavedOptions, SavedPlan, Stale, SAVED_PLAN_FORMAT};
use std::collections::BTreeMap;

/// The saved form of `planned`, made with `opts` from the env in `env_dir`.
pub fn save(env: &Env, planned: &Planned, opts: &PrimaryOptions, env_dir: &str) -> Result<SavedPlan> {
    let text = read_env_file(env)?;
    let pkg = planned.package.as_ref().context("a plan without a handler package cannot be saved")?;
    Ok(SavedPlan {
        format_version: SAVED_PLAN_FORMAT,
        spotctl_version: env!("CARGO_PKG_VERSION").to_string(),
        env: env.names.env.clone(),
        bucket: env.names.bucket(),
        env_dir: env_dir.to_string(),
        created_unix: now_unix(),
        env_files: SavedPlan::inputs_of(&env.loaded, &text),
        handler: HandlerHash { sha256_hex: pkg.sha256_hex.clone(), sha256_b64: pkg.sha256_b64.clone() },
        fingerprint: planned.fingerprint.clone(),
        options: SavedOptions {
            replace_lost_primary: opts.replace_lost_primary,
            targets: opts.targets.clone(),
        },
        regions: planned.regions.clone(),
        launch_token: planned.launch_token.clone(),
        plan: planned.plan.clone(),
    })
}

fn read_env_file(env: &Env) -> Result<Vec<u8>> {
    std::fs::read(&env.loaded.file).with_context(|| format!("reading {}", env.loaded.file.display()))
}

/// Carries out `saved` (from `file`) on `env`, or refuses: [`spotctl_core::workflow::SavedPlanError`]
/// for a plan of another env, [`Stale`] when its inputs or live state moved. Returns the number
/// of changes made.
pub async fn apply_saved(env: &Env, file: &str, saved: &SavedPlan, progress: &Progress) -> Result<usize> {
    saved.check_env(file, &env.names.env, &env.names.bucket())?;
    let pkg = package_hash()?;
    let files = SavedPlan::inputs_of(&env.loaded, &read_env_file(env)?);
    let now_handler = HandlerHash { sha256_hex: pkg.sha256_hex.clone(), sha256_b64: pkg.sha256_b64.clone() };
    let inputs = saved.inputs_moved(&files, &now_handler);
    if !inputs.is_empty() {
        return Err(Stale { what: inputs }.into());
    }
    if saved.plan.is_empty() {
        return Ok(0);
    }
    let (lock, created_bucket) = match env.lock("apply").await? {
        Some(l) => (l, false),
        None => {
            // The first apply: the bucket the plan creates holds the lock.
            let want = saved
                .plan
                .changes
                .iter()
                .find(|c| c.address.kind == Kind::Bucket)
                .and_then(|c| c.desired.as_ref())
                .ok_or_else(|| Stale { what: vec!["the state bucket is gone".into()] })?;
            progress.tick("creating the state bucket");
            let artifacts = BTreeMap::new();
            let ctx =
                Ctx { aws: &env.aws, names: &env.names, regions: &saved.regions, artifacts: &artifacts };
            bucket::create_bucket(&ctx, want).await?;
            (Lock::acquire(env.store.as_ref(), &LockInfo::here("apply")).await?, true)
        }
    };
    let result = run_locked(env, saved, created_bucket, progress).await;
    let released = lock.release().await;
    let n = result?;
    released?;
    Ok(n)
}

async fn run_locked(
    env: &Env,
    saved: &SavedPlan,
    created_bucket: bool,
    progress: &Progress,
) -> Result<usize> {
    let opts = PrimaryOptions {
        replace_lost_primary: saved.options.replace_lost_primary,
        launch_token: saved.launch_token.clone(),
        targets: saved.options.targets.clone(),
    };
    let now = env.plan(&opts, progress).await?;
    let mut what = Vec::new();
    if now.fingerprint.handoff_open() && !saved.fingerprint.handoff_open() {
        what.push(
            "a handoff of the recorded epoch opened since the plan was saved: the database instances are \
             the handoff's until it ends"
                .to_string(),
        );
    }
    // The bucket this apply just created is not a change behind the plan's back.
    let ignore = |c: &str| created_bucket && c.starts_with(&format!("{}.", Kind::Bucket));
    what.extend(saved.fingerprint.moved(&now.fingerprint, &ignore).iter().map(|m| m.to_string()));
    if what.is_empty() {
        what.extend(changes_moved(&saved.plan, &now.plan));
    }
    if !what.is_empty() {
        return Err(Stale { what }.into());
    }
    let planned = Planned {
        plan: saved.plan.clone(),
        regions: saved.regions.clone(),
        launch_token: saved.launch_token.clone(),
        fingerprint: saved.fingerprint.clone(),
        ..now
    };
    env.execute(&planned, progress).await
}
