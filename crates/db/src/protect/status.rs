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

/// What losing the primary now would lose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LossWindow {
    /// The shipper spoke within its idle heartbeat interval: a commit is stored within about
    /// `bound_ms` of its acknowledgement (the ship interval, a poll and an upload).
    Shipping { bound_ms: u64 },
    /// The shipper has been silent for longer: everything committed since `since` may be lost.
    Silent { since: String, ms: u64 },
    /// Nothing has been shipped yet: everything since the last handoff's backup is at risk.
    NotShipping,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProtectStatus {
    pub timeline: Option<u32>,
    pub heartbeat: Option<Heartbeat>,
    pub heartbeat_age_ms: Option<u64>,
    pub last_shipped_commit: Option<String>,
    pub loss_window: LossWindow,
    pub bases: usize,
    pub newest_base: Option<String>,
    /// The earliest second a recovery can reach (the oldest base's time).
    pub oldest_restorable: Option<String>,
}

/// Reads the status at `now_ms`, judging the shipper by `opts`' intervals.
pub fn status(store: &dyn BlobStore, prefix: &str, now_ms: u64, opts: &ShipOptions) -> Result<ProtectStatus> {
    let timeline = read_all(store, prefix)?.last().map(|t| t.record.timeline);
    let hb = match timeline {
        Some(t) => heartbeat::read(store, prefix, t)?,
        None => None,
    };
    let age = hb.as_ref().map(|h| now_ms.saturating_sub(h.written_at_ms));
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    // Allow one missed beat and a slow upload before calling the shipper silent.
    let alive_for = 2 * ms(opts.heartbeat_idle) + 5_000;
    let loss_window = match (&hb, age) {
        (Some(_), Some(a)) if a <= alive_for => {
            LossWindow::Shipping { bound_ms: ms(opts.min_interval) + ms(opts.poll) + 1_000 }
        }
        (Some(h), _) => {
            let since = h.shipped_at_ms.unwrap_or(h.written_at_ms);
            LossWindow::Silent { since: utc(since), ms: now_ms.saturating_sub(since) }
        }
        (None, _) => LossWindow::NotShipping,
    };
    let bases = list_bases(store, prefix)?;
    Ok(ProtectStatus {
        timeline,
        last_shipped_commit: hb.as_ref().and_then(|h| h.last_commit).map(|c| utc(u64::from(c) * 1000)),
        heartbeat_age_ms: age,
        heartbeat: hb,
        loss_window,
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

    #[test]
    fn a_quiet_shipper_opens_the_loss_window() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("spotctl-protect-status-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = FsBlobStore::new(&dir);
        let opts = ShipOptions::default();
        assert_eq!(status(&store, "backups", 0, &opts)?.loss_window, LossWindow::NotShipping);
        let record = TimelineRecord {
            format: 1,
            timeline: 1,
            parent: None,
            branch: None,
            created_at_ms: 0,
            reason: Reason::First,
            epoch: None,
        };
        create(&store, "backups", &record)?;
        let hb = Heartbeat {
            timeline: 1,
            shipped_at_ms: Some(1_000_000),
            written_at_ms: 1_000_000,
            ..Heartbeat::default()
        };
        heartbeat::write(&store, "backups", &hb)?;
        let alive = status(&store, "backups", 1_030_000, &opts)?;
        assert_eq!(alive.loss_window, LossWindow::Shipping { bound_ms: 1_600 });
        let silent = status(&store, "backups", 1_000_000 + 600_000, &opts)?;
        assert_eq!(silent.loss_window, LossWindow::Silent { since: utc(1_000_000), ms: 600_000 });
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
