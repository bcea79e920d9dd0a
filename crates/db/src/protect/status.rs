//! Where continuous protection stands, read from the bucket alone: the current timeline, what its
//! shipper last said, the bases, and so the loss window — what an unwarned loss of the primary
//! now would cost. For `spotctl status`, the handler, and an operator (MEMO.md).

use super::base::list_bases;
use super::clock::utc;
use super::error::Result;
use super::heartbeat::{self, Heartbeat};
use super::ship::ShipOptions;
use super::timeline::read_all;
use crate::store::BlobStore;
use serde::Serialize;

/// What losing the primary now, with no warning, would lose: measured from the positions the
/// shipper reports (what the server had committed when it last read the log, against what is
/// stored), never from its liveness alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LossWindow {
    /// Nothing waited when the shipper last read the log, and it reports on time: a commit is
    /// stored within about `bound_ms` of its acknowledgement (the shipper's own measure: its
    /// intervals and its slowest writes lately).
    Shipping { bound_ms: u64 },
    /// Commits waited when the shipper last read the log: every commit acknowledged before
    /// `since` is stored, so an unwarned loss now loses at most the last `ms` (counted to the
    /// moment this was computed, after every read).
    Behind { since: String, ms: u64 },
    /// The shipper is overdue (no report for longer than its idle interval and a slow write):
    /// everything committed since `since` may be lost.
    Silent { since: String, ms: u64 },
    /// Nothing has been shipped yet: everything since the last handoff's backup is at risk.
    NotShipping,
}

