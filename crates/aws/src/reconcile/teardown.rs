//! `destroy`, in a safe order and always unlocked at the end.
//!
//! 1. What starts launches goes first: the rules, then the handler and its permission, and the FIS
//!    templates (`core::plan::plan_destroy` puts them there), so no event arriving half-way
//!    launches a standby that nothing would remove.
//! 2. Then every database instance (standbys a handoff left included), then the rest in reverse
//!    dependency order; the state bucket last, every object version and delete marker with it,
//!    unless `--keep-backups` keeps the bucket and its backups.
//! 3. The handler's log group.
//!
//! The lock is taken first and released on every exit — a failed destroy leaves the env as
//! unlocked as it found it — except when the bucket holding it is gone.

use super::env::{Env, Planned};
use super::execute::Executor;
use super::progress::Progress;
use super::resources::{instance, Ctx};
use crate::sdk::error::is_not_found;
use crate::state::{Lock, LockInfo, StateStore};
use anyhow::{Context, Result};
use spotctl_core::plan::{starts_launches, Kind, Plan};
use spotctl_layout::{Key, BACKUPS};
use std::collections::{BTreeMap, BTreeSet};

/// The backups a destroy would delete, by handoff id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backups {
    /// Handoffs whose backup is complete (its manifest stored), sorted.
    pub complete: Vec<String>,
    /// Handoffs with objects but no manifest (a drain cut short).
    pub partial: Vec<String>,
    /// Objects under `backups/`.
    pub objects: usize,
}

impl Backups {
    pub fn is_empty(&self) -> bool {
        self.objects == 0
    }
}

/// Lists `backups/` of the state bucket (nothing when there is no bucket).
pub async fn backups(store: &dyn StateStore) -> Result<Backups> {
    let keys = store.list(BACKUPS).await.context("listing the backups in the state bucket")?;
    let mut by_id: BTreeMap<&str, bool> = BTreeMap::new();
    for key in &keys {
        // The handoffs' drains; the shipped log and its bases count among the objects only. A
        // drain is complete when stored (its manifest) or sealed (the log holds the rest).
        let (id, complete) = match Key::parse(key) {
            Some(Key::DrainManifest(id) | Key::DrainSeal(id)) => (id, true),
            Some(Key::DrainData(id)) => (id, false),
            _ => continue,
        };
        *by_id.entry(id).or_default() |= complete;
    }
    let (complete, partial): (Vec<_>, Vec<_>) = by_id.into_iter().partition(|(_, has)| *has);
    Ok(Backups {
        complete: complete.into_iter().map(|(id, _)| id.to_string()).collect(),
        partial: partial.into_iter().map(|(id, _)| id.to_string()).collect(),
        objects: keys.len(),
    })
}

/// Carries out a destroy plan (see the module header). `keep_bucket`: the plan holds no bucket
/// deletion, and the lock is released in the bucket that stays.
pub async fn destroy(env: &Env, planned: &Planned, progress: &Progress) -> Result<usize> {
    let artifacts = BTreeMap::new();
    let ctx = Ctx { aws: &env.aws, names: &env.names, regions: &planned.regions, artifacts: &artifacts };
    let bucket_live = planned.live.iter().any(|r| r.address.kind == Kind::Bucket);
    let lock = match Lock::acquire(env.store.as_ref(), &LockInfo::here("destroy")).await {
        Ok(l) => Some(l),
        // No bucket, no lock to take: nothing else can be running against this env.
        Err(_) if !bucket_live => None,
        Err(e) => return Err(e.into()),
    };
    let result = run(env, &ctx, planned, progress).await;
    let bucket_deleted =
        result.is_ok() && planned.plan.changes.iter().any(|c| c.address.kind == Kind::Bucket);
    if let Some(lock) = lock {
        if !bucket_deleted {
            let released = lock.release().await.context("releasing the lock");
            if result.is_ok() {
                released?;
            } else if let Err(e) = released {
                eprintln!("warning: {e:#}; run `spotctl apply --break-lock` once nothing runs");
            }
        }
    }
    result
}

async fn run(env: &Env, ctx: &Ctx<'_>, planned: &Planned, progress: &Progress) -> Result<usize> {
    let exec = Executor { ctx, progress, store: env.store.as_ref() };
    let changes = &planned.plan.changes;
    let split = changes.iter().position(|c| !starts_launches(c.address.kind)).unwrap_or(changes.len());
    let (first, rest) = changes.split_at(split);
    let mut n = exec.apply(&Plan { changes: first.to_vec(), ..Plan::default() }).await?;
    instance::terminate_all(ctx, progress).await?;
    n += exec.apply(&Plan { changes: rest.to_vec(), ..Plan::default() }).await?;
    if delete_log_group(ctx).await? {
        n += 1;
    }
    Ok(n)
}

/// The handler's log group; `false` when there was none.
async fn delete_log_group(ctx: &Ctx<'_>) -> Result<bool> {
    let name = log_group(ctx.names);
    match ctx.aws.logs(ctx.home()).delete_log_group().log_group_name(&name).send().await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(e).with_context(|| format!("deleting log group {name}")),
    }
}

/// Where Lambda writes the handler's logs.
pub fn log_group(names: &spotctl_core::names::Names) -> String {
    format!("/aws/lambda/{}", names.function())
}

/// The handoff ids, for a plan line: every one when few, else the first and last few.
pub fn named(ids: &[String]) -> String {
    if ids.len() <= 6 {
        return ids.join(", ");
    }
    let set: BTreeSet<&String> = ids.iter().collect();
    let v: Vec<&String> = set.into_iter().collect();
    format!(
        "{}, … ({} more), {}",
        v[..3].iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
        v.len() - 6,
        v[v.len() - 3..].iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemoryStore;

    #[tokio::test]
    async fn backups_are_counted_by_handoff_and_completeness() {
        let store = MemoryStore::default();
        for key in [
            "backups/epoch-1/data/appdb/t/00000-0000.tsv.zst",
            "backups/epoch-1/manifest.json",
            "backups/epoch-2/data/appdb/t/00000-0000.tsv.zst",
            "backups/epoch-3/seal.json",
            "backups/timelines/0001/timeline.json",
            "backups/bases/20261129T101500Z/base.json",
            "state/primary.json",
        ] {
            store.put(key, b"x".to_vec()).await.expect("put");
        }
        let b = backups(&store).await.expect("listed");
        assert_eq!(b.complete, ["epoch-1", "epoch-3"], "stored or sealed");
        assert_eq!(b.partial, ["epoch-2"], "the log and its bases are no handoff's drain");
        assert_eq!(b.objects, 6);
        let ids: Vec<String> = (1..=9).map(|i| format!("epoch-{i}")).collect();
        assert_eq!(named(&ids), "epoch-1, epoch-2, epoch-3, … (3 more), epoch-7, epoch-8, epoch-9");
    }
}
