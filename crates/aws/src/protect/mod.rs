//! Backups and continuous protection as the control plane sees them: the state bucket as
//! `spotctl_db`'s blob store (and opening a bucket from an `s3://` URL), the shipped log's
//! timelines and whether it can bring a primary back now (`log`), and retention, the one place
//! backups are deleted. Decisions about the log are `spotctl_db::protect`'s; this room reads and
//! runs them for the handler, the agents and the commands.
//!
//! May use: `sdk`, `state`, `spotctl_core`, `spotctl_db`, the bucket's layout (`spotctl_layout`).

mod blobs;
mod error;
mod log;
pub mod once;
pub mod retention;

pub use blobs::{open, parse_s3_url, StoreBlobs};
pub use error::BackupsError;
pub use log::{log_restorable, log_view, read_timelines, writer_opening};
