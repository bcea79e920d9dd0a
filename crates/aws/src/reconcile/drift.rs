//! Drift (`spotctl plan --refresh-only`): the env *as last applied* (`state/env.json`) planned
//! against live state. Every change of that plan happened outside spotctl; changes of the env file
//! since the last apply are not looked at (`spotctl_core::workflow::drift` classifies).

use super::env::Env;
use super::primary::PrimaryOptions;
use super::progress::Progress;
use crate::state::StoredEnv;
use anyhow::{Context, Result};
use spotctl_core::config::LoadedEnv;
use spotctl_core::workflow::{drift, DriftReport};

/// What changed outside spotctl since the last apply. An env never applied has no drift (and says
/// so in a note).
pub async fn plan_drift(env: &Env, progress: &Progress) -> Result<DriftReport> {
    if !bucket_exists(env).await? {
        return Ok(DriftReport {
            drift: Vec::new(),
            notes: vec![format!(
                "env `{}` was never applied: there is nothing it could drift from",
                env.names.env
            )],
        });
    }
    progress.tick("reading the env as last applied");
    let Some(stored) = StoredEnv::read(env.store.as_ref()).await? else {
        return Ok(DriftReport {
            drift: Vec::new(),
            notes: vec![
                "the state bucket holds no env yet (the first apply did not finish): run apply".into()
            ],
        });
    };
    let applied_env = stored.env_file()?;
    let mut regions = applied_env.env.regions.clone();
    regions.sort();
    regions.dedup();
    let applied = Env {
        aws: env.aws.clone(),
        store: env.store.clone(),
        loaded: LoadedEnv { env: applied_env, ..env.loaded.clone() },
        names: env.names.clone(),
        regions,
    };
    let planned = applied.plan(&PrimaryOptions::default(), progress).await?;
    Ok(drift(&planned.plan))
}

/// Whether the env's state bucket exists (an env never applied has none).
pub(super) async fn bucket_exists(env: &Env) -> Result<bool> {
    let head = env
        .aws
        .s3(&env.names.home_region, &env.names.account)
        .head_bucket()
        .bucket(env.names.bucket())
        .send()
        .await;
    match head {
        Ok(_) => Ok(true),
        Err(e)
            if crate::sdk::error::is_not_found(&e)
                || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
        {
            Ok(false)
        }
        Err(e) => Err(e).with_context(|| format!("looking for the state bucket {}", env.names.bucket())),
    }
}
