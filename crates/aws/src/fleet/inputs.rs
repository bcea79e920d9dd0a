//! What apply needs to plan a fleet: each fleet region's AMI and default subnets.

use crate::placement::facts::al2023_ami;
use crate::sdk::Aws;
use anyhow::{Context, Result};
use spotctl_core::config::LoadedEnv;
use spotctl_core::desired::fleet::{FleetInput, FleetRegion};
use std::collections::BTreeMap;

/// The facts of every fleet region (AMI, default subnets), for the planner.
pub async fn inputs(
    aws: &Aws,
    loaded: &LoadedEnv,
    vpcs: &BTreeMap<String, String>,
) -> Result<Vec<FleetInput>> {
    let mut facts: BTreeMap<String, FleetRegion> = BTreeMap::new();
    let mut out = Vec::new();
    for f in &loaded.env.fleet {
        for region in [&f.primary_region, &f.fallback_region] {
            if facts.contains_key(region) {
                continue;
            }
            let vpc = vpcs.get(region).cloned().with_context(|| format!("{region} has no default VPC"))?;
            let (ami, subnets) =
                tokio::try_join!(al2023_ami(aws, region), default_subnets(aws, region, &vpc))?;
            facts.insert(region.clone(), FleetRegion { ami, vpc, subnets });
        }
        let regions = [&f.primary_region, &f.fallback_region]
            .into_iter()
            .filter_map(|r| facts.get(r).map(|x| (r.clone(), x.clone())))
            .collect();
        out.push(FleetInput {
            fleet: f.clone(),
            user_data_script: loaded.fleet_user_data.get(&f.name).cloned(),
            regions,
        });
    }
    Ok(out)
}

async fn default_subnets(aws: &Aws, region: &str, vpc: &str) -> Result<Vec<String>> {
    use aws_sdk_ec2::types::Filter;
    let out = aws
        .ec2(region)
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .filters(Filter::builder().name("default-for-az").values("true").build())
        .send()
        .await
        .with_context(|| format!("listing the default subnets in {region}"))?;
    let mut subnets: Vec<String> =
        out.subnets().iter().filter_map(|s| s.subnet_id().map(String::from)).collect();
    subnets.sort();
    anyhow::ensure!(!subnets.is_empty(), "{region} has no default subnet for a fleet's Auto Scaling group");
    Ok(subnets)
}
