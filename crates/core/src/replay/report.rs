//! Replays as tables a person reads at a glance: what was replayed, one row per policy, and whether
//! `spotctl` met its goals. The same values serialise as `--output json` (docs/replay.md).

use super::fleet::{FleetGoals, FleetReplay};
use super::placement::PlacementReplay;
use super::span::Span;
use std::fmt::Write;

fn traces_line(out: &mut String, s: &Span) {
    let regions: Vec<String> = s.regions.keys().cloned().collect();
    let _ = writeln!(
        out,
        "traces: {} files, {} steps of {} s ({} days) in {}; {}",
        s.files.len(),
        s.steps,
        s.gap_seconds,
        s.days,
        regions.join(", "),
        s.alignment
    );
    if !s.ignored_regions.is_empty() {
        let _ = writeln!(out, "        not replayed (not in the env): {}", s.ignored_regions.join(", "));
    }
}

fn percent(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

fn ratio(r: Option<f64>) -> String {
    r.map(percent).unwrap_or_else(|| "-".into())
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISSED"
    }
}

pub fn render_fleet(r: &FleetReplay) -> String {
    let mut out = String::new();
    traces_line(&mut out, &r.traces);
    let f = &r.fleet;
    let _ = writeln!(
        out,
        "fleet {}: {} workers wanted in {}, falling back to {} (at most {}); spotctl's failback: {}\n",
        f.name, f.want, f.primary_region, f.fallback_region, f.max_fallback, f.failback
    );
    let (p, b) = (&f.primary_region, &f.fallback_region);
    let _ = writeln!(
        out,
        "{:<13} {:>8} {:>16} {:>12} {:>18} {:>20} {:>20}",
        "policy",
        "served",
        "transitions/day",
        "fallback h",
        "fallback worker-h",
        format!("{p} worker-h"),
        format!("{b} worker-h")
    );
    for o in &r.policies {
        let hours = |region: &str| o.worker_hours_by_region.get(region).copied().unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<13} {:>8} {:>16.2} {:>12.1} {:>18.1} {:>20.1} {:>20.1}",
            o.name.as_str(),
            percent(o.served_fraction),
            o.transitions_per_day,
            o.hours_on_fallback,
            o.fallback_worker_hours,
            hours(p),
            hours(b)
        );
    }
    fleet_goals(&mut out, &r.goals);
    out
}

fn fleet_goals(out: &mut String, g: &FleetGoals) {
    let within = |r: Option<f64>, ok: fn(f64) -> bool| r.is_some_and(ok);
    let _ = writeln!(
        out,
        "\ngoals of spotctl: served {} of oracle's (at least 98 %: {}), transitions {} of naive's (at most 50 %: {}), \
         fallback worker-hours {} of naive's (at most 125 %: {})",
        ratio(g.served_vs_oracle),
        mark(within(g.served_vs_oracle, |r| r >= 0.98)),
        ratio(g.transitions_vs_naive),
        mark(within(g.transitions_vs_naive, |r| r <= 0.5)),
        ratio(g.fallback_worker_hours_vs_naive),
        mark(within(g.fallback_worker_hours_vs_naive, |r| r <= 1.25)),
    );
}

