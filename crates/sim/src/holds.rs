//! What a server must hold (invariant 4 after every step, and the rows at the end of a run): a
//! restored server, what it was restored from and what the application was told; the final
//! primary, every complete drain and everything ever shipped.

use crate::invariants::{Invariant, Violation};
use crate::world::{World, EPOCH_UNIX};
use futures::executor::block_on;
use serde_json::Value;
use spotctl_aws::compute::InstanceView;
use spotctl_aws::handoff::{memory_log_rows, MemoryRows};
use spotctl_aws::state::read_handoff;
use spotctl_core::handoff::Step;
use spotctl_core::names::TAG_HANDOFF;
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
        broken.extend(within_window(w, i, &rows));
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

/// A recovery from the shipped log loses nothing its lost primary acknowledged more than the
/// handoff's stated window before that primary stopped taking commits (or before now, if it has
/// not stopped: then invariant 1 is broken too). The window is the handler's, from the shipper's
/// heartbeat; the acknowledgements are the application's: this checks the heartbeat's claim
/// against what was promised, not the log against itself.
fn within_window(w: &World, i: &InstanceView, rows: &BTreeSet<u64>) -> Option<Violation> {
    let id = i.tags.get(TAG_HANDOFF)?;
    let (h, _) = block_on(read_handoff(&w.store, id)).ok().flatten()?;
    // Every recovery from the log states one (none without, in 10 000 seeds).
    let window = h.data_loss_window_s?;
    let lost = &h.old.instance_id;
    let stopped = w.stopped.borrow().get(lost).copied().unwrap_or_else(|| w.now());
    let a =
        w.acked.iter().find(|a| &a.instance == lost && stopped - a.at > window && !rows.contains(&a.row))?;
    let t = |at: i64| at - EPOCH_UNIX;
    Some(Violation::new(
        Invariant::LossWithinWindow,
        format!(
            "{} lacks row {}, which {lost} acknowledged at t+{} and stopped taking commits at t+{} ({} s later): \
             handoff {id}, begun at t+{}, stated a data-loss window of {window} s",
            i.id,
            a.row,
            t(a.at),
            t(stopped),
            stopped - a.at,
            h.steps.get(&Step::LeaseTaken).map_or(0, |&at| t(at)),
        ),
    ))
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
