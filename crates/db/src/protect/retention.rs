//! Retention: the one owner of how long base backups and log pieces live. Everything a recovery
//! to any second of the last `retention` can need is kept; the rest is deleted. The bucket's
//! lifecycle rules are a safety net derived from the same setting, never shorter.
//!
//! Kept: every base taken inside the window, and on each timeline the newest base taken before it
//! (a recovery to the window's first second starts there). On a timeline with a kept base, the
//! log from the first piece of the file holding the oldest kept base's position on; timelines
//! descending from one with a kept base, whole. Only timelines a recovery inside the window can
//! follow count: those live at some second of it and their ancestors — a timeline a handoff
//! replaced before the window began (a new primary's log starts a timeline of its own) is needed
//! by nothing, its bases and log go. The newest timeline is never cut before it has a base (a
//! primary a handoff just made, whose first base is under way, ships there). Nothing else is
//! needed; with no base at all, nothing is deleted (the log is all there is). Timeline records and
//! heartbeats are never deleted. [`plan`] decides, purely; [`apply`] deletes, a base's record first, so that a base
//! half deleted is no base.

use super::base::{list_bases, BaseRecord};
use super::clock::{now_ms, utc};
use super::error::Result;
use super::piece;
use super::timeline::{read_all, Timeline};
use crate::store::BlobStore;
use serde::Serialize;
use spotctl_layout::log::{base_record_key, bases};
use spotctl_layout::PieceKey;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionPlan {
    pub keep_bases: Vec<String>,
    pub delete_bases: Vec<String>,
    pub delete_pieces: Vec<PieceKey>,
    /// The earliest time a recovery can reach once the plan is carried out (ms since 1970).
    pub oldest_restorable_ms: Option<u64>,
}

/// What to delete at `now_ms` to keep `retention`'s worth of recoverable history.
pub fn plan(
    now_ms: u64,
    retention: Duration,
    timelines: &[Timeline],
    all_bases: &[BaseRecord],
    pieces: &BTreeMap<u32, Vec<PieceKey>>,
) -> RetentionPlan {
    if all_bases.is_empty() {
        return RetentionPlan::default();
    }
    let window = now_ms.saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX));
    let needed = needed_timelines(window, timelines);
    let counts = |t: u32| needed.as_ref().is_none_or(|n| n.contains(&t));
    let mut keep: BTreeSet<&str> = all_bases
        .iter()
        .filter(|b| b.taken_at_ms >= window && counts(b.timeline))
        .map(|b| b.id.as_str())
        .collect();
    let per_timeline: BTreeSet<u32> = all_bases.iter().map(|b| b.timeline).filter(|t| counts(*t)).collect();
    for t in per_timeline {
        let anchor = all_bases
            .iter()
            .filter(|b| b.timeline == t && b.taken_at_ms < window)
            .max_by_key(|b| b.taken_at_ms);
        if let Some(b) = anchor {
            keep.insert(&b.id);
        }
    }
    let kept: Vec<&BaseRecord> = all_bases.iter().filter(|b| keep.contains(b.id.as_str())).collect();
    let with_base: BTreeSet<u32> = kept.iter().map(|b| b.timeline).collect();
    let descends = |t: u32| -> bool {
        let mut parent = timelines.iter().find(|x| x.record.timeline == t).and_then(|x| x.record.parent);
        while let Some(p) = parent {
            if with_base.contains(&p) {
                return true;
            }
            parent = timelines.iter().find(|x| x.record.timeline == p).and_then(|x| x.record.parent);
        }
        false
    };
    let newest = timelines.iter().map(|t| t.record.timeline).max();
    let never_based = |t: u32| !all_bases.iter().any(|b| b.timeline == t);
    let mut delete_pieces = Vec::new();
    for (&t, keys) in pieces {
        if !counts(t) {
            delete_pieces.extend(keys.iter().cloned());
            continue;
        }
        if descends(t) || (Some(t) == newest && never_based(t)) {
            continue;
        }
        // From the first piece of the file holding the oldest kept base's position.
        let floor = kept
            .iter()
            .filter(|b| b.timeline == t)
            .filter_map(|b| {
                let at =
                    keys.iter().rposition(|k| k.file == b.position.file && k.offset < b.position.offset)?;
                keys[..=at].iter().rposition(|k| k.file == b.position.file && k.offset == 0)
            })
            .min();
        let cut = match (with_base.contains(&t), floor) {
            (true, Some(f)) => f,
            // A kept base whose position is not in the log keeps everything: nothing is guessed.
            (true, None) => 0,
            (false, _) => keys.len(),
        };
        delete_pieces.extend(keys[..cut].iter().cloned());
    }
    RetentionPlan {
        keep_bases: kept.iter().map(|b| b.id.clone()).collect(),
        delete_bases: all_bases
            .iter()
            .filter(|b| !keep.contains(b.id.as_str()))
            .map(|b| b.id.clone())
            .collect(),
        delete_pieces,
        oldest_restorable_ms: kept.iter().map(|b| b.taken_at_ms).min(),
    }
}

