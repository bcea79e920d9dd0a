//! Where a standby goes, as a seam: the env's ranking at handoff time (without the interrupted
//! pool), turned into launch requests, best first, that reuse the env's rendered user-data.
//! [`AwsPlacements`] reads the facts from AWS; `FixedPlacements` (`memory_placements.rs`) is the twin.

use crate::placement::facts::{all_region_facts, image};
use crate::sdk::Aws;
use crate::state::StoreError;
use crate::state::{StateStore, StoredEnv};
use async_trait::async_trait;
use spotctl_core::desired::{db_instance, LaunchSpec};
use spotctl_core::handoff::primary::PrimaryRecord;
use spotctl_core::names::Names;
use spotctl_core::placement::{candidates, rank_observed, Observed, Policy, Ranking, RecentInterruption};
use spotctl_core::plan::Resource;
use spotctl_layout::handoff_id;
use spotctl_layout::state as keys;
use std::sync::Arc;

/// At most this many placements are tried when capacity is refused.
pub const TRIES: usize = 5;

/// A standby placement: where, and the launch request for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub spec: LaunchSpec,
    pub want: Resource,
}

/// The ranking at handoff time and the launch requests of its best placements.
#[derive(Debug, Clone)]
pub struct StandbyPlacements {
    pub ranking: Ranking,
    pub policy: Policy,
    pub placements: Vec<Placement>,
}

/// Why no placement could be ranked: the state bucket, or the facts read from AWS.
#[derive(Debug, thiserror::Error)]
pub enum PlacementsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the facts of the candidate regions: {0}")]
    Facts(String),
}

#[async_trait]
pub trait Placements: Send + Sync {
    /// Where a standby for `primary`'s handoff may go, best first; `interrupted` excludes the
    /// primary's own pool (it is being reclaimed) through the ranking's interruption cooldown.
    async fn standby(
        &self,
        primary: &PrimaryRecord,
        interrupted: bool,
        now: i64,
    ) -> Result<StandbyPlacements, PlacementsError>;
}

/// The real ranking: zones, subnets and prices from EC2, the AMI from SSM, the advisor data from
/// the best source, the env and user-data as apply stored them.
pub struct AwsPlacements {
    pub aws: Aws,
    pub names: Names,
    pub store: Arc<dyn StateStore>,
}

#[async_trait]
impl Placements for AwsPlacements {
    async fn standby(
        &self,
        primary: &PrimaryRecord,
        interrupted: bool,
        now: i64,
    ) -> Result<StandbyPlacements, PlacementsError> {
        let store = self.store.as_ref();
        let env = StoredEnv::require(store).await?.env_file()?;
        let user_data = store
            .get(keys::USER_DATA)
            .await?
            .map(|v| String::from_utf8_lossy(&v.body).into_owned())
            .ok_or_else(|| StoreError::Missing {
                location: store.location(),
                key: keys::USER_DATA.to_string(),
                hint: "run apply",
            })?;
        let facts = all_region_facts(&self.aws, &env.placement_regions(), &env.instance.types)
            .await
            .map_err(|e| PlacementsError::Facts(format!("{e:#}")))?;
        let (advisor, _, _) = crate::placement::advisor::load(Some(store), now).await;
        let policy = env.placement.policy();
        let recent = remember_interruptions(
            store,
            interrupted.then(|| RecentInterruption {
                instance_type: primary.instance_type.clone(),
                az: primary.availability_zone.clone(),
                at_unix: now,
            }),
            now - policy.interruption_cooldown_secs,
        )
        .await?;
        let c = candidates(&env.placement_regions(), &env.instance.types, &facts);
        let ranking = rank_observed(
            &c,
            Observed { advisor: &advisor, facts: &facts, sps: None, recent, now_unix: now },
            &policy,
        );
        let mut placements = Vec::new();
        let of = ranking.entries.len();
        for r in &ranking.entries {
            let c = &r.candidate;
            let Some(subnet) = facts.get(&*c.region).and_then(|f| f.subnet(&c.az)) else { continue };
            let spec = LaunchSpec {
                region: c.region.to_string(),
                az: c.az.to_string(),
                subnet: subnet.to_string(),
                instance_type: c.instance_type.to_string(),
                ami: image(&self.aws, &c.region, env.instance.image_parameter.as_deref())
                    .await
                    .map_err(|e| PlacementsError::Facts(format!("{e:#}")))?,
                reason: format!("rank {} of {of}: {}", r.rank, r.why()),
            };
            let want = db_instance("standby", &spec, &self.names, env.instance.volume_gb, &user_data)
                .create_only("handoff", handoff_id(primary.epoch));
            placements.push(Placement { spec, want });
            if placements.len() == TRIES {
                break;
            }
        }
        Ok(StandbyPlacements { ranking, policy, placements })
    }
}

/// The interruptions of the last cooldown (`since` on), with `new` added and kept for the next
/// ranking: the cooldown passes over a pool interrupted hours ago, not only the one at hand. The
/// list is a cache: a concurrent writer's list wins, and a failure to keep it costs only that.
async fn remember_interruptions(
    store: &dyn StateStore,
    new: Option<RecentInterruption>,
    since: i64,
) -> Result<Vec<RecentInterruption>, StoreError> {
    let stored =
        crate::state::get_json::<Vec<RecentInterruption>>(store, keys::INTERRUPTIONS).await.ok().flatten();
    let (mut recent, etag) = stored.map(|(r, e)| (r, Some(e))).unwrap_or_default();
    recent.retain(|r| r.at_unix >= since);
    if let Some(n) = new {
        if !recent.contains(&n) {
            recent.push(n);
            let body = crate::state::json_body(keys::INTERRUPTIONS, &recent)?;
            let _ = match etag {
                Some(e) => store.put_if_match(keys::INTERRUPTIONS, &e, body).await,
                None => store.put_if_absent(keys::INTERRUPTIONS, body).await,
            };
        }
    }
    Ok(recent)
}
