//! When a handoff cannot go as planned: the next placement when capacity is refused, and the backup
//! to fall back to (with its data-loss window) when a standby cannot verify.

use super::record::{Handoff, Step};

/// EC2 error codes that refuse a spot launch for lack of capacity or price: the next placement may
/// have what this one lacks. Anything else (a missing group, a denied call) is a real error.
pub fn is_capacity_refusal(code: &str) -> bool {
    matches!(
        code,
        "InsufficientInstanceCapacity"
            | "SpotMaxPriceTooLow"
            | "MaxSpotInstanceCountExceeded"
            | "InsufficientCapacity"
            | "Unsupported"
            | "InstanceLimitExceeded"
    )
}

/// How one launch attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchResult {
    Launched,
    /// Refused for capacity or price ([`is_capacity_refusal`]), with EC2's code.
    CapacityRefused {
        code: String,
    },
    /// Failed for any other reason.
    Failed,
}

impl LaunchResult {
    /// What an EC2 error code means for the capacity-fallback order.
    pub fn of_error(code: Option<&str>) -> LaunchResult {
        match code {
            Some(c) if is_capacity_refusal(c) => LaunchResult::CapacityRefused { code: c.to_string() },
            _ => LaunchResult::Failed,
        }
    }
}

/// The capacity-fallback order's next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextLaunch {
    /// Try placement `i` (best first).
    Try(usize),
    /// Placement `i` launched.
    Launched(usize),
    /// Every placement refused capacity.
    NoCapacity,
    /// Placement `i` failed for a reason another placement cannot fix: stop and report it.
    Stop(usize),
}

/// Placements are tried best first; a capacity refusal moves on to the next, anything else stops.
/// `attempts` are the results so far, in order, over `placements` candidates.
pub fn next_launch(attempts: &[LaunchResult], placements: usize) -> NextLaunch {
    match attempts.last() {
        Some(LaunchResult::Launched) => NextLaunch::Launched(attempts.len() - 1),
        Some(LaunchResult::Failed) => NextLaunch::Stop(attempts.len() - 1),
        _ if attempts.len() < placements => NextLaunch::Try(attempts.len()),
        _ => NextLaunch::NoCapacity,
    }
}

/// Where a failed handoff falls back to: the newest complete backup (a handoff that reached
/// `Drained`), and the data-loss window that means at `now` in seconds — zero when the failed
/// handoff itself drained completely (the old primary was fenced, so nothing was written after).
/// `None` when no complete backup exists at all.
pub fn fallback(handoffs: &[Handoff], failed: &str, now: i64) -> Option<(String, i64)> {
    if handoffs.iter().any(|h| h.id == failed && h.steps.contains_key(&Step::Drained)) {
        return Some((failed.to_string(), 0));
    }
    handoffs
        .iter()
        .filter_map(|h| h.steps.get(&Step::Drained).map(|at| (h.id.clone(), *at)))
        .max_by_key(|(_, at)| *at)
        .map(|(id, at)| (id, (now - at).max(0)))
}

/// The failure note a standby writes on the handoff record when it refuses to promote.
pub fn failure_note(why: &str, fallback: Option<&(String, i64)>) -> String {
    match fallback {
        Some((id, 0)) => format!("{why}; the complete backup of {id} is the fallback (data-loss window 0 s)"),
        Some((id, w)) => format!("{why}; fallback: the backup of {id}, data-loss window {w} s"),
        None => format!("{why}; no complete backup exists to fall back to"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::record::tests::record;
    use crate::handoff::record::Cause;

    #[test]
    fn placements_are_tried_best_first_until_one_launches_or_a_real_error_stops() {
        let refused = || LaunchResult::of_error(Some("InsufficientInstanceCapacity"));
        assert_eq!(next_launch(&[], 3), NextLaunch::Try(0));
        assert_eq!(next_launch(&[refused()], 3), NextLaunch::Try(1));
        assert_eq!(next_launch(&[refused(), LaunchResult::Launched], 3), NextLaunch::Launched(1));
        assert_eq!(
            next_launch(&[refused(), LaunchResult::of_error(Some("InvalidGroup.NotFound"))], 3),
            NextLaunch::Stop(1)
        );
        assert_eq!(next_launch(&[refused(), refused(), refused()], 3), NextLaunch::NoCapacity);
        assert_eq!(next_launch(&[], 0), NextLaunch::NoCapacity);
        assert_eq!(LaunchResult::of_error(None), LaunchResult::Failed);
    }

    #[test]
    fn a_failed_handoff_falls_back_to_the_newest_complete_backup() {
        let p = record(3, "i-3");
        let mut older = Handoff::new(Cause::Relocation, &record(2, "i-2"), 100);
        older.reach(Step::Drained, 150);
        let mut failed = Handoff::new(Cause::Interruption, &p, 1000);
        let all = [older.clone(), failed.clone()];
        assert_eq!(fallback(&all, &failed.id, 1100), Some((older.id.clone(), 950)));
        failed.reach(Step::Drained, 1010);
        let all = [older, failed.clone()];
        assert_eq!(fallback(&all, &failed.id, 1100), Some((failed.id.clone(), 0)));
        assert_eq!(fallback(&[], "epoch-9", 5), None);
        assert!(failure_note("checksum mismatch in employees", None).contains("no complete backup"));
    }
}
