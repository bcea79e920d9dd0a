//! Fleet mode: spot workers in a primary region with a fallback region.
//!
//! The original toggled EventBridge rules on and off to remember whether it had failed over. Here
//! the state is explicit (`state/fleets/<name>.json`), and transitions are a pure function of the
//! state and one Auto Scaling launch event, so duplicate, late and out-of-order events are
//! harmless: an event id seen before changes nothing, and an event older than the last transition
//! cannot undo it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How many event ids a fleet state remembers for duplicate detection.
const REMEMBERED_EVENTS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The primary region launches; the fallback group holds no capacity.
    Normal,
    /// The primary region could not launch: the fallback group carries the load.
    FailedOver,
    /// The primary launches again: the fallback group shrinks step by step, then back to Normal.
    FailingBack,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetState {
    pub mode: Mode,
    /// Time (unix) of the event behind the last transition; older events cannot undo it.
    pub since_unix: i64,
    /// Ids of recent events, for duplicate detection.
    pub seen: BTreeSet<String>,
}

impl Default for FleetState {
    fn default() -> Self {
        FleetState { mode: Mode::Normal, since_unix: 0, seen: BTreeSet::new() }
    }
}

/// A launch result of the primary region's group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchEvent {
    pub id: String,
    pub time_unix: i64,
    pub success: bool,
}

/// What the fallback group should be set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub min: u32,
    pub max: u32,
    pub desired: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing changes, and why (duplicate, late, already in that mode).
    Unchanged(String),
    /// Move to the new state and set the fallback group's capacity.
    Transition { state: FleetState, fallback: Capacity },
}

/// Applies one launch event of the primary group. `fallback_desired` is the fallback group's
/// current desired capacity; `max_fallback` the env's cap.
pub fn on_launch_event(
    state: &FleetState,
    event: &LaunchEvent,
    fallback_desired: u32,
    max_fallback: u32,
) -> Decision {
    if state.seen.contains(&event.id) {
        return Decision::Unchanged(format!("event {} was handled before", event.id));
    }
    if event.time_unix < state.since_unix {
        return Decision::Unchanged(format!(
            "event {} (at {}) is older than the last transition (at {}): a late delivery",
            event.id, event.time_unix, state.since_unix
        ));
    }
    let remember = |mode: Mode| {
        let mut seen = state.seen.clone();
        seen.insert(event.id.clone());
        while seen.len() > REMEMBERED_EVENTS {
            let Some(first) = seen.iter().next().cloned() else { break };
            seen.remove(&first);
        }
        FleetState { mode, since_unix: event.time_unix, seen }
    };
    match (state.mode, event.success) {
        (Mode::Normal | Mode::FailingBack, false) => Decision::Transition {
            state: remember(Mode::FailedOver),
            // At least one worker at once; target tracking on the visible count takes it from there.
            fallback: Capacity {
                min: 1,
                max: max_fallback,
                desired: fallback_desired.max(1).min(max_fallback),
            },
        },
        (Mode::FailedOver, true) => Decision::Transition {
            state: remember(Mode::FailingBack),
            fallback: drain_step(fallback_desired, max_fallback),
        },
        (Mode::FailedOver, false) => Decision::Unchanged("already failed over".into()),
        (Mode::Normal, true) => Decision::Unchanged("the primary launches; nothing to fail back".into()),
        (Mode::FailingBack, true) => Decision::Unchanged("already failing back".into()),
    }
}

/// One step of the gradual failback: halve the fallback group (rounding down) with min 0, so
/// workers leave as the primary region takes over, never all at once.
pub fn drain_step(fallback_desired: u32, max_fallback: u32) -> Capacity {
    Capacity { min: 0, max: max_fallback, desired: fallback_desired / 2 }
}

/// Run on every scheduled tick: while failing back, keep shrinking; at zero, back to Normal.
pub fn on_tick(state: &FleetState, fallback_desired: u32, max_fallback: u32, now_unix: i64) -> Decision {
    match state.mode {
        Mode::FailingBack if fallback_desired == 0 => Decision::Transition {
            state: FleetState {
                mode: Mode::Normal,
                since_unix: now_unix.max(state.since_unix),
                seen: state.seen.clone(),
            },
            fallback: Capacity { min: 0, max: 0, desired: 0 },
        },
        Mode::FailingBack => Decision::Transition {
            state: state.clone(),
            fallback: drain_step(fallback_desired, max_fallback),
        },
        _ => Decision::Unchanged("nothing to drain".into()),
    }
}

/// The scaling metric of the primary group: visible messages per in-service instance. With no
/// instance in service the whole backlog counts as one instance's, so the group scales out.
pub fn backlog_per_instance(messages: u64, in_service: u64) -> f64 {
    messages as f64 / in_service.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, t: i64, success: bool) -> LaunchEvent {
        LaunchEvent { id: id.into(), time_unix: t, success }
    }

    fn apply(state: &FleetState, d: Decision) -> (FleetState, Option<Capacity>) {
        match d {
            Decision::Transition { state, fallback } => (state, Some(fallback)),
            Decision::Unchanged(_) => (state.clone(), None),
        }
    }

    #[test]
    fn failover_then_gradual_failback() {
        let s0 = FleetState::default();
        let (s1, cap) = apply(&s0, on_launch_event(&s0, &ev("a", 10, false), 0, 50));
        assert_eq!(s1.mode, Mode::FailedOver);
        assert_eq!(cap, Some(Capacity { min: 1, max: 50, desired: 1 }));
        let (s2, cap) = apply(&s1, on_launch_event(&s1, &ev("b", 20, true), 8, 50));
        assert_eq!(s2.mode, Mode::FailingBack);
        assert_eq!(cap, Some(Capacity { min: 0, max: 50, desired: 4 }));
        let (s3, cap) = apply(&s2, on_tick(&s2, 4, 50, 30));
        assert_eq!((s3.mode, cap.map(|c| c.desired)), (Mode::FailingBack, Some(2)));
        let (s4, cap) = apply(&s3, on_tick(&s3, 0, 50, 40));
        assert_eq!((s4.mode, cap.map(|c| c.max)), (Mode::Normal, Some(0)));
    }

    #[test]
    fn duplicates_and_late_events_change_nothing() {
        let s0 = FleetState::default();
        let (s1, _) = apply(&s0, on_launch_event(&s0, &ev("a", 10, false), 0, 50));
        assert!(matches!(on_launch_event(&s1, &ev("a", 10, false), 1, 50), Decision::Unchanged(_)));
        // A success that happened before the failure arrives late: it must not fail back.
        assert!(matches!(on_launch_event(&s1, &ev("old", 5, true), 1, 50), Decision::Unchanged(_)));
        assert!(matches!(on_launch_event(&s1, &ev("c", 11, false), 1, 50), Decision::Unchanged(_)));
    }

    #[test]
    fn the_metric_is_messages_per_in_service_instance() {
        assert_eq!(backlog_per_instance(100, 4), 25.0);
        assert_eq!(backlog_per_instance(30, 0), 30.0);
        assert_eq!(backlog_per_instance(0, 3), 0.0);
    }

    #[test]
    fn the_memory_of_events_is_bounded() {
        let mut s = FleetState::default();
        for i in 0..200 {
            let success = i % 2 == 1;
            if let Decision::Transition { state, .. } =
                on_launch_event(&s, &ev(&format!("e{i:03}"), i, success), 2, 10)
            {
                s = state;
            }
        }
        assert!(s.seen.len() <= REMEMBERED_EVENTS);
    }
}
