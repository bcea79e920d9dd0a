//! How far a restore (or a recovery) has come, counted as it goes: chunks loaded, tablespace
//! parts written and imported, key ranges verified, log pieces replayed, with the bytes they
//! held. Whoever watches it (the agent's timer, which stamps it on the handoff) can tell a slow
//! restore that moves from one that is stuck, however long it takes.

use std::sync::atomic::{AtomicU64, Ordering};

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
