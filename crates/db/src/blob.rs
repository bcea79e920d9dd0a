//! Where a dump goes: a narrow, synchronous store of named blobs. The S3 implementation lives in
//! the AWS crate; [`crate::FsBlobStore`] serves tests and local use.

/// A failed blob operation. `message` carries the store's own explanation.
#[derive(Debug, thiserror::Error)]
#[error("{op} {key}: {message}")]
pub struct BlobError {
    pub op: &'static str,
    pub key: String,
    pub message: String,
}

/// Keys are `/`-separated paths such as `backups/epoch-3/manifest.json`.
///
/// Drain calls `put` from several threads at once; a `put` must be all-or-nothing (a reader never
/// sees half a blob), which S3's PutObject and the directory store's write-then-rename both are.
pub trait BlobStore: Send + Sync {
    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError>;
    /// Creates `key` only if it does not exist yet: `Ok(true)` when this call created it,
    /// `Ok(false)` when it was there already (and is left as it was). Atomic: of two callers
    /// racing for one key, exactly one creates it.
    fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<bool, BlobError>;
    /// `Ok(None)` when there is no such blob.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;
    /// Every key that starts with `prefix` (a plain string prefix, as S3's), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError>;
}
