//! What a server must hold (invariant 4 after every step, and the rows at the end of a run): a
//! restored server, what it was restored from and what the application was told; the final
//! primary, every complete drain and everything ever shipped.

use crate::invariants::{Invariant, Violation};
use crate::world::World;
use futures::executor::block_on;
use serde_json::Value;
use spotctl_aws::compute::InstanceView;
use spotctl_aws::handoff::{memory_log_rows, MemoryRows};
use spotctl_layout::{BackupRoot, Key};
use std::collections::BTreeSet;

/// The rows of drain `id` and the server that drained it, if the drain is complete: its
/// manifest (`manifest.json`, `drained_by`) or its seal (`seal.json`, `sealed_by`).
fn backup(w: &World, id: &str, key: fn(&BackupRoot) -> String) -> Option<(BTreeSet<u64>, String)> {
    let key = key(&BackupRoot::handoff(id).ok()?);
    let v = block_on(spotctl_aws::state::StateStore::get(&w.store, &key)).ok()??;
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

/// Invariant 4 of `i`, which took writes for the first time since it was restored from `b`.
pub fn restored(w: &World, i: &InstanceView, state: &MemoryRows, b: &str) -> Vec<Violation> {
    let rows: BTreeSet<u64> = state.rows.iter().copied().collect();
    if let Some(t) = b.strip_prefix("log:").and_then(|t| t.parse::<u32>().ok()) {
        let mut broken = Vec::new();
        let shipped = block_on(memory_log_rows(&w.store, t)).unwrap_or_default();
        if let Some(missing) = shipped.iter().find(|r| !rows.contains(r)) {
            let m =
                format!("{} lacks row {missing}, shipped to timeline {t} it recovered from the log", i.id);
            broken.push(Violation::new(Invariant::RestoredHoldsLog, m));
        }
        return broken;
    }
    // A drain sealed rather than stored: every row its server acknowledged is in the log the
    // standby replayed, as every row of a stored drain is in the manifest.
    let found = match b.strip_prefix("seal:") {
        Some(id) => backup(w, id, BackupRoot::seal_key),
        None => backup(w, b, BackupRoot::manifest_key),
    };
    let Some((backup, source)) = found else { return Vec::new() };
    let broken = |m: String| vec![Violation::new(Invariant::RestoredHoldsBackup, m)];
    if let Some(missing) = backup.difference(&rows).next() {
        return broken(format!("{} lacks row {missing} of backup {b} it was restored from", i.id));
    }
    if let Some(a) = w.acked.iter().find(|a| a.instance == source && !rows.contains(&a.row)) {
        return broken(format!(
            "row {} acknowledged by {source}, which drained {b}, is missing from {}",
            a.row, i.id
        ));
    }
    Vec::new()
}

/// The end's rows: the final primary holds everything ever shipped to any timeline and every
/// row of every complete drain (but those of handoffs a person gave up).
pub fn everything(w: &World, db: &MemoryRows) -> Vec<Violation> {
    let rows: BTreeSet<u64> = db.rows.iter().copied().collect();
    let broken = |m: String| vec![Violation::new(Invariant::EndHoldsEverything, m)];
    for (key, body) in w.store.snapshot() {
        if !key.ends_with("/memory-log.json") {
            continue;
        }
        let shipped: Value = serde_json::from_slice(&body).unwrap_or_default();
        let shipped = shipped.get("rows").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some(missing) = shipped.iter().filter_map(Value::as_u64).find(|r| !rows.contains(r)) {
            return broken(format!("row {missing}, shipped to {key}, is not in the final primary"));
        }
    }
    for (id, backup) in backups(w) {
        if let Some(missing) = backup.difference(&rows).next() {
            return broken(format!("row {missing} of the complete drain {id} is not in the final primary"));
        }
    }
    Vec::new()
}
