//! Reads the live state of an env: every resource it owns, in every candidate region, with the
//! regions read in parallel. The result feeds `spotctl_core::plan::plan`. Database instances are
//! not here: which one is the primary is the primary record's to say (`Env::plan`).

use super::resources::{bucket, events, fis, fleet, iam, invoke, lambda, network, parameter, Ctx};
use anyhow::Result;
use futures::future::try_join_all;
use spotctl_core::plan::LiveResource;

/// Everything live. `object_keys` are the state objects the plan compares (found by key);
/// fleet resources are looked for in `fleet_regions` only (those that hold or held a fleet).
pub async fn discover(
    ctx: &Ctx<'_>,
    object_keys: &[String],
    fleet_regions: &[String],
) -> Result<Vec<LiveResource>> {
    let global = async {
        let (b, p, i, l, q, c) = tokio::try_join!(
            bucket::discover(ctx, object_keys),
            parameter::discover(ctx),
            iam::discover(ctx),
            lambda::discover(ctx),
            // Every env has a queue at home (the handler's dead letters), fleet or not.
            fleet::queue::discover(ctx, ctx.home()),
            invoke::discover(ctx),
        )?;
        Ok::<_, anyhow::Error>([b, p, i, l, q, c].concat())
    };
    let regional = try_join_all(ctx.regions.iter().map(|region| async move {
        let (n, e, f) = tokio::try_join!(
            network::discover(ctx, region),
            events::discover(ctx, region),
            fis::discover(ctx, region),
        )?;
        Ok::<_, anyhow::Error>([n, e, f].concat())
    }));
    let fleets = try_join_all(fleet_regions.iter().map(|region| fleet::discover(ctx, region)));
    let (mut all, per_region, per_fleet_region) = tokio::try_join!(global, regional, fleets)?;
    all.extend(per_region.into_iter().flatten());
    all.extend(per_fleet_region.into_iter().flatten());
    all.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(all)
}
