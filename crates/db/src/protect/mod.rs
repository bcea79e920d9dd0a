//! Continuous protection: the primary's binary log shipped to the bucket as it is written, base
//! backups taken while writes go on, recovery to the end of the log or to any second, and
//! retention — the one owner of how long all of it is kept.
//!
//! Everything lives under one prefix (`spotctl_layout::log`), reached only through
//! [`crate::store::BlobStore`].
//! The log is shipped in pieces cut between transactions ([`ship`]), each create-only and
//! checked end to end; every recovery starts a new [`timeline`]. A warned drain may be [`seal`]ed:
//! fenced, with the log shipped up to the fence, instead of copying every table.
//!
//! May use: `binlog` (the log's format), `backup` (a base backup is a drain that does not fence;
//! a recovery restores a base), `store`, `session`, `error`; the bucket's layout
//! (`spotctl_layout`). Nothing here is async.

pub mod apply;
pub mod base;
pub mod chain;
pub mod clock;
pub mod cursor;
pub mod error;
pub mod files;
pub mod heartbeat;
pub mod piece;
pub mod recover;
pub mod retention;
pub mod seal;
pub mod server;
pub mod ship;
pub mod statement;
pub mod status;
pub mod timeline;

pub use base::{base_backup, list_bases, BaseOptions, BaseRecord};
pub use error::{ProtectError, Result};
pub use recover::{recover, RecoverOptions, RecoveryReport};
pub use seal::{seal, Seal, SealOptions};
pub use ship::{Note, ShipOptions, ShipStats, Shipper, Stopped};
pub use status::{
    loss_window, loss_window_of_lost, model_bound_ms, status, LossWindow, ProtectStatus, CLOCK_SKEW_MS,
};
