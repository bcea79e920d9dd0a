//! spotctl-db: drain a MySQL/MariaDB database to a blob store, and restore it elsewhere, verified.
//!
//! The dump is the server's own `LOAD DATA` text format (tab-separated, backslash-escaped, `\N`
//! for NULL), which is binary-safe and is what the server loads fastest; each chunk is gzip'd and
//! stored as its own object as soon as it is full, so nothing stages the whole dump. The manifest is
//! written last and only when every chunk is stored: no manifest, no backup.

pub mod blob;
pub mod drain;
pub mod manifest;
pub mod restore;
pub mod rows;
pub mod schema;

pub use blob::{BlobError, BlobStore, FsBlobStore};
pub use drain::{drain, DrainOptions};
pub use manifest::Manifest;
pub use restore::{restore, verify, Verification};

/// Errors of drain, restore and verify.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sql(#[from] mysql::Error),
    #[error("database URL: {0}")]
    Url(#[from] mysql::UrlError),
    #[error("blob store: {0}")]
    Blob(#[from] BlobError),
    #[error("no complete backup at {0}: its manifest is missing")]
    NoManifest(String),
    #[error("manifest {key}: {message}")]
    BadManifest { key: String, message: String },
    #[error("table {table}: {what} is {restored} after restore, the manifest says {expected}")]
    Mismatch { table: String, what: &'static str, restored: String, expected: String },
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, DbError>;
