//! Whether the recorded primary can serve, judged from its agent's reports: a primary that is
//! alive but cannot serve (its server crashed or hangs, its disk is full, its agent is dead or cut
//! off from the bucket) is replaced on this evidence, once it has lasted `[health]
//! unhealthy_after` — never on one bad look.
//!
//! The agent of a serving primary writes a [`HealthReport`] under its own session's key (which no
//! other instance may write) among its instance's reports every
//! few seconds: what it checked, and when every check last passed (`healthy_at_ms`). The watchdog
//! judges from the last time the primary was seen healthy, so the same rule covers a server that
//! fails its checks (the report says why) and an agent that stopped reporting (the report is old).
//! A single healthy look starts the count again (the hysteresis is the threshold itself). A
//! primary whose agent never reported is judged from when it became the primary, when its record
//! says its agent reports (record format 3); never when an older agent wrote it (it cannot).

use super::primary::PrimaryRecord;
use serde::{Deserialize, Serialize};

/// The format this build writes.
pub const HEALTH_FORMAT: u32 = 1;

/// A report younger than this, with every check passed, says the primary is healthy now.
pub const FRESH_MS: u64 = 30_000;

/// What one look of the agent found of its server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthChecks {
    /// The server answered a query.
    pub answers: bool,
    /// It committed a write.
    pub writes: bool,
    /// Free bytes on the data directory's disk, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free_bytes: Option<u64>,
    /// The disk has room (free space over the floor).
    pub disk_room: bool,
    /// Why a check failed, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl HealthChecks {
    pub fn passed(&self) -> bool {
        self.answers && self.writes && self.disk_room
    }
}

/// The agent's report, under its own writer's key among its instance's reports
/// (`spotctl_layout::health_key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    pub format: u32,
    pub instance_id: String,
    /// The epoch it serves.
    pub epoch: u64,
    /// When this look was made (ms since 1970, the instance's clock).
    pub written_at_ms: u64,
    /// When every check last passed, or the agent last said why the server does not serve
    /// (ms); 0 when never.
    pub healthy_at_ms: u64,
    pub checks: HealthChecks,
    /// The agent keeps this server fenced and says why (it drains, or waits for its successor):
    /// not serving is expected then, and nothing was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced: Option<String>,
    /// The agent refuses to act on a record a newer spotctl wrote (`handoff::format`), and says
    /// which: it neither promotes, retires nor drains until its instance runs that version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// The newest record formats this agent reads (`None`: an agent older than this field, which
    /// reads primary records up to format 3). Whoever writes a record this agent must follow
    /// checks it first (`keep-primary` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<Reads>,
}

/// The newest formats of the records an agent reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reads {
    pub primary: u32,
    pub handoff: u32,
}

impl Reads {
    /// What this build reads.
    pub const THIS_BUILD: Reads =
        Reads { primary: super::primary::RECORD_FORMAT_KEPT, handoff: super::record::HANDOFF_FORMAT };
    /// What an agent that does not say reads (it was built before the reports said).
    pub const UNSAID: Reads = Reads { primary: 3, handoff: 3 };
}

impl HealthReport {
    /// The formats this report's agent reads.
    pub fn reads(&self) -> Reads {
        self.reads.unwrap_or(Reads::UNSAID)
    }
}

impl HealthReport {
    /// This look's report, following `before` (this instance's previous one, if any).
    pub fn after(
        before: Option<&HealthReport>,
        instance_id: &str,
        epoch: u64,
        checks: HealthChecks,
        now_ms: u64,
    ) -> HealthReport {
        let healthy_at_ms = match (checks.passed(), before) {
            (true, _) => now_ms,
            (false, Some(b)) if b.instance_id == instance_id => b.healthy_at_ms,
            (false, _) => 0,
        };
        HealthReport {
            format: HEALTH_FORMAT,
            instance_id: instance_id.to_string(),
            epoch,
            written_at_ms: now_ms,
            healthy_at_ms,
            checks,
            fenced: None,
            refused: None,
            reads: Some(Reads::THIS_BUILD),
        }
    }

