//! The warned drain when the log is shipped: fence the server, wait until the shipped log holds
//! every transaction it committed, and say so in a create-only seal. A standby then recovers the
//! newest base and the log, and checks that it reached the seal ([`super::RecoverOptions`]'s
//! `at_least`). The warning bounds only how long the log's tail takes to ship, not the size of
//! the database.
//!
//! A seal is refused ([`ProtectError::CannotSeal`]) when it would not be enough to recover from:
//! the newest timeline is not this primary's, no base lies on its chain, binary logging is off,
//! or the shipped log does not reach the fence's position in time (a shipper that stopped). The
//! caller then drains in full, as before.

use super::base::list_bases;
use super::clock::now_ms;
use super::error::{ProtectError, Result};
use super::heartbeat;
use super::piece;
use super::timeline::{self, chain_at, TimelineRecord};
use crate::backup::fence::Fence;
use crate::binlog::State;
use crate::error::SqlContext;
use crate::store::{BlobStore, Creation};
use mysql::prelude::Queryable;
use serde::{Deserialize, Serialize};
use spotctl_layout::log::log_dir;
use std::time::{Duration, Instant};

pub const SEAL_FORMAT: u32 = 1;

/// What a sealed drain stored: where the fenced server's log stood, and that the shipped log holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub format: u32,
    /// The primary epoch whose server sealed; its timeline holds the log (`None`: a person's
    /// seal, `spotctl agent drain --seal`, of the log `spotctl agent ship` began).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    pub timeline: u32,
    /// `gtid_binlog_pos` under the fence: a recovery from this seal must reach it.
    pub gtid: String,
    /// Where the server's binary log stood under the fence.
    pub file: String,
    pub position: u64,
    /// The newest base on the timeline's chain when the seal was written.
    pub base: String,
    /// The piece of the shipped log that holds the fence's position (`None`: the base does).
    pub piece: Option<u64>,
    pub sealed_at_ms: u64,
    /// How long the shipped log took to reach the fence's position.
    pub waited_ms: u64,
}

#[derive(Debug, Clone)]
pub struct SealOptions {
    /// The epoch of the primary this server is: the newest timeline must name it. `None`: the
    /// newest timeline must name none, and its shipper's heartbeat must be this server's.
    pub epoch: Option<u64>,
    /// How long the fence waits for running writes (as a drain's does).
    pub fence_timeout: Duration,
    /// How long the shipped log may take to reach the fence's position before the seal is refused.
    pub wait: Duration,
    /// How often the shipped log is looked at meanwhile.
    pub poll: Duration,
}

impl SealOptions {
    pub fn for_epoch(epoch: Option<u64>) -> SealOptions {
        SealOptions {
            epoch,
            fence_timeout: Duration::from_secs(30),
            wait: Duration::from_secs(20),
            poll: Duration::from_millis(200),
        }
    }
}

/// The seal at `key`, if one was written.
pub fn read(store: &dyn BlobStore, key: &str) -> Result<Option<Seal>> {
    let Some(body) = store.get(key)? else { return Ok(None) };
    let bad = |message: String| ProtectError::BadRecord { key: key.to_string(), message };
    let s: Seal = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
    if s.format != SEAL_FORMAT {
        return Err(bad(format!("format {}, not {SEAL_FORMAT}", s.format)));
    }
    State::parse(&s.gtid).map_err(bad)?;
    Ok(Some(s))
}