pub fn render_placement(r: &PlacementReplay) -> String {
    let mut out = String::new();
    traces_line(&mut out, &r.traces);
    let p = &r.placement;
    let _ = writeln!(
        out,
        "placement: {} zones, home {}, types {}; handoff {} s; spotctl's interruption cooldown {}\n",
        p.zones.len(),
        p.home_zone,
        p.instance_types.join(", "),
        p.handoff_seconds,
        p.interruption_cooldown
    );
    let _ = writeln!(
        out,
        "{:<9} {:>13} {:>9} {:>11}  time per zone",
        "policy", "interruptions", "handoffs", "downtime s"
    );
    for o in &r.policies {
        let total: u64 = o.seconds_by_zone.values().sum();
        let mut zones: Vec<(&String, &u64)> = o.seconds_by_zone.iter().collect();
        zones.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let shares: Vec<String> = zones
            .iter()
            .map(|(z, s)| {
                format!("{z} {:.0} %", if total > 0 { 100.0 * **s as f64 / total as f64 } else { 0.0 })
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<9} {:>13} {:>9} {:>11}  {}",
            o.name.as_str(),
            o.interruptions,
            o.handoffs,
            o.downtime_s,
            shares.join(", ")
        );
    }
    let g = &r.goals;
    let _ = writeln!(
        out,
        "\ngoals of spotctl: {} interruptions, fewer than stay's {} ({}) and no more than naive's {} ({})",
        g.spotctl_interruptions,
        g.stay_interruptions,
        mark(g.spotctl_interruptions < g.stay_interruptions),
        g.naive_interruptions,
        mark(g.spotctl_interruptions <= g.naive_interruptions)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{env, fleet, traces};
    use super::super::{replay_fleet, replay_placement};
    use super::*;
    use crate::placement::advisor::AdvisorData;

    #[test]
    fn the_fleet_table() {
        let flapping: Vec<u32> = (0..20).map(|i| if i % 2 == 0 { 2 } else { 0 }).collect();
        let t = traces(60, &[("us-east-1a_a.json", &flapping), ("us-west-2a_a.json", &[5; 20])]);
        let e = env("[\"us-east-1\"]", &fleet("w", "us-east-1", "us-west-2", 2, 5));
        let r = replay_fleet(&e, &t, None, None).expect("replays");
        assert_eq!(
            render_fleet(&r),
            "traces: 2 files, 20 steps of 60 s (0.014 days) in us-east-1, us-west-2; every region replayed has 20 steps
fleet w: 2 workers wanted in us-east-1, falling back to us-west-2 (at most 5); spotctl's failback: adaptive

policy          served  transitions/day   fallback h  fallback worker-h   us-east-1 worker-h   us-west-2 worker-h
spotctl         45.0 %            72.00          0.3                0.5                  0.3                  0.5
naive            0.0 %          1368.00          0.2                0.3                  0.3                  0.3
primary-only     0.0 %             0.00          0.0                0.0                  0.3                  0.0
oracle          95.0 %            72.00          0.3                0.7                  0.3                  0.7

goals of spotctl: served 47.4 % of oracle's (at least 98 %: MISSED), transitions 5.3 % of naive's (at most 50 %: ok), \
fallback worker-hours 145.0 % of naive's (at most 125 %: MISSED)
"
        );
    }

    #[test]
    fn the_placement_table() {
        let t = traces(
            60,
            &[
                ("us-east-1a_p3.json", &[1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1]),
                ("us-east-1b_p3.json", &[1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
                ("us-west-2a_p3.json", &[1; 12]),
                ("eu-west-1a_p3.json", &[1; 12]),
            ],
        );
        let e = env("[\"us-east-1\", \"us-west-2\"]", "");
        let r = replay_placement(&e, &AdvisorData::embedded(), &t, 120).expect("replays");
        assert_eq!(
            render_placement(&r),
            "traces: 4 files, 12 steps of 60 s (0.008 days) in us-east-1, us-west-2; every region replayed has 12 steps
        not replayed (not in the env): eu-west-1
placement: 3 zones, home us-east-1a, types p3.16xlarge, p3.2xlarge, p3.8xlarge; handoff 120 s; spotctl's interruption cooldown 12h

policy    interruptions  handoffs  downtime s  time per zone
spotctl               2         2         240  us-west-2a 83 %, us-east-1a 8 %, us-east-1b 8 %
naive                 3         3         360  us-east-1b 83 %, us-east-1a 17 %
stay                  6        10        1200  us-east-1a 58 %, us-east-1b 42 %
oracle                1         1         120  us-west-2a 92 %, us-east-1a 8 %

goals of spotctl: 2 interruptions, fewer than stay's 6 (ok) and no more than naive's 3 (ok)
"
        );
    }
}
