//! The placement replay: the database's primary on availability or preemption traces.
//!
//! The candidates are the zones of the env's regions found in the traces, each with the env's
//! instance types; a zone's value is the sum of its pools. The primary sits in one zone. When that
//! zone's value drops to 0 it is interrupted and handed off (`handoff_seconds` of downtime) to the
//! zone the policy picks among those with capacity then; with none, the database waits, down,
//! until one has. Every policy starts in the same home zone: where `spotctl` would place the first
//! primary.
//!
//! Policies: `spotctl` ranks with the real `core::placement::rank`, the env's `Policy`, the
//! embedded Spot Advisor data (no Spot Placement Score, no prices) and, as its history, the
//! interruptions it has suffered so far in the replay (never what comes later), so the env's
//! interruption cooldown passes over a zone that just failed it. A trace's pools are not the env's
//! instance types, so an interruption counts against every type of its zone; and the cooldown is
//! a preference, not a reason to stay down: when every zone with capacity is cooling down, the one
//! interrupted longest ago is taken. `naive` takes the first zone with capacity in name order,
//! `stay` always goes back to the home zone (at once, as soon as it has capacity again: a planned
//! handoff), and `oracle` takes, with hindsight, the zone whose capacity lasts longest, which needs
//! the fewest handoffs of any policy that moves only when interrupted.

use super::error::ReplayError;
use super::figures::PolicyName;
use super::span::{span, Span};
use super::traces::Traces;
use crate::config::EnvFile;
use crate::placement::advisor::AdvisorData;
use crate::placement::{rank, Candidate, PlacementData, Policy, Prices, RecentInterruption};
use serde::Serialize;
use std::collections::BTreeMap;

/// The placement as replayed (`placement` in the JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacementSetup {
    /// Where every policy starts: the zone `spotctl` would place the first primary in.
    pub home_zone: String,
    /// The candidate zones, in name order (`naive`'s order).
    pub zones: Vec<String>,
    pub instance_types: Vec<String>,
    pub handoff_seconds: u32,
    /// The `spotctl` policy's cooldown, as the env file writes it.
    pub interruption_cooldown: String,
}

/// One policy's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacementOutcome {
    pub name: PolicyName,
    /// Times the primary's zone lost its capacity under it.
    pub interruptions: u32,
    /// Moves to another zone: after interruptions, and `stay`'s planned returns home.
    pub handoffs: u32,
    /// `handoff_seconds` per handoff, plus the time with no zone to go to.
    pub downtime_s: u64,
    /// Seconds the primary spent in each zone.
    pub seconds_by_zone: BTreeMap<String, u64>,
    /// Handoffs made without an interruption (`stay` going home).
    pub planned_handoffs: u32,
}

/// `spotctl` must suffer fewer interruptions than `stay` and no more than `naive`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacementGoals {
    pub spotctl_interruptions: u32,
    pub stay_interruptions: u32,
    pub naive_interruptions: u32,
    pub met: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacementReplay {
    pub traces: Span,
    pub placement: PlacementSetup,
    pub policies: Vec<PlacementOutcome>,
    pub goals: PlacementGoals,
}

/// The zones and what the replay needs to choose among them.
struct Ctx<'a> {
    /// (zone, region, values over the span), in name order.
    zones: Vec<(&'a str, &'a str, &'a [u32])>,
    types: &'a [String],
    advisor: &'a AdvisorData,
    policy: Policy,
    gap: u64,
    handoff: u64,
    /// For each zone and step, the first step from it with no capacity (`steps` if none).
    next_zero: Vec<Vec<usize>>,
}

/// What `spotctl` has seen so far.
#[derive(Default)]
struct History {
    recent: Vec<RecentInterruption>,
    last: BTreeMap<usize, i64>,
}

