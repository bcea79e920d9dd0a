//! The fleet replay: a `[[fleet]]` on availability traces, with its failover decided by the real
//! state machine (`core::fleet`).
//!
//! Every step of the traces the fleet wants `want` workers. The primary group holds what its
//! region offers, up to `want` (and its `max_primary`); the fallback is asked for the rest. An
//! instance launched in a step serves from the next. When the group
//! launches something that step is a "launch successful" event; when it is still short (the region
//! refused the rest) a "launch unsuccessful" one follows, so the newest news of a partial launch is
//! its failure. The events go to `on_launch_event`, and `on_tick` runs once a minute of trace time,
//! as the handler's schedule does. The fallback group is modelled in `group`.
//!
//! Policies: `spotctl` (the fleet's own failback pace), `naive` (the same machine with the seed's
//! immediate failback), `primary-only` (no fallback at all) and `oracle` (the fallback holds exactly
//! what would serve, launched one step ahead, with hindsight: the most any policy could serve, at
//! the least fallback worker-hours). A transition is a failover (the fallback region switched on)
//! or a failback (switched off); `mode_changes` also counts the moves between failed over and
//! failing back, during which the fallback keeps workers.

use super::baselines::{count, oracle, primary_only, Input, Tally};
use super::error::ReplayError;
use super::figures::{round, PolicyName};
use super::group::FallbackGroup;
use super::span::{span, Span};
use super::traces::Traces;
use crate::config::{EnvFile, Fleet};
use crate::fleet::failback::{Failback, FailoverRules};
use crate::fleet::{on_launch_event, on_tick, Decision, FleetState, LaunchEvent, Mode};
use serde::Serialize;
use std::collections::BTreeMap;

/// The handler's schedule: one tick a minute.
const TICK_SECS: i64 = 60;

/// The fleet as replayed (`fleet` in the JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetSetup {
    pub name: String,
    pub primary_region: String,
    pub fallback_region: String,
    /// Workers wanted every step.
    pub want: u32,
    pub max_fallback: u32,
    /// The `spotctl` policy's pace, as the env file writes it.
    pub failback: String,
}

/// One policy's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetOutcome {
    pub name: PolicyName,
    /// Worker-steps served ÷ worker-steps wanted.
    pub served_fraction: f64,
    /// Failovers and failbacks per day.
    pub transitions_per_day: f64,
    /// Worker-hours the fallback group ran (booting ones, and its minimum while on, included).
    pub fallback_worker_hours: f64,
    /// Worker-hours each region ran.
    pub worker_hours_by_region: BTreeMap<String, f64>,
    /// Hours with the fallback region switched on.
    pub hours_on_fallback: f64,
    pub failovers: u32,
    pub failbacks: u32,
    /// Every change of mode, failing back and failing over again included, per day.
    pub mode_changes_per_day: f64,
}

/// The goals of the `spotctl` policy against the others (a ratio is `null` when its divisor is 0
/// and its dividend is not).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetGoals {
    /// spotctl's served fraction ÷ oracle's; at least 0.98.
    pub served_vs_oracle: Option<f64>,
    /// spotctl's transitions ÷ naive's; at most 0.5.
    pub transitions_vs_naive: Option<f64>,
    /// spotctl's fallback worker-hours ÷ naive's; at most 1.25.
    pub fallback_worker_hours_vs_naive: Option<f64>,
    pub met: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetReplay {
    pub traces: Span,
    pub fleet: FleetSetup,
    pub policies: Vec<FleetOutcome>,
    pub goals: FleetGoals,
}

/// The env's fleet named `name`, or its only one.
pub fn select<'e>(env: &'e EnvFile, name: Option<&str>) -> Result<&'e Fleet, ReplayError> {
    let names = || env.fleet.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
    match (name, env.fleet.as_slice()) {
        (_, []) => Err(ReplayError::NoFleet),
        (None, [only]) => Ok(only),
        (None, _) => Err(ReplayError::WhichFleet { names: names() }),
        (Some(n), fleets) => fleets
            .iter()
            .find(|f| f.name == n)
            .ok_or_else(|| ReplayError::UnknownFleet { name: n.to_string(), names: names() }),
    }
}

