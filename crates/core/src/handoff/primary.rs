//! The primary record: which instance is the database's one primary, with a fencing epoch.
//!
//! It lives at `state/primary.json` in the state bucket and is only ever written with a
//! conditional write (create-only the first time, then against the entity tag that was read), so
//! two would-be primaries cannot both win: the loser sees a conflict and stays a standby. The
//! epoch grows by one on each promotion. The record is the truth about which instance is the
//! primary; a `spotctl:role` tag only says what an instance was launched as.

use serde::{Deserialize, Serialize};

/// The record format this build writes for a primary no person kept. Older formats are read
/// (fields they lack take their defaults), so a running env survives an upgrade. Format 3: the
/// primary's agent reports its server's health (`handoff::health`), so a primary that never
/// reported is judged too.
pub const RECORD_FORMAT: u32 = 3;

/// The format of a record that says a person kept its primary ([`Kept`]): an agent that reads
/// only format 3 would not know to lower the given-up handoff's fence, nor which timeline to ship
/// to, so it refuses the record (`handoff::format`) and stays fenced. The newest this build reads.
pub const RECORD_FORMAT_KEPT: u32 = 4;

fn format_1() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimaryRecord {
    /// 1 for records written before formats were numbered.
    #[serde(default = "format_1")]
    pub format: u32,
    pub epoch: u64,
    /// Empty while `launching` (apply recorded its intent but not yet the instance).
    pub instance_id: String,
    pub region: String,
    pub availability_zone: String,
    pub instance_type: String,
    pub since_unix: i64,
    /// The handoff that made this instance primary; `None` for the first launch by `apply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<String>,
    /// While apply launches the first primary: the token the instance is tagged with
    /// (`spotctl:launch`), so an apply that died between the launch and the record finds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launching: Option<String>,
    /// When this primary was recovered from a backup rather than handed the data: which one, and
    /// how many seconds of commits before the loss it could not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<Recovered>,
    /// A person kept this primary (`spotctl keep-primary`): the handoff of the epoch before was
    /// given up, and the primary's agent lowers the fence a drain tag raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<Kept>,
}

/// A primary kept by a person instead of handed off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// The handoff given up.
    pub gave_up: String,
    /// Who kept it (`user@host`).
    pub by: String,
    pub at_unix: i64,
    /// The epoch whose log timeline this same server goes on shipping to (a kept primary keeps
    /// its binary log, and so its timeline).
    pub log_epoch: u64,
}

/// A primary recovered from a backup, or from the shipped log, after the one before it was lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovered {
    /// The backup restored (`None`: the shipped log was recovered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// Unknown for a backup that does not say when it completed; for the log, at most this.
    pub data_loss_window_s: Option<i64>,
}

impl Recovered {
    /// `backup epoch-3`, or `the shipped log`.
    pub fn what(&self) -> String {
        match &self.backup {
            Some(b) => format!("backup {b}"),
            None => "the shipped log".into(),
        }
    }
}

impl PrimaryRecord {
    /// The record that follows this one when `next` takes over.
    pub fn succeeded_by(&self, next: PrimaryRecord) -> PrimaryRecord {
        PrimaryRecord { format: RECORD_FORMAT, epoch: self.epoch + 1, launching: None, kept: None, ..next }
    }

    /// The record that follows this one when a person keeps this primary instead of its epoch's
    /// handoff: the same instance, at the next epoch (so no standby of the handoff given up can
    /// win the record any more).
    pub fn kept(&self, gave_up: &str, by: &str, now: i64) -> PrimaryRecord {
        let kept = Kept {
            gave_up: gave_up.to_string(),
            by: by.to_string(),
            at_unix: now,
            log_epoch: self.log_epoch(),
        };
        PrimaryRecord {
            format: RECORD_FORMAT_KEPT,
            epoch: self.epoch + 1,
            launching: None,
            since_unix: now,
            handoff: None,
            recovered: None,
            kept: Some(kept),
            ..self.clone()
        }
    }

    /// The record apply writes before it launches the first primary.
    pub fn launching(token: &str, region: &str, az: &str, instance_type: &str, now: i64) -> PrimaryRecord {
        PrimaryRecord {
            format: RECORD_FORMAT,
            epoch: 1,
            instance_id: String::new(),
            region: region.to_string(),
            availability_zone: az.to_string(),
            instance_type: instance_type.to_string(),
            since_unix: now,
            handoff: None,
            launching: Some(token.to_string()),
            recovered: None,
            kept: None,
        }
    }

