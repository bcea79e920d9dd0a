//! What kept a handoff step from being done, typed so that callers match on it: the handler asks
//! whether the same event should be tried again; the agent whether a restore met a bucket that
//! did not answer (it tries again) or a backup that cannot be trusted (it refuses and leaves).

use super::placements::PlacementsError;
use crate::compute::ComputeError;
use crate::protect::BackupsError;
use crate::sdk::error::AwsError;
use crate::sdk::imds::MetadataError;
use crate::state::StoreError;
use spotctl_core::handoff::primary::UnknownRole;
use spotctl_layout::LayoutError;

#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Compute(#[from] ComputeError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The database's drain, seal, restore or recovery (or its fence).
    #[error(transparent)]
    Backups(#[from] BackupsError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Role(#[from] UnknownRole),
    #[error(transparent)]
    NoCapacity(#[from] NoCapacity),
    #[error("ranking the standby's placements: {0}")]
    Placements(#[from] PlacementsError),
    /// Route 53 could not be read (the endpoint's zone, at the agent's start).
    #[error("finding the endpoint's zone: {0}")]
    Endpoint(String),
    #[error("this instance has no {tag} tag in its metadata (are instance metadata tags on?)", tag = spotctl_core::names::TAG_ROLE)]
    NoRoleTag,
    /// Another writer moved the handoff on while this step worked: theirs stands.
    #[error("{0}")]
    Moved(String),
    /// What a person asked no longer fits what is recorded (plan again).
    #[error("{0}")]
    Refused(String),
    /// `source`, while doing `what`.
    #[error("{what}: {source}")]
    During {
        what: String,
        #[source]
        source: Box<HandoffError>,
    },
}

impl HandoffError {
    /// `e`, while doing `what`.
    pub fn during(what: impl Into<String>, e: impl Into<HandoffError>) -> HandoffError {
        HandoffError::During { what: what.into(), source: Box::new(e.into()) }
    }

    /// What this error is at bottom, beneath the steps that wrapped it.
    pub fn root(&self) -> &HandoffError {
        match self {
            HandoffError::During { source, .. } => source.root(),
            other => other,
        }
    }

    /// Whether the same trigger, tried again later, can get further: a store that refuses (access
    /// denied, a bad stored object) or a request that no longer fits will not; a shortage of
    /// capacity, a call that failed and a writer that moved first may.
    pub fn retryable(&self) -> bool {
        match self.root() {
            HandoffError::Store(s) => s.retryable(),
            HandoffError::Refused(_) | HandoffError::Role(_) | HandoffError::NoRoleTag => false,
            _ => true,
        }
    }

    /// Whether a restore failed only because the state bucket did not answer just then: the same
    /// standby tries again on its next look instead of refusing.
    pub fn bucket_unavailable(&self) -> bool {
        match self.root() {
            HandoffError::Backups(b) => b.bucket_unavailable(),
            HandoffError::Store(s @ StoreError::Failed { .. }) => s.retryable(),
            _ => false,
        }
    }
}

/// No placement had capacity for the standby: a later attempt may find some.
#[derive(Debug, thiserror::Error)]
#[error("no placement had capacity for the standby of {id} ({})", refused.join(", "))]
pub struct NoCapacity {
    pub id: String,
    pub refused: Vec<String>,
}

pub type Result<T, E = HandoffError> = std::result::Result<T, E>;
