//! Timelines: every recovery starts a new series of the log, so that no later recovery replays
//! the tail a recovery abandoned.
//!
//! Timeline 1 is the first primary's log. A recovery that restored the log of timeline T up to a
//! point creates T+1 with a create-only write, naming T as its parent and that point as its
//! branch; the recovered server's log, which continues the GTIDs from the branch, is shipped
//! there. Replaying T+1 means replaying T up to the branch, then T+1. A shipper still writing T
//! (a zombie primary) finds T+1 and stops; what it wrote after the branch is never read.
//!
//! Each timeline names the primary epoch whose server writes it. A handoff that restored a
//! drained backup puts a new server in charge whose log starts afresh: its first look as the
//! primary begins a timeline of its own ([`for_epoch`], reason [`Reason::Handoff`], no parent),
//! and its first base backup makes that timeline recoverable.

use super::clock::now_ms;
use super::error::{ProtectError, Result};
use crate::store::{BlobStore, Creation};
use serde::{Deserialize, Serialize};
use spotctl_layout::log::{timeline_key, timeline_of, timelines};

pub const TIMELINE_FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The env's first shipped log.
    First,
    /// A recovery (unwarned loss or point in time) restored a base and replayed the log.
    Recovery,
    /// A handoff restored a drained backup on a new server: its log starts afresh (no parent).
    Handoff,
}

/// Where a child timeline leaves its parent: the parent's log is replayed up to `offset` of
/// `file` (inside piece `seq`), where the GTID state is `state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branch {
    pub seq: u64,
    pub file: String,
    pub offset: u64,
    /// `gtid_binlog_state` at the branch: the child's first log file opens with this GTID list.
    pub state: String,
    /// Commit time of the last transaction kept (seconds since 1970, UTC).
    pub last_commit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineRecord {
    pub format: u32,
    pub timeline: u32,
    pub parent: Option<u32>,
    pub branch: Option<Branch>,
    pub created_at_ms: u64,
    pub reason: Reason,
    /// The primary epoch whose server writes this timeline (`None`: begun by a person's shipper
    /// or recovery, or before timelines named their epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// Who began the timeline, and so who ships it: the `aws:userid` of the credentials that
    /// created it (`<role id>:<instance id>` on an instance). Its heartbeat is read only under
    /// that writer's key, which the instance role lets no other session write. `None`: begun
    /// by a writer that does not know its id (a file store), or before writers were named; its
    /// heartbeat is the shared `heartbeat.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
}

/// A timeline's record and its bytes as stored (the hash chain of its log starts from them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    pub record: TimelineRecord,
    pub bytes: Vec<u8>,
}

/// Every timeline under `prefix`, in order, each checked against its key and its parent.
pub fn read_all(store: &dyn BlobStore, prefix: &str) -> Result<Vec<Timeline>> {
    let mut out: Vec<Timeline> = Vec::new();
    for key in store.list(&timelines(prefix))? {
        let Some(t) = timeline_of(prefix, &key) else { continue };
        let bytes = store
            .get(&key)?
            .ok_or_else(|| ProtectError::BadRecord { key: key.clone(), message: "listed but gone".into() })?;
        let bad = |message: String| ProtectError::BadRecord { key: key.clone(), message };
        let record: TimelineRecord = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if record.format != TIMELINE_FORMAT || record.timeline != t {
            return Err(bad(format!(
                "format {} timeline {}, not a format-{TIMELINE_FORMAT} record of timeline {t}",
                record.format, record.timeline
            )));
        }
        match (&record.parent, &record.branch) {
            (None, None) => {}
            (Some(p), Some(_)) if *p < t && out.iter().any(|o| o.record.timeline == *p) => {}
            _ => {
                return Err(bad(
                    "a timeline names an earlier, existing parent and its branch point, or neither".into(),
                ))
            }
        }
        out.push(Timeline { record, bytes });
    }
    Ok(out)
}

/// Creates a timeline with a create-only write; another writer's record under that number is
/// [`ProtectError::TimelineTaken`]. Returns the stored bytes.
pub fn create(store: &dyn BlobStore, prefix: &str, record: &TimelineRecord) -> Result<Timeline> {
    let key = timeline_key(prefix, record.timeline);
    let bytes = serde_json::to_vec_pretty(record)
        .map_err(|e| ProtectError::BadRecord { key: key.clone(), message: e.to_string() })?;
    match store.put_if_absent(&key, bytes.clone())? {
        Creation::Created => Ok(Timeline { record: record.clone(), bytes }),
        Creation::Existed => Err(ProtectError::TimelineTaken { timeline: record.timeline }),
    }
}

