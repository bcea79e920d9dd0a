//! Per candidate region: the database security group (closed unless the env file lists CIDRs) and
//! the imported SSH key pair. Both are found by their `spotctl:env` tag in one describe call each.

use super::Ctx;
use crate::sdk::error::is_not_found;
use anyhow::{Context, Result};
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Ipv6Range, ResourceType, Tag, TagSpecification};
use spotctl_core::names::{TAG_ENV, TAG_SPEC};
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};

pub(crate) fn env_filter(ctx: &Ctx<'_>) -> Filter {
    Filter::builder().name(format!("tag:{TAG_ENV}")).values(&ctx.names.env).build()
}

pub(crate) fn tag_spec(
    ctx: &Ctx<'_>,
    rt: ResourceType,
    kind: &str,
    extra: &[(&str, &str)],
) -> TagSpecification {
    let mut tags: Vec<Tag> =
        ctx.tags(kind).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    tags.extend(extra.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()));
    TagSpecification::builder().resource_type(rt).set_tags(Some(tags)).build()
}

/// The ports of a permission as a rule names them: `22`, `1000-2000`, or `all` (protocol `-1`, or
/// ICMP's every type and code).
fn ports(p: &IpPermission) -> String {
    match (p.ip_protocol(), p.from_port(), p.to_port()) {
        (Some("-1"), _, _) | (_, None, None) | (_, Some(-1), Some(-1)) => "all".into(),
        (_, Some(a), Some(b)) if a == b => a.to_string(),
        (_, a, b) => format!("{}-{}", a.unwrap_or(-1), b.unwrap_or(-1)),
    }
}

/// Each source of a permission on its own: the rule string (`<protocol>/<ports>/<source>`, the
/// source a v4 or v6 CIDR, `sg-…` or `<account>/sg-…` for a group pair, `pl-…` for a prefix list)
/// and the single-source permission that revokes exactly it (descriptions kept: some endpoints
/// match a group pair only with its description).
fn split(p: &IpPermission) -> Vec<(String, IpPermission)> {
    let proto = p.ip_protocol().unwrap_or("-1").to_string();
    let head = format!("{proto}/{}/", ports(p));
    let one =
        || IpPermission::builder().ip_protocol(&proto).set_from_port(p.from_port()).set_to_port(p.to_port());
    let mut out = Vec::new();
    for r in p.ip_ranges() {
        out.push((format!("{head}{}", r.cidr_ip().unwrap_or_default()), one().ip_ranges(r.clone()).build()));
    }
    for r in p.ipv6_ranges() {
        out.push((
            format!("{head}{}", r.cidr_ipv6().unwrap_or_default()),
            one().ipv6_ranges(r.clone()).build(),
        ));
    }
    for g in p.user_id_group_pairs() {
        let group = g.group_id().unwrap_or_default();
        let source = match g.user_id() {
            Some(user) if !user.is_empty() => format!("{user}/{group}"),
            _ => group.to_string(),
        };
        out.push((format!("{head}{source}"), one().user_id_group_pairs(g.clone()).build()));
    }
    for l in p.prefix_list_ids() {
        out.push((
            format!("{head}{}", l.prefix_list_id().unwrap_or_default()),
            one().prefix_list_ids(l.clone()).build(),
        ));
    }
    out
}

/// Every ingress rule of a group, one per source, sorted.
fn rules_of(perms: &[IpPermission]) -> Vec<String> {
    let mut rules: Vec<String> = perms.iter().flat_map(split).map(|(r, _)| r).collect();
    rules.sort();
    rules.dedup();
    rules
}

/// The permission that grants a wanted rule (spotctl only ever wants TCP to CIDRs).
fn permission(rule: &str) -> Option<IpPermission> {
    let mut parts = rule.splitn(3, '/');
    let (proto, port, cidr) = (parts.next()?, parts.next()?.parse::<i32>().ok()?, parts.next()?);
    let b = IpPermission::builder().ip_protocol(proto).from_port(port).to_port(port);
    Some(if cidr.contains(':') {
        b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).build()).build()
    } else {
        b.ip_ranges(IpRange::builder().cidr_ip(cidr).build()).build()
    })
}

pub async fn discover(ctx: &Ctx<'_>, region: &str) -> Result<Vec<LiveResource>> {
    let ec2 = ctx.aws.ec2(region);
    let mut out = Vec::new();
    let groups = ec2
        .describe_security_groups()
        .filters(env_filter(ctx))
        .send()
        .await
        .with_context(|| format!("listing security groups in {region}"))?;
    for g in groups.security_groups() {
        let name = g.group_name().unwrap_or_default();
        out.push(
            LiveResource::new(
                Address::new(Kind::SecurityGroup, region, name),
                g.group_id().unwrap_or_default(),
            )
            .with("vpc", g.vpc_id().unwrap_or_default())
            .with("ingress", serde_json::to_string(&rules_of(g.ip_permissions()))?),
        );
    }
    let keys = ec2
        .describe_key_pairs()
        .filters(env_filter(ctx))
        .send()
        .await
        .with_context(|| format!("listing key pairs in {region}"))?;
    for k in keys.key_pairs() {
        let spec =
            k.tags().iter().find(|t| t.key() == Some(TAG_SPEC)).and_then(|t| t.value()).unwrap_or_default();
        out.push(
            LiveResource::new(
                Address::new(Kind::KeyPair, region, k.key_name().unwrap_or_default()),
                k.key_pair_id().unwrap_or_default(),
            )
            .with("public_key_sha256", spec),
        );
    }
    Ok(out)
}

