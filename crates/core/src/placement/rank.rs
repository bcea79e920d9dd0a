//! Ranking spot placements: `rank(candidates, data, policy) -> Ranking`, pure and deterministic.
//!
//! A placement is (region, availability zone, instance type). Three factors score it, each in 0..1:
//! the Spot Placement Score of its zone (SPS/10), its safety from the Spot Advisor's interruption
//! range ((5 − index)/5), and its cheapness among the candidates' spot prices (0.1 for the dearest
//! to 1 for the cheapest). SPS weighs most, then
//! safety, then price (ARD.md: public research on these data, SpotLake/IISWC 2022, found SPS the
//! better predictor of an uninterrupted run). A missing factor scores 0 and shows as missing: it
//! never beats a known value and is never invented. Hard limits from the env file filter; they
//! never re-weight. Ties break on region, zone, then type, so the same input gives the same bytes.

use super::advisor::{AdvisorData, AdvisorEntry, InterruptionBucket};
use super::sps::SpsScore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

/// Shared strings: a ranking of every region × type copies each candidate into its output, and
/// copying a shared string is a reference count, not an allocation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Candidate {
    pub region: Arc<str>,
    /// Zone name, e.g. ap-northeast-1a.
    pub az: Arc<str>,
    /// Zone id, e.g. apne1-az4 (SPS speaks in zone ids).
    pub az_id: Option<Arc<str>>,
    pub instance_type: Arc<str>,
}

impl Candidate {
    pub fn new(region: &str, az: &str, az_id: Option<&str>, instance_type: &str) -> Candidate {
        Candidate {
            region: region.into(),
            az: az.into(),
            az_id: az_id.map(Into::into),
            instance_type: instance_type.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentInterruption {
    pub instance_type: String,
    pub az: String,
    pub at_unix: i64,
}

/// Latest spot price, USD/hour: zone name → instance type → price.
pub type Prices = BTreeMap<String, BTreeMap<String, f64>>;

/// Observations to rank with.
pub struct PlacementData<'a> {
    pub advisor: &'a AdvisorData,
    /// `None`: SPS was unavailable (refused, throttled, not implemented).
    pub sps: Option<Vec<SpsScore>>,
    pub prices: Prices,
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
            interruption_cooldown_secs: 12 * 3600,
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
    /// 0..1000: the sum of `points`.
    pub total: f64,
    /// What each factor contributed: why it ranks where it does (`why()` says it in words).
    pub points: Points,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Points {
    pub sps: f64,
    pub interruption: f64,
    pub price: f64,
}

impl Ranked {
    /// `SPS 7/10 (350) + interruption <5% (300) + price $0.0412/h (120)`.
    pub fn why(&self) -> String {
        explain(self)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Excluded {
    pub candidate: Candidate,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    pub entries: Vec<Ranked>,
    pub excluded: Vec<Excluded>,
    pub warnings: Vec<String>,
    pub policy: Policy,
}

/// SPS by (region, zone id); a region-level score has no zone id.
type SpsIndex<'a> = BTreeMap<(&'a str, Option<&'a str>), u8>;

fn sps_index(sps: &[SpsScore]) -> SpsIndex<'_> {
    sps.iter().map(|s| ((s.region.as_str(), s.az_id.as_deref()), s.score)).collect()
}

fn sps_of(c: &Candidate, index: &SpsIndex<'_>) -> Option<u8> {
    let zone = c.az_id.as_deref().and_then(|id| index.get(&(&*c.region, Some(id))));
    zone.or_else(|| index.get(&(&*c.region, None))).copied()
}

fn limit_violation(
    sps: Option<u8>,
    bucket: Option<InterruptionBucket>,
    price: Option<f64>,
    policy: &Policy,
    sps_available: bool,
) -> Option<String> {
    if let (Some(min), true) = (policy.min_sps, sps_available) {
        match sps {
            None => return Some(format!("no SPS for this zone; min_sps = {min}")),
            Some(s) if s < min => return Some(format!("SPS {s} < min_sps {min}")),
            _ => {}
        }
    }
    if let Some(max) = policy.max_bucket {
        match bucket {
            None => return Some(format!("interruption range unknown; max_interruption = {max}")),
            Some(b) if b > max => return Some(format!("interruption {b} worse than max_interruption {max}")),
            _ => {}
        }
    }
    if let Some(max) = policy.max_price {
        match price {
            None => return Some(format!("no spot price; max_price = {max}")),
            Some(p) if p > max => return Some(format!("price ${p:.4}/h > max_price ${max:.4}/h")),
            _ => {}
        }
    }
    None
}

/// A candidate with its observations, before it is scored and ranked (borrowed: ranking ~45 000
/// candidates should not copy them until the order is known).
struct Observed<'c> {
    c: &'c Candidate,
    sps: Option<u8>,
    entry: Option<AdvisorEntry>,
    price: Option<f64>,
    total: f64,
}

/// The last zone looked up: its name, its prices, its SPS.
type ZoneCache<'a> = (&'a str, Option<&'a BTreeMap<String, f64>>, Option<u8>);

pub fn rank(candidates: &[Candidate], data: &PlacementData<'_>, policy: &Policy) -> Ranking {
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
    let index = data.sps.as_deref().map(sps_index);
    let mut excluded: Vec<(&Candidate, String)> = Vec::new();
    let mut kept: Vec<Observed<'_>> = Vec::with_capacity(candidates.len());
    // Candidates come grouped by region and zone: remember the last maps looked up.
    let mut region_cache: Option<(&str, Option<&BTreeMap<String, AdvisorEntry>>)> = None;
    let mut zone_cache: Option<ZoneCache<'_>> = None;
    for c in candidates {
        let recent = data.recent_interruptions.iter().find(|i| {
            *i.instance_type == *c.instance_type
                && *i.az == *c.az
                && data.now_unix - i.at_unix < policy.interruption_cooldown_secs
        });
        if let Some(i) = recent {
            let reason = format!(
                "interrupted {}s ago (cooldown {}s)",
                data.now_unix - i.at_unix,
                policy.interruption_cooldown_secs
            );
            excluded.push((c, reason));
            continue;
        }
        let types = match region_cache {
            Some((r, t)) if r == &*c.region => t,
            _ => {
                let t = data.advisor.region(&c.region);
                region_cache = Some((&c.region, t));
                t
            }
        };
        let (zone, zone_sps) = match zone_cache {
            Some((z, p, s)) if z == &*c.az => (p, s),
            _ => {
                let p = data.prices.get(&*c.az);
                let s = index.as_ref().and_then(|i| sps_of(c, i));
                zone_cache = Some((&c.az, p, s));
                (p, s)
            }
        };
        let o = Observed {
            c,
            sps: zone_sps,
            entry: types.and_then(|t| t.get(&*c.instance_type)).copied(),
            price: zone.and_then(|z| z.get(&*c.instance_type)).copied(),
            total: 0.0,
        };
        match limit_violation(o.sps, o.entry.map(|e| e.bucket), o.price, policy, sps_available) {
            Some(reason) => excluded.push((c, reason)),
            None => kept.push(o),
        }
    }
    let (lo, hi) = kept
        .iter()
        .filter_map(|o| o.price)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p), hi.max(p)));
    let w = &policy.weights;
    let points = |o: &Observed<'_>| {
        let sps = o.sps.map(|s| f64::from(s.min(10)) / 10.0).unwrap_or(0.0);
        // Every known value scores above a missing one: the worst range still gets 0.2, the
        // dearest price 0.1 (a missing factor is 0, so it never ties with, or beats, a known one).
        let safety = o.entry.map(|e| f64::from(5 - e.bucket.index()) / 5.0).unwrap_or(0.0);
        let cheap =
            o.price.map(|p| if hi > lo { 0.1 + 0.9 * (hi - p) / (hi - lo) } else { 1.0 }).unwrap_or(0.0);
        (1000.0 * w.sps * sps, 1000.0 * w.safety * safety, 1000.0 * w.price * cheap)
    };
    for o in &mut kept {
        let (a, b, c) = points(o);
        o.total = a + b + c;
    }
    kept.sort_by(|a, b| b.total.total_cmp(&a.total).then_with(|| a.c.cmp(b.c)));
    kept.dedup_by(|a, b| a.c == b.c);
    let entries = kept
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (sps, interruption, price) = points(o);
            Ranked {
                rank: i + 1,
                candidate: o.c.clone(),
                sps: o.sps,
                bucket: o.entry.map(|e| e.bucket),
                savings_pct: o.entry.map(|e| e.savings_pct),
                price: o.price,
                total: o.total,
                points: Points { sps, interruption, price },
            }
        })
        .collect();
    excluded.sort_by(|a, b| a.0.cmp(b.0));
    excluded.dedup_by(|a, b| a.0 == b.0);
    let excluded =
        excluded.into_iter().map(|(c, reason)| Excluded { candidate: c.clone(), reason }).collect();
    Ranking { entries, excluded, warnings, policy: policy.clone() }
}

