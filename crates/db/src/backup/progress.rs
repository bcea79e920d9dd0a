//! How far a restore (or a recovery) has come, counted as it goes: chunks loaded, tablespace
//! parts written and imported, key ranges verified, log pieces replayed, with the bytes they
//! held. Whoever watches it (the agent's timer, which stamps it on the handoff) can tell a slow
//! restore that moves from one that is stuck, however long it takes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Progress {
    steps: AtomicU64,
    bytes: AtomicU64,
}

impl Progress {
    /// One more unit of work done, of `bytes`.
    pub fn step(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.steps.fetch_add(1, Ordering::Release);
        if let Some(pace) = pace() {
            std::thread::sleep(pace);
        }
    }

    /// Steps and bytes so far.
    pub fn now(&self) -> (u64, u64) {
        (self.steps.load(Ordering::Acquire), self.bytes.load(Ordering::Relaxed))
    }
}

/// Counts a step on `p`, if there is one to count on.
pub(crate) fn step(p: Option<&Progress>, bytes: u64) {
    if let Some(p) = p {
        p.step(bytes);
    }
}

/// A restore slowed on purpose, for the end-to-end test of one longer than the stall clock:
/// `SPOTCTL_TEST_RESTORE_PACE_MS=N` waits N ms after each step (never set on an instance).
fn pace() -> Option<Duration> {
    static PACE: OnceLock<Option<Duration>> = OnceLock::new();
    *PACE.get_or_init(|| {
        let ms = std::env::var("SPOTCTL_TEST_RESTORE_PACE_MS").ok()?.parse().ok()?;
        Some(Duration::from_millis(ms))
    })
}
