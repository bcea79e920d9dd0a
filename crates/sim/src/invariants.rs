//! What must hold, checked after every step of every run, and at the end of a run.
//!
//! After every step:
//! 1. At most one server takes writes (so, at most one per epoch), counting a server until EC2
//!    says its instance is terminated (one shutting down may still take a write).
//! 2. Nothing takes writes without a verified restore, unless apply launched it as a first (or
//!    knowingly empty) primary.
//! 3. A server that drained a complete backup never takes writes again, unless a person kept it
//!    as the primary, giving that handoff up (`spotctl keep-primary`).
//! 4. A server that was restored from a backup holds every row of that backup, and every commit
//!    acknowledged on the server that drained it (the warned handoff loses nothing); the same
//!    of a drain sealed rather than stored (recovered from the shipped log up to the seal);
//!    after a recovery from an older backup, every commit up to that backup; after a recovery
//!    from the shipped log, every row shipped to the timeline it recovered.
//! 5. The endpoint never goes back to an older epoch, and never names an epoch the primary record
//!    has not reached.
//! 6. A server whose fence the notice or a drain tag raised never takes writes again, whatever its
//!    agent or the bucket says.
//!
//! At the end of a run whose last part was calm (capacity, no faults, the watchdog running and an
//! operator applying): exactly one primary — one live instance tagged primary, named by the
//! record, taking writes — and it holds every row of every complete backup and every row ever
//! shipped to any timeline of the log, and every row of every drain, stored or sealed (but the
//! drains of handoffs a person gave up by keeping their primary); the endpoint names it, with its
//! epoch.

use crate::world::{World, ENDPOINT_NAME, ENDPOINT_ZONE};
use serde_json::Value;
use spotctl_aws::handoff::memory_log_rows;
use spotctl_aws::state::read_primary;
use spotctl_core::handoff::primary::Role;
use spotctl_layout::{BackupRoot, Key};
use std::collections::BTreeSet;

/// A broken invariant, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rows of drain `id` and the server that drained it, if the drain is complete: its
/// manifest (`manifest.json`, `drained_by`) or its seal (`seal.json`, `sealed_by`).
fn backup(w: &World, id: &str, key: fn(&BackupRoot) -> String) -> Option<(BTreeSet<u64>, String)> {
    let key = key(&BackupRoot::handoff(id).ok()?);
    let v = futures::executor::block_on(spotctl_aws::state::StateStore::get(&w.store, &key)).ok()??;
    let m: Value = serde_json::from_slice(&v.body).ok()?;
    let rows = m.get("rows")?.as_array()?.iter().filter_map(Value::as_u64).collect();
    let by = m.get("drained_by").or_else(|| m.get("sealed_by"))?;
    Some((rows, by.as_str()?.to_string()))
}

/// The rows of every complete drain, stored or sealed, by key (at the end only: it reads them all).
fn backups(w: &World) -> Vec<(String, BTreeSet<u64>)> {
    w.store
        .snapshot()
        .into_iter()
        .filter_map(|(k, body)| {
            let (Key::DrainManifest(id) | Key::DrainSeal(id)) = Key::parse(&k)? else { return None };
            if w.given_up.borrow().contains(id) {
                return None;
            }
            let m: Value = serde_json::from_slice(&body).ok()?;
            let rows = m.get("rows")?.as_array()?.iter().filter_map(Value::as_u64).collect();
            Some((k, rows))
        })
        .collect()
}

fn endpoint(w: &World) -> Option<spotctl_core::endpoint::EndpointRecord> {
    use spotctl_aws::dns::Dns;
    futures::executor::block_on(w.dns.read(ENDPOINT_ZONE, ENDPOINT_NAME)).ok().flatten()
}

fn endpoint_never_goes_back(w: &World) -> Result<(), Violation> {
    let Some(now) = endpoint(w) else { return Ok(()) };
    let seen = w.endpoint_epoch.replace(now.epoch.max(w.endpoint_epoch.get()));
    if now.epoch < seen {
        return Err(Violation(format!(
            "the endpoint went back from epoch {seen} to {} ({})",
            now.epoch, now.address
        )));
    }
    if now.epoch > seen {
        let record = futures::executor::block_on(read_primary(&w.store)).ok().flatten().map(|(r, _)| r.epoch);
        if record.is_none_or(|r| r < now.epoch) {
            return Err(Violation(format!(
                "the endpoint names epoch {} before the record does ({record:?})",
                now.epoch
            )));
        }
    }
    Ok(())
}

fn fenced_stays_fenced(w: &World) -> Result<(), Violation> {
    for (id, fence) in &w.fences {
        let Some(Some(why)) = fence.try_raised() else { continue };
        if w.dbs.get(id).is_some_and(|d| d.writable_now()) && w.may_serve(id) {
            return Err(Violation(format!("{id} takes writes although {why} fenced it")));
        }
    }
    Ok(())
}

