//! Promotion, the fencing step: epoch N → N+1 with a compare-and-swap of the primary record
//! against what was read. Only when that write lands does the standby lift its fence and tag itself
//! primary; a lost race means another standby won, and this one stands down.

use super::database::Database;
use crate::compute::Instances;
use crate::state::{json_body, read_primary, StateStore, StoreError};
use anyhow::Result;
use serde::Serialize;
use spotctl_core::handoff::handoff_id;
use spotctl_core::names::{keys, TAG_ROLE};
use spotctl_core::primary::{PrimaryRecord, Role};

/// How a promotion attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "promotion", rename_all = "snake_case")]
pub enum Promotion {
    Promoted {
        epoch: u64,
        instance_id: String,
    },
    /// Not promoted, and why (no record, the epoch moved on, another standby won).
    StoodDown {
        reason: String,
    },
}

impl std::fmt::Display for Promotion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Promotion::Promoted { epoch, instance_id } => {
                write!(f, "promoted: epoch {epoch} is {instance_id}")
            }
            Promotion::StoodDown { reason } => write!(f, "not promoted: {reason}"),
        }
    }
}

/// The instance that would become the primary, as its metadata describes it.
pub(crate) struct Successor {
    pub instance_id: String,
    pub region: String,
    pub availability_zone: String,
    pub instance_type: String,
}

/// Promotes `me` to succeed handoff `id`'s epoch, at time `now`.
pub(crate) async fn promote(
    store: &dyn StateStore,
    db: &dyn Database,
    instances: &dyn Instances,
    me: Successor,
    id: &str,
    now: i64,
) -> Result<Promotion> {
    let Some((record, etag)) = read_primary(store).await? else {
        return Ok(Promotion::StoodDown { reason: "no primary record".into() });
    };
    if handoff_id(record.epoch) != id {
        return Ok(Promotion::StoodDown {
            reason: format!("the primary moved on to epoch {}", record.epoch),
        });
    }
    let next = record.succeeded_by(PrimaryRecord {
        epoch: record.epoch,
        instance_id: me.instance_id.clone(),
        region: me.region.clone(),
        availability_zone: me.availability_zone,
        instance_type: me.instance_type,
        since_unix: now,
        handoff: Some(id.to_string()),
    });
    match store.put_if_match(keys::PRIMARY, &etag, json_body(keys::PRIMARY, &next)?).await {
        Ok(_) => {}
        Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => {
            return Ok(Promotion::StoodDown { reason: "another instance won the primary record".into() })
        }
        Err(e) => return Err(e.into()),
    }
    db.lift_fence().await?;
    instances.tag(&me.region, &me.instance_id, TAG_ROLE, Role::Primary.as_str()).await?;
    Ok(Promotion::Promoted { epoch: next.epoch, instance_id: me.instance_id })
}
