//! Spot Placement Score: the budget of request configurations, and the cache of answers.
//!
//! AWS lets an account ask about a limited number of *new* configurations (types, regions,
//! capacity, per-AZ or not) per rolling 24 hours — about ten — and answers `MaxConfigLimitExceeded`
//! past that. Asking again about a configuration already used in the window costs nothing new.
//! The ledger (stored as JSON in the state bucket) remembers which configurations were used when,
//! and the scores last received for each, so spotctl never spends a configuration when a cached
//! answer serves. With `SingleAvailabilityZone=true` AWS scores each (region, zone id) for the
//! whole set of types, not per type.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

const DAY: i64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpsConfig {
    pub instance_types: Vec<String>,
    pub regions: Vec<String>,
    pub target_capacity: u32,
    pub single_az: bool,
}

impl SpsConfig {
    /// Sorts and de-duplicates, so the same env always makes the same configuration.
    pub fn new(types: &[String], regions: &[String], target_capacity: u32, single_az: bool) -> SpsConfig {
        let t: BTreeSet<String> = types.iter().cloned().collect();
        let r: BTreeSet<String> = regions.iter().cloned().collect();
        SpsConfig {
            instance_types: t.into_iter().collect(),
            regions: r.into_iter().collect(),
            target_capacity,
            single_az,
        }
    }

