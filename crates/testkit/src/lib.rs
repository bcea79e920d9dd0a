//! Real servers for spotctl's tests, each on a free 127.0.0.1 port and killed when dropped.
//!
//! `Moto` is the AWS API emulator (moto server, installed by `tests/setup.sh`). What moto lacks —
//! `GetSpotPlacementScores`, the instance metadata service, CloudWatch's CBOR protocol, S3's
//! `ExpectedBucketOwner` — has small
//! stand-ins here.

pub mod cloudwatch;
pub mod http;
pub mod imds;
pub mod lambda_api;
pub mod mariadb;
pub mod moto;
pub mod s3_owner;
pub mod sps;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}
