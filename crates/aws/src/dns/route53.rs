//! [`Dns`] on Route 53: the address (A) and epoch (TXT) record sets of one name, read with one
//! `ListResourceRecordSets`, changed with one atomic `ChangeResourceRecordSets` that deletes
//! exactly what was read and creates the new pair. Route 53 refuses the batch when what it holds
//! differs (`InvalidChangeBatch`; moto answers `InvalidInput`): that is a conflict.

use super::seam::{Dns, DnsError};
use crate::sdk::error::is_not_found;
use crate::sdk::Aws;
use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use spotctl_core::desired::endpoint::EndpointZone;
use spotctl_core::endpoint::EndpointRecord;

pub struct Route53 {
    pub aws: Aws,
}

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

fn set(name: &str, t: RrType, ttl: u32, value: &str) -> Result<ResourceRecordSet, DnsError> {
    let record = ResourceRecord::builder().value(value).build().context("a DNS record value")?;
    Ok(ResourceRecordSet::builder()
        .name(fqdn(name))
        .r#type(t)
        .ttl(i64::from(ttl))
        .resource_records(record)
        .build()
        .context("a DNS record set")?)
}

fn pair(name: &str, action: ChangeAction, r: &EndpointRecord) -> Result<Vec<Change>, DnsError> {
    let mut sets = vec![set(name, RrType::A, r.ttl, &r.address)?];
    // Epoch 0 reads an address with no epoch beside it.
    if r.epoch > 0 || action == ChangeAction::Create {
        sets.push(set(name, RrType::Txt, r.ttl, &r.epoch_txt())?);
    }
    sets.into_iter()
        .map(|s| {
            Ok(Change::builder()
                .action(action.clone())
                .resource_record_set(s)
                .build()
                .context("a DNS change")?)
        })
        .collect()
}

#[async_trait]
impl Dns for Route53 {
    async fn read(&self, zone: &str, name: &str) -> Result<Option<EndpointRecord>, DnsError> {
        let out = self
            .aws
            .route53()
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .start_record_name(fqdn(name))
            .start_record_type(RrType::A)
            .max_items(4)
            .send()
            .await
            .with_context(|| format!("reading the records of {name}"))?;
        let of = |t: RrType| {
            out.resource_record_sets()
                .iter()
                .find(|s| s.name() == fqdn(name) && *s.r#type() == t)
                .and_then(|s| Some((s.ttl().unwrap_or(0), s.resource_records().first()?.value().to_string())))
        };
        let Some((ttl, address)) = of(RrType::A) else { return Ok(None) };
        let epoch = of(RrType::Txt).and_then(|(_, v)| EndpointRecord::parse_epoch(&v)).unwrap_or(0);
        Ok(Some(EndpointRecord { address, epoch, ttl: u32::try_from(ttl).unwrap_or(0) }))
    }

    async fn swap(
        &self,
        zone: &str,
        name: &str,
        expect: Option<&EndpointRecord>,
        new: &EndpointRecord,
    ) -> Result<(), DnsError> {
        let mut changes = match expect {
            Some(e) => pair(name, ChangeAction::Delete, e)?,
            None => Vec::new(),
        };
        changes.extend(pair(name, ChangeAction::Create, new)?);
        let batch = ChangeBatch::builder()
            .comment(format!("spotctl: epoch {} is at {}", new.epoch, new.address))
            .set_changes(Some(changes))
            .build()
            .context("a DNS change batch")?;
        let sent = self
            .aws
            .route53()
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(batch)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), Some("InvalidChangeBatch" | "InvalidInput")) => {
                Err(DnsError::Conflict { name: name.to_string() })
            }
            Err(e) => Err(DnsError::Failed(
                anyhow::Error::new(e).context(format!("pointing {name} at {}", new.address)),
            )),
        }
    }

    async fn remove(&self, zone: &str, name: &str) -> Result<(), DnsError> {
        let Some(r) = self.read(zone, name).await? else { return Ok(()) };
        let batch = ChangeBatch::builder()
            .set_changes(Some(pair(name, ChangeAction::Delete, &r)?))
            .build()
            .context("a DNS change batch")?;
        match self
            .aws
            .route53()
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(batch)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(DnsError::Failed(
                anyhow::Error::new(e).context(format!("removing the records of {name}")),
            )),
        }
    }
}

/// The endpoint's zone id: the one the env names, or the one env `env` made (`None` when it is not
/// made yet).
pub async fn zone_id(aws: &Aws, zone: &EndpointZone, env: &str) -> anyhow::Result<Option<String>> {
    match zone {
        EndpointZone::Existing { id } => Ok(Some(id.clone())),
        EndpointZone::Managed { name } => {
            find_zone(aws, name, env).await.with_context(|| format!("finding the hosted zone {name}"))
        }
    }
}

/// The private hosted zone `zone_name` that env `env` made (tagged so); `None` when there is none.
pub async fn find_zone(aws: &Aws, zone_name: &str, env: &str) -> anyhow::Result<Option<String>> {
    let r53 = aws.route53();
    let out = r53
        .list_hosted_zones_by_name()
        .dns_name(fqdn(zone_name))
        .send()
        .await
        .with_context(|| format!("looking up the hosted zone {zone_name}"))?;
    for z in out.hosted_zones().iter().filter(|z| z.name() == fqdn(zone_name)) {
        let id = z.id().trim_start_matches("/hostedzone/").to_string();
        let tags = r53
            .list_tags_for_resource()
            .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
            .resource_id(&id)
            .send()
            .await
            .with_context(|| format!("reading the tags of hosted zone {id}"))?;
        let ours = tags
            .resource_tag_set()
            .map(|s| {
                s.tags()
                    .iter()
                    .any(|t| t.key() == Some(spotctl_core::names::TAG_ENV) && t.value() == Some(env))
            })
            .unwrap_or(false);
        if ours {
            return Ok(Some(id));
        }
    }
    Ok(None)
}
