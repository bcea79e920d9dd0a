//! Promotion, the fencing step: epoch N → N+1 with a compare-and-swap of the primary record
//! against what was read. Only when that write lands does the standby turn writes on and tag
//! itself primary. A write that comes back as a conflict is read again before anything is
//! concluded: if the record names this instance, the write landed and only its reply was lost.

use super::database::Database;
use super::error::Result;
use super::fence::LocalFence;
use crate::compute::Instances;
use crate::state::{json_body, read_handoff, read_primary, StateStore, StoreError};
use serde::Serialize;
use spotctl_core::handoff::primary::{PrimaryRecord, Recovered, Role};
use spotctl_core::names::TAG_ROLE;
use spotctl_layout::handoff_id;
use spotctl_layout::state as keys;
use std::sync::Arc;

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

/// Promotes `me` to succeed handoff `id`'s epoch, at time `now`: the record written, then the
/// new epoch's log timeline begun (a recovered standby's own, which it could not begin before it
/// won), then writes on.
pub(crate) async fn promote(
    store: &Arc<dyn StateStore>,
    db: &dyn Database,
    fence: &LocalFence,
    instances: &dyn Instances,
    me: Successor,
    id: &str,
    now: i64,
) -> Result<Promotion> {
    let log_store = store.clone();
    let store = store.as_ref();
    let Some((record, etag)) = read_primary(store).await? else {
        return Ok(Promotion::StoodDown { reason: "no primary record".into() });
    };
    if handoff_id(record.epoch) != id {
        return Ok(Promotion::StoodDown {
            reason: format!("the primary moved on to epoch {}", record.epoch),
        });
    }
    // A recovery says in the record what it could not bring back.
    let recovered = match read_handoff(store, id).await? {
        Some((h, _)) if h.names_its_source() => {
            Some(Recovered { backup: h.backup.clone(), data_loss_window_s: h.data_loss_window_s })
        }
        Some(_) => None,
        None => None,
    };
    let next = record.succeeded_by(PrimaryRecord {
        instance_id: me.instance_id.clone(),
        region: me.region.clone(),
        availability_zone: me.availability_zone,
        instance_type: me.instance_type,
        since_unix: now,
        handoff: Some(id.to_string()),
        recovered,
        ..record.clone()
    });
    match store.put_if_match(keys::PRIMARY, &etag, json_body(keys::PRIMARY, &next)?).await {
        Ok(_) => {}
        Err(e @ (StoreError::Conflict { .. } | StoreError::NotFound { .. } | StoreError::Failed { .. })) => {
            // Read again: a lost reply is a write that landed.
            let now_recorded = read_primary(store).await?.map(|(r, _)| r);
            match now_recorded {
                Some(r) if r.instance_id == me.instance_id && r.epoch == next.epoch => {}
                // Nothing landed and nobody else wrote: the store failed; the next look retries.
                Some(r) if r.epoch == record.epoch && !e.is_conflict() => return Err(e.into()),
                Some(r) => {
                    return Ok(Promotion::StoodDown {
                        reason: format!(
                            "another instance won the primary record (epoch {} is {})",
                            r.epoch, r.instance_id
                        ),
                    })
                }
                None if e.is_conflict() => {
                    return Ok(Promotion::StoodDown { reason: "the primary record vanished".into() })
                }
                None => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    }
    // The record names this instance now: its log timeline is begun before it takes a write (a
    // failure leaves the promotion standing; the serving agent's next look begins it).
    db.begin_log(log_store, next.log_epoch()).await?;
    // Its writes go on unless its own notice came first (then its next look drains it, as any
    // warned primary).
    fence.allow_writes(db).await?;
    instances.tag(&me.region, &me.instance_id, TAG_ROLE, Role::Primary.as_str()).await?;
    Ok(Promotion::Promoted { epoch: next.epoch, instance_id: me.instance_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::{InstanceView, MemoryInstances};
    use crate::handoff::MemoryDatabase;
    use crate::state::{Fault, MemoryStore, Op};
    use futures::executor::block_on;
    use spotctl_core::handoff::primary::InstanceState;
    use spotctl_core::handoff::{Cause, Handoff};

    const REGION: &str = "ap-northeast-1";

    /// A primary at epoch 1 with its handoff open, and standbys `ids` running.
    fn warned(ids: &[&str]) -> (MemoryStore, MemoryInstances) {
        let store = MemoryStore::new();
        let record = PrimaryRecord { epoch: 1, ..PrimaryRecord::launching("", REGION, "", "", 0) };
        let record = PrimaryRecord { instance_id: "i-primary".into(), ..record };
        let h = Handoff::new(Cause::Interruption, &record, 1_000);
        let key = spotctl_layout::state::handoff_key(&h.id);
        block_on(store.put(keys::PRIMARY, json_body(keys::PRIMARY, &record).expect("json"))).expect("record");
        block_on(store.put(&key, json_body(&key, &h).expect("json"))).expect("handoff");
        let ec2 = MemoryInstances::new("dev");
        for id in ids {
            ec2.insert(InstanceView {
                id: (*id).into(),
                region: REGION.into(),
                az: format!("{REGION}b"),
                instance_type: "m5.large".into(),
                state: InstanceState::Running,
                tags: [(TAG_ROLE.to_string(), "standby".to_string())].into(),
                address: None,
            });
        }
        (store, ec2)
    }

    fn me(id: &str) -> Successor {
        Successor {
            instance_id: id.into(),
            region: REGION.into(),
            availability_zone: format!("{REGION}b"),
            instance_type: "m5.large".into(),
        }
    }

    #[test]
    fn of_two_promotions_racing_for_one_epoch_exactly_one_wins_and_a_lost_reply_is_read_again() {
        let (store, ec2) = warned(&["i-a", "i-b"]);
        let store: Arc<dyn StateStore> = Arc::new(store);
        let (a, b) = (MemoryDatabase::new(vec![], true), MemoryDatabase::new(vec![], true));
        let (pa, pb) = block_on(futures::future::join(
            promote(&store, &a, &LocalFence::default(), &ec2, me("i-a"), "epoch-1", 1_100),
            promote(&store, &b, &LocalFence::default(), &ec2, me("i-b"), "epoch-1", 1_100),
        ));
        let won = [&pa, &pb].iter().filter(|p| matches!(p, Ok(Promotion::Promoted { .. }))).count();
        assert_eq!(won, 1, "{pa:?} {pb:?}");
        assert_eq!([a.state().read_only, b.state().read_only].iter().filter(|r| !**r).count(), 1);
        // A write that lands but whose reply is lost: the promoter reads again and knows it won.
        let (store, ec2) = warned(&["i-c"]);
        let lossy: Arc<dyn StateStore> = Arc::new(store.with_faults(|op, key| {
            (op == Op::PutIfMatch && key == keys::PRIMARY).then_some(Fault::LoseReply)
        }));
        let c = MemoryDatabase::new(vec![], true);
        let p = block_on(promote(&lossy, &c, &LocalFence::default(), &ec2, me("i-c"), "epoch-1", 1_100))
            .expect("promotes");
        assert_eq!(p, Promotion::Promoted { epoch: 2, instance_id: "i-c".into() });
        assert!(!c.state().read_only);
    }
}
