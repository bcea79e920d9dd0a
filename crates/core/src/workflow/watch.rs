//! `spotctl status --watch`: how long each step of an open handoff took, redrawn every few
//! seconds while it runs.

use crate::handoff::{Handoff, Step};
use std::fmt::Write;

/// One line per step: when it was reached after the handoff began, and how long it took from
/// the step before; the step under way is timed to `now`.
pub fn step_durations(h: &Handoff, now: i64) -> String {
    let mut out = String::new();
    let start = h.steps.values().copied().min().unwrap_or(now);
    let mut last: Option<(Step, i64)> = None;
    for (step, at) in &h.steps {
        let took = last.map(|(_, t)| at - t).unwrap_or(0);
        let _ = writeln!(out, "  {:<15} +{:>4}s  (took {}s)", format!("{step:?}"), at - start, took);
        last = Some((*step, *at));
    }
    if h.is_open() {
        if let Some((step, at)) = last {
            let _ = writeln!(
                out,
                "  {:<15} {}s since {step:?}, {}s in all",
                "(under way)",
                now - at,
                now - start
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::primary::PrimaryRecord;
    use crate::handoff::Cause;

    #[test]
    fn each_step_says_how_long_it_took_and_the_open_one_counts_on() {
        let r = PrimaryRecord {
            instance_id: "i-p".into(),
            launching: None,
            ..PrimaryRecord::launching("t", "r", "a", "m", 0)
        };
        let mut h = Handoff::new(Cause::Interruption, &r, 100);
        h.reach(Step::StandbyLaunched, 112);
        h.reach(Step::DrainStarted, 115);
        let text = step_durations(&h, 140);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "  LeaseTaken      +   0s  (took 0s)");
        assert_eq!(lines[1], "  StandbyLaunched +  12s  (took 12s)");
        assert_eq!(lines[2], "  DrainStarted    +  15s  (took 3s)");
        assert_eq!(lines[3], "  (under way)     25s since DrainStarted, 40s in all");
        h.reach(Step::Promoted, 150);
        assert!(!step_durations(&h, 400).contains("under way"));
    }
}