pub fn replay_placement(
    env: &EnvFile,
    advisor: &AdvisorData,
    traces: &Traces,
    handoff_seconds: u32,
) -> Result<PlacementReplay, ReplayError> {
    let regions = env.placement_regions();
    let used: Vec<(&str, &'static str)> = regions.iter().map(|r| (r.as_str(), "candidate region")).collect();
    let covered = span(traces, &used)?;
    let zones: Vec<(&str, &str, &[u32])> = traces
        .zones
        .iter()
        .filter_map(|(z, values)| {
            let region = traces.pools.iter().find(|p| &p.zone == z).map(|p| p.region.as_str())?;
            regions.iter().any(|r| r == region).then_some((z.as_str(), region, &values[..covered.steps]))
        })
        .collect();
    let next_zero = zones
        .iter()
        .map(|(_, _, values)| {
            let mut next = vec![values.len(); values.len()];
            let mut seen = values.len();
            for t in (0..values.len()).rev() {
                if values[t] == 0 {
                    seen = t;
                }
                next[t] = seen;
            }
            next
        })
        .collect();
    let ctx = Ctx {
        zones,
        types: &env.instance.types,
        advisor,
        policy: env.placement.policy(),
        gap: u64::from(traces.gap_seconds),
        handoff: u64::from(handoff_seconds),
        next_zero,
    };
    let start = (0..covered.steps).find(|&t| ctx.zones.iter().any(|z| z.2[t] > 0));
    let home = start.and_then(|t| ranked(&ctx, t, &History::default()));
    let (Some(start), Some(home)) = (start, home) else {
        return Err(ReplayError::NoCapacity { regions: regions.join(", ") });
    };
    let policies: Vec<PlacementOutcome> =
        [PolicyName::Spotctl, PolicyName::Naive, PolicyName::Stay, PolicyName::Oracle]
            .into_iter()
            .map(|name| run(&ctx, name, start, home, covered.steps))
            .collect();
    let interruptions =
        |n: PolicyName| policies.iter().find(|p| p.name == n).map(|p| p.interruptions).unwrap_or_default();
    let (s, stay, naive) = (
        interruptions(PolicyName::Spotctl),
        interruptions(PolicyName::Stay),
        interruptions(PolicyName::Naive),
    );
    let goals = PlacementGoals {
        spotctl_interruptions: s,
        stay_interruptions: stay,
        naive_interruptions: naive,
        met: s < stay && s <= naive,
    };
    let placement = PlacementSetup {
        home_zone: ctx.zones[home].0.to_string(),
        zones: ctx.zones.iter().map(|z| z.0.to_string()).collect(),
        instance_types: env.instance.types.clone(),
        handoff_seconds,
        interruption_cooldown: env.placement.interruption_cooldown.to_string(),
    };
    Ok(PlacementReplay { traces: covered, placement, policies, goals })
}

fn run(ctx: &Ctx<'_>, name: PolicyName, start: usize, home: usize, steps: usize) -> PlacementOutcome {
    let mut out = PlacementOutcome {
        name,
        interruptions: 0,
        handoffs: 0,
        downtime_s: 0,
        seconds_by_zone: BTreeMap::new(),
        planned_handoffs: 0,
    };
    let mut history = History::default();
    let mut seconds = vec![0u64; ctx.zones.len()];
    let mut current = Some(home);
    for t in start..steps {
        let now = (t as u64 * ctx.gap) as i64;
        let has = |z: usize| ctx.zones[z].2[t] > 0;
        if let Some(z) = current.filter(|&z| !has(z)) {
            out.interruptions += 1;
            history.record(ctx, z, now);
            current = None;
        }
        if name == PolicyName::Stay && current.is_some_and(|z| z != home) && has(home) {
            current = Some(home);
            out.handoffs += 1;
            out.planned_handoffs += 1;
            out.downtime_s += ctx.handoff;
        }
        if current.is_none() {
            current = choose(ctx, name, t, home, &history);
            match current {
                Some(_) => {
                    out.handoffs += 1;
                    out.downtime_s += ctx.handoff;
                }
                None => out.downtime_s += ctx.gap,
            }
        }
        if let Some(z) = current {
            seconds[z] += ctx.gap;
        }
    }
    out.seconds_by_zone =
        ctx.zones.iter().zip(seconds).filter(|(_, s)| *s > 0).map(|(z, s)| (z.0.to_string(), s)).collect();
    out
}

/// The zone `name` moves to at step `t`, among those with capacity.
fn choose(ctx: &Ctx<'_>, name: PolicyName, t: usize, home: usize, history: &History) -> Option<usize> {
    let mut open = (0..ctx.zones.len()).filter(|&z| ctx.zones[z].2[t] > 0);
    match name {
        PolicyName::Spotctl => ranked(ctx, t, history),
        PolicyName::Stay if ctx.zones[home].2[t] > 0 => Some(home),
        PolicyName::Oracle => open.max_by_key(|&z| (ctx.next_zero[z][t], std::cmp::Reverse(z))),
        PolicyName::Naive | PolicyName::Stay | PolicyName::PrimaryOnly => open.next(),
    }
}

/// `spotctl`'s choice: the best ranked zone with capacity, its history applied by the cooldown.
fn ranked(ctx: &Ctx<'_>, t: usize, history: &History) -> Option<usize> {
    let now = (t as u64 * ctx.gap) as i64;
    let mut candidates = Vec::new();
    for (z, region, values) in &ctx.zones {
        if values[t] > 0 {
            candidates.extend(ctx.types.iter().map(|ty| Candidate::new(region, z, None, ty)));
        }
    }
    let data = |recent: Vec<RecentInterruption>| PlacementData {
        advisor: ctx.advisor,
        sps: None,
        prices: Prices::new(),
        recent_interruptions: recent,
        now_unix: now,
    };
    let index = |az: &str| ctx.zones.iter().position(|z| z.0 == az);
    let ranking = rank(&candidates, &data(history.recent.clone()), &ctx.policy);
    if let Some(best) = ranking.entries.first() {
        return index(&best.candidate.az);
    }
    // Every zone with capacity is cooling down: the one interrupted longest ago, in rank order.
    let ranking = rank(&candidates, &data(Vec::new()), &ctx.policy);
    ranking
        .entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| index(&e.candidate.az).map(|z| (history.last.get(&z).copied(), i, z)))
        .min()
        .map(|(_, _, z)| z)
}

