//! `apply`'s part in the protocol, through the same seams as the handler and the agents: read what
//! the decision needs (the record, the handoff of its epoch, the env's database instances, the
//! newest complete backup), and launch a first primary so that a crash at any point is finished
//! by the next apply — the record says a launch is in flight (and its token) before the launch,
//! the instance carries the token, and the record names the instance after.

use super::error::{HandoffError, Result};
use crate::compute::ComputeError;
use crate::compute::{InstanceView, Instances, LaunchRequest};
use crate::state::{json_body, open, read_handoff, read_primary, StateStore, StoreError};
use spotctl_core::handoff::primary::{PrimaryRecord, Role, RECORD_FORMAT};
use spotctl_core::handoff::{
    assess, newest_backup, ApplyView, Backup, DbInstance, Handoff, OpenedBy, Opening, PrimaryPlan, Step,
    UnknownPrimary,
};
use spotctl_core::plan::Resource;
use spotctl_layout::state as keys;
use spotctl_layout::{handoff_id, BackupRoot};

/// What apply read and what it makes of it.
#[derive(Debug, Clone)]
pub struct Assessed {
    pub plan: PrimaryPlan,
    pub unknown: Vec<UnknownPrimary>,
    pub record: Option<PrimaryRecord>,
    /// The handoff record of the recorded epoch, when one was ever opened.
    pub handoff: Option<Handoff>,
    /// Every database instance of the env in the searched regions.
    pub instances: Vec<InstanceView>,
}

/// Reads the record, its epoch's handoff, the env's database instances in `regions` and the
/// newest complete backup, and decides what apply may do about the database instance.
pub async fn assess_primary(
    store: &dyn StateStore,
    instances: &dyn Instances,
    regions: &[String],
    now: i64,
) -> Result<Assessed> {
    let mut seen = Vec::new();
    for region in regions {
        seen.extend(instances.list(region).await?);
    }
    assess_listed(store, seen, now).await
}

/// [`assess_primary`] with the instances already listed (apply lists them once, with the
/// metadata options its plan compares).
pub async fn assess_listed(store: &dyn StateStore, seen: Vec<InstanceView>, now: i64) -> Result<Assessed> {
    let record = read_primary(store).await?.map(|(r, _)| r);
    let handoff = match &record {
        Some(r) => read_handoff(store, &handoff_id(r.epoch)).await?.map(|(h, _)| h),
        None => None,
    };
    let mut facts = Vec::new();
    for i in &seen {
        let (id, region) = (i.id.clone(), i.region.clone());
        let role = match i.role() {
            Ok(Some(role)) => role,
            Ok(None) => return Err(ComputeError::NoRole { id, region }.into()),
            Err(source) => return Err(ComputeError::UnknownRole { id, region, source }.into()),
        };
        facts.push(DbInstance {
            id: i.id.clone(),
            region: i.region.clone(),
            role,
            state: i.state,
            launch_token: i.launch_token().map(String::from),
        });
    }
    let newest_backup = newest_complete_backup(store).await?;

    // Its own drain and the shipped log matter only when the recorded primary is gone.
    let (own_drain, log) = match record.as_ref() {
        Some(r) if r.has_instance() && !facts.iter().any(|i| i.id == r.instance_id && i.state.is_alive()) => {
            let (stored, sealed) = drain_state(store, &handoff_id(r.epoch)).await?;
            (stored || sealed, crate::protect::log_view(store, r.log_epoch(), now, true).await?)
        }
        _ => (false, None),
    };
    let view = ApplyView {
        record: record.as_ref(),
        handoff: handoff.as_ref(),
        instances: &facts,
        newest_backup,
        own_drain,
        log,
        now,
    };
    let (plan, unknown) = assess(&view);
    Ok(Assessed { plan, unknown, record, handoff, instances: seen })
}

/// Whether handoff `id`'s drain is stored (its manifest exists), and else whether it is sealed
/// (its seal exists: the shipped log holds everything its old primary committed).
pub(crate) async fn drain_state(store: &dyn StateStore, id: &str) -> Result<(bool, bool)> {
    let root = BackupRoot::handoff(id)?;
    if store.get(&root.manifest_key()).await?.is_some() {
        return Ok((true, false));
    }
    Ok((false, store.get(&root.seal_key()).await?.is_some()))
}

