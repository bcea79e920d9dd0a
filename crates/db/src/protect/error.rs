//! The errors of shipping, base backups, recovery and retention. Each names what it is about: the
//! server setting, the binary log file and offset, the object key, the timeline.

use crate::binlog::WalkError;
use crate::error::DbError;
use crate::store::BlobError;
use spotctl_layout::LayoutError;

pub type Result<T> = std::result::Result<T, ProtectError>;

#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(
        "the server's {setting} is {found}; continuous protection needs {setting} = {required} \
         (set it in the server's configuration and restart it)"
    )]
    ServerConfig { setting: &'static str, found: String, required: &'static str },
    #[error("the target server refuses {what}: the recovering account needs {privilege}")]
    Privilege {
        what: &'static str,
        privilege: &'static str,
        #[source]
        source: Box<mysql::Error>,
    },
    #[error("binary log {file}: {source}")]
    Log {
        file: String,
        #[source]
        source: WalkError,
    },
    #[error("reading binary log {path}")]
    LogFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("binary log {file} is gone from this server (purged?) before it was shipped: the log has a gap")]
    Purged { file: String },
    #[error("the server refuses writes (read_only = ON): it is not the primary, and {what} is taken on the primary only")]
    Fenced { what: &'static str },
    #[error(
        "timeline {timeline} is written by the epoch-{epoch} primary, newer than this one (epoch {mine}): \
         this server no longer ships the log"
    )]
    Superseded { timeline: u32, epoch: u64, mine: u64 },
    #[error("{what}: {detail}")]
    Diverged { what: String, detail: String },
    #[error("log object {key} is missing: {detail}")]
    MissingPiece { key: String, detail: String },
    #[error("log object {key} is corrupt: {detail}")]
    CorruptPiece { key: String, detail: String },
    #[error("{key}: {message}")]
    BadRecord { key: String, message: String },
    #[error("no base backup under {prefix}/bases/ can start this recovery: {detail}")]
    NoBase { prefix: String, detail: String },
    #[error("--until {until} is before the oldest base backup ({oldest}, taken {taken}): nothing can be restored to that time")]
    UntilBeforeOldestBase { until: String, oldest: String, taken: String },
    #[error("base backup {id} is not of this log series: {detail}")]
    ForeignBase { id: String, detail: String },
    #[error(
        "timeline {timeline} was created by another recovery first: only one recovery may continue the log"
    )]
    TimelineTaken { timeline: u32 },
    #[error("{key} offset {offset} (GTID {gtid}): {what}")]
    Replay {
        key: String,
        offset: u64,
        gtid: String,
        what: String,
        #[source]
        source: Option<Box<mysql::Error>>,
    },
    #[error("the drain cannot be sealed: {detail}")]
    CannotSeal { detail: String },
    #[error(
        "the shipped log ends at GTID {reached}, short of {needed}, where the old primary sealed its drain ({seal}): \
         nothing was written"
    )]
    ShortOfSeal { seal: String, needed: String, reached: String },
    #[error("the recovered server is at GTID {found}, the log ended at {expected}")]
    NotReached { expected: String, found: String },
}

/// A piece's key that is not one the shipper makes is a corrupt log; any other bad name is the
/// drain's error.
impl From<LayoutError> for ProtectError {
    fn from(e: LayoutError) -> ProtectError {
        match e {
            LayoutError::BadPiece { key, detail } => ProtectError::CorruptPiece { key, detail },
            other => ProtectError::Db(DbError::Layout(other)),
        }
    }
}
