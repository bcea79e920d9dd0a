//! What must hold, checked after every step of every run, and at the end of a run. Each is an
//! [`Invariant`]; a step reports every one it broke.
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
//!    after a recovery from an older backup, every commit up to that backup
//!    ([`Invariant::RestoredHoldsBackup`]). After a recovery from the shipped log, every row
//!    shipped to the timeline it recovered ([`Invariant::RestoredHoldsLog`]: the recovery is
//!    faithful to the log), and every commit the lost primary acknowledged more than the
//!    handoff's stated window (`data_loss_window_s`) before it stopped taking commits — its
//!    instance terminated (one shutting down still takes them), its server crashed or its writes
//!    fenced, in simulated time ([`Invariant::LossWithinWindow`]). That one checks the stated
//!    window against what the application was told, not the recovered rows against the log they
//!    came from: a shipper that claims more than it stored is caught. The twin's shipper claims
//!    positions (what it read, all of it stored) and a bound it keeps whatever the scheduler does
//!    (`world::ship_bound_ms`).
//! 5. The endpoint never goes back to an older epoch, and never names an epoch the primary record
//!    has not reached.
//! 6. A server whose fence the notice or a drain tag raised never takes writes again, whatever its
//!    agent or the bucket says: judged from every fence seen raised and by what ([`FenceSeen`]),
//!    not from the fence's own state, so a fence that lowers itself is caught. Only a person's
//!    keep of a drain tag's handoff lowers that tag's fence.
//!
//! At the end of a run whose last part was calm (capacity, no faults, the watchdog running and an
//! operator applying): exactly one primary — one live instance tagged primary, named by the
//! record, taking writes ([`Invariant::EndOnePrimary`]) — and it holds every row of every
//! complete backup and every row ever shipped to any timeline of the log, and every row of every
//! drain, stored or sealed (but the drains of handoffs a person gave up by keeping their primary)
//! ([`Invariant::EndHoldsEverything`]); the endpoint names it, with its epoch
//! ([`Invariant::EndEndpoint`]). And the run ends at all ([`Invariant::Converges`]).
//!
//! Each is shown to fire (`tests/mutations.rs`): the bug it guards against is planted
//! ([`crate::Mutation`]) and a seed is found whose run reports that invariant while the same
//! seed without the bug does not. First seeds found: 1 a standby promoting before the control
//! plane's fence, 646 (2 of the first 1 000 seeds: the scheduler rarely makes the terminate
//! late); 2 a restore that verifies nothing, 0; 3 a drain that leaves writes on, 0 (6 fires with
//! it: every drain happens under a raised fence); 4 a restore dropping a drain's last row, 0; a
//! recovery dropping the log's last row, 1; a shipper withholding its newest row yet reporting
//! itself caught up, 50 (only [`Invariant::LossWithinWindow`] can see it); 5 the endpoint written
//! with the next epoch, 0; 6 a drain tag's fence lowered whenever the bucket names the server
//! primary, 2; at the end, no watchdog, 1; a standby restoring the oldest stored drain, 22;
//! endpoint changes lost, 0; a shipper round that never ends, 0.
//!
//! Two of these find the product wanting as it is (10 000 seeds): 527 runs break
//! [`Invariant::LossWithinWindow`], every one because the lost primary took commits after the
//! handler stated the window (a server shutting down after its shipper stopped; a primary cut
//! off from the bucket and replaced, serving until its fence landed); 1 breaks
//! [`Invariant::FencedStaysFenced`] (a kept primary's look, begun before a new drain tag, lowered
//! the fence that tag raised). ARD.md, *Proof by deterministic simulation*.

use crate::holds;
use crate::world::{World, ENDPOINT_NAME, ENDPOINT_ZONE};
use spotctl_aws::compute::InstanceView;
use spotctl_aws::state::read_primary;
use spotctl_core::handoff::primary::Role;
use spotctl_core::names::TAG_DRAIN;
use std::collections::BTreeSet;

/// Which invariant broke: the header's list, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// 1. At most one server takes writes.
    OneWriter,
    /// 2. Nothing takes writes without a verified restore (or apply's launch).
    VerifiedRestore,
    /// 3. A server that drained a complete backup never takes writes again.
    DrainedStaysOut,
    /// 4. A server restored from a drain (stored or sealed) or an older backup holds all of it,
    ///    and every commit acknowledged on the server that drained it.
    RestoredHoldsBackup,
    /// 4. A server recovered from the shipped log holds every row shipped to that timeline.
    RestoredHoldsLog,
    /// 4. A server recovered from the shipped log holds every commit its lost primary
    ///    acknowledged more than the stated data-loss window before it stopped taking commits.
    LossWithinWindow,
    /// 5. The endpoint never goes back, nor ahead of the record.
    EndpointNeverBack,
    /// 6. A fenced server never takes writes again.
    FencedStaysFenced,
    /// At the end: exactly one primary, recorded, tagged, alive and taking writes.
    EndOnePrimary,
    /// At the end: the primary holds every complete drain and everything ever shipped.
    EndHoldsEverything,
    /// At the end: the endpoint names the primary with its epoch.
    EndEndpoint,
    /// The run ends: nothing is still running after the step limit.
    Converges,
}

