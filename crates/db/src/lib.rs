//! spotctl-db: drain a MySQL/MariaDB database to a blob store, and restore it elsewhere, verified.
//!
//! The old primary is fenced (`FLUSH TABLES WITH READ LOCK`, then `read_only = ON`) and read by
//! several connections that share one snapshot. Rows travel in the server's own `LOAD DATA` text
//! format (binary-safe escaped TSV), cut into zstd-compressed chunks that are stored as soon as they
//! fill, so nothing stages the whole dump. The manifest is written last, only when every chunk is
//! stored: no manifest, no backup. Restore loads chunks in parallel and then recomputes every
//! table's row count and order-independent checksum; any difference is an error naming the table.
//!
//! InnoDB tables that can travel as their files do (see [`tablespace`]): exported, copied in
//! compressed parts and imported, many times faster than loading rows, and verified the same way.
//!
//! Continuous protection ([`protect`]) ships the primary's binary log (read with [`binlog`]) to the
//! same store, takes base backups while writes go on, and recovers to the end of the log or to
//! any second.
//!
//! Everything here is synchronous and threaded: async callers run it in `spawn_blocking`.

pub mod binlog;
pub mod blob;
mod ddl;
mod drain;
mod dump;
mod error;
pub mod fence;
mod fs_store;
pub mod layout;
mod load;
pub mod manifest;
pub mod plan;
mod pool;
pub mod protect;
mod restore;
pub mod rows;
mod schema;
pub mod session;
pub mod tablespace;
#[cfg(feature = "testing")]
pub mod testing;
mod trust;
mod verify;

pub use blob::{BlobError, BlobStore, Creation};
pub use drain::{drain, DrainOptions, Method};
pub use error::{DbError, Result, TableMismatch};
pub use fs_store::FsBlobStore;
pub use manifest::Manifest;
pub use protect::{
    base_backup, recover, BaseOptions, BaseRecord, ProtectError, RecoverOptions, RecoveryReport, ShipOptions,
    ShipStats, Shipper, Stopped,
};
pub use restore::{restore, RestoreOptions};
pub use verify::{verify, verify_manifest, TableCheck, Verification};
