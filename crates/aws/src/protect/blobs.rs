//! The drain/restore blob seam (`spotctl_db::store::BlobStore`, synchronous) on any
//! [`StateStore`], and the one way to open a bucket as one from an `s3://BUCKET/PREFIX` URL.
//!
//! Drain and restore run on blocking threads; each call here blocks that thread on the async store
//! through the runtime handle it was given. Never call it from an async task itself.

use super::error::BackupsError;
use crate::sdk::Aws;
use crate::state::{S3Store, StateStore, StoreError};
use spotctl_db::store::{BlobError, BlobStore, Creation};
use std::sync::Arc;
use tokio::runtime::Handle;

pub struct StoreBlobs {
    pub store: Arc<dyn StateStore>,
    pub handle: Handle,
}

fn blob_error(op: &'static str, key: &str, e: StoreError) -> BlobError {
    BlobError { op, key: key.to_string(), message: e.to_string(), retryable: e.retryable() }
}

impl BlobStore for StoreBlobs {
    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError> {
        self.handle.block_on(self.store.put(key, body)).map(drop).map_err(|e| blob_error("put", key, e))
    }

    fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Creation, BlobError> {
        match self.handle.block_on(self.store.put_if_absent(key, body)) {
            Ok(_) => Ok(Creation::Created),
            Err(StoreError::Conflict { .. }) => Ok(Creation::Existed),
            Err(e) => Err(blob_error("create", key, e)),
        }
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        self.handle
            .block_on(self.store.get(key))
            .map(|v| v.map(|v| v.body))
            .map_err(|e| blob_error("get", key, e))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.handle.block_on(self.store.list(prefix)).map_err(|e| blob_error("list", prefix, e))
    }

    fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.handle.block_on(self.store.delete(key)).map_err(|e| blob_error("delete", key, e))
    }
}

/// The bucket at `url` (`s3://BUCKET/PREFIX`) in `region` (default: the standard AWS region
/// setting) as a blob store, and the prefix under it. Every S3 call names the bucket's expected
/// owner: the caller's own account. Call from the runtime; use the blobs from a blocking thread.
/// Also returns who writes (the credentials' `aws:userid`), the writer a timeline begun through
/// these blobs names.
pub async fn open(
    aws: &Aws,
    url: &str,
    region: Option<&str>,
) -> Result<(StoreBlobs, String, String), BackupsError> {
    let (bucket, prefix) = parse_s3_url(url).ok_or_else(|| BackupsError::BadUrl(url.to_string()))?;
    let region = region
        .map(String::from)
        .unwrap_or_else(|| std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()));
    let (account, writer) = aws.writer(&region, spotctl_layout::writer_ok).await?;
    let blobs = StoreBlobs {
        store: std::sync::Arc::new(S3Store::new(aws.s3(&region, &account), bucket)),
        handle: tokio::runtime::Handle::current(),
    };
    Ok((blobs, prefix, writer))
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
    use crate::state::MemoryStore;

    #[test]
    fn create_only_writes_reach_the_state_store() -> Result<(), BlobError> {
        let rt = tokio::runtime::Builder::new_current_thread().build().map_err(|e| BlobError {
            op: "runtime",
            key: String::new(),
            message: e.to_string(),
            retryable: false,
        })?;
        let blobs = StoreBlobs { store: Arc::new(MemoryStore::new()), handle: rt.handle().clone() };
        let blobs = std::thread::spawn(move || -> Result<(), BlobError> {
            assert_eq!(blobs.put_if_absent("backups/t/1", b"a".to_vec())?, Creation::Created);
            assert_eq!(blobs.put_if_absent("backups/t/1", b"b".to_vec())?, Creation::Existed);
            assert_eq!(blobs.get("backups/t/1")?, Some(b"a".to_vec()));
            blobs.delete("backups/t/1")?;
            assert_eq!(blobs.get("backups/t/1")?, None);
            Ok(())
        });
        blobs.join().map_err(|_| BlobError {
            op: "thread",
            key: String::new(),
            message: "panicked".into(),
            retryable: false,
        })?
    }

    #[test]
    fn parses_s3_urls() {
        assert_eq!(parse_s3_url("s3://b/backups/epoch-1/"), Some(("b".into(), "backups/epoch-1".into())));
        assert_eq!(parse_s3_url("s3://b"), Some(("b".into(), "".into())));
        assert_eq!(parse_s3_url("http://b/x"), None);
    }
}
