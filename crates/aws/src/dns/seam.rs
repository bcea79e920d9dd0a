//! The seam: [`Dns`] and its typed error.

use async_trait::async_trait;
use spotctl_core::endpoint::EndpointRecord;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The zone does not hold exactly what the change expected: another writer changed it.
    #[error("the records of {name} changed under us: another writer won")]
    Conflict { name: String },
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

#[async_trait]
pub trait Dns: Send + Sync {
    /// The address record of `name` in `zone` and the epoch beside it; `None` when there is no
    /// address record (an address record with no epoch reads as epoch 0).
    async fn read(&self, zone: &str, name: &str) -> Result<Option<EndpointRecord>, DnsError>;

    /// Replaces `expect` (exactly what was read; `None`: nothing) with `new`, all or nothing.
    async fn swap(
        &self,
        zone: &str,
        name: &str,
        expect: Option<&EndpointRecord>,
        new: &EndpointRecord,
    ) -> Result<(), DnsError>;

    /// Removes what `name` holds (both records), if anything.
    async fn remove(&self, zone: &str, name: &str) -> Result<(), DnsError>;
}