    /// A stable key: the same configuration always gives the same string.
    pub fn key(&self) -> String {
        format!(
            "types={};regions={};capacity={};single_az={}",
            self.instance_types.join(","),
            self.regions.join(","),
            self.target_capacity,
            self.single_az
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpsScore {
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub az_id: Option<String>,
    pub score: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedScores {
    pub at_unix: i64,
    pub scores: Vec<SpsScore>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsPolicy {
    /// A cached answer younger than this is used instead of asking.
    pub max_age_secs: i64,
    /// How many distinct configurations the account may use per rolling 24 h.
    pub daily_limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpsDecision {
    UseCache { age: i64 },
    Query { new_config: bool },
    Refuse { reason: String, stale_cache: Option<(Vec<SpsScore>, i64)> },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpsLedger {
    /// Configuration key → first use in the current 24 h window.
    pub used: BTreeMap<String, i64>,
    pub cache: BTreeMap<String, CachedScores>,
    /// AWS said `MaxConfigLimitExceeded` at this time: no new configuration for 24 h from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_at: Option<i64>,
}

impl SpsLedger {
    /// Forgets uses and refusals older than 24 h (cached answers stay, marked by age).
    pub fn prune(&mut self, now: i64) {
        self.used.retain(|_, at| now - *at < DAY);
        if self.refused_at.is_some_and(|at| now - at >= DAY) {
            self.refused_at = None;
        }
    }

    pub fn configs_used_24h(&self, now: i64) -> usize {
        self.used.values().filter(|at| now - **at < DAY).count()
    }

    pub fn cached(&self, config: &SpsConfig) -> Option<&CachedScores> {
        self.cache.get(&config.key())
    }

    pub fn decide(&self, config: &SpsConfig, now: i64, policy: SpsPolicy) -> SpsDecision {
        let key = config.key();
        let cached = self.cache.get(&key);
        if let Some(c) = cached {
            let age = now - c.at_unix;
            if age < policy.max_age_secs {
                return SpsDecision::UseCache { age };
            }
        }
        let in_window = self.used.get(&key).is_some_and(|at| now - at < DAY);
        if in_window {
            return SpsDecision::Query { new_config: false };
        }
        let stale = || cached.map(|c| (c.scores.clone(), now - c.at_unix));
        if let Some(at) = self.refused_at.filter(|at| now - at < DAY) {
            return SpsDecision::Refuse {
                reason: format!("AWS refused a new configuration {}s ago (MaxConfigLimitExceeded)", now - at),
                stale_cache: stale(),
            };
        }
        let used = self.configs_used_24h(now);
        if used >= policy.daily_limit {
            return SpsDecision::Refuse {
                reason: format!("{used} configurations used in the last 24 h (limit {})", policy.daily_limit),
                stale_cache: stale(),
            };
        }
        SpsDecision::Query { new_config: true }
    }

    pub fn record_query(&mut self, config: &SpsConfig, now: i64) {
        self.used.entry(config.key()).or_insert(now);
    }

    pub fn record_scores(&mut self, config: &SpsConfig, scores: Vec<SpsScore>, now: i64) {
        self.cache.insert(config.key(), CachedScores { at_unix: now, scores });
    }

    /// AWS refused `config` as one new configuration too many: it was not used after all, and no
    /// new configuration is asked for until the window rolls.
    pub fn record_refusal(&mut self, config: &SpsConfig, now: i64) {
        self.used.remove(&config.key());
        self.refused_at = Some(now);
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a GetSpotPlacementScores response: {0}; valid: {{\"SpotPlacementScores\":[{{\"Region\":..,\"AvailabilityZoneId\":..,\"Score\":1..10}}]}}")]
pub struct SpsFileError(String);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FileShape {
    spot_placement_scores: Vec<FileScore>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FileScore {
    region: String,
    #[serde(default)]
    availability_zone_id: Option<String>,
    score: u8,
}

/// Reads scores in the API's own response shape (what `--sps-file` takes).
pub fn parse_sps_file(text: &str) -> Result<Vec<SpsScore>, SpsFileError> {
    let shape: FileShape = serde_json::from_str(text).map_err(|e| SpsFileError(e.to_string()))?;
    shape
        .spot_placement_scores
        .into_iter()
        .map(|s| {
            if (1..=10).contains(&s.score) {
                Ok(SpsScore { region: s.region, az_id: s.availability_zone_id, score: s.score })
            } else {
                Err(SpsFileError(format!("score {} for {} is outside 1..10", s.score, s.region)))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: SpsPolicy = SpsPolicy { max_age_secs: 3600, daily_limit: 2 };

    fn cfg(types: &[&str]) -> SpsConfig {
        let t: Vec<String> = types.iter().map(|s| s.to_string()).collect();
        SpsConfig::new(&t, &["r2".into(), "r1".into()], 1, true)
    }

    #[test]
    fn keys_are_stable_under_reordering() {
        assert_eq!(cfg(&["b", "a", "c"]).key(), cfg(&["c", "b", "a", "a"]).key());
        assert_ne!(cfg(&["a", "b", "c"]).key(), cfg(&["a", "b", "d"]).key());
    }

    #[test]
    fn fresh_cache_is_used_then_requery_is_free_then_budget_refuses() {
        let mut l = SpsLedger::default();
        let a = cfg(&["a", "b", "c"]);
        assert_eq!(l.decide(&a, 0, P), SpsDecision::Query { new_config: true });
        l.record_query(&a, 0);
        l.record_scores(&a, vec![SpsScore { region: "r1".into(), az_id: None, score: 7 }], 0);
        assert_eq!(l.decide(&a, 100, P), SpsDecision::UseCache { age: 100 });
        assert_eq!(l.decide(&a, 7200, P), SpsDecision::Query { new_config: false });
        let b = cfg(&["a", "b", "d"]);
        l.record_query(&b, 10);
        let c = cfg(&["x", "y", "z"]);
        match l.decide(&c, 20, P) {
            SpsDecision::Refuse { stale_cache: None, .. } => {}
            other => panic!("expected a refusal, got {other:?}"),
        }
        // A day later the window has rolled.
        l.prune(DAY + 20);
        assert_eq!(l.decide(&c, DAY + 20, P), SpsDecision::Query { new_config: true });
    }

    #[test]
    fn a_refusal_from_aws_blocks_new_configs_but_offers_the_stale_cache() {
        let mut l = SpsLedger::default();
        let a = cfg(&["a", "b", "c"]);
        l.record_query(&a, 5);
        l.record_scores(&a, vec![SpsScore { region: "r1".into(), az_id: None, score: 3 }], 0);
        l.record_refusal(&a, 10);
        match l.decide(&a, 5000, P) {
            SpsDecision::Refuse { stale_cache: Some((s, age)), .. } => {
                assert_eq!((s.len(), age), (1, 5000));
            }
            other => panic!("expected a refusal with stale cache, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_api_shape() {
        let text = r#"{"SpotPlacementScores":[{"Region":"us-east-1","AvailabilityZoneId":"use1-az1","Score":7},{"Region":"us-west-2","Score":3}]}"#;
        let s = parse_sps_file(text).expect("parses");
        assert_eq!(s[0].az_id.as_deref(), Some("use1-az1"));
        assert_eq!(s[1].az_id, None);
        assert!(parse_sps_file(r#"{"SpotPlacementScores":[{"Region":"x","Score":11}]}"#).is_err());
        assert!(parse_sps_file("[]").is_err());
    }
}
