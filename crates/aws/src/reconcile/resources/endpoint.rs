//! The endpoint: the private hosted zone spotctl makes (found by its name and `spotctl:env` tag;
//! a zone the env names by id is never created, changed or deleted), and the record that names
//! the recorded primary, changed only through `dns::point_endpoint` (never undoing a newer epoch).

use super::Ctx;
use crate::compute::{Ec2Instances, Instances};
use crate::dns::{find_zone, point_endpoint, zone_id, Dns, Pointed, Route53};
use crate::sdk::error::is_not_found;
use crate::state::{read_primary, StateStore};
use anyhow::{bail, Context, Result};
use aws_sdk_route53::types::{HostedZoneConfig, Tag, TagResourceType, Vpc, VpcRegion};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use spotctl_core::config::{LoadedEnv, MAX_ENDPOINT_TTL};
use spotctl_core::desired::endpoint::{EndpointInput, EndpointZone, AFTER_LAUNCH};
use spotctl_core::endpoint::EndpointRecord;
use spotctl_core::names::{TAG_ENV, TAG_KIND};
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};

/// What only Route 53 can tell about the env file: a zone it names exists in this account, and the
/// endpoint's name lies inside it. A refusal names the file, the line and the key.
pub async fn check(ctx: &Ctx<'_>, loaded: &LoadedEnv, e: &EndpointInput) -> Result<()> {
    let EndpointZone::Existing { id } = &e.zone else { return Ok(()) };
    let zone_name = match ctx.aws.route53().get_hosted_zone().id(id).send().await {
        Ok(out) => out.hosted_zone().map(|z| z.name().trim_end_matches('.').to_string()).unwrap_or_default(),
        Err(err) if is_not_found(&err) || err.code() == Some("NoSuchHostedZone") => {
            return Err(loaded
                .refuse(
                    "endpoint.zone_id",
                    format!(
                        "no hosted zone {id} in account {}; valid: the id of a hosted zone this account holds, or \
                         no zone_id (spotctl then makes a private zone for the endpoint)",
                        ctx.names.account
                    ),
                )
                .into())
        }
        Err(err) => return Err(err).with_context(|| format!("reading hosted zone {id}")),
    };
    if !e.name.ends_with(&format!(".{zone_name}")) {
        return Err(loaded
            .refuse(
                "endpoint.name",
                format!(
                    "`{}` is not inside the hosted zone {id} ({zone_name}); valid: a name ending in .{zone_name}",
                    e.name
                ),
            )
            .into());
    }
    Ok(())
}

/// The managed zone (with its VPCs) and the record, as live resources.
pub async fn discover(ctx: &Ctx<'_>, e: &EndpointInput) -> Result<Vec<LiveResource>> {
    let mut out = Vec::new();
    let id = zone_id(ctx.aws, &e.zone, &ctx.names.env).await?;
    if let (EndpointZone::Managed { name }, Some(id)) = (&e.zone, &id) {
        let z = ctx
            .aws
            .route53()
            .get_hosted_zone()
            .id(id)
            .send()
            .await
            .with_context(|| format!("reading hosted zone {id}"))?;
        let mut vpcs: Vec<String> = z
            .vpcs()
            .iter()
            .filter_map(|v| Some(format!("{}:{}", v.vpc_region()?.as_str(), v.vpc_id()?)))
            .collect();
        vpcs.sort();
        vpcs.dedup();
        let private = z.hosted_zone().and_then(|h| h.config()).map(|c| c.private_zone()).unwrap_or(false);
        out.push(
            LiveResource::new(Address::new(Kind::HostedZone, "global", name), id)
                .with("private", private.to_string())
                .with("vpcs", vpcs.join(",")),
        );
    }
    if let Some(id) = id {
        if let Some(r) = (Route53 { aws: ctx.aws.clone() }).read(&id, &e.name).await? {
            out.push(
                LiveResource::new(Address::new(Kind::DnsRecord, "global", &e.name), &id)
                    .with("address", r.address)
                    .with("epoch", r.epoch.to_string())
                    .with("ttl", r.ttl.to_string()),
            );
        }
    }
    Ok(out)
}

fn vpcs_of(want: &Resource) -> Vec<(String, String)> {
    want.value("vpcs")
        .unwrap_or_default()
        .split(',')
        .filter_map(|p| p.split_once(':').map(|(r, v)| (r.to_string(), v.to_string())))
        .collect()
}

fn vpc(region: &str, id: &str) -> Vpc {
    Vpc::builder().vpc_region(VpcRegion::from(region)).vpc_id(id).build()
}

pub async fn create_zone(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let r53 = ctx.aws.route53();
    let name = &want.address.name;
    let vpcs = vpcs_of(want);
    let Some((first_region, first_vpc)) = vpcs.first() else {
        bail!("a private zone needs at least one VPC")
    };
    let reference = format!("spotctl-{}-{}", ctx.names.env, crate::sdk::clock::now_unix());
    let out = r53
        .create_hosted_zone()
        .name(name)
        .caller_reference(reference)
        .hosted_zone_config(
            HostedZoneConfig::builder()
                .private_zone(true)
                .comment(format!("spotctl env {}", ctx.names.env))
                .build(),
        )
        .vpc(vpc(first_region, first_vpc))
        .send()
        .await
        .with_context(|| format!("creating the private hosted zone {name}"))?;
    let id = out
        .hosted_zone()
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
        .context("no zone id")?;
    let tags = [(TAG_ENV, ctx.names.env.as_str()), (TAG_KIND, "hosted_zone")];
    r53.change_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(&id)
        .set_add_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect()))
        .send()
        .await
        .with_context(|| format!("tagging hosted zone {id}"))?;
    for (region, v) in vpcs.iter().skip(1) {
        r53.associate_vpc_with_hosted_zone()
            .hosted_zone_id(&id)
            .vpc(vpc(region, v))
            .send()
            .await
            .with_context(|| format!("associating {v} ({region}) with hosted zone {id}"))?;
    }
    Ok(id)
}

