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