pub async fn create_group(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let region = &want.address.region;
    let ec2 = ctx.aws.ec2(region);
    let workers = want.address.name == ctx.names.worker_security_group();
    let (what, kind) = if workers {
        ("fleet workers (no inbound access)", "worker-security-group")
    } else {
        ("database access (closed unless the env file opens it)", "db-security-group")
    };
    let out = ec2
        .create_security_group()
        .group_name(&want.address.name)
        .description(format!("spotctl {}: {what}", ctx.names.env))
        .vpc_id(want.value("vpc").unwrap_or_default())
        .tag_specifications(tag_spec(ctx, ResourceType::SecurityGroup, kind, &[]))
        .send()
        .await
        .with_context(|| format!("creating security group {} in {region}", want.address.name))?;
    let id = out.group_id().unwrap_or_default().to_string();
    set_ingress(ctx, region, &id, &[], want).await?;
    Ok(id)
}

/// Revokes every rule that is not wanted — whatever its protocol, ports or source, added by
/// anyone — and authorises what is missing. The group is read again so that each revoked rule is
/// the exact permission EC2 holds.
pub async fn set_ingress(
    ctx: &Ctx<'_>,
    region: &str,
    id: &str,
    live: &[String],
    want: &Resource,
) -> Result<()> {
    let wanted: Vec<String> = serde_json::from_str(want.value("ingress").unwrap_or("[]"))?;
    let ec2 = ctx.aws.ec2(region);
    let revoke: Vec<IpPermission> = if live.iter().any(|r| !wanted.contains(r)) {
        let out = ec2
            .describe_security_groups()
            .group_ids(id)
            .send()
            .await
            .with_context(|| format!("reading security group {id} in {region}"))?;
        let perms: Vec<IpPermission> =
            out.security_groups().iter().flat_map(|g| g.ip_permissions()).cloned().collect();
        perms.iter().flat_map(split).filter(|(r, _)| !wanted.contains(r)).map(|(_, p)| p).collect()
    } else {
        Vec::new()
    };
    let grant: Vec<IpPermission> =
        wanted.iter().filter(|r| !live.contains(r)).filter_map(|r| permission(r)).collect();
    for p in revoke {
        // One call per rule: a rule that vanished meanwhile must not keep the others in place.
        match ec2.revoke_security_group_ingress().group_id(id).ip_permissions(p).send().await {
            Ok(_) => {}
            Err(e) if crate::sdk::error::code(&e) == Some("InvalidPermission.NotFound") => {}
            Err(e) => return Err(e).with_context(|| format!("revoking a rule of {id} in {region}")),
        }
    }
    if !grant.is_empty() {
        ec2.authorize_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(grant))
            .send()
            .await
            .with_context(|| format!("authorising rules on {id} in {region}"))?;
    }
    Ok(())
}

pub async fn delete_group(ctx: &Ctx<'_>, region: &str, id: &str) -> Result<()> {
    match ctx.aws.ec2(region).delete_security_group().group_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting security group {id} in {region}")),
    }
}

pub async fn import_key(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let region = &want.address.region;
    let sha = want.value("public_key_sha256").unwrap_or_default();
    let out = ctx
        .aws
        .ec2(region)
        .import_key_pair()
        .key_name(&want.address.name)
        .public_key_material(aws_smithy_types::Blob::new(
            want.value("public_key").unwrap_or_default().as_bytes(),
        ))
        .tag_specifications(tag_spec(ctx, ResourceType::KeyPair, "key-pair", &[(TAG_SPEC, sha)]))
        .send()
        .await
        .with_context(|| format!("importing key pair {} into {region}", want.address.name))?;
    Ok(out.key_pair_id().unwrap_or_default().to_string())
}

pub async fn delete_key(ctx: &Ctx<'_>, region: &str, name: &str) -> Result<()> {
    match ctx.aws.ec2(region).delete_key_pair().key_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting key pair {name} in {region}")),
    }
}

/// Parses the live ingress attribute back into rules.
pub fn live_rules(live: Option<&std::collections::BTreeMap<String, String>>) -> Vec<String> {
    live.and_then(|l| l.get("ingress")).and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    use aws_sdk_ec2::types::{PrefixListId, UserIdGroupPair};

    #[test]
    fn rules_round_trip_through_permissions() {
        let rules = vec!["tcp/22/10.0.0.0/8".to_string(), "tcp/3306/2001:db8::/32".to_string()];
        let perms: Vec<IpPermission> = rules.iter().filter_map(|r| permission(r)).collect();
        assert_eq!(rules_of(&perms), rules);
    }

    #[test]
    fn every_kind_of_rule_is_seen_apart() {
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
            .build();
        let range = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(3306)
            .to_port(3310)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").description("x").build())
            .user_id_group_pairs(UserIdGroupPair::builder().user_id("123456789012").group_id("sg-1").build())
            .prefix_list_ids(PrefixListId::builder().prefix_list_id("pl-1").build())
            .build();
        assert_eq!(
            rules_of(&[all, range.clone()]),
            [
                "-1/all/0.0.0.0/0",
                "-1/all/::/0",
                "tcp/3306-3310/10.0.0.0/8",
                "tcp/3306-3310/123456789012/sg-1",
                "tcp/3306-3310/pl-1",
            ]
        );
        // Each split permission revokes exactly its one source, description included.
        let parts = split(&range);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].1.ip_ranges()[0].description(), Some("x"));
        assert!(parts[0].1.user_id_group_pairs().is_empty() && parts[0].1.to_port() == Some(3310));
    }
}
