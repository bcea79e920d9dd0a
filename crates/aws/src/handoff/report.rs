//! What the agent saw on one look ([`Observation`]), what it decided ([`Decision`]) and what it
//! did ([`Did`]), as JSON for `agent watch --once` and as a line for the journal.

use super::database::{Drained, Restored, Sealed};
use super::endpoint::EndpointStep;
use super::promote::Promotion;
use serde::Serialize;
use spotctl_core::handoff::primary::{PrimaryRecord, Role};
use spotctl_core::handoff::{PrimaryAction, StandbyAction};
use spotctl_layout::BackupRoot;

/// Which actor decided, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "actor", content = "next", rename_all = "snake_case")]
pub enum Decision {
    Primary(PrimaryAction),
    Standby(StandbyAction),
}

/// One look at the world and the decision it leads to.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub instance_id: String,
    pub region: String,
    pub role: Role,
    pub handoff: Option<String>,
    pub drain_tag: Option<String>,
    pub interruption_notice: bool,
    /// Why this server's writes are off for good (the notice or a drain tag), once they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fenced: Option<String>,
    pub primary: Option<PrimaryRecord>,
    /// The backup this instance's decision depends on is complete (the primary: its epoch's own
    /// drain; a standby: the backup its handoff restores).
    pub manifest_present: bool,
    /// The handoff that replaced this instance as the primary, if one did.
    pub replaced_by: Option<String>,
    pub decision: Decision,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Did {
    /// Nothing but what the decision says (wait, stay fenced).
    Nothing,
    /// The recorded primary: tagged primary and taking writes (`repaired` when either was not so).
    Served {
        repaired: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        endpoint: Option<EndpointStep>,
    },
    /// Drained in full; `unsealed` says why the drain could not be sealed instead.
    Drained {
        id: String,
        drained: Drained,
        #[serde(skip_serializing_if = "Option::is_none")]
        unsealed: Option<String>,
    },
    /// Fenced for good, and the shipped log holds everything this server committed: sealed.
    Sealed {
        id: String,
        sealed: Sealed,
    },
    Restored {
        id: String,
        restored: Restored,
        promotion: Promotion,
        #[serde(skip_serializing_if = "Option::is_none")]
        endpoint: Option<EndpointStep>,
    },
    /// Restore or verification failed: never promoted; the note names the fallback. The instance
    /// terminates itself; the handoff goes on with another standby.
    Refused {
        id: String,
        note: String,
    },
    /// Another standby won or the handoff moved on: the instance terminates itself.
    Abandoned {
        why: String,
    },
    Retired {
        successor: String,
        instance_id: String,
    },
    /// The recorded primary, kept fenced: a drain tag or the notice raised the fence, and no
    /// handoff of this epoch asks for the drain.
    KeptFenced {
        why: String,
    },
}

impl std::fmt::Display for Did {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Did::Nothing => f.write_str("nothing to do"),
            Did::Served { repaired, endpoint } => {
                f.write_str(if *repaired {
                    "serving: re-asserted the primary's tag and writes on"
                } else {
                    "serving"
                })?;
                match endpoint {
                    Some(e) => write!(f, "; {e}"),
                    None => Ok(()),
                }
            }
            Did::Drained { id, drained: d, unsealed } => {
                write!(
                    f,
                    "drained {} tables ({} as InnoDB files), {} rows, to {} in {} ms",
                    d.tables,
                    d.tables_as_files,
                    d.rows,
                    drain_key(id, BackupRoot::manifest_key),
                    d.ms
                )?;
                match unsealed {
                    Some(why) => write!(f, " (not sealed: {why})"),
                    None => Ok(()),
                }
            }
            Did::Sealed { id, sealed: s } => write!(
                f,
                "sealed {}: fenced, and timeline {}'s shipped log holds GTID {} (it took {} ms to get there)",
                drain_key(id, BackupRoot::seal_key),
                s.timeline,
                if s.gtid.is_empty() { "-" } else { &s.gtid },
                s.waited_ms
            ),
            Did::Restored { restored: r, promotion, endpoint, .. } => {
                write!(
                    f,
                    "restored and verified {} tables, {} rows in {} ms; {promotion}",
                    r.tables, r.rows, r.ms
                )?;
                match endpoint {
                    Some(e) => write!(f, "; {e}"),
                    None => Ok(()),
                }
            }
            Did::Refused { note, .. } => f.write_str(note),
            Did::Abandoned { why } => write!(f, "abandoned ({why}); terminating"),
            Did::Retired { successor, instance_id } => {
                write!(f, "retired: {successor} is the primary; terminating {instance_id}")
            }
            Did::KeptFenced { why } => write!(f, "the recorded primary, kept fenced by {why}"),
        }
    }
}

/// A key of handoff `id`'s drain, for a person to read (the id itself if it cannot make one).
fn drain_key(id: &str, key: fn(&BackupRoot) -> String) -> String {
    BackupRoot::handoff(id).map(|r| key(&r)).unwrap_or_else(|_| id.to_string())
}
