//! `state/env.json`: the env as apply resolved it, for the Lambda and the agents, and every region
//! the env has used, so that destroy (and apply, when a region is dropped) finds what lives there.

use super::json::get_json;
use super::store::StateStore;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use spotctl_core::config::EnvFile;
use spotctl_layout::state as keys;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredEnv {
    pub format: u32,
    /// Every region the env uses: candidates and fleet regions.
    pub regions: Vec<String>,
    /// The regions that hold a fleet's resources.
    #[serde(default)]
    pub fleet_regions: Vec<String>,
    pub env: serde_json::Value,
}

impl StoredEnv {
    /// The env file as apply stored it.
    pub fn env_file(&self) -> Result<EnvFile> {
        serde_json::from_value(self.env.clone()).context("state/env.json does not hold an env")
    }

    /// The stored env; `None` before the first apply.
    pub async fn read(store: &dyn StateStore) -> Result<Option<StoredEnv>> {
        Ok(get_json::<StoredEnv>(store, keys::ENV).await?.map(|(s, _)| s))
    }

    /// The stored env, which the handler and the agents cannot work without.
    pub async fn require(store: &dyn StateStore) -> Result<StoredEnv> {
        Self::read(store)
            .await?
            .with_context(|| format!("{}/{} is missing; run apply", store.location(), keys::ENV))
    }
}