impl LossWindow {
    /// At most this many ms of acknowledged commits would be lost now (`None`: nothing is
    /// shipped, so the log bounds nothing).
    pub fn ms(&self) -> Option<u64> {
        match self {
            LossWindow::Shipping { bound_ms } => Some(*bound_ms),
            LossWindow::Behind { ms, .. } | LossWindow::Silent { ms, .. } => Some(*ms),
            LossWindow::NotShipping => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProtectStatus {
    pub timeline: Option<u32>,
    pub heartbeat: Option<Heartbeat>,
    pub heartbeat_age_ms: Option<u64>,
    pub last_shipped_commit: Option<String>,
    /// Whether nothing waited when the shipper last read the server's log (`None`: no report, or
    /// a shipper older than position reports).
    pub caught_up: Option<bool>,
    pub loss_window: LossWindow,
    pub bases: usize,
    pub newest_base: Option<String>,
    /// The earliest second a recovery can reach (the oldest base's time).
    pub oldest_restorable: Option<String>,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The bound a shipper that does not measure its own is taken to keep: the piece interval, a
/// poll and a second for the write.
pub fn model_bound_ms(opts: &ShipOptions) -> u64 {
    millis(opts.min_interval) + millis(opts.poll) + 1_000
}

/// The loss window at `now_ms` from timeline `created_ms`'s newest heartbeat `hb`, judging a
/// report overdue by `opts`' idle interval. The one rule `status`, the handler and the twins use.
pub fn loss_window(hb: Option<&Heartbeat>, created_ms: u64, now_ms: u64, opts: &ShipOptions) -> LossWindow {
    let Some(h) = hb else { return LossWindow::NotShipping };
    let age = now_ms.saturating_sub(h.written_at_ms);
    let since = |at: u64| (utc(at), across_clocks(now_ms, at));
    match (h.safe_through_ms, h.caught_up()) {
        // A shipper older than position reports: its liveness is all there is to judge.
        (None, None) => {
            if age <= 2 * millis(opts.heartbeat_idle) + 5_000 {
                LossWindow::Shipping { bound_ms: model_bound_ms(opts) }
            } else {
                let (since, ms) = since(h.shipped_at_ms.unwrap_or(h.written_at_ms));
                LossWindow::Silent { since, ms }
            }
        }
        // It has read the log but never stored all it read: everything since the timeline began.
        (None, Some(_)) => {
            let (since, ms) = since(created_ms);
            LossWindow::Behind { since, ms }
        }
        (Some(safe), caught_up) => {
            let (since, ms) = since(safe);
            if age > millis(opts.heartbeat_idle) + 5_000 {
                LossWindow::Silent { since, ms }
            } else if caught_up == Some(true) {
                LossWindow::Shipping { bound_ms: h.bound_ms.unwrap_or_else(|| model_bound_ms(opts)) }
            } else {
                LossWindow::Behind { since, ms }
            }
        }
    }
}

/// How far two machines' clocks may differ, in ms: the instances and the Lambda keep time with
/// chrony against the Amazon Time Sync Service (within a millisecond or so when it works); a
/// window that subtracts one machine's instant from another's adds this, so a clock that runs
/// behind never makes it short (the simulation skews every actor's clock by up to half of it).
pub const CLOCK_SKEW_MS: u64 = 2_000;

/// `now_ms` (the reader's clock) minus `at_ms` (the instant another machine stamped), with the
/// skew the two clocks may have between them.
fn across_clocks(now_ms: u64, at_ms: u64) -> u64 {
    now_ms.saturating_sub(at_ms) + CLOCK_SKEW_MS
}

/// [`loss_window`] for a primary that is gone, or is being replaced: what it lost runs from the
/// safe instant to when it stopped taking commits, whatever its shipper last promised (a bound
/// holds only while the shipper runs). Counted to `now_ms`, which the caller makes the moment the
/// primary stopped, or a moment after it.
pub fn loss_window_of_lost(
    hb: Option<&Heartbeat>,
    created_ms: u64,
    now_ms: u64,
    opts: &ShipOptions,
) -> LossWindow {
    match hb.and_then(|h| h.safe_through_ms) {
        Some(safe) => LossWindow::Behind { since: utc(safe), ms: across_clocks(now_ms, safe) },
        None => loss_window(hb, created_ms, now_ms, opts),
    }
}

/// Reads the status, judging the shipper by `opts`' intervals; the window is computed at
/// `now_ms()` read after every read of the bucket, so it holds at least until it is printed. The
/// newest timeline's heartbeat counts only when `opened` says its writer was opened at its epoch
/// ([`super::timeline::heartbeat_believed`]); otherwise no heartbeat is believed.
pub fn status(
    store: &dyn BlobStore,
    prefix: &str,
    now_ms: &dyn Fn() -> u64,
    opts: &ShipOptions,
    opened: &dyn Fn(Option<u64>, &str) -> bool,
) -> Result<ProtectStatus> {
    let all = read_all(store, prefix)?;
    let newest = all.last().map(|t| t.record.clone());
    let hb = match &newest {
        Some(t) if super::timeline::heartbeat_believed(&all, t, opened) => heartbeat::read(store, prefix, t)?,
        _ => None,
    };
    let bases = list_bases(store, prefix)?;
    let now = now_ms();
    let created = newest.as_ref().map_or(now, |t| t.created_at_ms);
    Ok(ProtectStatus {
        timeline: newest.map(|t| t.timeline),
        last_shipped_commit: hb.as_ref().and_then(|h| h.last_commit).map(|c| utc(u64::from(c) * 1000)),
        heartbeat_age_ms: hb.as_ref().map(|h| now.saturating_sub(h.written_at_ms)),
        caught_up: hb.as_ref().and_then(Heartbeat::caught_up),
        loss_window: loss_window(hb.as_ref(), created, now, opts),
        heartbeat: hb,
        bases: bases.len(),
        newest_base: bases.last().map(|b| format!("{} ({})", b.id, utc(b.taken_at_ms))),
        oldest_restorable: bases.first().map(|b| utc(b.taken_at_ms)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::timeline::{create, Reason, TimelineRecord};
    use crate::store::FsBlobStore;

    fn beat(read_at: u64, safe: u64, written: u64) -> Heartbeat {
        Heartbeat {
            timeline: 1,
            read_at_ms: Some(read_at),
            safe_through_ms: Some(safe),
            bound_ms: Some(2_300),
            written_at_ms: written,
            ..Heartbeat::default()
        }
    }

    #[test]
    fn the_window_is_measured_from_positions_not_from_liveness() {
        let opts = ShipOptions::default();
        let idle = millis(opts.heartbeat_idle);
        // Nothing waited at the last read, reported on time: the shipper's own measured bound.
        let caught_up = beat(100_000, 100_000, 100_050);
        assert_eq!(caught_up.caught_up(), Some(true));
        assert_eq!(
            loss_window(Some(&caught_up), 0, 104_000, &opts),
            LossWindow::Shipping { bound_ms: 2_300 }
        );
        // Commits waited: everything since the last read all of which was stored, counted to now,
        // however fresh the report (an alive shipper that is behind).
        let behind = beat(100_000, 91_000, 100_050);
        assert_eq!(behind.caught_up(), Some(false));
        assert_eq!(
            loss_window(Some(&behind), 0, 101_000, &opts),
            LossWindow::Behind { since: utc(91_000), ms: 10_000 + CLOCK_SKEW_MS }
        );
        // Overdue: silent since the last safe instant, whatever it said.
        let late = 100_050 + idle + 5_001;
        assert_eq!(
            loss_window(Some(&caught_up), 0, late, &opts),
            LossWindow::Silent { since: utc(100_000), ms: late - 100_000 + CLOCK_SKEW_MS }
        );
        // Read but never all stored: everything since the timeline began.
        let never = Heartbeat { safe_through_ms: None, ..behind };
        assert_eq!(
            loss_window(Some(&never), 50_000, 101_000, &opts),
            LossWindow::Behind { since: utc(50_000), ms: 51_000 + CLOCK_SKEW_MS }
        );
        // A shipper older than position reports: liveness only, as before.
        let old = Heartbeat { timeline: 1, written_at_ms: 100_000, ..Heartbeat::default() };
        assert_eq!(old.caught_up(), None);
        assert_eq!(
            loss_window(Some(&old), 0, 130_000, &opts),
            LossWindow::Shipping { bound_ms: model_bound_ms(&opts) }
        );
        assert_eq!(loss_window(None, 0, 130_000, &opts), LossWindow::NotShipping);
    }

    #[test]
    fn status_reads_the_newest_timelines_report_and_counts_to_after_its_reads() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("spotctl-protect-status-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = FsBlobStore::new(&dir);
        let opts = ShipOptions::default();
        assert_eq!(
            status(&store, "backups", &|| 0, &opts, &|_, _| true)?.loss_window,
            LossWindow::NotShipping
        );
        let record = TimelineRecord {
            format: 1,
            timeline: 1,
            parent: None,
            branch: None,
            created_at_ms: 0,
            reason: Reason::First,
            epoch: None,
            writer: Some("AROAEXAMPLE:i-1".into()),
        };
        create(&store, "backups", &record)?;
        heartbeat::write(&store, "backups", &beat(1_000_000, 990_000, 1_000_010), Some("AROAEXAMPLE:i-1"))?;
        // Another instance's rosy word beside it (caught up a moment ago) is not the timeline's.
        let rosy = beat(1_001_900, 1_001_900, 1_001_900);
        heartbeat::write(&store, "backups", &rosy, Some("AROAEXAMPLE:i-2"))?;
        heartbeat::write(&store, "backups", &rosy, None)?;
        let calls = std::cell::Cell::new(0);
        let clock = || {
            calls.set(calls.get() + 1);
            1_002_000
        };
        let s = status(&store, "backups", &clock, &opts, &|_, _| true)?;
        assert_eq!(calls.get(), 1, "the clock is read once, after the reads");
        assert_eq!(s.caught_up, Some(false));
        // Counted across two machines' clocks: with the skew they may have.
        assert_eq!(s.loss_window, LossWindow::Behind { since: utc(990_000), ms: 12_000 + CLOCK_SKEW_MS });
        assert_eq!(s.loss_window.ms(), Some(12_000 + CLOCK_SKEW_MS));
        // A writer the control plane never opened (a timeline an instance made naming itself):
        // its heartbeat is not believed.
        let unopened = status(&store, "backups", &clock, &opts, &|_, session| session != "i-1")?;
        assert_eq!((unopened.heartbeat, unopened.caught_up), (None, None));
        assert_ne!(unopened.loss_window, s.loss_window);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
