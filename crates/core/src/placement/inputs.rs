//! The ranking's inputs: the candidates (candidate regions × their zones × candidate types) and
//! the facts read from AWS (zones, default subnets, spot prices) as plain values, so that the AWS
//! layer only fetches and this module decides. An env's own ranking is `EnvFile::rank`.

use super::advisor::AdvisorData;
use super::rank::{rank, Candidate, PlacementData, Policy, Prices, Ranking, RecentInterruption};
use super::sps::SpsScore;
use std::collections::BTreeMap;

/// An availability zone as EC2 describes it, with its default subnet if it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    pub id: String,
    pub subnet: Option<String>,
}

/// What one region offers: its zones and the latest spot prices.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RegionFacts {
    pub zones: Vec<Zone>,
    /// Latest Linux/UNIX spot price, USD/hour, by (AZ name, instance type).
    pub prices: BTreeMap<(String, String), f64>,
}

impl RegionFacts {
    /// The default subnet of zone `az`, if the zone is known and has one.
    pub fn subnet(&self, az: &str) -> Option<&str> {
        self.zones.iter().find(|z| z.name == az).and_then(|z| z.subnet.as_deref())
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

/// Everything a ranking reads besides the candidates and the policy.
pub struct Observed<'a> {
    pub advisor: &'a AdvisorData,
    pub facts: &'a BTreeMap<String, RegionFacts>,
    pub sps: Option<Vec<SpsScore>>,
    pub recent: Vec<RecentInterruption>,
    pub now_unix: i64,
}

/// Ranks `candidates` with the observed prices, SPS and recent interruptions.
pub fn rank_observed(candidates: &[Candidate], seen: Observed<'_>, policy: &Policy) -> Ranking {
    let mut prices = Prices::new();
    for ((az, t), p) in seen.facts.values().flat_map(|f| f.prices.iter()) {
        prices.entry(az.clone()).or_default().insert(t.clone(), *p);
    }
    let data = PlacementData {
        advisor: seen.advisor,
        sps: seen.sps,
        prices,
        recent_interruptions: seen.recent,
        now_unix: seen.now_unix,
    };
    rank(candidates, &data, policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> BTreeMap<String, RegionFacts> {
        let zone = |n: &str, subnet: Option<&str>| Zone {
            name: n.into(),
            id: format!("id-{n}"),
            subnet: subnet.map(String::from),
        };
        let mut f = RegionFacts {
            zones: vec![zone("r-1a", Some("subnet-a")), zone("r-1b", None)],
            ..Default::default()
        };
        f.prices.insert(("r-1a".into(), "m5.large".into()), 0.05);
        [("r-1".to_string(), f)].into()
    }

    #[test]
    fn candidates_cover_known_zones_and_types_only() {
        let c =
            candidates(&["r-1".into(), "unknown".into()], &["m5.large".into(), "r5.large".into()], &facts());
        assert_eq!(c.len(), 4);
        assert!(c.iter().all(|c| &*c.region == "r-1"));
        assert_eq!(facts()["r-1"].subnet("r-1a"), Some("subnet-a"));
        assert_eq!(facts()["r-1"].subnet("r-1b"), None);
    }
}

/// The ranking table of a small env, as `spotctl score` prints it, held by a snapshot.
#[cfg(test)]
mod snapshots {
    use super::*;
    use crate::placement::render_table;

    #[test]
    fn the_ranking_table() {
        let zone =
            |n: &str, id: &str| Zone { name: n.into(), id: id.into(), subnet: Some(format!("subnet-{n}")) };
        let mut f = RegionFacts {
            zones: vec![zone("ap-northeast-1a", "apne1-az4"), zone("ap-northeast-1c", "apne1-az1")],
            ..Default::default()
        };
        f.prices.insert(("ap-northeast-1a".into(), "m5.large".into()), 0.0412);
        f.prices.insert(("ap-northeast-1c".into(), "m5.large".into()), 0.0388);
        f.prices.insert(("ap-northeast-1a".into(), "r5.large".into()), 0.0601);
        let facts = [("ap-northeast-1".to_string(), f)].into();
        let advisor = AdvisorData::embedded();
        let c = candidates(&["ap-northeast-1".into()], &["m5.large".into(), "r5.large".into()], &facts);
        let seen = Observed {
            advisor: &advisor,
            facts: &facts,
            sps: None,
            recent: Vec::new(),
            now_unix: 1_767_000_000,
        };
        insta::assert_snapshot!(render_table(&rank_observed(&c, seen, &Policy::default())));
    }
}
