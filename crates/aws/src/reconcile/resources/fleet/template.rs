//! A fleet's launch template in each of its regions: IMDSv2 required with hop limit 1, an encrypted
//! root volume, the workers' profile and closed security group, compared through a spec hash tag.

use super::super::{owned, Ctx};
use crate::sdk::error::is_not_found;
use anyhow::{Context, Result};
use aws_sdk_ec2::types as ec2;
use spotctl_core::desired::fleet::LaunchTemplateBody;
use spotctl_core::names::TAG_SPEC;
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};

pub(super) async fn discover(ctx: &Ctx<'_>, region: &str) -> Result<Vec<LiveResource>> {
    let out = ctx
        .aws
        .ec2(region)
        .describe_launch_templates()
        .filters(super::super::network::env_filter(ctx))
        .send()
        .await
        .with_context(|| format!("listing launch templates in {region}"))?;
    Ok(out
        .launch_templates()
        .iter()
        .map(|t| {
            let spec = t
                .tags()
                .iter()
                .find(|t| t.key() == Some(TAG_SPEC))
                .and_then(|t| t.value())
                .unwrap_or_default();
            LiveResource::new(
                Address::new(Kind::LaunchTemplate, region, t.launch_template_name().unwrap_or_default()),
                t.launch_template_id().unwrap_or_default(),
            )
            .with("spec_sha256", spec)
        })
        .collect())
}

async fn template_data(ctx: &Ctx<'_>, want: &Resource) -> Result<ec2::RequestLaunchTemplateData> {
    let body: LaunchTemplateBody = serde_json::from_str(want.value("body").unwrap_or_default())
        .context("the planned launch template body is not readable")?;
    let sg =
        crate::compute::security_group_id(ctx.aws, ctx.names, &want.address.region, &body.security_group)
            .await?;
    let tags: Vec<ec2::Tag> =
        body.tags.iter().map(|(k, v)| ec2::Tag::builder().key(k).value(v).build()).collect();
    let spec = |rt: ec2::ResourceType| {
        ec2::LaunchTemplateTagSpecificationRequest::builder()
            .resource_type(rt)
            .set_tags(Some(tags.clone()))
            .build()
    };
    let root = (!body.encrypted_root_device.is_empty()).then(|| {
        ec2::LaunchTemplateBlockDeviceMappingRequest::builder()
            .device_name(&body.encrypted_root_device)
            .ebs(
                ec2::LaunchTemplateEbsBlockDeviceRequest::builder()
                    .encrypted(true)
                    .set_volume_size(
                        (body.root_volume_gb > 0).then(|| i32::try_from(body.root_volume_gb).unwrap_or(30)),
                    )
                    .volume_type(ec2::VolumeType::Gp3)
                    .delete_on_termination(true)
                    .build(),
            )
            .build()
    });
    Ok(ec2::RequestLaunchTemplateData::builder()
        .image_id(body.image_id)
        .set_block_device_mappings(root.map(|r| vec![r]))
        .iam_instance_profile(
            ec2::LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(body.instance_profile)
                .build(),
        )
        .security_group_ids(sg)
        .user_data(body.user_data_b64)
        .metadata_options(
            ec2::LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(ec2::LaunchTemplateHttpTokensState::Required)
                .http_endpoint(ec2::LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .http_put_response_hop_limit(i32::from(body.metadata_hop_limit.max(1)))
                .instance_metadata_tags(ec2::LaunchTemplateInstanceMetadataTagsState::Enabled)
                .build(),
        )
        .tag_specifications(spec(ec2::ResourceType::Instance))
        .tag_specifications(spec(ec2::ResourceType::Volume))
        .build())
}

pub async fn create_template(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let region = &want.address.region;
    let name = &want.address.name;
    let data = template_data(ctx, want).await?;
    let spec = want.value("spec_sha256").unwrap_or_default();
    let created = ctx
        .aws
        .ec2(region)
        .create_launch_template()
        .launch_template_name(name)
        .launch_template_data(data)
        .tag_specifications(super::super::network::tag_spec(
            ctx,
            ec2::ResourceType::LaunchTemplate,
            "launch-template",
            &[(TAG_SPEC, spec)],
        ))
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.launch_template().and_then(|t| t.launch_template_id()).unwrap_or_default().into()),
        // A crashed run made it: make its newest version the wanted one.
        Err(e) if crate::sdk::error::code(&e) == Some("InvalidLaunchTemplateName.AlreadyExistsException") => {
            let id = template_id(ctx, region, name).await?;
            update_template(ctx, want, &id).await?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("creating launch template {name} in {region}")),
    }
}

async fn template_id(ctx: &Ctx<'_>, region: &str, name: &str) -> Result<String> {
    let out = ctx.aws.ec2(region).describe_launch_templates().launch_template_names(name).send().await?;
    out.launch_templates()
        .first()
        .filter(|t| {
            owned(ctx.names, t.tags().iter().map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))))
        })
        .and_then(|t| t.launch_template_id())
        .map(String::from)
        .with_context(|| format!("launch template {name} in {region} is not this env's"))
}

/// A new version with the wanted data, made the default (groups launch `$Default`).
pub async fn update_template(ctx: &Ctx<'_>, want: &Resource, id: &str) -> Result<()> {
    let region = &want.address.region;
    let client = ctx.aws.ec2(region);
    let data = template_data(ctx, want).await?;
    let v = client
        .create_launch_template_version()
        .launch_template_id(id)
        .launch_template_data(data)
        .send()
        .await
        .with_context(|| format!("adding a version to launch template {id}"))?;
    let number = v.launch_template_version().and_then(|v| v.version_number()).unwrap_or(1);
    client
        .modify_launch_template()
        .launch_template_id(id)
        .default_version(number.to_string())
        .send()
        .await
        .with_context(|| format!("making version {number} of {id} the default"))?;
    client
        .create_tags()
        .resources(id)
        .tags(ec2::Tag::builder().key(TAG_SPEC).value(want.value("spec_sha256").unwrap_or_default()).build())
        .send()
        .await?;
    Ok(())
}

pub async fn delete_template(ctx: &Ctx<'_>, region: &str, id: &str) -> Result<()> {
    match ctx.aws.ec2(region).delete_launch_template().launch_template_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if is_not_found(&e)
                || crate::sdk::error::code(&e) == Some("InvalidLaunchTemplateId.NotFound") =>
        {
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("deleting launch template {id} in {region}")),
    }
}
