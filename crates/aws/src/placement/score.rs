//! `spotctl score`: rank every candidate placement of an env, with each source said and dated.

use super::facts::all_region_facts;
use super::{advisor, sps};
use crate::sdk::clock::now_unix;
use crate::sdk::Aws;
use crate::state::{S3Store, StateStore};
use anyhow::{Context, Result};
use serde::Serialize;
use spotctl_core::config::LoadedEnv;
use spotctl_core::names::Names;
use spotctl_core::placement::advisor::{AdvisorData, AdvisorSource, SourceKind};
use spotctl_core::placement::sps::{parse_sps_file, SpsPolicy};
use spotctl_core::placement::{candidates, rank_observed, Observed, Ranking};
use std::path::PathBuf;

#[derive(Debug, Default)]
pub struct ScoreOptions {
    pub advisor_file: Option<PathBuf>,
    pub sps_file: Option<PathBuf>,
    pub all_types: bool,
    pub all_regions: bool,
}

#[derive(Debug, Serialize)]
pub struct Sources {
    pub advisor: AdvisorSource,
    pub sps: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sps_age_secs: Option<i64>,
    pub prices: String,
}

#[derive(Debug, Serialize)]
pub struct Scored {
    pub ranking: Ranking,
    pub sources: Sources,
    pub warnings: Vec<String>,
}

/// One SPS configuration per env and day at most, cached for an hour (ARD.md: the SPS budget).
pub const SPS_POLICY: SpsPolicy = SpsPolicy { max_age_secs: 3600, daily_limit: 10 };

pub async fn score(aws: &Aws, loaded: &LoadedEnv, opts: &ScoreOptions) -> Result<Scored> {
    let now = now_unix();
    let home = &loaded.env.env.home_region;
    let account = aws.account_id(home).await?;
    let names = Names::new(&loaded.env.env.name, &account, home);
    // The state bucket, when the env has been applied: caches live there.
    let store = S3Store::new(aws.s3(home, &names.account), names.bucket());
    let store = store.client.head_bucket().bucket(&store.bucket).send().await.ok().map(|_| store);
    let store = store.as_ref().map(|s| s as &dyn StateStore);
    let mut warnings = Vec::new();

    let (advisor, advisor_src) = match &opts.advisor_file {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading advisor file {}", path.display()))?;
            let data = AdvisorData::parse(&bytes)
                .with_context(|| format!("{} is not a Spot Advisor feed", path.display()))?;
            (
                data,
                AdvisorSource {
                    kind: SourceKind::File,
                    fetched_at_unix: None,
                    snapshot: path.display().to_string(),
                },
            )
        }
        None => {
            let (d, s, notes) = advisor::load(store, now).await;
            warnings.extend(notes);
            (d, s)
        }
    };
    let regions: Vec<String> = if opts.all_regions {
        advisor.regions().map(String::from).collect()
    } else {
        loaded.env.placement_regions()
    };
    let types: Vec<String> = if opts.all_types {
        advisor.types().map(String::from).collect()
    } else {
        loaded.env.instance.types.clone()
    };
    let facts = all_region_facts(aws, &regions, if opts.all_types { &[] } else { &types }).await?;

    let config = loaded.env.sps_config();
    let (sps, sps_source, sps_age) = match &opts.sps_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading SPS file {}", path.display()))?;
            let scores = parse_sps_file(&text)
                .with_context(|| format!("{} is not a GetSpotPlacementScores response", path.display()))?;
            (Some(scores), format!("file {}", path.display()), None)
        }
        None => {
            let o = sps::scores(aws, home, store, &config, SPS_POLICY, now).await;
            warnings.extend(o.warnings);
            (o.scores, o.source, o.age_secs)
        }
    };
    if sps.is_none() {
        warnings.push("no Spot Placement Scores: ranked on interruption rate and price alone".into());
    }
    let c = candidates(&regions, &types, &facts);
    let seen = Observed { advisor: &advisor, facts: &facts, sps, recent: Vec::new(), now_unix: now };
    let ranking = rank_observed(&c, seen, &loaded.env.placement.policy());
    Ok(Scored {
        ranking,
        sources: Sources {
            advisor: advisor_src,
            sps: sps_source,
            sps_age_secs: sps_age,
            prices: format!("DescribeSpotPriceHistory, latest per zone and type, {} regions", regions.len()),
        },
        warnings,
    })
}
