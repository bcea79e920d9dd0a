//! Where a dump goes: a narrow, synchronous store of named blobs. The S3 implementation lives in
//! the AWS crate; [`crate::FsBlobStore`] serves tests and local use.

/// A failed blob operation. `message` carries the store's own explanation.
#[derive(Debug, thiserror::Error)]
#[error("{op} {key}: {message}")]
pub struct BlobError {
    pub op: &'static str,
    pub key: String,
    pub message: String,
    /// Trying again later can help (a timeout, throttling); not for a refusal or a bad key.
    pub retryable: bool,
}

/// What a create-only write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    /// The blob did not exist and now holds the body.
    Created,
    /// A blob of that key was already there; it was left as it was.
    Existed,
}

/// Keys are `/`-separated paths such as `backups/epoch-3/manifest.json`.
///
/// Drain calls `put` from several threads at once; a `put` must be all-or-nothing (a reader never
/// sees half a blob), which S3's PutObject and the directory store's write-then-rename both are.
pub trait BlobStore: Send + Sync {
    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError>;
    /// Writes `key` only if no blob has it (S3's `If-None-Match: *`): of two writers racing for
    /// one key exactly one gets [`Creation::Created`]. What the log and its timelines stand on.
    fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Creation, BlobError>;
    /// `Ok(None)` when there is no such blob.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;
    /// Every key that starts with `prefix` (a plain string prefix, as S3's), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError>;
    /// Removes `key`; removing a key that does not exist succeeds. Only retention deletes.
    fn delete(&self, key: &str) -> Result<(), BlobError>;
}
