//! `[health]`: when a primary that is alive but cannot serve is replaced. The agent reports its
//! server's health under its own session's key among its instance's reports; a primary unhealthy (or silent) for longer than
//! `unhealthy_after` is fenced by the control plane and recovered from the shipped log, never when
//! the log cannot restore it (`core::handoff::health`).

use super::doc::{Section, Sink};
use super::period::Period;
use serde::{Deserialize, Serialize};

/// The shortest and longest `unhealthy_after` (seconds).
const UNHEALTHY_AFTER: std::ops::RangeInclusive<u64> = 30..=3_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSection {
    /// A primary unhealthy or silent this long is replaced (`30s` to `1h`).
    #[serde(default = "default_unhealthy_after")]
    pub unhealthy_after: Period,
}

fn default_unhealthy_after() -> Period {
    Period::from_secs(120)
}

impl Default for HealthSection {
    fn default() -> Self {
        HealthSection { unhealthy_after: default_unhealthy_after() }
    }
}

impl HealthSection {
    pub fn is_default(&self) -> bool {
        *self == HealthSection::default()
    }
}

/// Reads `[health]` (optional; defaults when absent).
pub(crate) fn section(root: &mut Section, sink: &mut Sink) -> HealthSection {
    let mut h = HealthSection::default();
    let Some(mut t) = root.table(sink, "health", None) else { return h };
    if let Some(p) = t.period(sink, "unhealthy_after", UNHEALTHY_AFTER, "30s to 1h") {
        h.unhealthy_after = p;
    }
    t.finish(sink);
    h
}

#[cfg(test)]
mod tests {
    const MINIMAL: &str = r#"
[env]
name = "dev"
home_region = "ap-northeast-1"
regions = ["ap-northeast-1"]

[instance]
types = ["m5.large", "m6i.large", "r5.large"]

[access]
ssh_public_key = "key.pub"
"#;

    fn parse(extra: &str) -> Result<crate::config::EnvFile, crate::config::ConfigError> {
        let text = format!("{MINIMAL}{extra}");
        crate::config::parse(&text, std::path::Path::new("envs/t/spotctl.toml"), &|_| true).map(|p| p.env)
    }

    #[test]
    fn unhealthy_after_defaults_to_two_minutes_and_is_bounded() {
        let env = parse("").expect("parses");
        assert_eq!(env.health.unhealthy_after.as_secs(), 120);
        let env = parse("\n[health]\nunhealthy_after = \"30s\"\n").expect("parses");
        assert_eq!(env.health.unhealthy_after.as_secs(), 30);
        for bad in ["29s", "2h", "soon"] {
            let e = parse(&format!("\n[health]\nunhealthy_after = \"{bad}\"\n")).expect_err(bad).to_string();
            assert!(e.contains("health.unhealthy_after") && e.contains("30s to 1h"), "{bad}: {e}");
        }
        let e = parse("\n[health]\nafter = \"2m\"\n").expect_err("unknown key").to_string();
        assert!(e.contains("health.after"), "{e}");
    }
}
