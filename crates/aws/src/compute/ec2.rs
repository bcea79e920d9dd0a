//! [`Instances`] on EC2: one-time spot instances with IMDSv2 required (hop limit 1), instance metadata tags on,
//! an encrypted gp3 root volume, launched exactly where the request's spec says.

use super::instances::{ComputeError, InstanceView, Instances, LaunchRequest};
use crate::sdk::error::{is_not_found, AwsError};
use crate::sdk::Aws;
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState, IamInstanceProfileSpecification, Instance,
    InstanceMarketOptionsRequest, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceMetadataTagsState, InstanceType, MarketType, ResourceType, SpotInstanceType, SpotMarketOptions,
    Tag, TagSpecification, VolumeType,
};
use base64::Engine as _;
use spotctl_core::handoff::primary::InstanceState;
use spotctl_core::names::{Names, TAG_ENV, TAG_HANDOFF, TAG_KIND, TAG_ROLE};
use std::collections::BTreeMap;

/// The env's database instances on EC2.
#[derive(Clone, Debug)]
pub struct Ec2Instances {
    pub aws: Aws,
    pub names: Names,
}

/// An instance of the env as EC2 describes it, with its metadata options (which the plan checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub view: InstanceView,
    pub http_tokens: String,
    /// How many network hops an IMDS answer may travel: 1 keeps it on the instance (a container
    /// or a forwarded request on the host cannot read the role's credentials).
    pub hop_limit: String,
    pub metadata_tags: String,
}

/// What spotctl reads of an EC2 instance in `region`.
pub fn view_of(region: &str, i: &Instance) -> InstanceView {
    InstanceView {
        id: i.instance_id().unwrap_or_default().to_string(),
        region: region.to_string(),
        az: i.placement().and_then(|p| p.availability_zone()).unwrap_or_default().to_string(),
        instance_type: i.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        state: i
            .state()
            .and_then(|s| s.name())
            .and_then(|n| InstanceState::parse(n.as_str()))
            .unwrap_or(InstanceState::Pending),
        tags: i
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
            .collect(),
        address: i.public_ip_address().or(i.private_ip_address()).map(String::from),
    }
}

/// Every database instance of the env in `region` that is not terminated (pending, running,
/// stopping, stopped), sorted by id.
pub async fn describe_all(aws: &Aws, names: &Names, region: &str) -> Result<Vec<Described>, ComputeError> {
    let out = aws
        .ec2(region)
        .describe_instances()
        .filters(Filter::builder().name(format!("tag:{TAG_ENV}")).values(&names.env).build())
        .filters(Filter::builder().name(format!("tag:{TAG_KIND}")).values("db").build())
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .values("stopping")
                .values("stopped")
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::of(format!("listing database instances in {region}"), &e))?;
    let mut found: Vec<Described> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            let meta = i.metadata_options();
            Described {
                view: view_of(region, i),
                http_tokens: meta
                    .and_then(|m| m.http_tokens())
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                hop_limit: meta
                    .and_then(|m| m.http_put_response_hop_limit())
                    .map(|h| h.to_string())
                    .unwrap_or_default(),
                metadata_tags: meta
                    .and_then(|m| m.instance_metadata_tags())
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
            }
        })
        .collect();
    found.sort_by(|a, b| a.view.id.cmp(&b.view.id));
    Ok(found)
}

/// The id of the env's security group `name` in `region`.
pub(crate) async fn security_group_id(
    aws: &Aws,
    names: &Names,
    region: &str,
    name: &str,
) -> Result<String, ComputeError> {
    let out = aws
        .ec2(region)
        .describe_security_groups()
        .filters(Filter::builder().name(format!("tag:{TAG_ENV}")).values(&names.env).build())
        .filters(Filter::builder().name("group-name").values(name).build())
        .send()
        .await
        .map_err(|e| AwsError::of(format!("finding security group {name} in {region}"), &e))?;
    let missing = || {
        AwsError::other(
            "finding the database's security group",
            format!("security group {name} is missing in {region}"),
        )
    };
    Ok(out.security_groups().first().and_then(|g| g.group_id()).map(String::from).ok_or_else(missing)?)
}

