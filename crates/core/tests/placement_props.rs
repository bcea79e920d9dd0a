//! Properties of `rank` on the real Spot Advisor snapshot, whatever the weights:
//! dominance, hard limits filter (never re-weight), missing factors stay missing, determinism.

use proptest::prelude::*;
use spotctl_core::placement::advisor::{AdvisorData, InterruptionBucket};
use spotctl_core::placement::sps::SpsScore;
use spotctl_core::placement::{rank, Candidate, PlacementData, Policy, Prices, Ranking};
use std::sync::OnceLock;

fn advisor() -> &'static AdvisorData {
    static A: OnceLock<AdvisorData> = OnceLock::new();
    A.get_or_init(AdvisorData::embedded)
}

/// Up to 40 candidates drawn from real regions and types, each with a zone, an optional SPS and an
/// optional price (in tenths of a cent, so equal prices happen).
fn world() -> impl Strategy<Value = (Vec<Candidate>, Vec<SpsScore>, Prices)> {
    let regions: Vec<String> = advisor().regions().take(6).map(String::from).collect();
    let types: Vec<String> = ["m5.large", "m6i.large", "r5.large", "c5.large", "t3.large", "x-unknown.large"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    prop::collection::vec(
        (
            prop::sample::select(regions),
            prop::sample::select(vec!["a", "b", "c"]),
            prop::sample::select(types),
            prop::option::of(1u8..=10),
            prop::option::of(1u32..200),
        ),
        1..40,
    )
    .prop_map(|rows| {
        let mut cands = Vec::new();
        let mut sps = Vec::new();
        let mut prices = Prices::new();
        for (region, z, t, score, price) in rows {
            let az = format!("{region}{z}");
            let az_id = format!("{region}-az-{z}");
            if let Some(s) = score {
                if !sps.iter().any(|x: &SpsScore| x.az_id.as_deref() == Some(az_id.as_str())) {
                    sps.push(SpsScore { region: region.clone(), az_id: Some(az_id.clone()), score: s });
                }
            }
            if let Some(p) = price {
                prices.entry(az.clone()).or_default().insert(t.clone(), f64::from(p) / 1000.0);
            }
            cands.push(Candidate::new(&region, &az, Some(&az_id), &t));
        }
        (cands, sps, prices)
    })
}

fn ranking(c: &[Candidate], sps: &[SpsScore], prices: &Prices, policy: &Policy) -> Ranking {
    let data = PlacementData {
        advisor: advisor(),
        sps: Some(sps.to_vec()),
        prices: prices.clone(),
        recent_interruptions: vec![],
        now_unix: 0,
    };
    rank(c, &data, policy)
}

fn policies() -> impl Strategy<Value = Policy> {
    (0.01f64..1.0, 0.01f64..1.0, 0.01f64..1.0).prop_map(|(a, b, c)| {
        let mut p = Policy::default();
        p.weights.sps = a;
        p.weights.safety = b;
        p.weights.price = c;
        p
    })
}

/// a is no worse than b on every factor (a missing factor is the worst) and better on one.
fn dominates(a: &spotctl_core::placement::Ranked, b: &spotctl_core::placement::Ranked) -> bool {
    let sps = |r: &spotctl_core::placement::Ranked| r.sps.map(i32::from).unwrap_or(-1);
    let safe = |r: &spotctl_core::placement::Ranked| r.bucket.map(|b| 4 - i32::from(b.index())).unwrap_or(-1);
    let cheap = |r: &spotctl_core::placement::Ranked| r.price.map(|p| -p).unwrap_or(f64::NEG_INFINITY);
    let no_worse = sps(a) >= sps(b) && safe(a) >= safe(b) && cheap(a) >= cheap(b);
    let better = sps(a) > sps(b) || safe(a) > safe(b) || cheap(a) > cheap(b);
    no_worse && better
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_dominating_candidate_ranks_above((c, sps, prices) in world(), policy in policies()) {
        let r = ranking(&c, &sps, &prices, &policy);
        for a in &r.entries {
            for b in &r.entries {
                if dominates(a, b) {
                    prop_assert!(a.rank < b.rank, "{:?} dominates {:?} but ranks {} vs {}", a.candidate, b.candidate, a.rank, b.rank);
                }
            }
        }
    }

    #[test]
    fn hard_limits_filter_and_only_candidates_appear(
        (c, sps, prices) in world(),
        min_sps in prop::option::of(1u8..=10),
        max_bucket in prop::option::of(0u8..5),
        max_price in prop::option::of(0.001f64..0.2),
    ) {
        let policy = Policy { min_sps, max_bucket: max_bucket.and_then(InterruptionBucket::from_index), max_price, ..Policy::default() };
        let r = ranking(&c, &sps, &prices, &policy);
        for e in &r.entries {
            prop_assert!(c.contains(&e.candidate));
            if let Some(m) = min_sps { prop_assert!(e.sps.is_some_and(|s| s >= m)); }
            if let Some(m) = policy.max_bucket { prop_assert!(e.bucket.is_some_and(|b| b <= m)); }
            if let Some(m) = max_price { prop_assert!(e.price.is_some_and(|p| p <= m)); }
        }
        for x in &r.excluded { prop_assert!(c.contains(&x.candidate)); }
        // Every distinct candidate is either ranked or excluded, never both, never lost.
        let mut distinct = c.clone();
        distinct.sort();
        distinct.dedup();
        prop_assert_eq!(r.entries.len() + r.excluded.len(), distinct.len());
        // Filtering does not re-weight: the kept candidates keep the totals they have without limits.
        let free = ranking(&c, &sps, &prices, &Policy::default());
        let limited_prices: Vec<f64> = r.entries.iter().filter_map(|e| e.price).collect();
        let free_prices: Vec<f64> = free.entries.iter().filter_map(|e| e.price).collect();
        let span = |v: &[f64]| v.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - v.iter().cloned().fold(f64::INFINITY, f64::min);
        if max_price.is_none() || span(&limited_prices) == span(&free_prices) {
            for e in &r.entries {
                let same = free.entries.iter().find(|f| f.candidate == e.candidate);
                if let Some(f) = same {
                    if limited_prices.len() == free_prices.len() {
                        prop_assert!((f.total - e.total).abs() < 1e-9);
                    }
                }
            }
        }
    }

    #[test]
    fn missing_factors_stay_missing((c, sps, prices) in world()) {
        let r = ranking(&c, &sps, &prices, &Policy::default());
        for e in &r.entries {
            let cand = &e.candidate;
            let known_sps = sps.iter().any(|s| s.az_id.as_deref() == cand.az_id.as_deref());
            prop_assert_eq!(e.sps.is_some(), known_sps);
            prop_assert_eq!(e.bucket.is_some(), advisor().entry(&cand.region, &cand.instance_type).is_some());
            let priced = prices.get(&*cand.az).is_some_and(|z| z.contains_key(&*cand.instance_type));
            prop_assert_eq!(e.price.is_some(), priced);
        }
    }

    #[test]
    fn same_input_same_bytes_in_any_order((c, sps, prices) in world(), seed in any::<u64>()) {
        let a = serde_json::to_string(&ranking(&c, &sps, &prices, &Policy::default())).expect("json");
        let mut shuffled = c.clone();
        // A deterministic permutation from the seed.
        let n = shuffled.len();
        let mut s = seed;
        for i in (1..n).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let b = serde_json::to_string(&ranking(&shuffled, &sps, &prices, &Policy::default())).expect("json");
        prop_assert_eq!(a, b);
    }
}
