//! `[backup]`: continuous protection's schedule. How often a base backup is taken while writes go
//! on, and how long base backups and the shipped log are kept — retention, which the agent
//! applies after each base, is the one owner of that; the bucket's lifecycle rules are derived
//! from it ([`BackupSection::lifecycle_days`]), old object versions included, never shorter.

use super::doc::{Section, Sink};
use super::period::Period;
use serde::{Deserialize, Serialize};

/// The shortest and longest base interval, and the longest retention (seconds).
const BASE_EVERY: std::ops::RangeInclusive<u64> = 600..=7 * 86_400;
const RETENTION: std::ops::RangeInclusive<u64> = 3_600..=3_650 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSection {
    /// A base backup this often: recovery replays at most this much log (`10m` to `7d`).
    #[serde(default = "default_base_every")]
    pub base_every: Period,
    /// Every second of this period stays recoverable (`1h` to `3650d`, at least `base_every`).
    #[serde(default = "default_retention")]
    pub retention: Period,
}

fn default_base_every() -> Period {
    Period::from_secs(6 * 3_600)
}

fn default_retention() -> Period {
    Period::from_secs(7 * 86_400)
}

impl Default for BackupSection {
    fn default() -> Self {
        BackupSection { base_every: default_base_every(), retention: default_retention() }
    }
}

impl BackupSection {
    pub fn is_default(&self) -> bool {
        *self == BackupSection::default()
    }

    /// Days after which the bucket's lifecycle may expire a backup object (and a noncurrent
    /// version): retention keeps the newest base older than its window, which is at most
    /// `retention + base_every` old when bases run on schedule; one more interval and a day of
    /// margin cover a late or failed base. Never less than what retention keeps.
    pub fn lifecycle_days(&self) -> u64 {
        let secs = self.retention.as_secs() + 2 * self.base_every.as_secs();
        secs.div_ceil(86_400) + 1
    }
}

/// Reads `[backup]` (optional; defaults when absent).
pub(crate) fn section(root: &mut Section, sink: &mut Sink) -> BackupSection {
    let mut b = BackupSection::default();
    let Some(mut t) = root.table(sink, "backup", None) else { return b };
    if let Some(p) = t.period(sink, "base_every", BASE_EVERY, "10m to 7d") {
        b.base_every = p;
    }
    let retention = t.string(sink, "retention", None);
    if let Some(v) = &retention {
        match Period::parse(&v.value) {
            Ok(p) if RETENTION.contains(&p.as_secs()) && p >= b.base_every => b.retention = p,
            Ok(p) if RETENTION.contains(&p.as_secs()) => sink.problem(
                v.at,
                &v.path,
                format!("{p} is shorter than base_every ({}); valid: at least base_every", b.base_every),
            ),
            Ok(_) => {
                sink.problem(v.at, &v.path, format!("{:?} is out of range; valid: 1h to 3650d", v.value))
            }
            Err(e) => sink.problem(v.at, &v.path, e),
        }
    }
    t.finish(sink);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn read(extra: &str) -> Result<BackupSection, String> {
        let text = format!("{MINIMAL}\n{extra}");
        crate::config::parse(&text, std::path::Path::new("envs/t/spotctl.toml"), &|_| true)
            .map(|p| p.env.backup)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_the_schedule_and_refuses_what_cannot_hold() -> Result<(), String> {
        assert_eq!(read("")?, BackupSection::default());
        let b = read("[backup]\nbase_every = \"1h\"\nretention = \"30d\"")?;
        assert_eq!((b.base_every.as_secs(), b.retention.as_secs()), (3_600, 30 * 86_400));
        let short = read("[backup]\nbase_every = \"1d\"\nretention = \"12h\"").err().unwrap_or_default();
        assert!(short.contains("backup.retention") && short.contains("shorter than base_every"), "{short}");
        let fast = read("[backup]\nbase_every = \"1m\"").err().unwrap_or_default();
        assert!(fast.contains("backup.base_every") && fast.contains("10m to 7d"), "{fast}");
        let typo = read("[backup]\nretain = \"7d\"").err().unwrap_or_default();
        assert!(typo.contains("retain") && typo.contains("retention"), "{typo}");
        Ok(())
    }

    #[test]
    fn lifecycle_outlasts_what_retention_keeps() {
        let b = BackupSection::default();
        assert_eq!((b.base_every.to_string(), b.retention.to_string()), ("6h".into(), "7d".into()));
        assert_eq!(b.lifecycle_days(), 9, "7 d + 2 × 6 h, rounded up, plus a day");
        let tight =
            BackupSection { base_every: Period::from_secs(86_400), retention: Period::from_secs(86_400) };
        assert!(tight.lifecycle_days() * 86_400 > tight.retention.as_secs() + tight.base_every.as_secs());
    }
}
