//! When a handoff cannot go as planned: the next placement when capacity is refused, and the backup
//! to fall back to (with its data-loss window) when a standby cannot verify.

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

/// A complete backup (its manifest exists): the handoff that drained it, and when the drain
/// completed, if known (manifests written before that was recorded do not say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub id: String,
    pub completed_unix: Option<i64>,
}

/// What a lost or failed epoch falls back to: `newest`, the newest complete backup, with the
/// data-loss window that means at `now` in seconds — zero when it is `own`, the epoch's own drain
/// (its primary was fenced before it, so nothing was written after), unknown when its completion
/// time is. `None` when no complete backup exists at all.
pub fn fallback(newest: Option<&Backup>, own: &str, now: i64) -> Option<(String, Option<i64>)> {
    let b = newest?;
    let window = if b.id == own { Some(0) } else { b.completed_unix.map(|t| (now - t).max(0)) };
    Some((b.id.clone(), window))
}

/// A data-loss window in words.
pub fn window_text(window: Option<i64>) -> String {
    match window {
        Some(w) => format!("{w} s"),
        None => "unknown".into(),
    }
}

/// The failure note written on a handoff record: why, and the backup to fall back to.
pub fn failure_note(why: &str, fallback: Option<&(String, Option<i64>)>) -> String {
    match fallback {
        Some((id, Some(0))) => {
            format!("{why}; the complete backup of {id} is the fallback (data-loss window 0 s)")
        }
        Some((id, w)) => format!("{why}; fallback: the backup of {id}, data-loss window {}", window_text(*w)),
        None => format!("{why}; no complete backup exists to fall back to"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let older = Backup { id: "epoch-2".into(), completed_unix: Some(150) };
        assert_eq!(fallback(Some(&older), "epoch-3", 1100), Some(("epoch-2".into(), Some(950))));
        let own = Backup { id: "epoch-3".into(), completed_unix: None };
        assert_eq!(fallback(Some(&own), "epoch-3", 1100), Some(("epoch-3".into(), Some(0))));
        let undated = Backup { id: "epoch-2".into(), completed_unix: None };
        assert_eq!(fallback(Some(&undated), "epoch-3", 1100), Some(("epoch-2".into(), None)));
        assert_eq!(fallback(None, "epoch-9", 5), None);
        assert!(failure_note("checksum mismatch in employees", None).contains("no complete backup"));
        assert!(failure_note("x", Some(&("epoch-2".into(), None))).ends_with("data-loss window unknown"));
    }
}