/// Fences the server at `dsn` for good, waits until the log shipped under `prefix` holds its
/// position, and writes the seal at `key` (create-only; one written before is returned as is).
pub fn seal(dsn: &str, store: &dyn BlobStore, prefix: &str, key: &str, opts: &SealOptions) -> Result<Seal> {
    let cannot = |detail: String| ProtectError::CannotSeal { detail };
    if let Some(s) = read(store, key)? {
        crate::backup::fence::refuse_writes(dsn)?;
        return match s.epoch == opts.epoch {
            true => Ok(s),
            false => Err(cannot(format!("{key} was written for epoch {:?}, not {:?}", s.epoch, opts.epoch))),
        };
    }
    let all = timeline::read_all(store, prefix)?;
    let Some(newest) = all.last() else { return Err(cannot("no log has been shipped (no timeline)".into())) };
    let t = newest.record.timeline;
    if newest.record.epoch != opts.epoch {
        let whose = |e: Option<u64>| e.map_or("no primary epoch".to_string(), |e| format!("epoch {e}"));
        return Err(cannot(format!(
            "the newest log timeline ({t}) names {}, not {}: this server does not ship it",
            whose(newest.record.epoch),
            whose(opts.epoch)
        )));
    }
    if opts.epoch.is_none() {
        // A person's log: its shipper must be this server's.
        let mine: Option<u32> = crate::session::connect(dsn)?
            .query_first("SELECT @@server_id")
            .sql(|| "reading server_id".into())?;
        let shipped = heartbeat::read(store, prefix, &newest.record)?.map(|h| h.server_id);
        if shipped.is_none() || shipped != mine {
            return Err(cannot(format!(
                "timeline {t}'s shipper is server {shipped:?}, this is server {mine:?}: this server does not ship it"
            )));
        }
    }
    let chain: Vec<u32> = chain_at(&all, None).iter().map(|t| t.record.timeline).collect();
    let Some(base) = list_bases(store, prefix)?.into_iter().rfind(|b| chain.contains(&b.timeline)) else {
        return Err(cannot(format!("no base backup lies on timeline {t}'s chain yet")));
    };
    let base_state = State::parse(&base.position.gtid)
        .map_err(|message| ProtectError::BadRecord { key: base.id.clone(), message })?;

    let mut fence = Fence::raise(dsn, opts.fence_timeout)?;
    let at = fence.binlog_position()?.ok_or_else(|| cannot("binary logging is off".into()))?;
    let gtid = at.gtid.clone().unwrap_or_default();
    let needed = State::parse(&gtid).map_err(|m| cannot(format!("gtid_binlog_pos {gtid:?}: {m}")))?;
    let started = Instant::now();
    let piece = match base_state.covers(&needed) {
        true => None,
        false => Some(wait_for(store, prefix, &newest.record, &needed, opts, started)?),
    };
    let s = Seal {
        format: SEAL_FORMAT,
        epoch: opts.epoch,
        timeline: t,
        gtid,
        file: at.file,
        position: at.position,
        base: base.id,
        piece,
        sealed_at_ms: now_ms(),
        waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    let body = serde_json::to_vec_pretty(&s)
        .map_err(|e| ProtectError::BadRecord { key: key.into(), message: e.to_string() })?;
    let written = match store.put_if_absent(key, body)? {
        Creation::Created => s,
        // Another run of this same drain sealed first; the server stays fenced either way.
        Creation::Existed => read(store, key)?.ok_or_else(|| cannot(format!("{key} vanished")))?,
    };
    // The global read lock goes; `read_only` stays on for good.
    fence.release()?;
    Ok(written)
}

/// The number of the first piece of timeline `t` from the shipper's last heartbeat on whose
/// state `needed` is covered, waiting for the shipper up to `opts.wait` from `started`.
fn wait_for(
    store: &dyn BlobStore,
    prefix: &str,
    tl: &TimelineRecord,
    needed: &State,
    opts: &SealOptions,
    started: Instant,
) -> Result<u64> {
    let t = tl.timeline;
    // The heartbeat names a piece already stored; what the fence's position needs is there or later.
    let mut seq = heartbeat::read(store, prefix, tl)?.and_then(|h| h.seq).unwrap_or(1).max(1);
    let mut reached = String::from("nothing");
    loop {
        let keys = store.list(&format!("{}{seq:010}.", log_dir(prefix, t)))?;
        let Some(key) = keys.first() else {
            if started.elapsed() >= opts.wait {
                return Err(ProtectError::CannotSeal {
                    detail: format!(
                        "the shipped log of timeline {t} did not reach GTID {} within {} s (it holds {reached}): \
                         is the shipper running?",
                        crate::binlog::gtid::position_text(&needed.position()),
                        opts.wait.as_secs()
                    ),
                });
            }
            std::thread::sleep(opts.poll);
            continue;
        };
        let place = spotctl_layout::PieceKey::parse(prefix, t, key)?;
        let object = store.get(key)?.ok_or_else(|| ProtectError::MissingPiece {
            key: key.clone(),
            detail: "listed but gone".into(),
        })?;
        let (header, _) = piece::split(key, &place, &object)?;
        let state = State::parse(&header.state_after)
            .map_err(|detail| ProtectError::CorruptPiece { key: key.clone(), detail })?;
        if state.covers(needed) {
            return Ok(seq);
        }
        reached = format!("up to {}", crate::binlog::gtid::position_text(&state.position()));
        seq += 1;
    }
}