/// A broken invariant: which, and what was seen, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub message: String,
}

impl Invariant {
    /// Every invariant, in the header's order.
    pub const ALL: [Invariant; 12] = [
        Invariant::OneWriter,
        Invariant::VerifiedRestore,
        Invariant::DrainedStaysOut,
        Invariant::RestoredHoldsBackup,
        Invariant::RestoredHoldsLog,
        Invariant::LossWithinWindow,
        Invariant::EndpointNeverBack,
        Invariant::FencedStaysFenced,
        Invariant::EndOnePrimary,
        Invariant::EndHoldsEverything,
        Invariant::EndEndpoint,
        Invariant::Converges,
    ];
}

impl Violation {
    pub fn new(invariant: Invariant, message: impl Into<String>) -> Violation {
        Violation { invariant, message: message.into() }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.invariant, self.message)
    }
}

/// What raised a server's fence, as far as any step saw: the notice (nothing lowers that), or
/// drain tags (a person's keep of that tag's handoff lowers it).
#[derive(Debug, Clone, Default)]
pub struct FenceSeen {
    pub notice: bool,
    pub tags: BTreeSet<String>,
}

fn endpoint(w: &World) -> Option<spotctl_core::endpoint::EndpointRecord> {
    use spotctl_aws::dns::Dns;
    futures::executor::block_on(w.dns.read(ENDPOINT_ZONE, ENDPOINT_NAME)).ok().flatten()
}

fn record(w: &World) -> Option<spotctl_core::handoff::primary::PrimaryRecord> {
    futures::executor::block_on(read_primary(&w.store)).ok().flatten().map(|(r, _)| r)
}

fn endpoint_never_goes_back(w: &World) -> Option<Violation> {
    let now = endpoint(w)?;
    let seen = w.endpoint_epoch.replace(now.epoch.max(w.endpoint_epoch.get()));
    let broken = |m: String| Some(Violation::new(Invariant::EndpointNeverBack, m));
    if now.epoch < seen {
        return broken(format!(
            "the endpoint went back from epoch {seen} to {} ({})",
            now.epoch, now.address
        ));
    }
    if now.epoch > seen {
        let record = record(w).map(|r| r.epoch);
        if record.is_none_or(|r| r < now.epoch) {
            return broken(format!(
                "the endpoint names epoch {} before the record does ({record:?})",
                now.epoch
            ));
        }
    }
    None
}

/// Notes every fence raised now, and by what: the notice, if the instance has it, and its drain
/// tag, if it has one.
fn note_fences(w: &World) {
    let mut seen = w.fenced.borrow_mut();
    for (id, fence) in &w.fences {
        let Some(Some(_)) = fence.try_raised() else { continue };
        let s = seen.entry(id.clone()).or_default();
        s.notice |= w.notices.contains(id);
        if let Some(tag) = w.ec2.get(id).and_then(|i| i.tags.get(TAG_DRAIN).cloned()) {
            s.tags.insert(tag);
        }
    }
}

fn fenced_stays_fenced(w: &World) -> Vec<Violation> {
    let given_up = w.given_up.borrow();
    let mut broken = Vec::new();
    for (id, seen) in w.fenced.borrow().iter() {
        if !(w.dbs.get(id).is_some_and(|d| d.writable_now()) && w.may_serve(id)) {
            continue;
        }
        let live = w.fences.get(id).and_then(|f| f.try_raised()).flatten();
        let why = match (live, seen.notice, seen.tags.iter().find(|t| !given_up.contains(*t))) {
            (Some(why), _, _) => why,
            (None, true, _) => "the spot interruption notice (the fence was lowered since)".into(),
            (None, false, Some(tag)) => {
                format!("the drain tag ({TAG_DRAIN} = {tag}; the fence was lowered, and no person kept it)")
            }
            (None, false, None) => continue,
        };
        broken.push(Violation::new(
            Invariant::FencedStaysFenced,
            format!("{id} takes writes although {why} fenced it"),
        ));
    }
    broken
}

