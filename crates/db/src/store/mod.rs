//! Where backups and the shipped log go: [`BlobStore`], a narrow, synchronous store of named blobs
//! with a create-only write. The S3 one lives in the AWS crate (on the state bucket);
//! [`FsBlobStore`] keeps blobs as files under a directory (tests, local drains); [`CountingStore`]
//! counts a store's requests; `testing` (behind the `testing` feature) fails a write on demand.
//!
//! May use: nothing else of this crate.

mod blob;
mod counting;
mod fs;
#[cfg(feature = "testing")]
pub mod testing;

pub use blob::{BlobError, BlobStore, Creation};
pub use counting::{CountingStore, Requests};
pub use fs::FsBlobStore;