impl History {
    /// An interruption of zone `z`: against every type of the zone (a trace's pools are not the
    /// env's types). Entries past the cooldown are dropped; they exclude nothing.
    fn record(&mut self, ctx: &Ctx<'_>, z: usize, now: i64) {
        let cooldown = ctx.policy.interruption_cooldown_secs;
        self.recent.retain(|i| now - i.at_unix < cooldown);
        for ty in ctx.types {
            self.recent.push(RecentInterruption {
                instance_type: ty.clone(),
                az: ctx.zones[z].0.to_string(),
                at_unix: now,
            });
        }
        self.last.insert(z, now);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{env, traces};
    use super::*;

    fn by_name(r: &PlacementReplay, n: PolicyName) -> &PlacementOutcome {
        r.policies.iter().find(|p| p.name == n).expect("every policy is replayed")
    }

    /// (interruptions, handoffs, downtime, seconds by zone)
    fn figures(o: &PlacementOutcome) -> (u32, u32, u64, Vec<(&str, u64)>) {
        let zones = o.seconds_by_zone.iter().map(|(z, s)| (z.as_str(), *s)).collect();
        (o.interruptions, o.handoffs, o.downtime_s, zones)
    }

    /// Minute steps: us-east-1a flaps, us-east-1b fails once, us-west-2a never does.
    fn flapping() -> Traces {
        traces(
            60,
            &[
                ("us-east-1a_p3.json", &[1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1]),
                ("us-east-1b_p3.json", &[1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
                ("us-west-2a_p3.json", &[1; 12]),
            ],
        )
    }

    #[test]
    fn the_cooldown_keeps_spotctl_off_the_zone_that_just_failed_it() {
        let r = replay_placement(
            &env("[\"us-east-1\", \"us-west-2\"]", ""),
            &AdvisorData::embedded(),
            &flapping(),
            120,
        )
        .expect("replays");
        // One interruption range everywhere: the ranking orders zones by name, so home is 1a.
        assert_eq!(r.placement.home_zone, "us-east-1a");
        // 1a fails at 1: to 1b; 1b fails at 2: 1a is cooling down, so 2a, which never fails.
        assert_eq!(
            figures(by_name(&r, PolicyName::Spotctl)),
            (2, 2, 240, vec![("us-east-1a", 60), ("us-east-1b", 60), ("us-west-2a", 600)])
        );
        // naive goes back to 1a at 2, which fails again at 3, then settles in 1b.
        assert_eq!(
            figures(by_name(&r, PolicyName::Naive)),
            (3, 3, 360, vec![("us-east-1a", 120), ("us-east-1b", 600)])
        );
        // stay returns to 1a whenever it has capacity (4 planned handoffs) and is interrupted there.
        let stay = by_name(&r, PolicyName::Stay);
        assert_eq!(figures(stay), (6, 10, 1200, vec![("us-east-1a", 420), ("us-east-1b", 300)]));
        assert_eq!(stay.planned_handoffs, 4);
        // With hindsight: 2a at the first interruption.
        assert_eq!(
            figures(by_name(&r, PolicyName::Oracle)),
            (1, 1, 120, vec![("us-east-1a", 60), ("us-west-2a", 660)])
        );
        assert_eq!(
            r.goals,
            PlacementGoals {
                spotctl_interruptions: 2,
                stay_interruptions: 6,
                naive_interruptions: 3,
                met: true
            }
        );
    }

    #[test]
    fn with_no_cooldown_spotctl_ranks_like_the_fixed_order() {
        let e = env("[\"us-east-1\", \"us-west-2\"]", "\n[placement]\ninterruption_cooldown = \"0s\"\n");
        let r = replay_placement(&e, &AdvisorData::embedded(), &flapping(), 120).expect("replays");
        assert_eq!(figures(by_name(&r, PolicyName::Spotctl)), figures(by_name(&r, PolicyName::Naive)));
        assert_eq!(r.goals.spotctl_interruptions, 3);
    }

    #[test]
    fn cooling_down_everywhere_or_nowhere_to_go() {
        // 1b fails while 1a, the only zone with capacity, is still cooling down: back to 1a.
        let t = traces(60, &[("us-east-1a_p3.json", &[1, 0, 1, 1]), ("us-east-1b_p3.json", &[1, 1, 0, 1])]);
        let r = replay_placement(&env("[\"us-east-1\"]", ""), &AdvisorData::embedded(), &t, 100)
            .expect("replays");
        assert_eq!(
            figures(by_name(&r, PolicyName::Spotctl)),
            (2, 2, 200, vec![("us-east-1a", 180), ("us-east-1b", 60)])
        );
        // No zone at 1 and 2: down for two minutes, then a handoff.
        let t = traces(60, &[("us-east-1a_p3.json", &[1, 0, 0, 1]), ("us-east-1b_p3.json", &[1, 0, 0, 0])]);
        let r = replay_placement(&env("[\"us-east-1\"]", ""), &AdvisorData::embedded(), &t, 100)
            .expect("replays");
        assert_eq!(figures(by_name(&r, PolicyName::Spotctl)), (1, 1, 220, vec![("us-east-1a", 120)]));
        // Regions must have traces, and some zone capacity.
        let e = env("[\"us-east-1\", \"us-east-2\"]", "");
        assert_eq!(
            replay_placement(&e, &AdvisorData::embedded(), &t, 100).err(),
            Some(ReplayError::NoTraces { region: "us-east-2".into(), role: "candidate region" })
        );
        let t = traces(60, &[("us-east-1a_p3.json", &[0, 0])]);
        assert_eq!(
            replay_placement(&env("[\"us-east-1\"]", ""), &AdvisorData::embedded(), &t, 100).err(),
            Some(ReplayError::NoCapacity { regions: "us-east-1".into() })
        );
    }
}