pub fn after_step(w: &World) -> Result<(), Violation> {
    if let Ok(Some((r, _))) = futures::executor::block_on(read_primary(&w.store)) {
        if let Some(k) = r.kept {
            w.given_up.borrow_mut().insert(k.gave_up);
        }
    }
    endpoint_never_goes_back(w)?;
    fenced_stays_fenced(w)?;
    // Until EC2 says terminated, a server may still take a write: one shutting down counts.
    let writable: Vec<_> = w
        .dbs
        .iter()
        .filter(|(id, d)| d.writable_now() && w.may_serve(id))
        .filter_map(|(id, _)| w.ec2.get(id))
        .collect();
    if writable.len() > 1 {
        let ids: Vec<&str> = writable.iter().map(|i| i.id.as_str()).collect();
        return Err(Violation(format!("{} servers take writes at once: {ids:?}", ids.len())));
    }
    for i in writable {
        let state = w.dbs[&i.id].state();
        if let Some(b) = &state.drained_into {
            // Unless a person kept it as the primary, giving that handoff up.
            let record = futures::executor::block_on(read_primary(&w.store)).ok().flatten().map(|(r, _)| r);
            let kept = record
                .is_some_and(|r| r.instance_id == i.id && r.kept.as_ref().is_some_and(|k| &k.gave_up == b));
            if !kept {
                return Err(Violation(format!("{} drained backup {b} and takes writes again", i.id)));
            }
        }
        let Some(b) = &state.restored_from else {
            if i.launch_token().is_none() {
                return Err(Violation(format!("{} takes writes without a verified restore", i.id)));
            }
            continue;
        };
        if !w.checked.borrow_mut().insert((i.id.clone(), b.clone())) {
            continue;
        }
        let rows: BTreeSet<u64> = state.rows.iter().copied().collect();
        if let Some(t) = b.strip_prefix("log:").and_then(|t| t.parse::<u32>().ok()) {
            let shipped = futures::executor::block_on(memory_log_rows(&w.store, t)).unwrap_or_default();
            if let Some(missing) = shipped.iter().find(|r| !rows.contains(r)) {
                return Err(Violation(format!(
                    "{} lacks row {missing}, shipped to timeline {t} it recovered from the log",
                    i.id
                )));
            }
            continue;
        }
        // A drain sealed rather than stored: every row its server acknowledged is in the log the
        // standby replayed, as every row of a stored drain is in the manifest.
        let found = match b.strip_prefix("seal:") {
            Some(id) => backup(w, id, BackupRoot::seal_key),
            None => backup(w, b, BackupRoot::manifest_key),
        };
        let Some((backup, source)) = found else { continue };
        if let Some(missing) = backup.difference(&rows).next() {
            return Err(Violation(format!(
                "{} lacks row {missing} of backup {b} it was restored from",
                i.id
            )));
        }
        if let Some(a) = w.acked.iter().find(|a| a.instance == source && !rows.contains(&a.row)) {
            return Err(Violation(format!(
                "row {} acknowledged by {source}, which drained {b}, is missing from {}",
                a.row, i.id
            )));
        }
    }
    Ok(())
}

pub fn at_end(w: &World) -> Result<(), Violation> {
    let record = futures::executor::block_on(read_primary(&w.store))
        .map_err(|e| Violation(format!("reading the record: {e}")))?
        .map(|(r, _)| r)
        .ok_or_else(|| Violation("no primary is recorded at the end".into()))?;
    let alive = w.alive();
    let recorded = alive.iter().find(|i| i.id == record.instance_id);
    if recorded.is_none_or(|i| i.role() != Ok(Some(Role::Primary))) {
        return Err(Violation(format!(
            "the run ends without its primary: the record (epoch {}) names {}, which is {}",
            record.epoch,
            record.instance_id,
            if recorded.is_some() { "not tagged primary" } else { "gone" }
        )));
    }
    // Anything else tagged primary (an instance a person launched) is shown by apply, never
    // handled silently, and never takes writes.
    let strays: Vec<&str> = alive
        .iter()
        .filter(|i| {
            i.id != record.instance_id && i.role() == Ok(Some(Role::Primary)) && !i.id.starts_with("i-stray")
        })
        .map(|i| i.id.as_str())
        .collect();
    if !strays.is_empty() {
        return Err(Violation(format!(
            "the run ends with other primaries {strays:?} beside {}",
            record.instance_id
        )));
    }
    let db = w.dbs.get(&record.instance_id).map(|d| d.state());
    let Some(db) = db.filter(|d| !d.read_only) else {
        return Err(Violation(format!("the recorded primary {} does not take writes", record.instance_id)));
    };
    let address = alive.iter().find(|i| i.id == record.instance_id).and_then(|i| i.address.clone());
    match endpoint(w) {
        Some(e) if Some(&e.address) == address.as_ref() && e.epoch == record.epoch => {}
        other => {
            return Err(Violation(format!(
            "the endpoint names {other:?} at the end, not the recorded primary {} ({address:?}, epoch {})",
            record.instance_id, record.epoch
        )))
        }
    }
    let rows: BTreeSet<u64> = db.rows.iter().copied().collect();
    for (key, body) in w.store.snapshot() {
        if !key.ends_with("/memory-log.json") {
            continue;
        }
        let shipped: Value = serde_json::from_slice(&body).unwrap_or_default();
        let shipped = shipped.get("rows").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some(missing) = shipped.iter().filter_map(Value::as_u64).find(|r| !rows.contains(r)) {
            return Err(Violation(format!("row {missing}, shipped to {key}, is not in the final primary")));
        }
    }
    for (id, backup) in backups(w) {
        if let Some(missing) = backup.difference(&rows).next() {
            return Err(Violation(format!(
                "row {missing} of the complete drain {id} is not in the final primary"
            )));
        }
    }
    Ok(())
}
