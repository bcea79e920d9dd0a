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
    /// Time (unix) of the last transition.
    pub since_unix: i64,
    /// Time (unix) of the newest launch event seen, transition or not: an older event is late
    /// news (the primary launched, or failed, after it) and changes nothing.
    #[serde(default)]
    pub newest_event_unix: i64,
    /// Ids of recent events, for duplicate detection.
    pub seen: BTreeSet<String>,
}

impl Default for FleetState {
    fn default() -> Self {
        FleetState { mode: Mode::Normal, since_unix: 0, newest_event_unix: 0, seen: BTreeSet::new() }
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
    /// Nothing changes, and why (duplicate, late).
    Unchanged(String),
    /// The mode stays, but the event is remembered (its id, its time), and why.
    Remember { state: FleetState, why: String },
    /// Move to the new state and set the fallback group's capacity.
    Transition { state: FleetState, fallback: Capacity },
}

/// Which of a fleet's two groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Primary,
    Fallback,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::Primary, Side::Fallback];

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Primary => "primary",
            Side::Fallback => "fallback",
        }
    }
}

/// What the fallback group holds in each mode: nothing in `Normal` (its scaling policy cannot add
/// anything while its maximum is 0), at least one worker and up to the cap when failed over.
pub fn fallback_for(mode: Mode, current: Capacity, max_fallback: u32) -> Capacity {
    match mode {
        Mode::Normal => Capacity { min: 0, max: 0, desired: 0 },
        Mode::FailedOver => Capacity {
            min: 1.min(max_fallback),
            max: max_fallback,
            desired: current.desired.max(1).min(max_fallback),
        },
        // Never grows while failing back: the maximum follows the shrinking desired count.
        Mode::FailingBack => {
            let d = current.desired.min(max_fallback);
            Capacity { min: 0, max: d, desired: d }
        }
    }
}

/// Applies one launch event of the primary group. `fallback` is the fallback group's current
/// capacity; `max_fallback` the env's cap.
pub fn on_launch_event(
    state: &FleetState,
    event: &LaunchEvent,
    fallback: Capacity,
    max_fallback: u32,
) -> Decision {
    if state.seen.contains(&event.id) {
        return Decision::Unchanged(format!("event {} was handled before", event.id));
    }
    // Only events are news about the primary; a tick's transition time is not.
    let newest = state.newest_event_unix;
    if event.time_unix < newest {
        return Decision::Unchanged(format!(
            "event {} (at {}) is older than the newest one seen (at {newest}): late news",
            event.id, event.time_unix
        ));
    }
    let memory = || {
        let mut seen = state.seen.clone();
        seen.insert(event.id.clone());
        while seen.len() > REMEMBERED_EVENTS {
            let Some(first) = seen.iter().next().cloned() else { break };
            seen.remove(&first);
        }
        seen
    };
    let remember = |mode: Mode| FleetState {
        mode,
        since_unix: event.time_unix,
        newest_event_unix: event.time_unix,
        seen: memory(),
    };
    let note = |why: &str| Decision::Remember {
        state: FleetState { newest_event_unix: event.time_unix, seen: memory(), ..state.clone() },
        why: why.to_string(),
    };
    match (state.mode, event.success) {
        (Mode::Normal | Mode::FailingBack, false) => Decision::Transition {
            state: remember(Mode::FailedOver),
            // At least one worker at once; target tracking on the visible count takes it from there.
            fallback: fallback_for(Mode::FailedOver, fallback, max_fallback),
        },
        (Mode::FailedOver, true) => Decision::Transition {
            state: remember(Mode::FailingBack),
            fallback: drain_step(fallback.desired),
        },
        (Mode::FailedOver, false) => note("already failed over"),
        (Mode::Normal, true) => note("the primary launches; nothing to fail back"),
        (Mode::FailingBack, true) => note("already failing back"),
    }
}

/// One step of the gradual failback: halve the fallback group (rounding down), and hold its
/// maximum there so that its scaling policy cannot grow it back meanwhile.
pub fn drain_step(fallback_desired: u32) -> Capacity {
    let d = fallback_desired / 2;
    Capacity { min: 0, max: d, desired: d }
}

