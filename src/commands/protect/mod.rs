//! The continuous-protection agent commands: `agent ship`, `agent base-backup`, `agent recover`.
//! Each builds options from its arguments and calls `spotctl_db::protect`; the bucket is reached
//! through `spotctl_aws::state` (S3 behind the `BlobStore` seam). They share how a DSN gets its
//! password ([`mysql`]) and how the bucket is opened ([`bucket`]).
//!
//! May use: `spotctl_db`, `spotctl_aws::state` and `sdk`, `spotctl_core` (periods, times).

pub mod base_backup;
pub mod bucket;
pub mod mysql;
pub mod recover;
pub mod ship;

pub use base_backup::BaseBackupArgs;
pub use recover::RecoverArgs;
pub use ship::ShipArgs;