/// Notes since when each server has not taken commits (none while it does).
fn note_serving(w: &World) {
    let now = w.now();
    let mut stopped = w.stopped.borrow_mut();
    for (id, db) in &w.dbs {
        if db.takes_commits() && w.may_serve(id) {
            stopped.remove(id);
        } else {
            stopped.entry(id.clone()).or_insert(now);
        }
    }
}

/// Invariants 2, 3 and 4 of a server that takes writes.
fn writer(w: &World, i: &InstanceView) -> Vec<Violation> {
    let mut broken = Vec::new();
    let state = w.dbs[&i.id].state();
    if let Some(b) = &state.drained_into {
        // Unless a person kept it as the primary, giving that handoff up.
        let kept = record(w)
            .is_some_and(|r| r.instance_id == i.id && r.kept.as_ref().is_some_and(|k| &k.gave_up == b));
        if !kept {
            let m = format!("{} drained backup {b} and takes writes again", i.id);
            broken.push(Violation::new(Invariant::DrainedStaysOut, m));
        }
    }
    let Some(b) = &state.restored_from else {
        if i.launch_token().is_none() {
            let m = format!("{} takes writes without a verified restore", i.id);
            broken.push(Violation::new(Invariant::VerifiedRestore, m));
        }
        return broken;
    };
    // Once is enough: after a restore, rows only grow.
    if w.checked.borrow_mut().insert((i.id.clone(), b.clone())) {
        broken.extend(holds::restored(w, i, &state, b));
    }
    broken
}

/// Every invariant this step broke (none: all hold), in the header's order.
pub fn after_step(w: &World) -> Vec<Violation> {
    if let Some(k) = record(w).and_then(|r| r.kept) {
        w.given_up.borrow_mut().insert(k.gave_up);
    }
    note_fences(w);
    note_serving(w);
    // Until EC2 says terminated, a server may still take a write: one shutting down counts.
    let writable: Vec<_> = w
        .dbs
        .iter()
        .filter(|(id, d)| d.writable_now() && w.may_serve(id))
        .filter_map(|(id, _)| w.ec2.get(id))
        .collect();
    let mut broken = Vec::new();
    if writable.len() > 1 {
        let ids: Vec<&str> = writable.iter().map(|i| i.id.as_str()).collect();
        let m = format!("{} servers take writes at once: {ids:?}", ids.len());
        broken.push(Violation::new(Invariant::OneWriter, m));
    }
    for i in &writable {
        broken.extend(writer(w, i));
    }
    broken.extend(endpoint_never_goes_back(w));
    broken.extend(fenced_stays_fenced(w));
    broken.sort_by_key(|v| v.invariant);
    broken
}

/// Every end-of-run invariant the run broke (none: it converged).
pub fn at_end(w: &World) -> Vec<Violation> {
    let one = |m: String| vec![Violation::new(Invariant::EndOnePrimary, m)];
    let record = match futures::executor::block_on(read_primary(&w.store)) {
        Err(e) => return one(format!("reading the record: {e}")),
        Ok(None) => return one("no primary is recorded at the end".into()),
        Ok(Some((r, _))) => r,
    };
    let alive = w.alive();
    let recorded = alive.iter().find(|i| i.id == record.instance_id);
    if recorded.is_none_or(|i| i.role() != Ok(Some(Role::Primary))) {
        return one(format!(
            "the run ends without its primary: the record (epoch {}) names {}, which is {}",
            record.epoch,
            record.instance_id,
            if recorded.is_some() { "not tagged primary" } else { "gone" }
        ));
    }
    let mut broken = Vec::new();
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
        let m = format!("the run ends with other primaries {strays:?} beside {}", record.instance_id);
        broken.push(Violation::new(Invariant::EndOnePrimary, m));
    }
    let db = w.dbs.get(&record.instance_id).map(|d| d.state());
    let Some(db) = db.filter(|d| !d.read_only) else {
        broken.extend(one(format!("the recorded primary {} does not take writes", record.instance_id)));
        return broken;
    };
    let address = alive.iter().find(|i| i.id == record.instance_id).and_then(|i| i.address.clone());
    match endpoint(w) {
        Some(e) if Some(&e.address) == address.as_ref() && e.epoch == record.epoch => {}
        other => broken.push(Violation::new(
            Invariant::EndEndpoint,
            format!(
                "the endpoint names {other:?} at the end, not the recorded primary {} ({address:?}, epoch {})",
                record.instance_id, record.epoch
            ),
        )),
    }
    broken.extend(holds::everything(w, &db));
    broken
}
