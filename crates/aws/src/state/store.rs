//! The seam itself: [`StateStore`] and its typed errors.

use async_trait::async_trait;

/// An object's entity tag: what a compare-and-swap write names.
pub type Etag = String;

/// An object and the entity tag to pass to [`StateStore::put_if_match`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub body: Vec<u8>,
    pub etag: Etag,
}

/// Why a state operation did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the key exists (create-only) or changed since it was read.
    #[error("{key} changed under us: another writer won")]
    Conflict { key: String },
    /// A compare-and-swap write named a key that does not exist (any more).
    #[error("{key} does not exist")]
    NotFound { key: String },
    /// The store could not be reached or refused for another reason; `retryable` says whether
    /// trying again later can help (throttling, timeouts) or not (access denied, no bucket).
    #[error("{op} {key}: {message}")]
    Failed { op: &'static str, key: String, message: String, retryable: bool },
    /// A stored object is not what its reader expects.
    #[error("{key} is not valid JSON of the expected shape: {message}")]
    Malformed { key: String, message: String },
    /// An object the reader cannot work without is not there (`hint`: what makes it).
    #[error("{location}/{key} is missing; {hint}")]
    Missing { location: String, key: String, hint: &'static str },
    /// The lock is held by another run.
    #[error(
        "the env is locked by {holder}; if that run is dead, run again with --break-lock ({location}/{key})"
    )]
    Locked { holder: String, location: String, key: String },
    /// A protocol record written by a newer spotctl: read nothing of it, write nothing over it.
    #[error(transparent)]
    Newer(#[from] spotctl_core::handoff::NewerFormat),
    /// The stored primary record has no opening, and no older version of it has one either.
    #[error(
        "{claimed}, and no older version of {key} has one: an instance forged it (ARD.md, \"Trust boundaries\"); \
         nothing acts on it. A person restores the last good version (MEMO.md, \"A forged primary record\")"
    )]
    Forged { key: String, claimed: String },
    /// The lock changed while it was being broken.
    #[error("the lock changed while it was being broken (another run took it); not broken: run again to see who holds it")]
    LockMoved,
}

impl StoreError {
    /// True for a lost conditional write (either kind): re-read and decide again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. } | StoreError::NotFound { .. })
    }

    /// Whether trying the same thing again later can succeed.
    pub fn retryable(&self) -> bool {
        match self {
            StoreError::Conflict { .. } | StoreError::NotFound { .. } => true,
            StoreError::Failed { retryable, .. } => *retryable,
            StoreError::Malformed { .. } | StoreError::Missing { .. } | StoreError::Newer(_) => false,
            StoreError::Forged { .. } => false,
            StoreError::Locked { .. } | StoreError::LockMoved => false,
        }
    }
}

/// After a conditional write came back refused (`412`): the refusal may be our own write's. The
/// SDK retries a write whose reply was lost (a timeout, a dropped connection; up to five attempts),
/// and the retry meets the first attempt's effect: the key exists, or its entity tag moved. Reads
/// the key: when it holds exactly `body`, the write is ours and landed (its entity tag is
/// returned); anything else is a lost race ([`StoreError::Conflict`]). Both S3 and its twin
/// resolve a refusal this way, so no caller takes its own write for another writer's.
pub async fn own_write<S: StateStore + ?Sized>(
    store: &S,
    key: &str,
    body: &[u8],
) -> Result<Etag, StoreError> {
    match store.get(key).await? {
        Some(v) if v.body == body => Ok(v.etag),
        _ => Err(StoreError::Conflict { key: key.to_string() }),
    }
}

/// The state bucket as a key-value store with compare-and-swap.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The object and its entity tag; `None` when the key does not exist.
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError>;

    /// Writes unconditionally. Only for objects with one writer or no protocol meaning (caches,
    /// backup parts not yet named by a manifest); protocol state uses the conditional writes.
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<Etag, StoreError>;

    /// Creates `key` only if it does not exist; [`StoreError::Conflict`] if it does.
    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Etag, StoreError>;

    /// Replaces `key` only if its entity tag is still `etag`: [`StoreError::Conflict`] if it
    /// changed, [`StoreError::NotFound`] if it is gone.
    async fn put_if_match(&self, key: &str, etag: &str, body: Vec<u8>) -> Result<Etag, StoreError>;

    /// Keys under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Deletes `key`; deleting a missing key succeeds.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Deletes `key` only if its entity tag is still `etag`: [`StoreError::Conflict`] if it
    /// changed, [`StoreError::NotFound`] if it is gone (S3's `If-Match` on `DeleteObject`).
    async fn delete_if_match(&self, key: &str, etag: &str) -> Result<(), StoreError>;

    /// The versions `key` had before its current one (the bucket is versioned), newest first,
    /// as ids for [`StateStore::get_version`]; empty when it never changed or versions are off.
    async fn older_versions(&self, key: &str) -> Result<Vec<String>, StoreError>;

    /// The body of one version of `key`; `None` when it is gone (expired).
    async fn get_version(&self, key: &str, version: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Where the store is, for messages (`s3://bucket`).
    fn location(&self) -> String;
}
