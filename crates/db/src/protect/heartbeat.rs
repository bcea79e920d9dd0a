//! The shipper's last word, overwritten every few seconds under load and every minute when idle:
//! how far the shipped log goes (the newest piece and its chain link) and when the shipper last
//! spoke. Recovery uses it to tell a missing tail from the end of the log; `status` and the
//! handler use it to see a primary whose shipper went quiet, and what loss that means.

use super::error::{ProtectError, Result};
use crate::store::BlobStore;
use serde::{Deserialize, Serialize};
use spotctl_layout::log::heartbeat_key;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub timeline: u32,
    /// The newest piece stored, and its link of the hash chain.
    pub seq: Option<u64>,
    pub chain: Option<String>,
    /// Where the shipped log ends.
    pub file: String,
    pub end: u64,
    pub last_gtid: Option<String>,
    /// Commit time of the newest shipped transaction (seconds since 1970, UTC).
    pub last_commit: Option<u32>,
    /// When the newest piece was stored, and when this was written (ms since 1970).
    pub shipped_at_ms: Option<u64>,
    pub written_at_ms: u64,
    pub server_id: u32,
}

pub fn write(store: &dyn BlobStore, prefix: &str, hb: &Heartbeat) -> Result<()> {
    let key = heartbeat_key(prefix, hb.timeline);
    let body = serde_json::to_vec_pretty(hb)
        .map_err(|e| ProtectError::BadRecord { key: key.clone(), message: e.to_string() })?;
    Ok(store.put(&key, body)?)
}

/// The heartbeat of timeline `t`, if its shipper ever wrote one.
pub fn read(store: &dyn BlobStore, prefix: &str, t: u32) -> Result<Option<Heartbeat>> {
    let key = heartbeat_key(prefix, t);
    let Some(body) = store.get(&key)? else { return Ok(None) };
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| ProtectError::BadRecord { key, message: e.to_string() })
}