/// The newest timeline, or timeline 1 created now (by `writer`) when there is none.
pub fn current(store: &dyn BlobStore, prefix: &str, writer: Option<&str>) -> Result<Timeline> {
    if let Some(t) = read_all(store, prefix)?.pop() {
        return Ok(t);
    }
    let record = TimelineRecord {
        format: TIMELINE_FORMAT,
        timeline: 1,
        parent: None,
        branch: None,
        created_at_ms: now_ms(),
        reason: Reason::First,
        epoch: None,
        writer: writer.map(str::to_string),
    };
    match create(store, prefix, &record) {
        Err(ProtectError::TimelineTaken { .. }) => {
            read_all(store, prefix)?.pop().ok_or_else(|| ProtectError::BadRecord {
                key: timeline_key(prefix, 1),
                message: "created by another writer, then gone".into(),
            })
        }
        other => other,
    }
}

/// The timeline the epoch-`epoch` primary ships to: the newest, when it names this epoch (this
/// primary began it, or the recovery that made this primary did); else a new one begun now, with
/// a create-only write — timeline 1 ([`Reason::First`]), the next ([`Reason::Handoff`]), or, for
/// a server `recovered` for this epoch, the recovery's own record under the next number
/// ([`continuing`]). The newest naming a later epoch means a newer primary writes the log:
/// [`ProtectError::Superseded`].
pub fn for_epoch(
    store: &dyn BlobStore,
    prefix: &str,
    epoch: u64,
    recovered: Option<&TimelineRecord>,
    writer: Option<&str>,
) -> Result<Timeline> {
    loop {
        let newest = read_all(store, prefix)?.pop();
        let next = next_for_epoch(newest.as_ref().map(|t| &t.record), epoch, now_ms(), writer)?;
        let record = match next.map(|r| continuing(r, recovered)) {
            None => {
                return newest.ok_or_else(|| ProtectError::BadRecord {
                    key: timelines(prefix),
                    message: "no timeline, yet one was found".into(),
                })
            }
            Some(r) => r,
        };
        match create(store, prefix, &record) {
            // Another writer took the number: look again at what it is.
            Err(ProtectError::TimelineTaken { .. }) => continue,
            other => return other,
        }
    }
}

/// The timeline to begin, as `next` numbers it: the record a recovery made for this epoch, when
/// the server serving now was recovered for it (it continues the recovered chain where the
/// recovery left it, so no new base is needed), else `next` (a log that starts afresh). Either
/// way its writer is `next`'s: who begins it now ships it.
pub fn continuing(next: TimelineRecord, recovered: Option<&TimelineRecord>) -> TimelineRecord {
    match recovered {
        Some(r) if r.epoch == next.epoch && r.parent.is_some_and(|p| p < next.timeline) => TimelineRecord {
            timeline: next.timeline,
            created_at_ms: next.created_at_ms,
            writer: next.writer,
            ..r.clone()
        },
        _ => next,
    }
}

/// The rule of [`for_epoch`], apart from the store (the in-memory twin follows it too): `None`
/// when `newest` is the epoch's own, else the record of the timeline to begin.
pub fn next_for_epoch(
    newest: Option<&TimelineRecord>,
    epoch: u64,
    now_ms: u64,
    writer: Option<&str>,
) -> Result<Option<TimelineRecord>> {
    let next = match newest {
        Some(t) if t.epoch == Some(epoch) && ours(t, writer) => return Ok(None),
        Some(t) if t.epoch.is_some_and(|e| e > epoch) => {
            return Err(ProtectError::Superseded {
                timeline: t.timeline,
                epoch: t.epoch.unwrap_or_default(),
                mine: epoch,
            })
        }
        Some(t) => t.timeline + 1,
        None => 1,
    };
    Ok(Some(TimelineRecord {
        format: TIMELINE_FORMAT,
        timeline: next,
        parent: None,
        branch: None,
        created_at_ms: now_ms,
        reason: if next == 1 { Reason::First } else { Reason::Handoff },
        epoch: Some(epoch),
        writer: writer.map(str::to_string),
    }))
}

/// Whether the heartbeat of timeline `r` (one of `all`) is believed. A timeline naming a writer:
/// when it is a role's session and `opened(epoch, session)` says the control plane opened that writer's session (its
/// instance) at the timeline's epoch — any instance may create a timeline record, so one naming
/// itself, or no writer at all, after the real primary's is not taken at its word. A timeline
/// naming none: only when no timeline before it names one (it is from before writers were named).
pub fn heartbeat_believed(
    all: &[Timeline],
    r: &TimelineRecord,
    opened: &dyn Fn(Option<u64>, &str) -> bool,
) -> bool {
    match &r.writer {
        Some(w) => spotctl_layout::writer_session(w).is_some_and(|session| opened(r.epoch, session)),
        None => !all.iter().any(|t| t.record.timeline < r.timeline && t.record.writer.is_some()),
    }
}

/// The rule of [`next_for_epoch`]'s caller: timeline `newest` is `epoch`'s own only when it names
/// this writer too (or either names none): a timeline for the same epoch begun by another writer
/// is not this primary's, and it begins the next.
fn ours(newest: &TimelineRecord, writer: Option<&str>) -> bool {
    match (newest.writer.as_deref(), writer) {
        (Some(theirs), Some(mine)) => theirs == mine,
        _ => true,
    }
}