/// Associates the VPCs the zone lacks and lets go of the ones no longer wanted.
pub async fn update_zone(
    ctx: &Ctx<'_>,
    want: &Resource,
    id: &str,
    live: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<()> {
    let r53 = ctx.aws.route53();
    let have: Vec<(String, String)> = live
        .and_then(|l| l.get("vpcs"))
        .map(|v| {
            v.split(',')
                .filter_map(|p| p.split_once(':').map(|(r, v)| (r.to_string(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let wanted = vpcs_of(want);
    for (region, v) in wanted.iter().filter(|w| !have.contains(w)) {
        r53.associate_vpc_with_hosted_zone()
            .hosted_zone_id(id)
            .vpc(vpc(region, v))
            .send()
            .await
            .with_context(|| format!("associating {v} ({region}) with hosted zone {id}"))?;
    }
    for (region, v) in have.iter().filter(|h| !wanted.contains(h)) {
        r53.disassociate_vpc_from_hosted_zone()
            .hosted_zone_id(id)
            .vpc(vpc(region, v))
            .send()
            .await
            .with_context(|| format!("dissociating {v} ({region}) from hosted zone {id}"))?;
    }
    Ok(())
}

/// Deletes the managed zone, its records first (a zone with records cannot go; every record in a
/// zone spotctl made is spotctl's, but the zone's own NS and SOA, which go with it).
pub async fn delete_zone(ctx: &Ctx<'_>, id: &str) -> Result<()> {
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, RrType};
    let r53 = ctx.aws.route53();
    let sets = match r53.list_resource_record_sets().hosted_zone_id(id).send().await {
        Ok(out) => out.resource_record_sets().to_vec(),
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("listing the records of hosted zone {id}")),
    };
    let changes: Vec<Change> = sets
        .into_iter()
        .filter(|s| !matches!(s.r#type(), RrType::Ns | RrType::Soa))
        .filter_map(|s| Change::builder().action(ChangeAction::Delete).resource_record_set(s).build().ok())
        .collect();
    if !changes.is_empty() {
        let batch =
            ChangeBatch::builder().set_changes(Some(changes)).build().context("a DNS change batch")?;
        r53.change_resource_record_sets()
            .hosted_zone_id(id)
            .change_batch(batch)
            .send()
            .await
            .with_context(|| format!("emptying hosted zone {id}"))?;
    }
    match r53.delete_hosted_zone().id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting hosted zone {id}")),
    }
}

/// Points the record at the recorded primary, as the plan showed it (epoch-guarded). The record
/// is read again here: the address of a primary this apply launched is known only now, and a
/// handoff that moved the primary since the plan makes the guard refuse. A managed zone made in
/// the same apply is looked up by name.
pub async fn point(ctx: &Ctx<'_>, want: &Resource, store: &dyn StateStore) -> Result<String> {
    let name = &want.address.name;
    let zone = match want.value("zone").unwrap_or_default() {
        z if z.starts_with("managed:") => {
            let zone_name = z.trim_start_matches("managed:");
            find_zone(ctx.aws, zone_name, &ctx.names.env)
                .await?
                .with_context(|| format!("the hosted zone {zone_name} is missing"))?
        }
        z => z.to_string(),
    };
    let ttl = want.value("ttl").and_then(|v| v.parse().ok()).unwrap_or(MAX_ENDPOINT_TTL);
    let (primary, _) =
        read_primary(store).await?.context("no primary is recorded, so the endpoint has nothing to name")?;
    if !primary.has_instance() {
        bail!(
            "the recorded primary has not started yet (epoch {}); the next apply points {name}",
            primary.epoch
        )
    }
    let (id, region) = (&primary.instance_id, &primary.region);
    let ec2 = Ec2Instances { aws: ctx.aws.clone(), names: ctx.names.clone() };
    let view = ec2
        .describe(region, id)
        .await?
        .with_context(|| format!("the recorded primary {id} is not in {region}"))?;
    let address = view.address.with_context(|| format!("the recorded primary {id} has no address yet"))?;
    let planned = want.value("address").unwrap_or_default();
    if planned != AFTER_LAUNCH && planned != address {
        bail!("the primary moved since the plan (it named {planned}, the primary is now at {address}): plan again");
    }
    let record = EndpointRecord { address, epoch: primary.epoch, ttl };
    match point_endpoint(&Route53 { aws: ctx.aws.clone() }, &zone, name, &record).await? {
        Pointed::Points { .. } => Ok(zone),
        Pointed::Refused { newer } => bail!(
            "{name} already names epoch {newer}, newer than the primary record's {}: plan again",
            record.epoch
        ),
    }
}

pub async fn remove_record(ctx: &Ctx<'_>, zone: &str, name: &str) -> Result<()> {
    Ok((Route53 { aws: ctx.aws.clone() }).remove(zone, name).await?)
}