/// The newest complete backup (the highest epoch whose manifest exists — the manifest, not a
/// handoff record, is what makes a backup complete: a drain the IMDS notice started has no
/// record), with when its drain completed: from the manifest, else from its handoff's record.
pub async fn newest_complete_backup(store: &dyn StateStore) -> Result<Option<Backup>> {
    // The handoffs' backups only: the watchdog asks every minute, and the shipped log's pieces
    // under `backups/timelines/` would make this a listing of the whole log.
    let keys = store.list(&spotctl_layout::backup::handoff_drains()).await?;
    let Some(id) = newest_backup(keys.iter().map(String::as_str)) else { return Ok(None) };
    let completed = match store.get(&BackupRoot::handoff(&id)?.manifest_key()).await? {
        Some(v) => serde_json::from_slice::<serde_json::Value>(&v.body)
            .ok()
            .and_then(|m| m.get("completed_unix").and_then(serde_json::Value::as_i64)),
        None => None,
    };
    let completed_unix = match completed {
        Some(t) => Some(t),
        None => read_handoff(store, &id).await?.and_then(|(h, _)| h.steps.get(&Step::Drained).copied()),
    };
    Ok(Some(Backup { id, completed_unix }))
}

/// Launches the primary `want` describes and records it. `token` names this launch: the record
/// says it before the instance exists and the instance carries it, so an apply that dies anywhere
/// in between is finished by the next one (which adopts the instance instead of launching twice).
pub async fn launch_primary(
    store: &dyn StateStore,
    instances: &dyn Instances,
    want: &Resource,
    token: &str,
    now: i64,
) -> Result<InstanceView> {
    let v = |k: &str| want.value(k).unwrap_or_default().to_string();
    let region = want.address.region.clone();
    let intent = PrimaryRecord::launching(token, &region, &v("availability_zone"), &v("instance_type"), now);
    let (record, etag) = match read_primary(store).await? {
        None => {
            open(store, &Opening::new(intent.epoch, token, None, OpenedBy::Apply, now)).await?;
            let etag = match store.put_if_absent(keys::PRIMARY, json_body(keys::PRIMARY, &intent)?).await {
                Ok(etag) => etag,
                Err(StoreError::Conflict { .. }) => {
                    return Err(HandoffError::Moved(
                        "another apply recorded a primary meanwhile; plan again".into(),
                    ))
                }
                Err(e) => return Err(e.into()),
            };
            (intent, etag)
        }
        Some((r, etag)) if r.launching.as_deref() == Some(token) => (r, etag),
        Some((r, _)) if r.launching.is_some() => {
            let why = "another apply is launching the primary (its record says so); plan again";
            return Err(HandoffError::Moved(why.into()));
        }
        // A lost primary with no backup, replaced on request: the next epoch starts empty.
        Some((r, etag)) => {
            let next = PrimaryRecord { epoch: r.epoch + 1, ..intent };
            open(store, &Opening::new(next.epoch, token, None, OpenedBy::Apply, now)).await?;
            let etag = match store.put_if_match(keys::PRIMARY, &etag, json_body(keys::PRIMARY, &next)?).await
            {
                Ok(etag) => etag,
                Err(e) if e.is_conflict() => {
                    return Err(HandoffError::Moved(
                        "the primary record changed meanwhile; plan again".into(),
                    ))
                }
                Err(e) => return Err(e.into()),
            };
            (next, etag)
        }
    };
    let adopted = instances
        .list(&region)
        .await?
        .into_iter()
        .filter(|i| i.state.is_alive() && i.launch_token() == Some(token))
        .min_by(|a, b| a.id.cmp(&b.id));
    let inst = match adopted {
        Some(i) => i,
        None => {
            let req = LaunchRequest {
                want: want.clone(),
                role: Role::Primary,
                handoff: None,
                launch_token: Some(token.to_string()),
            };
            instances.launch(&req).await?
        }
    };
    let recorded = PrimaryRecord {
        format: RECORD_FORMAT,
        instance_id: inst.id.clone(),
        availability_zone: inst.az.clone(),
        instance_type: inst.instance_type.clone(),
        launching: None,
        ..record
    };
    open(store, &Opening::new(recorded.epoch, &inst.id, None, OpenedBy::Apply, now)).await?;
    match store.put_if_match(keys::PRIMARY, &etag, json_body(keys::PRIMARY, &recorded)?).await {
        Ok(_) => Ok(inst),
        Err(e) if e.is_conflict() => Err(HandoffError::Moved(format!(
            "the primary record changed while {} launched; plan again (the next apply adopts it)",
            inst.id
        ))),
        Err(e) => Err(e.into()),
    }
}
