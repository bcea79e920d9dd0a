//! Ranking every region × every Linux type the advisor knows (3 zones each), with SPS and prices:
//! the `--all-regions --all-types` case. Goal: ≤ 10 ms.

use criterion::{criterion_group, criterion_main, Criterion};
use spotctl_core::placement::advisor::AdvisorData;
use spotctl_core::placement::sps::SpsScore;
use spotctl_core::placement::{rank, Candidate, PlacementData, Policy, Prices};
use std::hint::black_box;

fn inputs(advisor: &AdvisorData) -> (Vec<Candidate>, Vec<SpsScore>, Prices) {
    let mut candidates = Vec::new();
    let mut sps = Vec::new();
    let mut prices = Prices::new();
    let types: Vec<String> = advisor.types().map(String::from).collect();
    for (ri, region) in advisor.regions().enumerate() {
        for z in ["a", "b", "c"] {
            let az = format!("{region}{z}");
            let az_id = format!("{region}-az{z}");
            sps.push(SpsScore {
                region: region.to_string(),
                az_id: Some(az_id.clone()),
                score: ((ri * 7 + z.len()) % 10 + 1) as u8,
            });
            for (ti, t) in types.iter().enumerate() {
                if advisor.entry(region, t).is_none() {
                    continue;
                }
                prices
                    .entry(az.clone())
                    .or_default()
                    .insert(t.clone(), 0.01 + ((ri * 31 + ti * 17) % 997) as f64 / 1000.0);
                candidates.push(Candidate::new(region, &az, Some(&az_id), t));
            }
        }
    }
    (candidates, sps, prices)
}

fn bench(c: &mut Criterion) {
    let advisor = AdvisorData::embedded();
    let (candidates, sps, prices) = inputs(&advisor);
    let policy = Policy::default();
    println!("ranking {} candidates", candidates.len());
    // Where the time goes, once, outside criterion.
    let data = PlacementData {
        advisor: &advisor,
        sps: Some(sps.clone()),
        prices: prices.clone(),
        recent_interruptions: vec![],
        now_unix: 0,
    };
    let t = std::time::Instant::now();
    let r = rank(&candidates, &data, &policy);
    let ranked = t.elapsed();
    let t = std::time::Instant::now();
    drop(r);
    println!("one rank: {:?}, dropping its result: {:?}", ranked, t.elapsed());
    c.bench_function("rank all regions x all types", |b| {
        // Building the inputs is not ranking: only `rank` is timed.
        b.iter_batched_ref(
            || PlacementData {
                advisor: &advisor,
                sps: Some(sps.clone()),
                prices: prices.clone(),
                recent_interruptions: vec![],
                now_unix: 0,
            },
            |data| black_box(rank(black_box(&candidates), data, &policy)),
            criterion::BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