/// `SPS 7/10 (350) + interruption <5% (300) + price $0.0412/h (120)`: each factor and its points.
fn explain(r: &Ranked) -> String {
    let pts = |x: f64| x.round() as i64;
    let mut why = String::with_capacity(80);
    match r.sps {
        Some(s) => {
            let _ = write!(why, "SPS {s}/10");
        }
        None => why.push_str("SPS missing"),
    }
    let bucket = r.bucket.map(|b| b.label()).unwrap_or("missing");
    let _ = write!(
        why,
        " ({}) + interruption {bucket} ({}) + price ",
        pts(r.points.sps),
        pts(r.points.interruption)
    );
    match r.price {
        Some(p) => {
            let tenth_mills = (p * 10_000.0).round() as i64;
            let _ = write!(why, "${}.{:04}/h", tenth_mills / 10_000, tenth_mills % 10_000);
        }
        None => why.push_str("missing"),
    }
    let _ = write!(why, " ({})", pts(r.points.price));
    why
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
            e.why()
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
    let _ = writeln!(out, "\npolicy: total = 1000 × ({} × SPS/10 + {} × (5 − range)/5 + {} × cheapness 0.1..1); missing factors score 0", w.sps, w.safety, w.price);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(region: &str, az: &str, t: &str) -> Candidate {
        Candidate {
            region: region.into(),
            az: az.into(),
            az_id: Some(format!("{az}-id").into()),
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
        assert_eq!(&*r.entries[0].candidate.az, "ap-northeast-1c");
        assert!(r.entries[0].why().contains("SPS 9/10"));
        assert!(r.entries[0].why().contains("price missing"));
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
                SpsScore {
                    region: a.region.to_string(),
                    az_id: a.az_id.as_deref().map(String::from),
                    score: sa,
                },
                SpsScore {
                    region: b.region.to_string(),
                    az_id: b.az_id.as_deref().map(String::from),
                    score: sb,
                },
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