/// The timelines a recovery to a second at or after `window` can follow: each live at some such
/// second (the newest created by then) and their ancestors. `None` when none is recorded (then
/// every base's timeline counts).
fn needed_timelines(window: u64, timelines: &[Timeline]) -> Option<BTreeSet<u32>> {
    let mut by_number: Vec<&Timeline> = timelines.iter().collect();
    by_number.sort_by_key(|t| t.record.timeline);
    if by_number.is_empty() {
        return None;
    }
    let mut needed = BTreeSet::new();
    for (i, t) in by_number.iter().enumerate() {
        // Live from its creation until the next one's.
        let live_in_window = by_number.get(i + 1).is_none_or(|next| next.record.created_at_ms > window);
        if !live_in_window {
            continue;
        }
        let mut at = Some(t.record.timeline);
        while let Some(n) = at {
            if !needed.insert(n) {
                break;
            }
            at = by_number.iter().find(|x| x.record.timeline == n).and_then(|x| x.record.parent);
        }
    }
    Some(needed)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub plan: RetentionPlan,
    pub deleted_objects: u64,
    pub oldest_restorable: Option<String>,
}

/// Plans at the current time and deletes what the plan says.
pub fn apply(store: &dyn BlobStore, prefix: &str, retention: Duration) -> Result<RetentionReport> {
    let timelines = read_all(store, prefix)?;
    let all_bases = list_bases(store, prefix)?;
    let mut pieces = BTreeMap::new();
    for t in &timelines {
        pieces.insert(t.record.timeline, piece::list(store, prefix, t.record.timeline)?);
    }
    let plan = plan(now_ms(), retention, &timelines, &all_bases, &pieces);
    let mut deleted = 0u64;
    for id in &plan.delete_bases {
        store.delete(&base_record_key(prefix, id))?;
        for key in store.list(&format!("{}/{id}/", bases(prefix)))? {
            store.delete(&key)?;
            deleted += 1;
        }
    }
    // Oldest first: an interrupted run leaves the log's beginning cut, never a hole in it.
    for p in &plan.delete_pieces {
        store.delete(&p.key(prefix))?;
        deleted += 1;
    }
    let oldest_restorable = plan.oldest_restorable_ms.map(utc);
    Ok(RetentionReport { plan, deleted_objects: deleted, oldest_restorable })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::base::{BasePosition, BaseTimings};
    use crate::protect::timeline::{Branch, Reason, TimelineRecord};

    const DAY: u64 = 86_400_000;

    fn base(id: &str, t: u32, at: u64, file: &str, offset: u64) -> BaseRecord {
        BaseRecord {
            format: 1,
            id: id.into(),
            timeline: t,
            taken_at_ms: at,
            position: BasePosition {
                file: file.into(),
                offset,
                gtid: String::new(),
                last_event_crc: String::new(),
            },
            database: "appdb".into(),
            server_version: String::new(),
            rows: 0,
            raw_bytes: 0,
            stored_bytes: 0,
            manifest_sha256: String::new(),
            timings_ms: BaseTimings::default(),
        }
    }

    fn timeline(t: u32, parent: Option<u32>) -> Timeline {
        timeline_at(t, parent, 0)
    }

    fn timeline_at(t: u32, parent: Option<u32>, created_at_ms: u64) -> Timeline {
        let branch = parent.map(|_| Branch {
            seq: 1,
            file: "f.000001".into(),
            offset: 4,
            state: String::new(),
            last_commit: None,
        });
        Timeline {
            record: TimelineRecord {
                format: 1,
                timeline: t,
                parent,
                branch,
                created_at_ms,
                reason: Reason::Recovery,
                epoch: None,
                writer: None,
            },
            bytes: Vec::new(),
        }
    }

    /// Two files of four pieces each on timeline `t`: a header piece, then pieces at 100, 200, 300.
    fn log(t: u32) -> Vec<PieceKey> {
        let mut out = Vec::new();
        for (f, file) in ["f.000001", "f.000002"].iter().enumerate() {
            for (i, offset) in [0, 100, 200, 300].iter().enumerate() {
                out.push(PieceKey {
                    timeline: t,
                    seq: (f * 4 + i + 1) as u64,
                    file: (*file).into(),
                    offset: *offset,
                });
            }
        }
        out
    }

    #[test]
    fn keeps_what_any_second_of_the_window_needs() {
        let now = 30 * DAY;
        let bases = [
            base("old", 1, now - 20 * DAY, "f.000001", 150),
            base("anchor", 1, now - 9 * DAY, "f.000002", 250),
            base("recent", 1, now - 2 * DAY, "f.000002", 350),
        ];
        let pieces = BTreeMap::from([(1, log(1))]);
        let p = plan(now, Duration::from_secs(7 * 86_400), &[timeline(1, None)], &bases, &pieces);
        assert_eq!(p.keep_bases, ["anchor", "recent"]);
        assert_eq!(p.delete_bases, ["old"]);
        let seqs: Vec<u64> = p.delete_pieces.iter().map(|k| k.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4], "all of the first file; the anchor's file is kept from its header");
        assert_eq!(p.oldest_restorable_ms, Some(now - 9 * DAY));
    }

    #[test]
    fn no_base_deletes_nothing_and_descendants_stay_whole() {
        let pieces = BTreeMap::from([(1, log(1)), (2, log(2))]);
        let timelines = [timeline(1, None), timeline(2, Some(1))];
        let p = plan(30 * DAY, Duration::from_secs(86_400), &timelines, &[], &pieces);
        assert_eq!(p, RetentionPlan::default());
        let bases = [base("b", 1, 29 * DAY, "f.000002", 150)];
        let p = plan(30 * DAY, Duration::from_secs(86_400), &timelines, &bases, &pieces);
        assert!(
            p.delete_pieces.iter().all(|k| k.timeline == 1),
            "timeline 2 descends from a base's: kept whole"
        );
        assert_eq!(p.delete_pieces.len(), 4);
        // A base on timeline 2 only: timeline 1's log is needed by no recovery any more.
        let bases = [base("b2", 2, 29 * DAY, "f.000001", 150)];
        let p = plan(30 * DAY, Duration::from_secs(86_400), &timelines, &bases, &pieces);
        assert_eq!(p.delete_pieces.iter().filter(|k| k.timeline == 1).count(), 8);
        assert_eq!(p.delete_pieces.iter().filter(|k| k.timeline == 2).count(), 0);
    }

    #[test]
    fn a_timeline_a_handoff_replaced_before_the_window_goes_and_a_new_one_stays_whole_until_its_base() {
        let now = 30 * DAY;
        // Timeline 1: the first primary's, replaced by a handoff 10 days ago (timeline 2, no
        // parent); timeline 3 began an hour ago (another handoff) and has no base yet.
        let timelines = [
            timeline_at(1, None, 0),
            timeline_at(2, None, now - 10 * DAY),
            timeline_at(3, None, now - DAY / 24),
        ];
        let bases = [
            base("t1-old", 1, now - 25 * DAY, "f.000001", 150),
            base("t1-last", 1, now - 11 * DAY, "f.000002", 150),
            base("t2-anchor", 2, now - 9 * DAY, "f.000001", 150),
            base("t2-recent", 2, now - 2 * DAY, "f.000002", 150),
        ];
        let pieces = BTreeMap::from([(1, log(1)), (2, log(2)), (3, log(3))]);
        let p = plan(now, Duration::from_secs(7 * 86_400), &timelines, &bases, &pieces);
        assert_eq!(p.keep_bases, ["t2-anchor", "t2-recent"], "{p:?}");
        assert_eq!(p.delete_bases, ["t1-old", "t1-last"]);
        assert_eq!(
            p.delete_pieces.iter().filter(|k| k.timeline == 1).count(),
            8,
            "timeline 1 is needed by nothing"
        );
        assert_eq!(
            p.delete_pieces.iter().filter(|k| k.timeline == 2).count(),
            0,
            "from the anchor's file on"
        );
        assert_eq!(
            p.delete_pieces.iter().filter(|k| k.timeline == 3).count(),
            0,
            "its first base is to come"
        );
        // A week later timeline 2 is replaced too, long ago: it goes; timeline 3's base is all.
        let later = now + 30 * DAY;
        let bases =
            [base("t2-recent", 2, now - 2 * DAY, "f.000002", 150), base("t3", 3, now + DAY, "f.000002", 150)];
        let p = plan(later, Duration::from_secs(7 * 86_400), &timelines, &bases, &pieces);
        assert_eq!(
            (p.keep_bases.as_slice(), p.delete_bases.as_slice()),
            (&["t3".to_string()][..], &["t2-recent".to_string()][..])
        );
        assert_eq!(p.delete_pieces.iter().filter(|k| k.timeline == 3).count(), 4);
    }
}
