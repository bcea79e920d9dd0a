//! The instance metadata service, IMDSv2 only (the SDK's client takes a session token first).
//!
//! [`Metadata`] is the seam: one read by path, `None` for a 404 (no notice, no such tag). The agent
//! and the worker read through it; `twin::StaticMetadata` is its in-memory twin.

use super::error::describe;
use async_trait::async_trait;
use aws_config::imds::client::error::ImdsError;
use aws_config::imds::client::Client;

pub const DEFAULT_IMDS: &str = "http://169.254.169.254";

/// The paths spotctl reads.
pub mod paths {
    pub const INSTANCE_ID: &str = "/latest/meta-data/instance-id";
    pub const REGION: &str = "/latest/meta-data/placement/region";
    pub const AZ: &str = "/latest/meta-data/placement/availability-zone";
    pub const INSTANCE_TYPE: &str = "/latest/meta-data/instance-type";
    pub const SPOT_ACTION: &str = "/latest/meta-data/spot/instance-action";
    pub const PUBLIC_IPV4: &str = "/latest/meta-data/public-ipv4";
    pub const LOCAL_IPV4: &str = "/latest/meta-data/local-ipv4";
    pub const REBALANCE: &str = "/latest/meta-data/events/recommendations/rebalance";

    /// An instance tag, through instance metadata tags.
    pub fn tag(key: &str) -> String {
        format!("/latest/meta-data/tags/instance/{key}")
    }
}

/// Instance metadata that could not be read, or lacks what must be there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("reading instance metadata {path}: {message}")]
    Unreadable { path: String, message: String },
    #[error("instance metadata has no {path}")]
    Missing { path: String },
    #[error("bad IMDS endpoint {endpoint}: {message}")]
    Endpoint { endpoint: String, message: String },
}

#[async_trait]
pub trait Metadata: Send + Sync {
    /// A metadata path's value, trimmed; `None` when the service answers 404.
    async fn read(&self, path: &str) -> Result<Option<String>, MetadataError>;

    /// A value that must be there.
    async fn require(&self, path: &str) -> Result<String, MetadataError> {
        self.read(path).await?.ok_or_else(|| MetadataError::Missing { path: path.to_string() })
    }
}

/// The real service.
pub struct Imds(Client);

impl Imds {
    pub fn new(endpoint: &str) -> Result<Imds, MetadataError> {
        let client = Client::builder()
            .endpoint(endpoint)
            .map_err(|e| MetadataError::Endpoint { endpoint: endpoint.to_string(), message: e.to_string() })?
            .build();
        Ok(Imds(client))
    }
}

#[async_trait]
impl Metadata for Imds {
    async fn read(&self, path: &str) -> Result<Option<String>, MetadataError> {
        match self.0.get(path).await {
            Ok(v) => Ok(Some(v.as_ref().trim().to_string())),
            Err(ImdsError::ErrorResponse(e)) if e.response().status().as_u16() == 404 => Ok(None),
            Err(e) => Err(MetadataError::Unreadable { path: path.to_string(), message: describe(&e) }),
        }
    }
}