/// Launches the database instance `req` describes (its attributes were fixed by the planner).
pub async fn launch(aws: &Aws, names: &Names, req: &LaunchRequest) -> Result<InstanceView, ComputeError> {
    let want = &req.want;
    let region = &want.address.region;
    let v = |k: &str| want.value(k).unwrap_or_default().to_string();
    let group_id = security_group_id(aws, names, region, &names.security_group()).await?;
    let mut tags: BTreeMap<&str, String> = [
        (TAG_ENV, names.env.clone()),
        (TAG_KIND, "db".to_string()),
        (TAG_ROLE, req.role.as_str().to_string()),
        ("Name", names.instance_name()),
    ]
    .into();
    if let Some(h) = &req.handoff {
        tags.insert(TAG_HANDOFF, h.clone());
    }
    if let Some(t) = &req.launch_token {
        tags.insert(spotctl_core::names::TAG_LAUNCH, t.clone());
    }
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .set_tags(Some(tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
        .build();
    let sent = aws
        .ec2(region)
        .run_instances()
        .image_id(v("ami"))
        .instance_type(InstanceType::from(v("instance_type").as_str()))
        .subnet_id(v("subnet"))
        .min_count(1)
        .max_count(1)
        .key_name(v("key_pair"))
        .security_group_ids(group_id)
        .iam_instance_profile(IamInstanceProfileSpecification::builder().name(v("instance_profile")).build())
        .instance_market_options(
            InstanceMarketOptionsRequest::builder()
                .market_type(MarketType::Spot)
                .spot_options(
                    SpotMarketOptions::builder().spot_instance_type(SpotInstanceType::OneTime).build(),
                )
                .build(),
        )
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(HttpTokensState::Required)
                .http_put_response_hop_limit(1)
                .http_endpoint(InstanceMetadataEndpointState::Enabled)
                .instance_metadata_tags(InstanceMetadataTagsState::Enabled)
                .build(),
        )
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name("/dev/xvda")
                .ebs(
                    EbsBlockDevice::builder()
                        .volume_size(v("volume_gb").parse().unwrap_or(20))
                        .volume_type(VolumeType::Gp3)
                        .encrypted(true)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .user_data(
            base64::engine::general_purpose::STANDARD.encode(want.value("user_data").unwrap_or_default()),
        )
        .tag_specifications(tags)
        .send()
        .await;
    let out = match sent {
        Ok(out) => out,
        Err(e) => {
            let what =
                format!("launching a {} spot instance in {}", v("instance_type"), v("availability_zone"));
            return Err(AwsError::of(what, &e).into());
        }
    };
    let Some(i) = out.instances().first() else {
        return Err(AwsError::other("launching an instance", "RunInstances returned no instance").into());
    };
    let mut view = view_of(region, i);
    view.instance_type = v("instance_type");
    Ok(view)
}

#[async_trait]
impl Instances for Ec2Instances {
    async fn describe(&self, region: &str, id: &str) -> Result<Option<InstanceView>, ComputeError> {
        match self.aws.ec2(region).describe_instances().instance_ids(id).send().await {
            Ok(out) => {
                Ok(out.reservations().iter().flat_map(|r| r.instances()).next().map(|i| view_of(region, i)))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(AwsError::of(format!("looking up {id} in {region}"), &e).into()),
        }
    }

    async fn list(&self, region: &str) -> Result<Vec<InstanceView>, ComputeError> {
        Ok(describe_all(&self.aws, &self.names, region).await?.into_iter().map(|d| d.view).collect())
    }

    async fn launch(&self, req: &LaunchRequest) -> Result<InstanceView, ComputeError> {
        launch(&self.aws, &self.names, req).await
    }

    async fn tag(&self, region: &str, id: &str, key: &str, value: &str) -> Result<(), ComputeError> {
        self.aws
            .ec2(region)
            .create_tags()
            .resources(id)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .map_err(|e| AwsError::of(format!("tagging {id} {key}={value}"), &e))?;
        Ok(())
    }

    async fn untag(&self, region: &str, id: &str, key: &str) -> Result<(), ComputeError> {
        self.aws
            .ec2(region)
            .delete_tags()
            .resources(id)
            .tags(Tag::builder().key(key).build())
            .send()
            .await
            .map_err(|e| AwsError::of(format!("removing tag {key} from {id}"), &e))?;
        Ok(())
    }

    async fn terminate(&self, region: &str, id: &str) -> Result<(), ComputeError> {
        match self.aws.ec2(region).terminate_instances().instance_ids(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(AwsError::of(format!("terminating {id} in {region}"), &e).into()),
        }
    }
}

/// Instances without a role tag or with one spotctl does not know are refused by name.
pub fn check_roles(found: &[Described]) -> Result<(), ComputeError> {
    for d in found {
        let (id, region) = (d.view.id.clone(), d.view.region.clone());
        match d.view.role() {
            Ok(Some(_)) => {}
            Ok(None) => return Err(ComputeError::NoRole { id, region }),
            Err(source) => return Err(ComputeError::UnknownRole { id, region, source }),
        }
    }
    Ok(())
}
