//! Plumbing every room shares to talk to AWS: the clients (one place reads the standard
//! configuration chain), the call counter, how AWS errors are read (not found, retryable), the
//! clock, and the instance metadata service (IMDSv2).
//!
//! May use: the AWS SDK crates and `spotctl_core`. Holds no decision of its own.

pub mod calls;
pub mod clients;
pub mod clock;
pub mod emulator;
pub mod error;
pub mod imds;
pub mod owner;
#[cfg(any(test, feature = "testing"))]
pub mod twin;

pub use clients::Aws;