    /// The epoch whose log timeline this primary ships to: its own, or, when a person kept it, the
    /// one it shipped to before (the same server, the same binary log).
    pub fn log_epoch(&self) -> u64 {
        self.kept.as_ref().map_or(self.epoch, |k| k.log_epoch)
    }

    /// Whether an instance is recorded yet (false while apply's launch is in flight).
    pub fn has_instance(&self) -> bool {
        !self.instance_id.is_empty()
    }
}

/// What a database instance is, as its `spotctl:role` tag says. Parsed once from the tag: an
/// unknown value is an error, never a silent "not primary".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The one instance that takes writes (the primary record names it).
    Primary,
    /// Launched for a handoff: restores, verifies, and promotes only by winning the record.
    Standby,
}

/// A `spotctl:role` tag with a value spotctl does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the spotctl:role tag is `{0}`; spotctl knows `primary` and `standby`")]
pub struct UnknownRole(pub String);

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Standby => "standby",
        }
    }

    pub fn parse(tag: &str) -> Result<Role, UnknownRole> {
        match tag {
            "primary" => Ok(Role::Primary),
            "standby" => Ok(Role::Standby),
            other => Err(UnknownRole(other.to_string())),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An instance's life-cycle state as EC2 reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
}

impl InstanceState {
    pub fn parse(s: &str) -> Option<InstanceState> {
        Some(match s {
            "pending" => InstanceState::Pending,
            "running" => InstanceState::Running,
            "stopping" => InstanceState::Stopping,
            "stopped" => InstanceState::Stopped,
            "shutting-down" => InstanceState::ShuttingDown,
            "terminated" => InstanceState::Terminated,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
        }
    }

    /// Pending or running: the instance is, or is about to be, a database server.
    pub fn is_alive(self) -> bool {
        matches!(self, InstanceState::Pending | InstanceState::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_their_tag_and_nothing_else() {
        for r in [Role::Primary, Role::Standby] {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
        }
        assert_eq!(Role::parse("Primary"), Err(UnknownRole("Primary".into())));
        assert!(Role::parse("").is_err());
    }

    #[test]
    fn a_record_written_before_formats_were_numbered_still_reads() {
        let v1 = r#"{"epoch": 3, "instance_id": "i-1", "region": "r", "availability_zone": "r-1a",
            "instance_type": "m5.large", "since_unix": 10, "handoff": "epoch-2"}"#;
        let r: PrimaryRecord = serde_json::from_str(v1).expect("format 1 reads");
        assert_eq!((r.format, r.epoch, r.launching.as_deref(), r.recovered.as_ref()), (1, 3, None, None));
        let next = r.succeeded_by(PrimaryRecord { handoff: Some("epoch-3".into()), ..r.clone() });
        assert_eq!((next.format, next.epoch), (RECORD_FORMAT, 4));
        let back: PrimaryRecord =
            serde_json::from_str(&serde_json::to_string(&next).expect("json")).expect("reads");
        assert_eq!(back, next);
    }

    #[test]
    fn a_record_is_written_in_the_lowest_format_that_holds_it() {
        let first = PrimaryRecord::launching("t", "r", "r-1a", "m5.large", 5);
        assert_eq!(first.format, RECORD_FORMAT);
        let kept = first.kept("epoch-1", "op@host", 9);
        assert_eq!((kept.format, kept.epoch), (RECORD_FORMAT_KEPT, 2));
        // The next promotion writes an ordinary record again: an agent that reads only format 3
        // can follow it.
        let next = kept.succeeded_by(PrimaryRecord { instance_id: "i-2".into(), ..kept.clone() });
        assert_eq!((next.format, next.kept.as_ref()), (RECORD_FORMAT, None));
    }

    #[test]
    fn instance_states_read_what_ec2_writes() {
        for s in ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"] {
            assert_eq!(InstanceState::parse(s).map(InstanceState::as_str), Some(s));
        }
        assert_eq!(InstanceState::parse("gone"), None);
        assert!(InstanceState::Running.is_alive() && !InstanceState::Stopping.is_alive());
    }
}