    /// This look's report of a server its agent keeps fenced, for `why`.
    pub fn fenced(instance_id: &str, epoch: u64, why: &str, now_ms: u64) -> HealthReport {
        HealthReport {
            format: HEALTH_FORMAT,
            instance_id: instance_id.to_string(),
            epoch,
            written_at_ms: now_ms,
            healthy_at_ms: now_ms,
            checks: HealthChecks::default(),
            fenced: Some(why.to_string()),
            refused: None,
            reads: Some(Reads::THIS_BUILD),
        }
    }
}

/// What the watchdog makes of the recorded primary's reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "health", rename_all = "snake_case")]
pub enum Health {
    /// No report of this primary's agent: no evidence either way.
    Unknown,
    /// Every check passed within [`FRESH_MS`].
    Healthy { reported_ms_ago: u64 },
    /// Its agent keeps it fenced, and said why within [`FRESH_MS`] (a drain, a wait for the
    /// successor): not serving is expected.
    Fenced { why: String },
    /// Unhealthy or silent for `for_ms`, less than the threshold: nothing is done yet.
    Suspect { for_ms: u64, why: String },
    /// Unhealthy or silent past the threshold: the primary is replaced (fenced, then recovered
    /// from the shipped log) when the log can restore it.
    Unhealthy { for_ms: u64, why: String },
}

impl Health {
    pub fn is_unhealthy(&self) -> bool {
        matches!(self, Health::Unhealthy { .. })
    }
}

