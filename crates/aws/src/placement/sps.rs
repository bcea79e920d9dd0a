//! Spot Placement Scores from AWS, spent carefully.
//!
//! AWS lets an account ask about only about ten *new* request configurations per rolling 24 hours
//! (`MaxConfigLimitExceeded` after that) and advises acting on scores at once. So the configuration
//! is kept stable (the env's sorted types and regions, its capacity, per-AZ), answers are cached
//! with their time in the state bucket, a cached answer is used while it is fresh, and the ledger
//! of configurations used is consulted before asking. When SPS is refused, throttled or not
//! implemented (emulators), ranking goes on without it and says so.

use crate::sdk::Aws;
use crate::state::{StateStore, StoreError};
use anyhow::Result;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use spotctl_core::placement::sps::{SpsConfig, SpsDecision, SpsLedger, SpsPolicy, SpsScore};
use spotctl_layout::state as keys;

/// Scores and a sentence on where they came from.
#[derive(Debug, Clone)]
pub struct SpsOutcome {
    pub scores: Option<Vec<SpsScore>>,
    pub source: String,
    pub age_secs: Option<i64>,
    pub warnings: Vec<String>,
}

async fn query(aws: &Aws, home: &str, config: &SpsConfig) -> Result<Vec<SpsScore>, (Option<String>, String)> {
    let mut req = aws
        .ec2(home)
        .get_spot_placement_scores()
        .target_capacity(config.target_capacity as i32)
        .single_availability_zone(config.single_az)
        .max_results(100);
    for t in &config.instance_types {
        req = req.instance_types(t);
    }
    for r in &config.regions {
        req = req.region_names(r);
    }
    let mut pages = req.into_paginator().send();
    let mut scores = Vec::new();
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => {
                for s in p.spot_placement_scores() {
                    let (Some(region), Some(score)) = (s.region(), s.score()) else { continue };
                    scores.push(SpsScore {
                        region: region.to_string(),
                        az_id: s.availability_zone_id().map(String::from),
                        score: score.clamp(0, 10) as u8,
                    });
                }
            }
            Err(e) => {
                let code = e.code().map(String::from);
                let msg = e.message().map(String::from).unwrap_or_else(|| format!("{e}"));
                return Err((code, msg));
            }
        }
    }
    Ok(scores)
}

/// Scores for `config`: from the cache when fresh, else asked of AWS within the budget.
pub async fn scores(
    aws: &Aws,
    home: &str,
    store: Option<&dyn StateStore>,
    config: &SpsConfig,
    policy: SpsPolicy,
    now: i64,
) -> SpsOutcome {
    let mut warnings = Vec::new();
    let (mut ledger, etag) = match store {
        Some(s) => match crate::state::get_json::<SpsLedger>(s, keys::SPS_LEDGER).await {
            Ok(Some((l, e))) => (l, Some(e)),
            _ => (SpsLedger::default(), None),
        },
        None => (SpsLedger::default(), None),
    };
    ledger.prune(now);
    let outcome = match ledger.decide(config, now, policy) {
        SpsDecision::UseCache { age } => {
            let scores = ledger.cached(config).map(|c| c.scores.clone());
            return SpsOutcome { scores, source: "cached SPS answer".into(), age_secs: Some(age), warnings };
        }
        SpsDecision::Refuse { reason, stale_cache } => {
            warnings.push(format!("not asking SPS: {reason}"));
            match stale_cache {
                Some((scores, age)) => SpsOutcome {
                    scores: Some(scores),
                    source: "stale cached SPS answer".into(),
                    age_secs: Some(age),
                    warnings,
                },
                None => SpsOutcome {
                    scores: None,
                    source: "none (budget spent)".into(),
                    age_secs: None,
                    warnings,
                },
            }
        }
        SpsDecision::Query { new_config } => {
            ledger.record_query(config, now);
            match query(aws, home, config).await {
                Ok(scores) => {
                    ledger.record_scores(config, scores.clone(), now);
                    let src = if new_config { "live SPS (a new configuration today)" } else { "live SPS" };
                    SpsOutcome { scores: Some(scores), source: src.into(), age_secs: Some(0), warnings }
                }
                Err((code, msg)) => {
                    if code.as_deref() == Some("MaxConfigLimitExceeded") {
                        ledger.record_refusal(config, now);
                    }
                    warnings.push(format!(
                        "SPS unavailable ({}: {msg}); ranking without it",
                        code.unwrap_or_else(|| "no error code".into())
                    ));
                    SpsOutcome {
                        scores: None,
                        source: "none (SPS refused or unavailable)".into(),
                        age_secs: None,
                        warnings,
                    }
                }
            }
        }
    };
    if let Some(s) = store {
        let body = serde_json::to_vec_pretty(&ledger).unwrap_or_default();
        let written = match etag {
            Some(e) => s.put_if_match(keys::SPS_LEDGER, &e, body).await.map(drop),
            None => s.put_if_absent(keys::SPS_LEDGER, body).await.map(drop),
        };
        // A concurrent writer's ledger wins and ours is dropped (ARD.md: the SPS budget).
        if let Err(e) = written.or_else(|e| if e.is_conflict() { Ok(()) } else { Err::<(), StoreError>(e) }) {
            let mut o = outcome;
            o.warnings.push(format!("could not save the SPS ledger: {e:#}"));
            return o;
        }
    }
    outcome
}