/// Run on every scheduled tick (once a minute): while failing back, shrink one step; at zero,
/// back to `Normal`. In the other modes, put the fallback group back to what the mode says if
/// it drifted (a crash between the group update and the state write, or a hand edit).
pub fn on_tick(state: &FleetState, fallback: Capacity, max_fallback: u32, now_unix: i64) -> Decision {
    match state.mode {
        Mode::FailingBack if fallback.desired == 0 => Decision::Transition {
            state: FleetState {
                mode: Mode::Normal,
                since_unix: now_unix.max(state.since_unix),
                ..state.clone()
            },
            fallback: Capacity { min: 0, max: 0, desired: 0 },
        },
        Mode::FailingBack => {
            Decision::Transition { state: state.clone(), fallback: drain_step(fallback.desired) }
        }
        mode => {
            let want = fallback_for(mode, fallback, max_fallback);
            if want == fallback {
                Decision::Unchanged(format!("{mode:?}: the fallback group is as it should be"))
            } else {
                Decision::Transition { state: state.clone(), fallback: want }
            }
        }
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
            Decision::Remember { state, .. } => (state, None),
            Decision::Unchanged(_) => (state.clone(), None),
        }
    }

    fn cap(min: u32, max: u32, desired: u32) -> Capacity {
        Capacity { min, max, desired }
    }

    #[test]
    fn failover_then_gradual_failback() {
        let s0 = FleetState::default();
        let (s1, c) = apply(&s0, on_launch_event(&s0, &ev("a", 10, false), cap(0, 0, 0), 50));
        assert_eq!(s1.mode, Mode::FailedOver);
        assert_eq!(c, Some(cap(1, 50, 1)));
        let (s2, c) = apply(&s1, on_launch_event(&s1, &ev("b", 20, true), cap(1, 50, 8), 50));
        assert_eq!(s2.mode, Mode::FailingBack);
        assert_eq!(c, Some(cap(0, 4, 4)));
        let (s3, c) = apply(&s2, on_tick(&s2, cap(0, 4, 4), 50, 30));
        assert_eq!((s3.mode, c), (Mode::FailingBack, Some(cap(0, 2, 2))));
        let (s4, c) = apply(&s3, on_tick(&s3, cap(0, 0, 0), 50, 40));
        assert_eq!((s4.mode, c), (Mode::Normal, Some(cap(0, 0, 0))));
        assert!(matches!(on_tick(&s4, cap(0, 0, 0), 50, 50), Decision::Unchanged(_)));
    }

    #[test]
    fn duplicates_and_late_events_change_nothing() {
        let s0 = FleetState::default();
        let (s1, _) = apply(&s0, on_launch_event(&s0, &ev("a", 10, false), cap(0, 0, 0), 50));
        let now = cap(1, 50, 1);
        assert!(matches!(on_launch_event(&s1, &ev("a", 10, false), now, 50), Decision::Unchanged(_)));
        // A success that happened before the failure arrives late: it must not fail back.
        assert!(matches!(on_launch_event(&s1, &ev("old", 5, true), now, 50), Decision::Unchanged(_)));
        assert!(matches!(on_launch_event(&s1, &ev("c", 11, false), now, 50), Decision::Remember { .. }));
    }

    #[test]
    fn out_of_order_delivery_keeps_the_newest_news() {
        // The primary failed at 10, then launched at 20; EventBridge delivers 20 first.
        let s0 = FleetState::default();
        let (s1, c) = apply(&s0, on_launch_event(&s0, &ev("ok", 20, true), cap(0, 0, 0), 50));
        assert_eq!((s1.mode, c), (Mode::Normal, None));
        assert!(s1.seen.contains("ok"));
        let late = on_launch_event(&s1, &ev("fail", 10, false), cap(0, 0, 0), 50);
        assert!(matches!(late, Decision::Unchanged(_)), "{late:?}");
        // Whatever the order of delivery, the fleet is failed over exactly when the newest event
        // says the primary could not launch.
        let run = |events: &[LaunchEvent]| {
            let mut s = FleetState::default();
            for e in events {
                s = apply(&s, on_launch_event(&s, e, cap(1, 50, 4), 50)).0;
            }
            s.mode
        };
        for newest_fails in [false, true] {
            let events =
                [ev("a", 10, false), ev("b", 20, true), ev("c", 30, false), ev("d", 40, !newest_fails)];
            for order in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 0, 3, 2], [2, 3, 0, 1], [0, 2, 1, 3]] {
                let delivered: Vec<LaunchEvent> = order.iter().map(|&i| events[i].clone()).collect();
                assert_eq!(run(&delivered) == Mode::FailedOver, newest_fails, "order {order:?}");
            }
        }
    }

    #[test]
    fn a_tick_repairs_drift_and_the_fallback_never_grows_while_failing_back() {
        let failed = FleetState { mode: Mode::FailedOver, ..FleetState::default() };
        // A crash after the state write left the group at zero: the tick puts one worker back.
        assert_eq!(apply(&failed, on_tick(&failed, cap(0, 0, 0), 50, 1)).1, Some(cap(1, 50, 1)));
        let normal = FleetState::default();
        assert_eq!(apply(&normal, on_tick(&normal, cap(0, 50, 3), 50, 1)).1, Some(cap(0, 0, 0)));
        let back = FleetState { mode: Mode::FailingBack, ..FleetState::default() };
        let mut c = cap(0, 9, 9);
        let mut seen = vec![c.desired];
        while let (s, Some(next)) = apply(&back, on_tick(&back, c, 50, 1)) {
            assert!(next.max <= c.desired && next.desired <= next.max);
            c = next;
            seen.push(c.desired);
            if s.mode == Mode::Normal {
                break;
            }
        }
        assert_eq!(seen, [9, 4, 2, 1, 0, 0]);
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
            match on_launch_event(&s, &ev(&format!("e{i:03}"), i, success), cap(1, 10, 2), 10) {
                Decision::Transition { state, .. } | Decision::Remember { state, .. } => s = state,
                Decision::Unchanged(_) => {}
            }
        }
        assert!(s.seen.len() <= REMEMBERED_EVENTS);
    }
}
