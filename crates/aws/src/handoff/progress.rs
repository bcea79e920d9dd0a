//! The standby's restore, counted as it goes and stamped on its handoff: at least once a minute
//! while it moves, so the watchdog takes a standby for stuck only when its restore stops moving,
//! never because it is long (ARD.md, *Progress, not age*). The restore runs on blocking threads
//! and counts into a [`Progress`]; the agent's timer ([`Agent::stamp_progress`], apart from its
//! looks) writes what it reads there.

use super::agent::Agent;
use super::error::{HandoffError, Result};
use crate::sdk::clock::Clock;
use crate::state::{update_json, StateStore};
use spotctl_core::handoff::{Handoff, StandbyProgress};
use spotctl_db::backup::progress::Progress;
use spotctl_layout::state::handoff_key;
use std::sync::{Arc, Mutex};

/// How often the timer stamps a restore that moves (and at least this often one that does not,
/// so the record says when it was last seen).
pub const STAMP_EVERY_S: i64 = 30;

/// The restore under way on this instance, if any.
#[derive(Debug, Default)]
pub struct Restoring {
    current: Mutex<Option<Current>>,
}

#[derive(Debug)]
struct Current {
    handoff: String,
    progress: Arc<Progress>,
    /// When it was last stamped.
    stamped_at: Option<i64>,
    /// The steps last seen, and when they last grew.
    seen: u64,
    moved_at: i64,
}

impl Restoring {
    /// A restore of handoff `id` begins at `now`: what it counts into.
    pub fn begin(&self, id: &str, now: i64) -> Arc<Progress> {
        let progress = Arc::new(Progress::default());
        let current = Current {
            handoff: id.to_string(),
            progress: progress.clone(),
            stamped_at: None,
            seen: 0,
            moved_at: now,
        };
        *self.lock() = Some(current);
        progress
    }

    /// The restore ended (verified, or failed).
    pub fn end(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Current>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What to stamp at `now`, when it is time: the handoff and the progress record.
    fn due(&self, instance_id: &str, now: i64) -> Option<(String, StandbyProgress)> {
        let mut g = self.lock();
        let c = g.as_mut()?;
        let (steps, bytes) = c.progress.now();
        if steps > c.seen {
            (c.seen, c.moved_at) = (steps, now);
        }
        if c.stamped_at.is_some_and(|at| now - at < STAMP_EVERY_S) {
            return None;
        }
        c.stamped_at = Some(now);
        let p = StandbyProgress {
            instance_id: instance_id.to_string(),
            steps,
            bytes,
            at_unix: now,
            moved_at_unix: c.moved_at,
        };
        Some((c.handoff.clone(), p))
    }
}

impl Agent {
    /// Stamps the restore's progress on its handoff when it is time (the recorded standby only).
    pub async fn stamp_progress(&self, instance_id: &str) -> Result<()> {
        stamp(self.store.as_ref(), self.clock.as_ref(), &self.restoring, instance_id).await
    }
}

/// [`Agent::stamp_progress`], with what it needs of the agent (the watcher's timer holds these).
pub async fn stamp(
    store: &dyn StateStore,
    clock: &dyn Clock,
    restoring: &Restoring,
    instance_id: &str,
) -> Result<()> {
    {
        let now = clock.now();
        let Some((id, progress)) = restoring.due(instance_id, now) else { return Ok(()) };
        update_json::<Handoff, _>(store, &handoff_key(&id), |h| {
            if h.standby.as_ref().is_none_or(|s| s.instance_id != instance_id) {
                return false;
            }
            h.progress = Some(progress.clone());
            true
        })
        .await
        .map_err(|e| HandoffError::during(format!("stamping the restore's progress on handoff {id}"), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_is_stamped_every_half_minute_and_moved_only_when_it_counted_more() {
        let r = Restoring::default();
        assert!(r.due("i-s", 100).is_none(), "nothing under way");
        let p = r.begin("epoch-3", 100);
        let (id, first) = r.due("i-s", 100).expect("the first stamp at once");
        assert_eq!((id.as_str(), first.steps, first.moved_at_unix), ("epoch-3", 0, 100));
        p.step(10);
        assert!(r.due("i-s", 110).is_none(), "within the half minute");
        let (_, moved) = r.due("i-s", 130).expect("stamped");
        assert_eq!((moved.steps, moved.bytes, moved.moved_at_unix), (1, 10, 110));
        let (_, still) = r.due("i-s", 170).expect("stamped again, not moved");
        assert_eq!((still.steps, still.moved_at_unix, still.at_unix), (1, 110, 170));
        r.end();
        assert!(r.due("i-s", 300).is_none());
    }
}
