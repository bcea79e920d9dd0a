//! Where a standby goes: the env's ranking at handoff time, without the interrupted pool, turned
//! into launch requests (best first) that reuse the env's rendered user-data.

use crate::clients::Aws;
use crate::env::StoredEnv;
use crate::placement_facts::{all_region_facts, launch_spec};
use crate::placement_source::{candidates, policy, rank_with};
use crate::store::S3Store;
use anyhow::{Context, Result};
use spotctl_core::config::EnvFile;
use spotctl_core::desired::LaunchSpec;
use spotctl_core::handoff::handoff_id;
use spotctl_core::names::{keys, Names};
use spotctl_core::placement::{Policy, Ranking, RecentInterruption};
use spotctl_core::plan::{Kind, Resource};
use spotctl_core::primary::PrimaryRecord;

/// At most this many placements are tried when capacity is refused.
const TRIES: usize = 5;

/// The ranking, the env's policy, and the launch requests of its best placements.
pub async fn ranked_placements(
    aws: &Aws,
    names: &Names,
    store: &S3Store,
    primary: &PrimaryRecord,
    interrupted: bool,
    now: i64,
) -> Result<(Ranking, Policy, Vec<(LaunchSpec, Resource)>)> {
    let (stored, _) =
        store.get_json::<StoredEnv>(keys::ENV).await?.context("state/env.json is missing; run apply")?;
    let env: EnvFile = stored.env_file()?;
    let user_data = store
        .get(keys::USER_DATA)
        .await?
        .map(|v| String::from_utf8_lossy(&v.body).into_owned())
        .context("state/user-data.sh is missing; run apply")?;
    let facts = all_region_facts(aws, &env.env.regions, &env.instance.types).await?;
    let (advisor, _, _) = crate::advisor_source::load(Some(store), now).await;
    let recent = if interrupted {
        vec![RecentInterruption {
            instance_type: primary.instance_type.clone(),
            az: primary.availability_zone.clone(),
            at_unix: now,
        }]
    } else {
        Vec::new()
    };
    let c = candidates(&env.env.regions, &env.instance.types, &facts);
    let policy = policy(&env);
    let ranking = rank_with(&c, &advisor, &facts, None, recent, &policy, now);
    let mut out = Vec::new();
    for r in ranking.entries.iter() {
        let Some(spec) = launch_spec(aws, r, ranking.entries.len(), &facts).await? else { continue };
        let want = Resource::new(Kind::Instance, &spec.region, "standby")
            .create_only("availability_zone", spec.az.clone())
            .create_only("subnet", spec.subnet.clone())
            .create_only("instance_type", spec.instance_type.clone())
            .create_only("ami", spec.ami.clone())
            .create_only("volume_gb", env.instance.volume_gb.to_string())
            .create_only("instance_profile", names.instance_profile())
            .create_only("security_group", names.security_group())
            .create_only("key_pair", names.key_pair())
            .create_only("user_data", user_data.clone())
            .create_only("handoff", handoff_id(primary.epoch));
        out.push((spec, want));
        if out.len() == TRIES {
            break;
        }
    }
    Ok((ranking, policy, out))
}