/// Replays the env's fleet (`fleet`, or its only one) wanting `want` workers (by default its
/// `max_primary`, capped by the most its primary region's traces ever offer).
pub fn replay_fleet(
    env: &EnvFile,
    traces: &Traces,
    fleet: Option<&str>,
    want: Option<u32>,
) -> Result<FleetReplay, ReplayError> {
    let f = select(env, fleet)?;
    let covered =
        span(traces, &[(&f.primary_region, "primary region"), (&f.fallback_region, "fallback region")])?;
    let series = |r: &str| traces.regions.get(r).map(|s| &s[..covered.steps]).unwrap_or_default();
    let (primary, fallback) = (series(&f.primary_region), series(&f.fallback_region));
    let want = match want {
        Some(w) => w,
        None => f.max_primary.min(primary.iter().copied().max().unwrap_or(0)),
    };
    if want == 0 {
        return Err(ReplayError::NothingWanted { region: f.primary_region.clone() });
    }
    let input = Input {
        primary,
        fallback,
        want,
        max_primary: f.max_primary,
        max_fallback: f.max_fallback,
        gap: i64::from(traces.gap_seconds),
    };
    let runs = [
        (PolicyName::Spotctl, machine(&input, FailoverRules::from(f))),
        (
            PolicyName::Naive,
            machine(&input, FailoverRules { failback: Failback::Immediate, ..FailoverRules::from(f) }),
        ),
        (PolicyName::PrimaryOnly, primary_only(&input)),
        (PolicyName::Oracle, oracle(&input)),
    ];
    let policies: Vec<FleetOutcome> =
        runs.iter().map(|(name, t)| outcome(*name, t, &input, f, covered.steps)).collect();
    let goals = goals(&policies);
    let fleet = FleetSetup {
        name: f.name.clone(),
        primary_region: f.primary_region.clone(),
        fallback_region: f.fallback_region.clone(),
        want,
        max_fallback: f.max_fallback,
        failback: f.failback.to_string(),
    };
    Ok(FleetReplay { traces: covered, fleet, policies, goals })
}

/// The real state machine with `rules`, fed this model's launch events and ticks.
fn machine(input: &Input<'_>, rules: FailoverRules) -> Tally {
    let mut t = Tally::default();
    let mut state = FleetState::default();
    let mut group = FallbackGroup::new(input.gap as u32);
    let mut held = 0u32;
    let mut next_tick = 0i64;
    for (step, (&supply, &fallback_supply)) in input.primary.iter().zip(input.fallback).enumerate() {
        let now = step as i64 * input.gap;
        let serving = held.min(supply);
        let target = input.primary_target(supply);
        let launched = target > serving;
        held = target;
        let mut apply = |d: Decision, state: &mut FleetState, group: &mut FallbackGroup| match d {
            Decision::Transition { state: next, fallback } => {
                count(&mut t, state.mode, next.mode);
                *state = next;
                group.capacity = fallback;
            }
            Decision::Remember { state: next, .. } => *state = next,
            Decision::Unchanged(_) => {}
        };
        let short = target < input.want.min(input.max_primary);
        for (success, happened) in [(true, launched), (false, short)] {
            if happened {
                let event = LaunchEvent { id: format!("{step}-{success}"), time_unix: now, success };
                let d = on_launch_event(&state, &event, group.capacity, rules);
                apply(d, &mut state, &mut group);
            }
        }
        group.track(input.want - target);
        while next_tick < now + input.gap {
            let d = on_tick(&state, group.capacity, rules, next_tick);
            apply(d, &mut state, &mut group);
            next_tick += TICK_SECS;
        }
        let fallback_serving = group.step(fallback_supply);
        t.served += u64::from(input.want.min(serving + fallback_serving));
        t.primary_held += u64::from(held);
        t.fallback_held += u64::from(group.held);
        t.fallback_on += u64::from(state.mode != Mode::Normal);
    }
    t
}

fn outcome(name: PolicyName, t: &Tally, input: &Input<'_>, f: &Fleet, steps: usize) -> FleetOutcome {
    let hours = |steps: u64| round(steps as f64 * input.gap as f64 / 3600.0, 3);
    let days = steps as f64 * input.gap as f64 / 86_400.0;
    let per_day = |n: u32| round(if days > 0.0 { f64::from(n) / days } else { 0.0 }, 4);
    let wanted = u64::from(input.want) * steps as u64;
    FleetOutcome {
        name,
        served_fraction: round(if wanted > 0 { t.served as f64 / wanted as f64 } else { 0.0 }, 6),
        transitions_per_day: per_day(t.failovers + t.failbacks),
        fallback_worker_hours: hours(t.fallback_held),
        worker_hours_by_region: BTreeMap::from([
            (f.primary_region.clone(), hours(t.primary_held)),
            (f.fallback_region.clone(), hours(t.fallback_held)),
        ]),
        hours_on_fallback: hours(t.fallback_on),
        failovers: t.failovers,
        failbacks: t.failbacks,
        mode_changes_per_day: per_day(t.mode_changes),
    }
}

