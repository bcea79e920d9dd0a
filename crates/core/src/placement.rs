//! Ranking spot placements: `rank(candidates, data, policy) -> Ranking`, pure and deterministic.
//!
//! A placement is (region, availability zone, instance type). Three factors score it, each in 0..1:
//! the Spot Placement Score of its zone (SPS/10), its safety from the Spot Advisor's interruption
//! range (1 − index/4), and its cheapness among the candidates' spot prices. SPS weighs most, then
//! safety, then price (ARD.md: public research on these data, SpotLake/IISWC 2022, found SPS the
//! better predictor of an uninterrupted run). A missing factor scores 0 and shows as missing: it
//! never beats a known value and is never invented. Hard limits from the env file filter; they
//! never re-weight. Ties break on region, zone, then type, so the same input gives the same bytes.

use crate::advisor::{AdvisorData, InterruptionBucket};
use crate::sps::SpsScore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Candidate {
    pub region: String,
    /// Zone name, e.g. ap-northeast-1a.
    pub az: String,
    /// Zone id, e.g. apne1-az4 (SPS speaks in zone ids).
    pub az_id: Option<String>,
    pub instance_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentInterruption {
    pub instance_type: String,
    pub az: String,
    pub at_unix: i64,
}

/// Observations to rank with.
pub struct PlacementData<'a> {
    pub advisor: &'a AdvisorData,
    /// `None`: SPS was unavailable (refused, throttled, not implemented).
    pub sps: Option<Vec<SpsScore>>,
    /// Latest spot price, USD/hour, by (zone name, type).
    pub prices: BTreeMap<(String, String), f64>,
    pub recent_interruptions: Vec<RecentInterruption>,
    pub now_unix: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub sps: f64,
    pub safety: f64,
    pub price: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights { sps: 0.5, safety: 0.3, price: 0.2 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub weights: Weights,
    pub min_sps: Option<u8>,
    pub max_bucket: Option<InterruptionBucket>,
    pub max_price: Option<f64>,
    /// The best must beat the current placement's total by this fraction before relocating.
    pub relocation_margin: f64,
    pub interruption_cooldown_secs: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            weights: Weights::default(),
            min_sps: None,
            max_bucket: None,
            max_price: None,
            relocation_margin: 0.10,
            interruption_cooldown_secs: 6 * 3600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub rank: usize,
    pub candidate: Candidate,
    pub sps: Option<u8>,
    pub bucket: Option<InterruptionBucket>,
    pub savings_pct: Option<u8>,
    pub price: Option<f64>,
    /// 0..1000.
    pub total: f64,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Excluded {
    pub candidate: Candidate,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    pub entries: Vec<Ranked>,
    pub excluded: Vec<Excluded>,
    pub warnings: Vec<String>,
    pub policy: Policy,
}

fn sps_of(c: &Candidate, sps: &[SpsScore]) -> Option<u8> {
    let zone = c
        .az_id
        .as_ref()
        .and_then(|id| sps.iter().find(|s| s.region == c.region && s.az_id.as_ref() == Some(id)));
    zone.or_else(|| sps.iter().find(|s| s.region == c.region && s.az_id.is_none())).map(|s| s.score)
}

fn limit_violation(r: &Ranked, policy: &Policy, sps_available: bool) -> Option<String> {
    if let (Some(min), true) = (policy.min_sps, sps_available) {
        match r.sps {
            None => return Some(format!("no SPS for this zone; min_sps = {min}")),
            Some(s) if s < min => return Some(format!("SPS {s} < min_sps {min}")),
            _ => {}
        }
    }
    if let Some(max) = policy.max_bucket {
        match r.bucket {
            None => return Some(format!("interruption range unknown; max_interruption = {max}")),
            Some(b) if b > max => return Some(format!("interruption {b} worse than max_interruption {max}")),
            _ => {}
        }
    }
    if let Some(max) = policy.max_price {
        match r.price {
            None => return Some(format!("no spot price; max_price = {max}")),
            Some(p) if p > max => return Some(format!("price ${p:.4}/h > max_price ${max:.4}/h")),
            _ => {}
        }
    }
    None
}

pub fn rank(candidates: &[Candidate], data: &PlacementData<'_>, policy: &Policy) -> Ranking {
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut warnings = Vec::new();
    let sps_available = data.sps.is_some();
    if !sps_available {
        warnings.push(
            "no Spot Placement Scores: SPS is shown as missing and scores 0 for every candidate".into(),
        );
        if policy.min_sps.is_some() {
            warnings.push("min_sps is not applied: there are no scores to apply it to".into());
        }
    }
    let mut excluded = Vec::new();
    let mut kept: Vec<Ranked> = Vec::new();
    for c in sorted {
        let recent = data.recent_interruptions.iter().find(|i| {
            i.instance_type == c.instance_type
                && i.az == c.az
                && data.now_unix - i.at_unix < policy.interruption_cooldown_secs
        });
        if let Some(i) = recent {
            excluded.push(Excluded {
                candidate: c.clone(),
                reason: format!(
                    "interrupted {}s ago (cooldown {}s)",
                    data.now_unix - i.at_unix,
                    policy.interruption_cooldown_secs
                ),
            });
            continue;
        }
        let entry = data.advisor.entry(&c.region, &c.instance_type);
        let r = Ranked {
            rank: 0,
            candidate: c.clone(),
            sps: data.sps.as_deref().and_then(|s| sps_of(c, s)),
            bucket: entry.map(|e| e.bucket),
            savings_pct: entry.map(|e| e.savings_pct),
            price: data.prices.get(&(c.az.clone(), c.instance_type.clone())).copied(),
            total: 0.0,
            why: String::new(),
        };
        match limit_violation(&r, policy, sps_available) {
            Some(reason) => excluded.push(Excluded { candidate: c.clone(), reason }),
            None => kept.push(r),
        }
    }
    let prices: Vec<f64> = kept.iter().filter_map(|r| r.price).collect();
    let (lo, hi) =
        prices.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(*p), hi.max(*p)));
    let w = &policy.weights;
    for r in &mut kept {
        let sps = r.sps.map(|s| f64::from(s.min(10)) / 10.0).unwrap_or(0.0);
        let safety = r.bucket.map(|b| 1.0 - f64::from(b.index()) / 4.0).unwrap_or(0.0);
        let cheap = r.price.map(|p| if hi > lo { (hi - p) / (hi - lo) } else { 1.0 }).unwrap_or(0.0);
        r.total = 1000.0 * (w.sps * sps + w.safety * safety + w.price * cheap);
        r.why = format!(
            "SPS {} ({:.0}) + interruption {} ({:.0}) + price {} ({:.0})",
            r.sps.map(|s| format!("{s}/10")).unwrap_or_else(|| "missing".into()),
            1000.0 * w.sps * sps,
            r.bucket.map(|b| b.label().to_string()).unwrap_or_else(|| "missing".into()),
            1000.0 * w.safety * safety,
            r.price.map(|p| format!("${p:.4}/h")).unwrap_or_else(|| "missing".into()),
            1000.0 * w.price * cheap,
        );
    }
    kept.sort_by(|a, b| b.total.total_cmp(&a.total).then_with(|| a.candidate.cmp(&b.candidate)));
    for (i, r) in kept.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    Ranking { entries: kept, excluded, warnings, policy: policy.clone() }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RelocationDecision {
    Stay { reason: String },
    Move { to: Box<Ranked>, reason: String },
}

/// The scheduled relocation's choice, with hysteresis: move only when the best beats the current
/// placement by the margin, or when the current placement is no longer allowed at all.
pub fn relocation_decision(current: &Candidate, ranking: &Ranking, policy: &Policy) -> RelocationDecision {
    let Some(best) = ranking.entries.first() else {
        return RelocationDecision::Stay { reason: "no candidate placement is allowed".into() };
    };
    if best.candidate == *current {
        return RelocationDecision::Stay { reason: "the current placement ranks first".into() };
    }
    match ranking.entries.iter().find(|r| r.candidate == *current) {
        None => RelocationDecision::Move {
            to: Box::new(best.clone()),
            reason: "the current placement is excluded or no longer a candidate".into(),
        },
        Some(cur) => {
            let needed = cur.total * (1.0 + policy.relocation_margin);
            if best.total > needed {
                RelocationDecision::Move {
                    to: Box::new(best.clone()),
                    reason: format!(
                        "{:.0} beats the current {:.0} by more than the margin ({:.0} needed)",
                        best.total, cur.total, needed
                    ),
                }
            } else {
                RelocationDecision::Stay {
                    reason: format!(
                        "the best ({:.0}) does not beat the current {:.0} by the margin ({:.0} needed)",
                        best.total, cur.total, needed
                    ),
                }
            }
        }
    }
}

/// The ranking as a table; missing factors show as `-`.
pub fn render_table(r: &Ranking) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>4}  {:<15} {:<17} {:<14} {:>4} {:>7} {:>7} {:>9} {:>6}  why",
        "rank", "region", "zone", "type", "SPS", "interr.", "saving", "price/h", "total"
    );
    for e in &r.entries {
        let c = &e.candidate;
        let _ = writeln!(
            out,
            "{:>4}  {:<15} {:<17} {:<14} {:>4} {:>7} {:>7} {:>9} {:>6.0}  {}",
            e.rank,
            c.region,
            format!("{}{}", c.az, c.az_id.as_ref().map(|i| format!(" {i}")).unwrap_or_default()),
            c.instance_type,
            e.sps.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            e.bucket.map(|b| b.label().to_string()).unwrap_or_else(|| "-".into()),
            e.savings_pct.map(|s| format!("{s}%")).unwrap_or_else(|| "-".into()),
            e.price.map(|p| format!("{p:.4}")).unwrap_or_else(|| "-".into()),
            e.total,
            e.why
        );
    }
    if !r.excluded.is_empty() {
        let _ = writeln!(out, "\nexcluded:");
        for x in &r.excluded {
            let c = &x.candidate;
            let _ = writeln!(out, "  {} {} {}: {}", c.region, c.az, c.instance_type, x.reason);
        }
    }
    let w = &r.policy.weights;
    let _ = writeln!(out, "\npolicy: total = 1000 × ({} × SPS/10 + {} × (1 − range/4) + {} × cheapness); missing factors score 0", w.sps, w.safety, w.price);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(region: &str, az: &str, t: &str) -> Candidate {
        Candidate {
            region: region.into(),
            az: az.into(),
            az_id: Some(format!("{az}-id")),
            instance_type: t.into(),
        }
    }

    #[test]
    fn ranks_on_the_real_snapshot_and_explains() {
        let advisor = AdvisorData::embedded();
        let cs = vec![
            cand("ap-northeast-1", "ap-northeast-1a", "m5.large"),
            cand("ap-northeast-1", "ap-northeast-1c", "m5.large"),
        ];
        let data = PlacementData {
            advisor: &advisor,
            sps: Some(vec![
                SpsScore {
                    region: "ap-northeast-1".into(),
                    az_id: Some("ap-northeast-1a-id".into()),
                    score: 3,
                },
                SpsScore {
                    region: "ap-northeast-1".into(),
                    az_id: Some("ap-northeast-1c-id".into()),
                    score: 9,
                },
            ]),
            prices: BTreeMap::new(),
            recent_interruptions: vec![],
            now_unix: 0,
        };
        let r = rank(&cs, &data, &Policy::default());
        assert_eq!(r.entries[0].candidate.az, "ap-northeast-1c");
        assert!(r.entries[0].why.contains("SPS 9/10"));
        assert!(r.entries[0].why.contains("price missing"));
        assert!(render_table(&r).contains(" - "));
    }

    #[test]
    fn hysteresis_keeps_a_close_second_in_place() {
        let advisor = AdvisorData::embedded();
        let a = cand("ap-northeast-1", "ap-northeast-1a", "m5.large");
        let b = cand("ap-northeast-1", "ap-northeast-1c", "m5.large");
        let score = |sa: u8, sb: u8| PlacementData {
            advisor: &advisor,
            sps: Some(vec![
                SpsScore { region: a.region.clone(), az_id: a.az_id.clone(), score: sa },
                SpsScore { region: b.region.clone(), az_id: b.az_id.clone(), score: sb },
            ]),
            prices: BTreeMap::new(),
            recent_interruptions: vec![],
            now_unix: 0,
        };
        // m5.large is in the >20% range in Tokyo, so SPS alone separates them: 400 against 450.
        let p = Policy { relocation_margin: 0.2, ..Policy::default() };
        let close = rank(&[a.clone(), b.clone()], &score(8, 9), &p);
        assert!(matches!(relocation_decision(&a, &close, &p), RelocationDecision::Stay { .. }));
        let far = rank(&[a.clone(), b.clone()], &score(1, 10), &p);
        assert!(matches!(relocation_decision(&a, &far, &p), RelocationDecision::Move { .. }));
    }

    #[test]
    fn interrupted_pools_sit_out_the_cooldown() {
        let advisor = AdvisorData::embedded();
        let a = cand("ap-northeast-1", "ap-northeast-1a", "m5.large");
        let data = PlacementData {
            advisor: &advisor,
            sps: None,
            prices: BTreeMap::new(),
            recent_interruptions: vec![RecentInterruption {
                instance_type: "m5.large".into(),
                az: "ap-northeast-1a".into(),
                at_unix: 100,
            }],
            now_unix: 200,
        };
        let r = rank(&[a], &data, &Policy::default());
        assert!(r.entries.is_empty());
        assert!(r.excluded[0].reason.contains("interrupted"));
    }
}
