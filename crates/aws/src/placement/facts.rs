//! Facts the placement engine needs, read from AWS: availability zones (name and id), the default
//! subnet of each, the latest spot price per AZ and type, and the AL2023 AMI of each region.

use crate::sdk::clock::now_unix;
use crate::sdk::Aws;
use anyhow::{bail, Context, Result};
use aws_sdk_ec2::types::{Filter, InstanceType};
use futures::future::try_join_all;
use spotctl_core::config::LoadedEnv;
use spotctl_core::desired::LaunchSpec;
use spotctl_core::placement::{Observed, RegionFacts, Zone};
use std::collections::BTreeMap;

/// The public SSM parameter that names the latest Amazon Linux 2023 AMI.
pub const AL2023_PARAMETER: &str = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

pub async fn region_facts(aws: &Aws, region: &str, types: &[String]) -> Result<RegionFacts> {
    let ec2 = aws.ec2(region);
    let (azs, subnets, prices) = tokio::try_join!(
        async {
            ec2.describe_availability_zones()
                .filters(Filter::builder().name("state").values("available").build())
                .send()
                .await
                .with_context(|| format!("listing availability zones in {region}"))
        },
        async {
            ec2.describe_subnets()
                .filters(Filter::builder().name("default-for-az").values("true").build())
                .send()
                .await
                .with_context(|| format!("listing default subnets in {region}"))
        },
        async {
            let mut req = ec2
                .describe_spot_price_history()
                .product_descriptions("Linux/UNIX")
                .start_time(aws_smithy_types::DateTime::from(std::time::SystemTime::now()));
            for t in types {
                req = req.instance_types(InstanceType::from(t.as_str()));
            }
            req.send().await.with_context(|| format!("reading spot prices in {region}"))
        },
    )?;
    let subnet_of: BTreeMap<String, String> = subnets
        .subnets()
        .iter()
        .filter_map(|s| Some((s.availability_zone()?.to_string(), s.subnet_id()?.to_string())))
        .collect();
    let mut zones: Vec<Zone> = azs
        .availability_zones()
        .iter()
        .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
        .filter_map(|z| {
            let name = z.zone_name()?.to_string();
            Some(Zone {
                subnet: subnet_of.get(&name).cloned(),
                id: z.zone_id().unwrap_or_default().to_string(),
                name,
            })
        })
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    let mut newest: BTreeMap<(String, String), (aws_smithy_types::DateTime, f64)> = BTreeMap::new();
    for p in prices.spot_price_history() {
        let (Some(az), Some(t), Some(price), Some(ts)) =
            (p.availability_zone(), p.instance_type(), p.spot_price(), p.timestamp())
        else {
            continue;
        };
        let Ok(price) = price.parse::<f64>() else { continue };
        let key = (az.to_string(), t.as_str().to_string());
        let newer = newest.get(&key).is_none_or(|(seen, _)| ts.secs() > seen.secs());
        if newer {
            newest.insert(key, (*ts, price));
        }
    }
    Ok(RegionFacts { zones, prices: newest.into_iter().map(|(k, (_, p))| (k, p)).collect() })
}

pub async fn al2023_ami(aws: &Aws, region: &str) -> Result<String> {
    image(aws, region, None).await
}

/// The image database instances launch from in `region`: the one `[instance] image_parameter`
/// names there (a prepared image), else the latest Amazon Linux 2023.
pub async fn image(aws: &Aws, region: &str, parameter: Option<&str>) -> Result<String> {
    let name = parameter.unwrap_or(AL2023_PARAMETER);
    let out = aws
        .ssm(region)
        .get_parameter()
        .name(name)
        .send()
        .await
        .with_context(|| format!("looking up the image to launch in {region} (SSM parameter {name})"))?;
    out.parameter()
        .and_then(|p| p.value())
        .map(String::from)
        .with_context(|| format!("{name} has no value in {region}"))
}

/// Facts for every candidate region, in parallel.
pub async fn all_region_facts(
    aws: &Aws,
    regions: &[String],
    types: &[String],
) -> Result<BTreeMap<String, RegionFacts>> {
    let found = try_join_all(
        regions
            .iter()
            .map(|r| async move { Ok::<_, anyhow::Error>((r.clone(), region_facts(aws, r, types).await?)) }),
    )
    .await?;
    Ok(found.into_iter().collect())
}

/// The launch spec for a ranked placement: `None` when its zone has no default subnet.
pub async fn launch_spec(
    aws: &Aws,
    r: &spotctl_core::placement::Ranked,
    of: usize,
    facts: &BTreeMap<String, RegionFacts>,
    image_parameter: Option<&str>,
) -> Result<Option<LaunchSpec>> {
    let c = &r.candidate;
    let Some(subnet) = facts.get(&*c.region).and_then(|f| f.subnet(&c.az)) else { return Ok(None) };
    Ok(Some(LaunchSpec {
        region: c.region.to_string(),
        az: c.az.to_string(),
        subnet: subnet.to_string(),
        instance_type: c.instance_type.to_string(),
        ami: image(aws, &c.region, image_parameter).await?,
        reason: format!("rank {} of {of}: {}", r.rank, r.why()),
    }))
}

/// Where to launch the first primary: the best-ranked placement that has a default subnet.
pub async fn choose_launch(aws: &Aws, loaded: &LoadedEnv) -> Result<LaunchSpec> {
    let env = &loaded.env;
    let facts = all_region_facts(aws, &env.placement_regions(), &env.instance.types).await?;
    let advisor = spotctl_core::placement::advisor::AdvisorData::embedded();
    let seen =
        Observed { advisor: &advisor, facts: &facts, sps: None, recent: Vec::new(), now_unix: now_unix() };
    let ranking = env.rank(seen);
    for r in &ranking.entries {
        if let Some(spec) =
            launch_spec(aws, r, ranking.entries.len(), &facts, env.instance.image_parameter.as_deref())
                .await?
        {
            return Ok(spec);
        }
    }
    bail!("no candidate placement is allowed by the env's limits and has a default subnet; run `spotctl score` to see why")
}
