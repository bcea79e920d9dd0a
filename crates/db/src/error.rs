//! The errors of drain, restore and verify, typed so that callers can tell "there is no backup"
//! from "the backup does not match" from "the database refused".
//!
//! May use: `store` (a blob store's error is one of these), the bucket's layout
//! (`spotctl_layout`).

use crate::store::BlobError;

pub type Result<T> = std::result::Result<T, DbError>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The DSN did not parse. The message never repeats the DSN (it may hold a password).
    #[error("database URL is not valid")]
    Url(#[source] mysql::UrlError),
    #[error("{what}")]
    Sql {
        what: String,
        #[source]
        source: mysql::Error,
    },
    #[error("fencing writes failed at `{step}`; the server may still take writes")]
    Fence {
        step: &'static str,
        #[source]
        source: mysql::Error,
    },
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Layout(#[from] spotctl_layout::LayoutError),
    #[error("database `{0}` does not exist on the server being drained")]
    NoSuchDatabase(String),
    #[error("schema of {object}: {message}")]
    Schema { object: String, message: String },
    #[error("no complete backup at {key}{}", orphan_note(*.orphans))]
    NoBackup { key: String, orphans: usize },
    #[error("manifest {key}: {message}")]
    BadManifest { key: String, message: String },
    #[error("chunk {key} is missing from the blob store although the manifest lists it")]
    MissingChunk { key: String },
    #[error("chunk {key} is corrupt: its SHA-256 is {actual}, the manifest says {expected}")]
    CorruptChunk { key: String, expected: String, actual: String },
    #[error("chunk {key}: the server loaded {loaded} rows, the manifest says {expected}")]
    ChunkRows { key: String, loaded: u64, expected: u64 },
    #[error("the server refuses LOAD DATA LOCAL INFILE: start it with local-infile = 1")]
    LocalInfileRefused(#[source] mysql::Error),
    #[error("compressing or decompressing {key}")]
    Codec {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("restored data does not match the manifest: {}", join_mismatches(.0))]
    Verification(Vec<TableMismatch>),
    #[error("could not create {what} after its dependencies were created: {message}")]
    Objects { what: String, message: String },
    #[error("{what} {path}")]
    File {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "this backup carries InnoDB files from server {drained}, and this server is {here}: a tablespace \
         imports only into the same server series (drain again with --logical to move as rows)"
    )]
    Incompatible { drained: String, here: String },
    #[error(
        "the server's data directory {datadir} is not this machine's (a probe table's file did not appear \
         here): a restore drops and creates tables, so it runs only on the database's own host, as root or \
         the server's user"
    )]
    NotOnHost { datadir: String },
    #[error(
        "the target already holds data in {}: a restore replaces these databases, so it refuses a \
         server in use; ask for it with replace_existing (`--replace-existing`) if that is meant",
        .tables.join(", ")
    )]
    TargetNotEmpty { tables: Vec<String> },
    #[error("stopped because another worker failed")]
    Aborted,
    #[error("a worker thread panicked")]
    Panicked,
}

/// One table whose restored rows differ from what the manifest recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableMismatch {
    pub table: String,
    /// `"row count"` or `"checksum"`.
    pub what: &'static str,
    pub restored: String,
    pub expected: String,
}

impl std::fmt::Display for TableMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "table {}: {} is {} after restore, the manifest says {}",
            self.table, self.what, self.restored, self.expected
        )
    }
}

fn join_mismatches(m: &[TableMismatch]) -> String {
    m.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("; ")
}

fn orphan_note(orphans: usize) -> String {
    match orphans {
        0 => ": its manifest is missing".into(),
        n => format!(": its manifest is missing, and {n} objects of an incomplete drain are there"),
    }
}

/// Attaches what was being done to a database error.
pub(crate) trait SqlContext<T> {
    fn sql(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SqlContext<T> for std::result::Result<T, mysql::Error> {
    fn sql(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| DbError::Sql { what: what(), source })
    }
}