fn goals(policies: &[FleetOutcome]) -> FleetGoals {
    let of = |n: PolicyName| policies.iter().find(|p| p.name == n);
    let ratio = |a: f64, b: f64| match (a, b) {
        (_, b) if b > 0.0 => Some(round(a / b, 4)),
        (a, _) if a > 0.0 => None,
        _ => Some(0.0),
    };
    let (s, naive, o) = (of(PolicyName::Spotctl), of(PolicyName::Naive), of(PolicyName::Oracle));
    let (Some(s), Some(naive), Some(o)) = (s, naive, o) else {
        return FleetGoals {
            served_vs_oracle: None,
            transitions_vs_naive: None,
            fallback_worker_hours_vs_naive: None,
            met: false,
        };
    };
    let served_vs_oracle = ratio(s.served_fraction, o.served_fraction);
    let transitions_vs_naive = ratio(s.transitions_per_day, naive.transitions_per_day);
    let fallback_worker_hours_vs_naive = ratio(s.fallback_worker_hours, naive.fallback_worker_hours);
    let within = |r: Option<f64>, ok: &dyn Fn(f64) -> bool| r.is_some_and(ok);
    FleetGoals {
        served_vs_oracle,
        transitions_vs_naive,
        fallback_worker_hours_vs_naive,
        met: within(served_vs_oracle, &|r| r >= 0.98)
            && within(transitions_vs_naive, &|r| r <= 0.5)
            && within(fallback_worker_hours_vs_naive, &|r| r <= 1.25),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{env, fleet, traces};
    use super::*;

    fn by_name(r: &FleetReplay, n: PolicyName) -> &FleetOutcome {
        r.policies.iter().find(|p| p.name == n).expect("every policy is replayed")
    }

    /// (served, transitions/day, fallback worker-h, hours on fallback, failovers, failbacks, mode changes/day)
    fn figures(o: &FleetOutcome) -> (f64, f64, f64, f64, u32, u32, f64) {
        (
            o.served_fraction,
            o.transitions_per_day,
            o.fallback_worker_hours,
            o.hours_on_fallback,
            o.failovers,
            o.failbacks,
            o.mode_changes_per_day,
        )
    }

    #[test]
    fn a_primary_gone_for_a_day_with_counts_above_one() {
        // Hour steps. The primary region offers 2 + 1 instances, then nothing for 24 hours; the
        // fallback offers 2, less than the 3 wanted.
        let gone = |n: u32| [vec![n; 2], vec![0; 24], vec![n; 2]].concat();
        let t = traces(
            3600,
            &[
                ("us-east-1a_a.json", &gone(2)),
                ("us-east-1b_b.json", &gone(1)),
                ("us-west-2a_a.json", &[2; 28]),
            ],
        );
        let r = replay_fleet(
            &env("[\"us-east-1\"]", &fleet("w", "us-east-1", "us-west-2", 10, 5)),
            &t,
            None,
            None,
        )
        .expect("replays");
        // want: max_primary 10 capped by the most the primary ever offers.
        assert_eq!((r.fleet.want, r.traces.steps), (3, 28));
        // Served: the primary's 3 in the hour before and after (a launch serves from the next
        // hour), the fallback's 2 for 23 of the 24 hours (its first hour it boots): 52 of 84.
        // The primary's return is a quiet spell longer than the quiet period within its first
        // hour, so spotctl fails back in that hour, as naive does (its workers serve no more).
        let spotctl = by_name(&r, PolicyName::Spotctl);
        assert_eq!(figures(spotctl), (0.619048, 1.7143, 48.0, 24.0, 1, 1, 2.5714));
        assert_eq!(figures(by_name(&r, PolicyName::Naive)), (0.619048, 1.7143, 48.0, 24.0, 1, 1, 1.7143));
        assert_eq!(spotctl.worker_hours_by_region["us-east-1"], 12.0);
        assert_eq!(spotctl.worker_hours_by_region["us-west-2"], 48.0);
        // The oracle launches a step ahead: 2 more served in the first hour without the primary
        // and 2 in the hour its instances boot again, for 52 fallback worker-hours over 26 hours.
        assert_eq!(figures(by_name(&r, PolicyName::Oracle)), (0.666667, 1.7143, 52.0, 26.0, 1, 1, 1.7143));
        assert_eq!(figures(by_name(&r, PolicyName::PrimaryOnly)), (0.071429, 0.0, 0.0, 0.0, 0, 0, 0.0));
        assert_eq!(r.goals.served_vs_oracle, Some(0.9286));
        assert_eq!(r.goals.transitions_vs_naive, Some(1.0));
        assert!(!r.goals.met);
    }

    #[test]
    fn a_flapping_primary_keeps_spotctl_failed_over_while_naive_flips_every_minute() {
        // Minute steps, the primary offering 2 then 0 in turn; the fallback 5.
        let flapping: Vec<u32> = (0..20).map(|i| if i % 2 == 0 { 2 } else { 0 }).collect();
        let t = traces(60, &[("us-east-1a_a.json", &flapping), ("us-west-2a_a.json", &[5; 20])]);
        let r = replay_fleet(
            &env("[\"us-east-1\"]", &fleet("w", "us-east-1", "us-west-2", 2, 5)),
            &t,
            None,
            None,
        )
        .expect("replays");
        // The primary's instances are gone before they serve. spotctl fails over once: each
        // minute's launch starts the failback down to its one held worker (the quiet spells, 60 s,
        // are far shorter than the learned quiet period) and the next minute's failure fails over
        // again; that worker serves every minute from the third on: 18 of 40. 19 mode changes in
        // 20 minutes, but the fallback region is never left.
        assert_eq!(figures(by_name(&r, PolicyName::Spotctl)), (0.45, 72.0, 0.483, 0.317, 1, 0, 1368.0));
        // naive empties the fallback at every launch and refills it at every failure: its
        // workers are always booting, and it serves nothing.
        assert_eq!(figures(by_name(&r, PolicyName::Naive)), (0.0, 1368.0, 0.333, 0.167, 10, 9, 1368.0));
        // The oracle keeps 2 from the first minute and serves them from the second: 38 of 40.
        assert_eq!(figures(by_name(&r, PolicyName::Oracle)), (0.95, 72.0, 0.667, 0.333, 1, 0, 72.0));
        assert_eq!(r.goals.transitions_vs_naive, Some(0.0526));
        assert_eq!(r.goals.fallback_worker_hours_vs_naive, Some(1.4505));
    }

    #[test]
    fn a_want_above_max_primary_is_no_launch_failure() {
        // The primary holds its 2 and is never refused: no failover, 6 of 12 served. The oracle
        // would serve the third worker from the fallback from the second step: 9 of 12.
        let t = traces(60, &[("us-east-1a_a.json", &[5; 4]), ("us-west-2a_a.json", &[5; 4])]);
        let e = env("[\"us-east-1\"]", &fleet("w", "us-east-1", "us-west-2", 2, 5));
        let r = replay_fleet(&e, &t, None, Some(3)).expect("replays");
        assert_eq!(figures(by_name(&r, PolicyName::Spotctl)), (0.5, 0.0, 0.0, 0.0, 0, 0, 0.0));
        assert_eq!(by_name(&r, PolicyName::Oracle).served_fraction, 0.75);
    }

    #[test]
    fn the_fleet_and_its_regions_must_be_there() {
        let t = traces(60, &[("us-east-1a_a.json", &[0, 0]), ("us-west-2a_a.json", &[1, 1])]);
        let two = format!(
            "{}{}",
            fleet("a", "us-east-1", "us-west-2", 2, 1),
            fleet("b", "us-east-1", "us-east-2", 2, 1)
        );
        let e = env("[\"us-east-1\"]", &two);
        assert_eq!(
            replay_fleet(&e, &t, None, None).err(),
            Some(ReplayError::WhichFleet { names: "a, b".into() })
        );
        assert_eq!(
            replay_fleet(&e, &t, Some("c"), None).err(),
            Some(ReplayError::UnknownFleet { name: "c".into(), names: "a, b".into() })
        );
        assert_eq!(
            replay_fleet(&e, &t, Some("b"), None).err(),
            Some(ReplayError::NoTraces { region: "us-east-2".into(), role: "fallback region" })
        );
        assert_eq!(
            replay_fleet(&e, &t, Some("a"), None).err(),
            Some(ReplayError::NothingWanted { region: "us-east-1".into() })
        );
        assert_eq!(replay_fleet(&e, &t, Some("a"), Some(1)).map(|r| r.fleet.want), Ok(1));
        assert_eq!(
            replay_fleet(&env("[\"us-east-1\"]", ""), &t, None, None).err(),
            Some(ReplayError::NoFleet)
        );
    }
}
