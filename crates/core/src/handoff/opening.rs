//! Openings: which primaries the control plane allowed, so a record an instance forged is not one.
//!
//! An instance's role must replace `state/primary.json` (a standby's promotion is a
//! compare-and-swap of it), so a compromised instance could write any record there. Before any
//! instance may be recorded as the primary at an epoch, the control plane — the handler when it
//! launches a standby, `apply` for the first primary, a person's `keep-primary` or `import` —
//! creates `state/openings/<epoch>-<who>.json` (create-only; no instance may write under
//! `state/openings/`). A record is the primary record only while its opening exists; readers
//! take the newest version of `state/primary.json` that has one and report any newer one as
//! forged (ARD.md, *Trust boundaries*).

use super::primary::PrimaryRecord;
use serde::{Deserialize, Serialize};

/// The opening format this build writes.
pub const OPENING_FORMAT: u32 = 1;

/// Who opened an epoch for an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenedBy {
    /// The handler (or `apply`'s recovery) launched this standby for a handoff.
    Launch,
    /// `apply` launched or recorded the first primary.
    Apply,
    /// A person kept the primary (`spotctl keep-primary`).
    Keep,
    /// A person imported a running primary (`spotctl import`).
    Import,
}

/// `state/openings/<epoch>-<who>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    pub format: u32,
    pub epoch: u64,
    /// The instance allowed, or the launch token of apply's first primary before it has one.
    pub who: String,
    /// The handoff whose standby this is, when a launch opened it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<String>,
    pub by: OpenedBy,
    pub at_unix: i64,
}

impl Opening {
    pub fn new(epoch: u64, who: &str, handoff: Option<&str>, by: OpenedBy, now: i64) -> Opening {
        Opening {
            format: OPENING_FORMAT,
            epoch,
            who: who.to_string(),
            handoff: handoff.map(str::to_string),
            by,
            at_unix: now,
        }
    }

    /// The opening a record needs: the instance it names at its epoch (apply's launch token
    /// while it has none).
    pub fn key_for(record: &PrimaryRecord) -> Option<String> {
        let who = if record.has_instance() {
            Some(record.instance_id.as_str())
        } else {
            record.launching.as_deref()
        };
        who.map(|w| spotctl_layout::state::opening_key(record.epoch, w))
    }

    /// This opening's own key.
    pub fn key(&self) -> String {
        spotctl_layout::state::opening_key(self.epoch, &self.who)
    }

    /// Whether this opening allows `record` (the same epoch and instance, and, for a launch, the
    /// same handoff).
    pub fn allows(&self, record: &PrimaryRecord) -> bool {
        let who = if record.has_instance() {
            Some(record.instance_id.as_str())
        } else {
            record.launching.as_deref()
        };
        let handoff_matches = match (self.by, &self.handoff) {
            (OpenedBy::Launch, Some(h)) => record.handoff.as_deref() == Some(h.as_str()),
            _ => true,
        };
        self.epoch == record.epoch && who == Some(self.who.as_str()) && handoff_matches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: u64, id: &str, handoff: Option<&str>) -> PrimaryRecord {
        let mut r = PrimaryRecord::launching("tok", "r", "r-a", "t", 0);
        r.epoch = epoch;
        r.instance_id = id.into();
        r.launching = None;
        r.handoff = handoff.map(str::to_string);
        r
    }

    #[test]
    fn an_opening_allows_only_its_epoch_its_instance_and_its_handoff() {
        let o = Opening::new(4, "i-b", Some("epoch-3"), OpenedBy::Launch, 10);
        assert_eq!(Opening::key_for(&record(4, "i-b", Some("epoch-3"))), Some(o.key()));
        assert!(o.allows(&record(4, "i-b", Some("epoch-3"))));
        assert!(!o.allows(&record(5, "i-b", Some("epoch-3"))), "another epoch");
        assert!(!o.allows(&record(4, "i-x", Some("epoch-3"))), "another instance");
        assert!(!o.allows(&record(4, "i-b", Some("epoch-2"))), "another handoff");
        let kept = Opening::new(4, "i-b", None, OpenedBy::Keep, 10);
        assert!(kept.allows(&record(4, "i-b", None)));
    }

    #[test]
    fn apply_s_launching_record_is_opened_by_its_token() {
        let r = PrimaryRecord::launching("tok-1", "r", "r-a", "t", 0);
        assert_eq!(Opening::key_for(&r), Some(spotctl_layout::state::opening_key(1, "tok-1")));
        assert!(Opening::new(1, "tok-1", None, OpenedBy::Apply, 0).allows(&r));
        assert!(!Opening::new(1, "tok-2", None, OpenedBy::Apply, 0).allows(&r));
    }
}