/// Judges `record`'s primary at `now_ms` from its agent's last report.
pub fn assess_health(
    record: &PrimaryRecord,
    report: Option<&HealthReport>,
    now_ms: u64,
    unhealthy_after_ms: u64,
) -> Health {
    let Some(r) = report.filter(|r| r.instance_id == record.instance_id) else {
        // Its agent never reported: judged from when it became the primary, if it would report.
        if record.format < 3 {
            return Health::Unknown;
        }
        let since = u64::try_from(record.since_unix).unwrap_or(0) * 1000;
        let for_ms = now_ms.saturating_sub(since);
        let why = "its agent has never reported (dead, hung, or cut off from the state bucket)".to_string();
        return match for_ms >= unhealthy_after_ms {
            true => Health::Unhealthy { for_ms, why },
            false if for_ms >= FRESH_MS => Health::Suspect { for_ms, why },
            false => Health::Unknown,
        };
    };
    let since_healthy = now_ms.saturating_sub(r.healthy_at_ms);
    let silent = now_ms.saturating_sub(r.written_at_ms);
    if since_healthy < FRESH_MS {
        // Fresh: fenced by its agent, or passing. A fresh report whose checks failed is suspect
        // from its first look (what is counted is still the time since the last healthy one).
        match &r.fenced {
            Some(why) => return Health::Fenced { why: why.clone() },
            None if r.checks.passed() => return Health::Healthy { reported_ms_ago: silent },
            None => {}
        }
    }
    let why = if silent >= FRESH_MS {
        format!(
            "its agent has reported nothing for {} s (dead, hung, or cut off from the state bucket)",
            silent / 1000
        )
    } else {
        r.checks.problem.clone().unwrap_or_else(|| "a check failed".into())
    };
    let for_ms = since_healthy;
    if for_ms >= unhealthy_after_ms {
        Health::Unhealthy { for_ms, why }
    } else {
        Health::Suspect { for_ms, why }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> PrimaryRecord {
        PrimaryRecord {
            instance_id: "i-p".into(),
            epoch: 4,
            ..PrimaryRecord::launching("", "r", "r-1a", "m5.large", 0)
        }
    }

    fn checks(ok: bool) -> HealthChecks {
        HealthChecks {
            answers: ok,
            writes: ok,
            disk_free_bytes: Some(10 << 30),
            disk_room: true,
            problem: (!ok).then(|| "MariaDB does not answer".into()),
        }
    }

    const AFTER: u64 = 120_000;

    #[test]
    fn no_report_is_judged_from_the_promotion_unless_an_older_agent_wrote_the_record() {
        let mut r = record();
        r.since_unix = 1_000;
        assert_eq!(assess_health(&r, None, 1_000_000 + 10_000, AFTER), Health::Unknown, "just promoted");
        assert!(assess_health(&r, None, 1_000_000 + AFTER, AFTER).is_unhealthy(), "never reported");
        let other = HealthReport::after(None, "i-other", 3, checks(true), 1_000_000);
        assert!(assess_health(&r, Some(&other), 1_000_000 + AFTER, AFTER).is_unhealthy(), "another's report");
        r.format = 2;
        assert_eq!(
            assess_health(&r, None, 9_000_000, AFTER),
            Health::Unknown,
            "an older agent cannot report"
        );
    }

    #[test]
    fn a_failing_server_is_replaced_only_past_the_threshold_and_one_healthy_look_resets() {
        let ok = HealthReport::after(None, "i-p", 4, checks(true), 1_000_000);
        assert!(matches!(assess_health(&record(), Some(&ok), 1_010_000, AFTER), Health::Healthy { .. }));
        // Failing since the look after 1 000 000: judged from the last healthy look.
        let bad = HealthReport::after(Some(&ok), "i-p", 4, checks(false), 1_010_000);
        assert_eq!(bad.healthy_at_ms, 1_000_000);
        // The first failing look is a suspicion at once, counted from the last healthy one.
        assert_eq!(
            assess_health(&record(), Some(&bad), 1_010_000, AFTER),
            Health::Suspect { for_ms: 10_000, why: "MariaDB does not answer".into() }
        );
        let just_under = 1_000_000 + AFTER - 1;
        let bad = HealthReport::after(Some(&bad), "i-p", 4, checks(false), just_under);
        assert!(
            matches!(assess_health(&record(), Some(&bad), just_under, AFTER), Health::Suspect { ref why, .. } if why == "MariaDB does not answer"),
            "one millisecond short of the threshold is a suspicion"
        );
        let at = 1_000_000 + AFTER;
        let bad = HealthReport::after(Some(&bad), "i-p", 4, checks(false), at);
        assert_eq!(
            assess_health(&record(), Some(&bad), at, AFTER),
            Health::Unhealthy { for_ms: AFTER, why: "MariaDB does not answer".into() }
        );
        // A blip: one healthy look starts the count again.
        let back = HealthReport::after(Some(&bad), "i-p", 4, checks(true), at + 5_000);
        let again = HealthReport::after(Some(&back), "i-p", 4, checks(false), at + 10_000);
        assert!(matches!(assess_health(&record(), Some(&again), at + 40_000, AFTER), Health::Suspect { .. }));
    }

    #[test]
    fn a_silent_agent_counts_as_unhealthy_from_its_last_healthy_look() {
        let ok = HealthReport::after(None, "i-p", 4, checks(true), 1_000_000);
        let h = assess_health(&record(), Some(&ok), 1_000_000 + FRESH_MS, AFTER);
        assert!(
            matches!(&h, Health::Suspect { why, .. } if why.contains("reported nothing for 30 s")),
            "{h:?}"
        );
        let h = assess_health(&record(), Some(&ok), 1_000_000 + AFTER, AFTER);
        assert!(h.is_unhealthy(), "{h:?}");
        // A clock behind: a report from the future is fresh, not negative.
        assert!(matches!(assess_health(&record(), Some(&ok), 990_000, AFTER), Health::Healthy { .. }));
    }

    #[test]
    fn a_primary_its_agent_keeps_fenced_is_not_unhealthy_while_the_agent_says_so() {
        let fenced = HealthReport::fenced("i-p", 4, "drained for epoch-4", 1_000_000);
        assert_eq!(
            assess_health(&record(), Some(&fenced), 1_010_000, AFTER),
            Health::Fenced { why: "drained for epoch-4".into() }
        );
        // Once its agent falls silent, it is judged as any other.
        assert!(assess_health(&record(), Some(&fenced), 1_000_000 + AFTER, AFTER).is_unhealthy());
    }
}
