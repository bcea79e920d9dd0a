//! The shipper's last word, overwritten every few seconds under load and every minute when idle:
//! how far the shipped log goes (the newest piece and its chain link) and when the shipper last
//! spoke. Recovery uses it to tell a missing tail from the end of the log; `status` and the
//! handler use it to see a primary whose shipper went quiet, and what loss that means.

use super::error::{ProtectError, Result};
use super::timeline::TimelineRecord;
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
    /// Where the server's log ended (its complete transactions) when the shipper last read it,
    /// just before writing this: the committed position, beside the shipped one above. Equal to
    /// `file`/`end` when nothing waits. Absent from shippers older than position reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_end: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_gtid: Option<String>,
    /// When the shipper last read the server's log (its clock, ms since 1970).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at_ms: Option<u64>,
    /// Every commit acknowledged before this instant is stored: the last read of the server's log
    /// all of whose complete transactions are stored. Equal to `read_at_ms` when nothing waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_through_ms: Option<u64>,
    /// While nothing waits: a commit acknowledged now is stored within this many ms, measured by
    /// the shipper (the piece interval and a poll, plus twice the longest write of the last
    /// period, or the longest any stored commit waited in it, whichever is larger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_ms: Option<u64>,
}

impl Heartbeat {
    /// Whether nothing waited when the shipper last read the server's log (`None`: a shipper
    /// older than position reports, which does not say).
    pub fn caught_up(&self) -> Option<bool> {
        let read = self.read_at_ms?;
        Some(self.safe_through_ms == Some(read))
    }
}

/// Writes `hb` under the key of the `writer` its timeline names (see [`read`]).
pub fn write(store: &dyn BlobStore, prefix: &str, hb: &Heartbeat, writer: Option<&str>) -> Result<()> {
    let key = heartbeat_key(prefix, hb.timeline, writer);
    let body = serde_json::to_vec_pretty(hb)
        .map_err(|e| ProtectError::BadRecord { key: key.clone(), message: e.to_string() })?;
    Ok(store.put(&key, body)?)
}

/// The heartbeat of the timeline `tl`, if its shipper ever wrote one: the one under the key of
/// the writer the timeline names (a heartbeat any other writer left beside it is not read), or
/// the shared key of a timeline that names none.
pub fn read(store: &dyn BlobStore, prefix: &str, tl: &TimelineRecord) -> Result<Option<Heartbeat>> {
    let key = heartbeat_key(prefix, tl.timeline, tl.writer.as_deref());
    let Some(body) = store.get(&key)? else { return Ok(None) };
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| ProtectError::BadRecord { key, message: e.to_string() })
}

/// The heartbeat of timeline `t` (its record read first, for the writer it names).
pub fn read_of(store: &dyn BlobStore, prefix: &str, t: u32) -> Result<Option<Heartbeat>> {
    match super::timeline::read_all(store, prefix)?.into_iter().find(|tl| tl.record.timeline == t) {
        Some(tl) => read(store, prefix, &tl.record),
        None => Ok(None),
    }
}
