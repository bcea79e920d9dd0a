//! Brings the placement engine's inputs together for an env: candidates (candidate regions × their
//! zones × candidate types), advisor data, spot prices, SPS, recent interruptions; then ranks.

use crate::placement_facts::RegionFacts;
use anyhow::Result;
use spotctl_core::advisor::{AdvisorData, InterruptionBucket};
use spotctl_core::config::{EnvFile, LoadedEnv};
use spotctl_core::placement::{rank, Candidate, PlacementData, Policy, Ranking, RecentInterruption};
use spotctl_core::sps::{SpsConfig, SpsScore};
use std::collections::BTreeMap;

/// The SPS configuration an env asks about: stable across runs, so it costs one configuration.
pub fn sps_config(loaded: &LoadedEnv) -> SpsConfig {
    SpsConfig::new(
        &loaded.env.instance.types,
        &loaded.env.env.regions,
        loaded.env.instance.target_capacity,
        true,
    )
}

pub fn policy(env: &EnvFile) -> Policy {
    let p = &env.placement;
    Policy {
        min_sps: p.min_sps,
        max_bucket: p.max_interruption.and_then(|r| InterruptionBucket::from_index(r.index())),
        max_price: p.max_price,
        relocation_margin: p.relocation_margin,
        interruption_cooldown_secs: p.interruption_cooldown.as_secs() as i64,
        ..Policy::default()
    }
}

/// Candidates: every (region, zone, type) of the given regions and types that the facts know.
pub fn candidates(
    regions: &[String],
    types: &[String],
    facts: &BTreeMap<String, RegionFacts>,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for region in regions {
        let Some(f) = facts.get(region) else { continue };
        for z in &f.zones {
            for t in types {
                let az_id = (!z.id.is_empty()).then_some(z.id.as_str());
                out.push(Candidate::new(region, &z.name, az_id, t));
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub fn rank_with(
    candidates: &[Candidate],
    advisor: &AdvisorData,
    facts: &BTreeMap<String, RegionFacts>,
    sps: Option<Vec<SpsScore>>,
    recent: Vec<RecentInterruption>,
    policy: &Policy,
    now: i64,
) -> Ranking {
    let mut prices = spotctl_core::placement::Prices::new();
    for ((az, t), p) in facts.values().flat_map(|f| f.prices.iter()) {
        prices.entry(az.clone()).or_default().insert(t.clone(), *p);
    }
    let data = PlacementData { advisor, sps, prices, recent_interruptions: recent, now_unix: now };
    rank(candidates, &data, policy)
}

/// The env's ranking with the embedded advisor data and no SPS (what apply uses when it must place
/// the first primary; `spotctl score` and the handler use the full sources).
pub fn rank_env(
    loaded: &LoadedEnv,
    facts: &BTreeMap<String, RegionFacts>,
    sps: Option<Vec<SpsScore>>,
) -> Result<Ranking> {
    let advisor = AdvisorData::embedded();
    let c = candidates(&loaded.env.env.regions, &loaded.env.instance.types, facts);
    Ok(rank_with(&c, &advisor, facts, sps, Vec::new(), &policy(&loaded.env), crate::lock::now_unix()))
}
