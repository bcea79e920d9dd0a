//! The seam: [`Instances`] and what passes through it.

use crate::sdk::error::AwsError;
use async_trait::async_trait;
use spotctl_core::handoff::primary::{InstanceState, Role, UnknownRole};
use spotctl_core::names::{TAG_ENV, TAG_HANDOFF, TAG_ROLE};
use spotctl_core::plan::Resource;
use std::collections::BTreeMap;

/// An instance as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    pub id: String,
    pub region: String,
    pub az: String,
    pub instance_type: String,
    pub state: InstanceState,
    pub tags: BTreeMap<String, String>,
    /// Where applications reach it: its public IPv4 address, else its private one.
    pub address: Option<String>,
}

impl InstanceView {
    /// The env that owns it (`spotctl:env`), if any.
    pub fn env(&self) -> Option<&str> {
        self.tags.get(TAG_ENV).map(String::as_str)
    }

    /// Its `spotctl:role`: `None` without the tag, an error for a value spotctl does not know.
    pub fn role(&self) -> Result<Option<Role>, UnknownRole> {
        self.tags.get(TAG_ROLE).map(|r| Role::parse(r)).transpose()
    }

    /// The token of the apply that launched it (`spotctl:launch`), if apply did.
    pub fn launch_token(&self) -> Option<&str> {
        self.tags.get(spotctl_core::names::TAG_LAUNCH).map(String::as_str)
    }

    /// The handoff it was launched for (`spotctl:handoff`), if a standby.
    pub fn handoff(&self) -> Option<&str> {
        self.tags.get(TAG_HANDOFF).map(String::as_str)
    }
}

/// A database instance to launch: the planner's spec (placement, AMI, user-data, profile...) and
/// what it is for.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchRequest {
    pub want: Resource,
    pub role: Role,
    /// The handoff a standby is launched for.
    pub handoff: Option<String>,
    /// The token of the apply that launches a primary (`spotctl:launch`).
    pub launch_token: Option<String>,
}

/// What EC2 refused or could not do, or an instance spotctl cannot account for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComputeError {
    /// The call failed; its code orders the capacity fallback, `retryable` says whether trying
    /// again later can help.
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("instance {id} in {region} has no {tag} tag", tag = spotctl_core::names::TAG_ROLE)]
    NoRole { id: String, region: String },
    #[error("instance {id} in {region}: {source}")]
    UnknownRole {
        id: String,
        region: String,
        #[source]
        source: UnknownRole,
    },
}

impl ComputeError {
    /// EC2's error code, if the call got that far.
    pub fn code(&self) -> Option<&str> {
        match self {
            ComputeError::Aws(e) => e.code.as_deref(),
            _ => None,
        }
    }

    /// Whether trying the same call again later can help (throttling, a timeout).
    pub fn retryable(&self) -> bool {
        matches!(self, ComputeError::Aws(e) if e.retryable)
    }
}

#[async_trait]
pub trait Instances: Send + Sync {
    /// The instance, whatever env it belongs to; `None` when EC2 does not know it.
    async fn describe(&self, region: &str, id: &str) -> Result<Option<InstanceView>, ComputeError>;
    /// The env's database instances in `region` that are not terminated, sorted by id.
    async fn list(&self, region: &str) -> Result<Vec<InstanceView>, ComputeError>;
    async fn launch(&self, req: &LaunchRequest) -> Result<InstanceView, ComputeError>;
    async fn tag(&self, region: &str, id: &str, key: &str, value: &str) -> Result<(), ComputeError>;
    /// Removes tag `key` (removing one that is not there succeeds).
    async fn untag(&self, region: &str, id: &str, key: &str) -> Result<(), ComputeError>;
    async fn terminate(&self, region: &str, id: &str) -> Result<(), ComputeError>;
}
