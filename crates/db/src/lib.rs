//! spotctl-db: drain a MySQL/MariaDB database to a blob store, and restore it elsewhere, verified;
//! and continuous protection (the binary log shipped as it is written, base backups, recovery).
//!
//! The old primary is fenced (`FLUSH TABLES WITH READ LOCK`, then `read_only = ON`) and read by
//! several connections that share one snapshot. Rows travel in the server's own `LOAD DATA` text
//! format (binary-safe escaped TSV), cut into zstd-compressed chunks that are stored as soon as they
//! fill, so nothing stages the whole dump. The manifest is written last, only when every chunk is
//! stored: no manifest, no backup. Restore loads chunks in parallel and then recomputes every
//! table's row count and order-independent checksum; any difference is an error naming the table.
//!
//! The rooms, each with its own `mod.rs` saying what it may use:
//!
//! - `store`: the [`store::BlobStore`] seam and its file-backed twin.
//! - `backup`: drain, restore and verify (InnoDB tables travel as their files where they can).
//! - `binlog`: MariaDB's binary log format, pure.
//! - `protect`: continuous protection: shipping, base backups, recovery, sealing, retention.
//!
//! Beside them: `error` (the drain's and restore's errors), `session` (connections and their
//! settings), `pool` (a fixed set of worker threads), `health` (whether the server can serve).
//! Keys in the bucket are `spotctl_layout`'s.
//!
//! Everything here is synchronous and threaded: async callers run it in `spawn_blocking`.

pub mod backup;
pub mod binlog;
pub mod error;
pub mod health;
mod pool;
pub mod protect;
pub mod session;
pub mod store;
