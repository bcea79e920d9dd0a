//! The drain/restore blob seam (`spotctl_db::BlobStore`, synchronous) on S3.
//!
//! Drain and restore run on blocking threads; each call here blocks that thread on the async SDK
//! through the runtime handle it was given. Never call it from an async task itself.

use crate::store::S3Store;
use spotctl_db::{BlobError, BlobStore};
use tokio::runtime::Handle;

pub struct S3Blobs {
    pub store: S3Store,
    pub handle: Handle,
}

impl BlobStore for S3Blobs {
    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError> {
        self.handle.block_on(self.store.put(key, body)).map_err(|e| BlobError {
            op: "put",
            key: key.to_string(),
            message: format!("{e:#}"),
        })
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        self.handle.block_on(self.store.get(key)).map(|v| v.map(|v| v.body)).map_err(|e| BlobError {
            op: "get",
            key: key.to_string(),
            message: format!("{e:#}"),
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.handle.block_on(self.store.list(prefix)).map_err(|e| BlobError {
            op: "list",
            key: prefix.to_string(),
            message: format!("{e:#}"),
        })
    }
}

/// Splits `s3://bucket/prefix` into its parts.
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_string(), prefix.trim_end_matches('/').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_urls() {
        assert_eq!(parse_s3_url("s3://b/backups/epoch-1/"), Some(("b".into(), "backups/epoch-1".into())));
        assert_eq!(parse_s3_url("s3://b"), Some(("b".into(), "".into())));
        assert_eq!(parse_s3_url("http://b/x"), None);
    }
}
