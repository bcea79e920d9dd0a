//! Fleet mode: spot workers in a primary region with a fallback region.
//!
//! The original toggled EventBridge rules on and off to remember whether it had failed over. Here
//! the state is explicit (`state/fleets/<name>.json`), and transitions are a pure function of the
//! state and one Auto Scaling launch event, so duplicate, late and out-of-order events are
//! harmless: an event id seen before changes nothing, and an event older than the last transition
//! cannot undo it.
//!
//! Failover happens at the first failed launch. Failback is gradual at the pace of
//! [`crate::fleet::failback`]: the fallback group halves each tick but keeps one worker until the primary
//! has launched with no failure for the quiet period, then the fleet is back to `Normal`.

use super::failback::{learn, Failback, FailoverRules, SPELL_MIN_SECS};
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
    /// When the primary's current quiet spell began: its first launch success since its newest
    /// failure (`None` right after a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_since_unix: Option<i64>,
    /// The adaptive failback's learned quiet period (`None` before any quiet spell has ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_quiet_secs: Option<i64>,
}

impl Default for FleetState {
    fn default() -> Self {
        FleetState {
            mode: Mode::Normal,
            since_unix: 0,
            newest_event_unix: 0,
            seen: BTreeSet::new(),
            quiet_since_unix: None,
            learned_quiet_secs: None,
        }
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
/// capacity; `rules` the env's cap and failback pace (a bare `max_fallback` means the default pace).
pub fn on_launch_event(
    state: &FleetState,
    event: &LaunchEvent,
    fallback: Capacity,
    rules: impl Into<FailoverRules>,
) -> Decision {
    let rules = rules.into();
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
    let mut seen = state.seen.clone();
    seen.insert(event.id.clone());
    while seen.len() > REMEMBERED_EVENTS {
        let Some(first) = seen.iter().next().cloned() else { break };
        seen.remove(&first);
    }
    // Whatever the mode, the event tells when the primary's quiet spell began or ended.
    let (quiet_since_unix, learned_quiet_secs) = if event.success {
        (Some(state.quiet_since_unix.unwrap_or(event.time_unix)), state.learned_quiet_secs)
    } else {
        let learned = match (rules.failback, state.quiet_since_unix) {
            (Failback::Adaptive, Some(since)) if event.time_unix - since >= SPELL_MIN_SECS => {
                let current = rules.failback.quiet_secs(state.learned_quiet_secs).unwrap_or_default();
                Some(learn(current, event.time_unix - since))
            }
            _ => state.learned_quiet_secs,
        };
        (None, learned)
    };
    let next = FleetState {
        mode: state.mode,
        since_unix: state.since_unix,
        newest_event_unix: event.time_unix,
        seen,
        quiet_since_unix,
        learned_quiet_secs,
    };
    let to = |mode: Mode| FleetState { mode, since_unix: event.time_unix, ..next.clone() };
    let note = |why: &str| Decision::Remember { state: next.clone(), why: why.to_string() };
    match (state.mode, event.success, rules.failback) {
        (Mode::Normal | Mode::FailingBack, false, _) => Decision::Transition {
            state: to(Mode::FailedOver),
            // At least one worker at once; target tracking on the visible count takes it from there.
            fallback: fallback_for(Mode::FailedOver, fallback, rules.max_fallback),
        },
        (Mode::FailedOver | Mode::FailingBack, true, Failback::Immediate) => Decision::Transition {
            state: to(Mode::Normal),
            fallback: Capacity { min: 0, max: 0, desired: 0 },
        },
        // A partial launch reports its failures right after its successes: the failback waits
        // for a tick to find the primary still quiet.
        (Mode::FailedOver, true, _) => {
            note("the primary launches again; the failback starts at the next tick")
        }
        (Mode::FailedOver, false, _) => note("already failed over"),
        (Mode::Normal, true, _) => note("the primary launches; nothing to fail back"),
        (Mode::FailingBack, true, _) => note("already failing back"),
    }
}

/// One step of the gradual failback: halve the fallback group (rounding down) but not below
/// `floor`, and hold its maximum there so that its scaling policy cannot grow it back meanwhile.
pub fn drain_step(fallback_desired: u32, floor: u32) -> Capacity {
    let d = (fallback_desired / 2).max(floor);
    Capacity { min: floor, max: d, desired: d }
}

/// Run on every scheduled tick (once a minute). Failed over with the primary quiet since the last
/// event: start failing back. Failing back: shrink one step, keeping one worker until the primary
/// has been quiet for the failback's quiet period; at zero, back to `Normal`. Otherwise, put the
/// fallback group back to what the mode says if it drifted (a crash between the group update and
/// the state write, or a hand edit).
pub fn on_tick(
    state: &FleetState,
    fallback: Capacity,
    rules: impl Into<FailoverRules>,
    now_unix: i64,
) -> Decision {
    let rules = rules.into();
    let quiet = rules.failback.quiet_secs(state.learned_quiet_secs);
    let to = |mode: Mode| FleetState { mode, since_unix: now_unix.max(state.since_unix), ..state.clone() };
    // One worker stays while the primary's quiet spell is younger than the quiet period.
    let floor = match (state.quiet_since_unix, quiet) {
        (Some(since), Some(q)) if now_unix - since < q => 1.min(rules.max_fallback),
        _ => 0,
    };
    match (state.mode, state.quiet_since_unix, quiet) {
        (Mode::FailedOver | Mode::FailingBack, Some(_), None) => Decision::Transition {
            state: to(Mode::Normal),
            fallback: Capacity { min: 0, max: 0, desired: 0 },
        },
        (Mode::FailedOver, Some(_), Some(_)) => Decision::Transition {
            state: to(Mode::FailingBack),
            fallback: drain_step(fallback.desired, floor),
        },
        (Mode::FailingBack, _, _) if fallback.desired == 0 && floor == 0 => Decision::Transition {
            state: to(Mode::Normal),
            fallback: Capacity { min: 0, max: 0, desired: 0 },
        },
        (Mode::FailingBack, _, _) => {
            let want = drain_step(fallback.desired, floor);
            if want == fallback {
                Decision::Unchanged(
                    "failing back: one worker stays until the primary has been quiet long enough".into(),
                )
            } else {
                Decision::Transition { state: state.clone(), fallback: want }
            }
        }
        (mode, _, _) => {
            let want = fallback_for(mode, fallback, rules.max_fallback);
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

    fn after(quiet_secs: u32) -> FailoverRules {
        FailoverRules { max_fallback: 50, failback: Failback::After { quiet_secs } }
    }

    #[test]
    fn failover_then_gradual_failback() {
        let s0 = FleetState::default();
        let (s1, c) = apply(&s0, on_launch_event(&s0, &ev("a", 10, false), cap(0, 0, 0), 50));
        assert_eq!(s1.mode, Mode::FailedOver);
        assert_eq!(c, Some(cap(1, 50, 1)));
        // The success is remembered; the next tick finds the primary still quiet and fails back.
        let (s2, c) = apply(&s1, on_launch_event(&s1, &ev("b", 20, true), cap(1, 50, 8), after(0)));
        assert_eq!((s2.mode, c, s2.quiet_since_unix), (Mode::FailedOver, None, Some(20)));
        let (s3, c) = apply(&s2, on_tick(&s2, cap(1, 50, 8), after(0), 60));
        assert_eq!((s3.mode, c), (Mode::FailingBack, Some(cap(0, 4, 4))));
        let (s4, c) = apply(&s3, on_tick(&s3, cap(0, 4, 4), after(0), 120));
        assert_eq!((s4.mode, c), (Mode::FailingBack, Some(cap(0, 2, 2))));
        let (s5, c) = apply(&s4, on_tick(&s4, cap(0, 0, 0), after(0), 180));
        assert_eq!((s5.mode, c), (Mode::Normal, Some(cap(0, 0, 0))));
        assert!(matches!(on_tick(&s5, cap(0, 0, 0), after(0), 240), Decision::Unchanged(_)));
    }

    #[test]
    fn one_worker_stays_until_the_primary_has_been_quiet_for_the_quiet_period() {
        let failed = FleetState { mode: Mode::FailedOver, ..FleetState::default() };
        let (s, _) =
            apply(&failed, on_launch_event(&failed, &ev("ok", 1000, true), cap(1, 50, 6), after(600)));
        let (s, c) = apply(&s, on_tick(&s, cap(1, 50, 6), after(600), 1060));
        assert_eq!((s.mode, c), (Mode::FailingBack, Some(cap(1, 3, 3))));
        let (s, c) = apply(&s, on_tick(&s, cap(1, 3, 3), after(600), 1120));
        assert_eq!(c, Some(cap(1, 1, 1)));
        assert!(matches!(on_tick(&s, cap(1, 1, 1), after(600), 1599), Decision::Unchanged(_)));
        let (s, c) = apply(&s, on_tick(&s, cap(1, 1, 1), after(600), 1600));
        assert_eq!((s.mode, c), (Mode::FailingBack, Some(cap(0, 0, 0))));
        let (s, c) = apply(&s, on_tick(&s, cap(0, 0, 0), after(600), 1660));
        assert_eq!((s.mode, c), (Mode::Normal, Some(cap(0, 0, 0))));
        // A failure while failing back fails over again at once, keeping what is left.
        let back =
            FleetState { mode: Mode::FailingBack, quiet_since_unix: Some(1000), ..FleetState::default() };
        let (s, c) = apply(&back, on_launch_event(&back, &ev("no", 1100, false), cap(1, 1, 1), after(600)));
        assert_eq!((s.mode, c, s.quiet_since_unix), (Mode::FailedOver, Some(cap(1, 50, 1)), None));
    }

    #[test]
    fn a_partial_launch_does_not_start_the_failback() {
        let failed = FleetState { mode: Mode::FailedOver, ..FleetState::default() };
        let (s, _) = apply(&failed, on_launch_event(&failed, &ev("ok", 100, true), cap(1, 50, 4), 50));
        let (s, _) = apply(&s, on_launch_event(&s, &ev("no", 100, false), cap(1, 50, 4), 50));
        assert_eq!((s.mode, s.quiet_since_unix), (Mode::FailedOver, None));
        assert!(matches!(on_tick(&s, cap(1, 50, 4), 50, 120), Decision::Unchanged(_)));
    }

    #[test]
    fn the_immediate_failback_empties_the_fallback_at_the_first_success() {
        let rules = FailoverRules { max_fallback: 50, failback: Failback::Immediate };
        let s0 = FleetState::default();
        let (s1, _) = apply(&s0, on_launch_event(&s0, &ev("a", 10, false), cap(0, 0, 0), rules));
        let (s2, c) = apply(&s1, on_launch_event(&s1, &ev("b", 20, true), cap(1, 50, 8), rules));
        assert_eq!((s2.mode, c), (Mode::Normal, Some(cap(0, 0, 0))));
    }

    #[test]
    fn the_adaptive_quiet_period_learns_from_ended_spells_only() {
        let s = FleetState { mode: Mode::FailedOver, ..FleetState::default() };
        let (s, _) = apply(&s, on_launch_event(&s, &ev("ok1", 0, true), cap(1, 50, 1), 50));
        // A spell of 2000 s, longer than the starting 600 s: up 3.5 %.
        let (s, _) = apply(&s, on_launch_event(&s, &ev("no1", 2000, false), cap(1, 50, 1), 50));
        assert_eq!(s.learned_quiet_secs, Some(621));
        // A success and a failure 30 s apart are one partial launch: nothing learned.
        let (s, _) = apply(&s, on_launch_event(&s, &ev("ok2", 2100, true), cap(1, 50, 1), 50));
        let (s, _) = apply(&s, on_launch_event(&s, &ev("no2", 2130, false), cap(1, 50, 1), 50));
        assert_eq!(s.learned_quiet_secs, Some(621));
        // A spell of 100 s: down 6.5 %. The next tick holds one worker for the learned 581 s.
        let (s, _) = apply(&s, on_launch_event(&s, &ev("ok3", 2200, true), cap(1, 50, 1), 50));
        let (s, _) = apply(&s, on_launch_event(&s, &ev("no3", 2300, false), cap(1, 50, 1), 50));
        assert_eq!(s.learned_quiet_secs, Some(581));
        let (s, _) = apply(&s, on_launch_event(&s, &ev("ok4", 3000, true), cap(1, 50, 2), 50));
        let (s, c) = apply(&s, on_tick(&s, cap(1, 50, 2), 50, 3580));
        assert_eq!((s.mode, c), (Mode::FailingBack, Some(cap(1, 1, 1))));
        assert_eq!(apply(&s, on_tick(&s, cap(1, 1, 1), 50, 3581)).1, Some(cap(0, 0, 0)));
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
        // Whatever the order of delivery, the fleet is failed over after the next tick exactly
        // when the newest event says the primary could not launch.
        let run = |events: &[LaunchEvent]| {
            let mut s = FleetState::default();
            for e in events {
                s = apply(&s, on_launch_event(&s, e, cap(1, 50, 4), 50)).0;
            }
            // A success leaves FailedOver at the next tick.
            apply(&s, on_tick(&s, cap(1, 50, 4), 50, 100)).0.mode
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
