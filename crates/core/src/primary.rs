//! The primary record: which instance is the database's one primary, with a fencing epoch.
//!
//! It lives at `state/primary.json` in the state bucket and is only ever replaced with a
//! conditional write against the entity tag that was read, so two would-be primaries cannot both
//! win: the loser sees a conflict and stays a standby. The epoch grows by one on each promotion.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimaryRecord {
    pub epoch: u64,
    pub instance_id: String,
    pub region: String,
    pub availability_zone: String,
    pub instance_type: String,
    pub since_unix: i64,
    /// The handoff that made this instance primary; `None` for the first launch by `apply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<String>,
}

impl PrimaryRecord {
    /// The record that follows this one when `next` takes over.
    pub fn succeeded_by(&self, next: PrimaryRecord) -> PrimaryRecord {
        PrimaryRecord { epoch: self.epoch + 1, ..next }
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
    fn instance_states_read_what_ec2_writes() {
        for s in ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"] {
            assert_eq!(InstanceState::parse(s).map(InstanceState::as_str), Some(s));
        }
        assert_eq!(InstanceState::parse("gone"), None);
        assert!(InstanceState::Running.is_alive() && !InstanceState::Stopping.is_alive());
    }
}
