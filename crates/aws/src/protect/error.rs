//! What can go wrong between the control plane and the database's backups, typed so that a caller
//! can tell a bucket that did not answer (try again) from everything else (refuse).

use crate::state::StoreError;
use spotctl_db::error::DbError;
use spotctl_db::protect::ProtectError;
use spotctl_db::store::BlobError;
use spotctl_layout::LayoutError;

#[derive(Debug, thiserror::Error)]
pub enum BackupsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Protect(#[from] ProtectError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("`{0}` is not an s3://BUCKET/PREFIX URL")]
    BadUrl(String),
    /// Finding this caller's account (the bucket's expected owner).
    #[error(transparent)]
    Account(#[from] crate::sdk::error::AwsError),
    #[error("{what} panicked")]
    Panicked { what: &'static str },
    /// What the in-memory twin does not model (it says so rather than pretend).
    #[error("the in-memory twin {0}")]
    Unmodelled(&'static str),
    /// `source`, while doing `what`.
    #[error("{what}: {source}")]
    During {
        what: String,
        #[source]
        source: Box<BackupsError>,
    },
}

impl BackupsError {
    /// Whether it failed only because the state bucket could not be reached just then (a
    /// timeout, throttling: what the store calls retryable). A missing or corrupt object, a log
    /// short of its seal, a table that does not verify, a bucket that refuses (access denied):
    /// none of those pass by trying again.
    pub fn bucket_unavailable(&self) -> bool {
        if let BackupsError::During { source, .. } = self {
            return source.bucket_unavailable();
        }
        let blob = match self {
            BackupsError::Blob(b)
            | BackupsError::Db(DbError::Blob(b))
            | BackupsError::Protect(ProtectError::Blob(b) | ProtectError::Db(DbError::Blob(b))) => Some(b),
            _ => None,
        };
        blob.is_some_and(|b| b.retryable)
            || matches!(self, BackupsError::Store(s @ StoreError::Failed { .. }) if s.retryable())
    }

    /// `e`, while doing `what`.
    pub fn during(what: impl Into<String>) -> impl FnOnce(BackupsError) -> BackupsError {
        let what = what.into();
        move |e| BackupsError::During { what, source: Box::new(e) }
    }

    /// A blocking task that did not finish (it panicked, or the runtime shut down).
    pub fn joined(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> BackupsError {
        move |_| BackupsError::Panicked { what }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bucket_that_did_not_answer_is_unavailable() {
        let blob = |retryable| BlobError { op: "get", key: "k".into(), message: "m".into(), retryable };
        assert!(BackupsError::Blob(blob(true)).bucket_unavailable());
        assert!(BackupsError::Protect(ProtectError::Db(DbError::Blob(blob(true)))).bucket_unavailable());
        let wrapped = BackupsError::during("recovering the shipped log")(BackupsError::Blob(blob(true)));
        assert!(wrapped.bucket_unavailable(), "{wrapped}");
        assert!(!BackupsError::Blob(blob(false)).bucket_unavailable());
        let failed =
            |retryable| StoreError::Failed { op: "get", key: "k".into(), message: "m".into(), retryable };
        assert!(BackupsError::Store(failed(true)).bucket_unavailable());
        assert!(!BackupsError::Store(failed(false)).bucket_unavailable());
        assert!(!BackupsError::Store(StoreError::Conflict { key: "k".into() }).bucket_unavailable());
        assert!(!BackupsError::Protect(ProtectError::CannotSeal { detail: "d".into() }).bucket_unavailable());
    }
}