/// The timelines whose log holds the database as it was at `until_ms` (the newest, without
/// one): the newest timeline created by then and its ancestors, oldest first.
pub fn chain_at(all: &[Timeline], until_ms: Option<u64>) -> Vec<&Timeline> {
    let live = all
        .iter()
        .filter(|t| until_ms.is_none_or(|u| t.record.created_at_ms <= u))
        .max_by_key(|t| t.record.timeline);
    let mut chain = Vec::new();
    let mut next = live;
    while let Some(t) = next {
        chain.push(t);
        next = t.record.parent.and_then(|p| all.iter().find(|o| o.record.timeline == p));
    }
    chain.reverse();
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u32, parent: Option<u32>, at: u64) -> Timeline {
        let branch = parent.map(|_| Branch {
            seq: 1,
            file: "f.000001".into(),
            offset: 4,
            state: "0-1-1".into(),
            last_commit: None,
        });
        let record = TimelineRecord {
            format: 1,
            timeline: n,
            parent,
            branch,
            created_at_ms: at,
            reason: Reason::Recovery,
            epoch: None,
            writer: None,
        };
        Timeline { bytes: Vec::new(), record }
    }

    #[test]
    fn each_epoch_ships_to_a_timeline_of_its_own() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("spotctl-timeline-epoch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = crate::store::FsBlobStore::new(&dir);
        let one = for_epoch(&store, "backups", 1, None, Some("AROAX:i-1"))?;
        assert_eq!(one.record.writer.as_deref(), Some("AROAX:i-1"));
        assert_eq!((one.record.timeline, one.record.reason, one.record.epoch), (1, Reason::First, Some(1)));
        // The same primary again (a restarted agent): the same timeline.
        assert_eq!(for_epoch(&store, "backups", 1, None, None)?.record.timeline, 1);
        // The primary a handoff made: a timeline of its own, no parent.
        let two = for_epoch(&store, "backups", 2, None, Some("AROAX:i-2"))?;
        assert_eq!((two.record.timeline, two.record.reason, two.record.parent), (2, Reason::Handoff, None));
        // The old primary, fenced, may not take the log back.
        match for_epoch(&store, "backups", 1, None, None) {
            Err(ProtectError::Superseded { timeline: 2, epoch: 2, mine: 1 }) => {}
            other => panic!("the epoch-1 primary began or kept a timeline after epoch 2's: {other:?}"),
        }
        assert_eq!(current(&store, "backups", None)?.record.timeline, 2);
        assert_eq!(current(&store, "backups", None)?.record.writer.as_deref(), Some("AROAX:i-2"));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    /// A timeline an instance made naming itself (or no writer, after writers were named) is not
    /// believed; the real primary's is, and so is one from before writers.
    #[test]
    fn a_heartbeat_is_believed_only_from_an_opened_writer() {
        let named = |n: u32, epoch: u64, writer: Option<&str>| {
            let mut tl = t(n, None, 0);
            tl.record.epoch = Some(epoch);
            tl.record.writer = writer.map(str::to_string);
            tl
        };
        let all = [
            named(1, 1, None),
            named(2, 2, Some("AROAX:i-primary")),
            named(3, 2, Some("AROAX:i-forger")),
            named(4, 2, None),
        ];
        let opened = |epoch: Option<u64>, who: &str| epoch == Some(2) && who == "i-primary";
        let believed: Vec<bool> =
            all.iter().map(|tl| heartbeat_believed(&all, &tl.record, &opened)).collect();
        assert_eq!(believed, [true, true, false, false]);
        // The primary's next look does not take the forger's timeline of its epoch as its own.
        let next = next_for_epoch(Some(&all[2].record), 2, 9, Some("AROAX:i-primary")).expect("rule");
        assert_eq!(next.map(|r| (r.timeline, r.writer)), Some((4, Some("AROAX:i-primary".to_string()))));
        assert_eq!(next_for_epoch(Some(&all[1].record), 2, 9, Some("AROAX:i-primary")).expect("rule"), None);
    }

    #[test]
    fn the_chain_is_the_one_live_at_the_time() {
        // 1 → 2 (recovered at 200) → 3 (recovered at 300); 4 branched off 2 at 400.
        let all = [t(1, None, 0), t(2, Some(1), 200), t(3, Some(2), 300), t(4, Some(2), 400)];
        let nums = |c: Vec<&Timeline>| c.iter().map(|t| t.record.timeline).collect::<Vec<_>>();
        assert_eq!(nums(chain_at(&all, None)), [1, 2, 4]);
        assert_eq!(nums(chain_at(&all, Some(350))), [1, 2, 3]);
        assert_eq!(nums(chain_at(&all, Some(250))), [1, 2]);
        assert_eq!(nums(chain_at(&all, Some(199))), [1]);
        assert!(chain_at(&[], None).is_empty());
    }
}
