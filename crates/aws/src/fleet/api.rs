//! What the fleet handler touches, as a seam: an Auto Scaling group's size, setting the fallback
//! group's capacity, a queue's depth, and publishing a metric. [`AwsFleet`] is the real one;
//! `MemoryFleet` its twin (`memory.rs`).

use crate::sdk::error::AwsError;
use crate::sdk::Aws;
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;
use spotctl_core::desired::fleet::MetricSpec;
use spotctl_core::fleet::{Capacity, Side};

/// A group's size and how many of its instances are in service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupView {
    pub side: Side,
    pub region: String,
    pub name: String,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    pub in_service: u32,
}

impl GroupView {
    pub fn capacity(&self) -> Capacity {
        Capacity { min: self.min, max: self.max, desired: self.desired }
    }
}

/// What kept a fleet's step from being done.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Store(#[from] crate::state::StoreError),
    #[error("the fallback group of fleet {0} is missing; run apply")]
    NoFallbackGroup(String),
    /// Some fleets of a tick failed (each named), after the others ran.
    #[error("{}", .0.join("; "))]
    Several(Vec<String>),
}

impl FleetError {
    /// Whether the same event, tried again later, can get further.
    pub fn retryable(&self) -> bool {
        match self {
            FleetError::Store(s) => s.retryable(),
            FleetError::NoFallbackGroup(_) => false,
            FleetError::Aws(_) | FleetError::Several(_) => true,
        }
    }
}

type Result<T> = std::result::Result<T, FleetError>;

#[async_trait]
pub trait FleetApi: Send + Sync {
    /// The group `name` in `region` (which is the fleet's `side`); `None` when it does not exist.
    async fn group(&self, side: Side, region: &str, name: &str) -> Result<Option<GroupView>>;
    async fn set_capacity(&self, group: &GroupView, c: Capacity) -> Result<()>;
    /// Visible messages in the queue `name` of `region`.
    async fn visible_messages(&self, region: &str, name: &str) -> Result<u64>;
    async fn put_metric(&self, region: &str, spec: &MetricSpec, value: f64) -> Result<()>;
}

/// Auto Scaling, SQS and CloudWatch.
pub struct AwsFleet {
    pub aws: Aws,
}

#[async_trait]
impl FleetApi for AwsFleet {
    async fn group(&self, side: Side, region: &str, name: &str) -> Result<Option<GroupView>> {
        let out = self
            .aws
            .autoscaling(region)
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(|e| AwsError::of(format!("reading Auto Scaling group {name} in {region}"), &e))?;
        Ok(out.auto_scaling_groups().first().map(|g| {
            let n = |v: Option<i32>| v.unwrap_or_default().max(0) as u32;
            GroupView {
                side,
                region: region.to_string(),
                name: name.to_string(),
                min: n(g.min_size()),
                max: n(g.max_size()),
                desired: n(g.desired_capacity()),
                in_service: g
                    .instances()
                    .iter()
                    .filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService"))
                    .count() as u32,
            }
        }))
    }

    async fn set_capacity(&self, g: &GroupView, c: Capacity) -> Result<()> {
        self.aws
            .autoscaling(&g.region)
            .update_auto_scaling_group()
            .auto_scaling_group_name(&g.name)
            .min_size(c.min as i32)
            .max_size(c.max as i32)
            .desired_capacity(c.desired as i32)
            .send()
            .await
            .map_err(|e| {
                AwsError::of(
                    format!("setting {} to min {} max {} desired {}", g.name, c.min, c.max, c.desired),
                    &e,
                )
            })?;
        Ok(())
    }

    async fn visible_messages(&self, region: &str, name: &str) -> Result<u64> {
        let sqs = self.aws.sqs(region);
        let url = sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| AwsError::of(format!("finding queue {name}"), &e))?;
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url.queue_url().unwrap_or_default())
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| AwsError::of(format!("reading the depth of queue {name}"), &e))?;
        Ok(attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    async fn put_metric(&self, region: &str, spec: &MetricSpec, value: f64) -> Result<()> {
        let datum = MetricDatum::builder()
            .metric_name(&spec.name)
            .value(value)
            .unit(StandardUnit::None)
            .set_dimensions(Some(
                spec.dimensions.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect(),
            ))
            .build();
        self.aws
            .cloudwatch(region)
            .put_metric_data()
            .namespace(&spec.namespace)
            .metric_data(datum)
            .send()
            .await
            .map_err(|e| AwsError::of(format!("publishing {} in {region}", spec.name), &e))?;
        Ok(())
    }
}
