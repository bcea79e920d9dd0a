//! The state bucket: the one seam through which every actor (apply, the handler, the agents) reads
//! and writes the env's shared state — the primary record, handoff leases, fleet modes, event
//! records, the lock, caches, backups.
//!
//! [`StateStore`] is deliberately small: get, create-only put, compare-and-swap put, list, delete.
//! Conditional writes are what the protocol stands on (two writers racing for one key cannot both
//! win), so their outcome is typed: [`StoreError::Conflict`] and [`StoreError::NotFound`] are values
//! the caller matches on, never strings. [`S3Store`] is the real store; `MemoryStore` (behind the
//! `testing` feature) is its twin with the same rules, for unit tests and the simulation;
//! [`UnbornBucket`] stands for the bucket before the first apply creates it.
//!
//! Used by every other room.
//!
//! May use: `sdk` (clients, errors), `spotctl_core`, the bucket's layout (`spotctl_layout`).

mod json;
mod lock;
#[cfg(any(test, feature = "testing"))]
mod memory;
mod records;
mod s3;
mod store;
mod stored_env;
mod unborn;

pub use json::{get_json, get_record, json_body, update_json, CAS_ATTEMPTS};
pub use lock::{Lock, LockInfo};
#[cfg(any(test, feature = "testing"))]
pub use memory::{Fault, MemoryStore, Op};
pub use records::{
    list_handoffs, open, open_legacy, read_handoff, read_health, read_primary, read_primary_checked, Forged,
    PrimaryRead,
};
pub use s3::S3Store;
pub use store::{Etag, StateStore, StoreError, Versioned};
pub use stored_env::StoredEnv;
pub use unborn::UnbornBucket;
