//! `state/env.json`: the env as apply resolved it, for the Lambda and the agents, and every region
//! the env has used, so that destroy (and apply, when a region is dropped) finds what lives there.

use super::json::get_json;
use super::store::{StateStore, StoreError};
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
    pub fn env_file(&self) -> Result<EnvFile, StoreError> {
        serde_json::from_value(self.env.clone()).map_err(|e| StoreError::Malformed {
            key: keys::ENV.to_string(),
            message: format!("not an env: {e}"),
        })
    }

    /// The stored env; `None` before the first apply.
    pub async fn read(store: &dyn StateStore) -> Result<Option<StoredEnv>, StoreError> {
        Ok(get_json::<StoredEnv>(store, keys::ENV).await?.map(|(s, _)| s))
    }

    /// The stored env, which the handler and the agents cannot work without.
    pub async fn require(store: &dyn StateStore) -> Result<StoredEnv, StoreError> {
        Self::read(store).await?.ok_or_else(|| StoreError::Missing {
            location: store.location(),
            key: keys::ENV.to_string(),
            hint: "run apply",
        })
    }
}
