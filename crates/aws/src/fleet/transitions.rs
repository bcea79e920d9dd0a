//! Fleet mode at run time: the facts apply needs (AMIs, default subnets), and what the handler
//! does for fleets — failover and failback on the primary group's launch results, and, once a
//! minute, the scaling metrics and one failback step. Decisions are `spotctl_core::fleet`'s; this
//! module reads the groups and the queue, writes the state with conditional writes, and sets the
//! fallback group's capacity.

use crate::clients::Aws;
use crate::env::StoredEnv;
use crate::store::{Cas, S3Store};
use anyhow::{Context, Result};
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;
use spotctl_core::config::{Fleet, LoadedEnv};
use spotctl_core::desired::fleet::{FleetInput, FleetRegion, MetricSpec};
use spotctl_core::event::time_unix;
use spotctl_core::fleet::{
    backlog_per_instance, on_launch_event, on_tick, Capacity, Decision, FleetState, LaunchEvent, Mode, Side,
};
use spotctl_core::names::{keys, Names};
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
            let (ami, subnets) = tokio::try_join!(
                crate::placement_facts::al2023_ami(aws, region),
                default_subnets(aws, region, &vpc)
            )?;
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

/// The handler's view of an env's fleets.
pub struct Fleets<'a> {
    pub aws: &'a Aws,
    pub names: &'a Names,
    pub store: &'a S3Store,
}

/// A group's size and how many of its instances are in service.
#[derive(Debug, Clone, Serialize)]
pub struct GroupView {
    pub region: String,
    pub name: String,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    pub in_service: u32,
}

impl GroupView {
    fn capacity(&self) -> Capacity {
        Capacity { min: self.min, max: self.max, desired: self.desired }
    }
}

/// One fleet, as `spotctl status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FleetStatus {
    pub name: String,
    pub mode: Mode,
    pub since_unix: i64,
    pub groups: Vec<GroupView>,
    pub visible_messages: Option<u64>,
    pub backlog_per_instance: Option<f64>,
}

impl Fleets<'_> {
    /// The fleets of the applied env (`state/env.json`).
    pub async fn load(&self) -> Result<Vec<Fleet>> {
        let Some((stored, _)) = self.store.get_json::<StoredEnv>(keys::ENV).await? else {
            return Ok(Vec::new());
        };
        Ok(stored.env_file()?.fleet)
    }

    async fn group(&self, f: &Fleet, side: Side) -> Result<Option<GroupView>> {
        let region = spotctl_core::desired::fleet::region_of(f, side);
        let name = self.names.fleet_group(&f.name, side);
        let out = self
            .aws
            .autoscaling(region)
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&name)
            .send()
            .await
            .with_context(|| format!("reading Auto Scaling group {name} in {region}"))?;
        Ok(out.auto_scaling_groups().first().map(|g| {
            let n = |v: Option<i32>| v.unwrap_or_default().max(0) as u32;
            GroupView {
                region: region.to_string(),
                name: name.clone(),
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
            .with_context(|| {
                format!("setting {} to min {} max {} desired {}", g.name, c.min, c.max, c.desired)
            })?;
        Ok(())
    }

    async fn state(&self, f: &Fleet) -> Result<(FleetState, Option<String>)> {
        Ok(match self.store.get_json::<FleetState>(&self.names.fleet_state(&f.name)).await? {
            Some((s, etag)) => (s, Some(etag)),
            None => (FleetState::default(), None),
        })
    }

    async fn write_state(&self, f: &Fleet, s: &FleetState, etag: Option<&str>) -> Result<Cas> {
        let key = self.names.fleet_state(&f.name);
        let body = serde_json::to_vec_pretty(s)?;
        match etag {
            Some(e) => self.store.put_if_match(&key, e, body).await,
            None => self.store.put_if_absent(&key, body).await,
        }
    }

    /// Reads state and group, decides, sets the group, then writes the state conditionally; a
    /// concurrent writer makes it start over from what that writer left.
    async fn transition(
        &self,
        f: &Fleet,
        decide: impl Fn(&FleetState, Capacity) -> Decision,
    ) -> Result<String> {
        for _ in 0..5 {
            let (state, etag) = self.state(f).await?;
            let fallback = self
                .group(f, Side::Fallback)
                .await?
                .with_context(|| format!("the fallback group of fleet {} is missing; run apply", f.name))?;
            match decide(&state, fallback.capacity()) {
                Decision::Unchanged(why) => return Ok(format!("fleet {}: {why}", f.name)),
                Decision::Remember { state: next, why } => {
                    if let Cas::Written = self.write_state(f, &next, etag.as_deref()).await? {
                        return Ok(format!("fleet {}: {why}", f.name));
                    }
                }
                Decision::Transition { state: next, fallback: want } => {
                    // The state is written first: of concurrent handlers only the one whose write
                    // lands touches the group (the others find the new mode and leave it). Were the
                    // group call to fail after, the next tick sees the drift and repairs it.
                    let changes_mode = next != state;
                    if changes_mode && self.write_state(f, &next, etag.as_deref()).await? != Cas::Written {
                        continue;
                    }
                    if want != fallback.capacity() {
                        self.set_capacity(&fallback, want).await?;
                    }
                    let how = if changes_mode {
                        format!("{:?} -> {:?}", state.mode, next.mode)
                    } else {
                        format!("{:?}", next.mode)
                    };
                    return Ok(format!(
                        "fleet {}: {how}, fallback set to min {} max {} desired {}",
                        f.name, want.min, want.max, want.desired
                    ));
                }
            }
        }
        anyhow::bail!(
            "fleet {}: the state kept changing under five attempts; the next event or tick retries",
            f.name
        )
    }

    /// A launch result of a fleet group, delivered by EventBridge.
    pub async fn on_launch(&self, id: &str, time: &str, group: &str, success: bool) -> Result<String> {
        let fleets = self.load().await?;
        let Some(f) = fleets.iter().find(|f| self.names.fleet_group(&f.name, Side::Primary) == group) else {
            if fleets.iter().any(|f| self.names.fleet_group(&f.name, Side::Fallback) == group) {
                return Ok(format!("{group} is a fallback group: its launches do not drive failover"));
            }
            return Ok(format!("no fleet of env `{}` has the group {group}", self.names.env));
        };
        let event = LaunchEvent {
            id: id.to_string(),
            time_unix: time_unix(time).unwrap_or_else(crate::lock::now_unix),
            success,
        };
        self.transition(f, |s, c| on_launch_event(s, &event, c, f.max_fallback)).await
    }

    /// Once a minute: publish each fleet's metrics, then take one failback step (or repair drift).
    pub async fn tick(&self) -> Result<String> {
        let mut said = Vec::new();
        for f in self.load().await? {
            match self.publish(&f).await {
                Ok((visible, m)) => said.push(format!(
                    "fleet {}: {visible} visible, {m} in service, backlog per instance {}",
                    f.name,
                    backlog_per_instance(visible, m as u64)
                )),
                Err(e) => said.push(format!("fleet {}: metrics not published: {e:#}", f.name)),
            }
            let now = crate::lock::now_unix();
            match self.transition(&f, |s, c| on_tick(s, c, f.max_fallback, now)).await {
                Ok(s) => said.push(s),
                Err(e) => said.push(format!("fleet {}: {e:#}", f.name)),
            }
        }
        if said.is_empty() {
            said.push("no fleet in this env".into());
        }
        Ok(said.join("; "))
    }

    async fn visible(&self, f: &Fleet) -> Result<u64> {
        let sqs = self.aws.sqs(&f.primary_region);
        let name = self.names.queue(&f.queue);
        let url = sqs
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .with_context(|| format!("finding queue {name}"))?;
        let url = url.queue_url().unwrap_or_default();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .with_context(|| format!("reading the depth of queue {name}"))?;
        Ok(attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// The seed's metrics: backlog per in-service primary instance (primary region) and the
    /// visible count (fallback region: metrics are regional, and the fallback group scales on it).
    async fn publish(&self, f: &Fleet) -> Result<(u64, u32)> {
        let visible = self.visible(f).await?;
        let in_service = self.group(f, Side::Primary).await?.map(|g| g.in_service).unwrap_or(0);
        let values = [
            (Side::Primary, backlog_per_instance(visible, in_service as u64)),
            (Side::Fallback, visible as f64),
        ];
        for (side, value) in values {
            let spec = MetricSpec::of(&self.names.env, &f.name, side);
            let region = spotctl_core::desired::fleet::region_of(f, side);
            let datum = MetricDatum::builder()
                .metric_name(&spec.name)
                .value(value)
                .unit(StandardUnit::None)
                .set_dimensions(Some(
                    spec.dimensions
                        .iter()
                        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                        .collect(),
                ))
                .build();
            self.aws
                .cloudwatch(region)
                .put_metric_data()
                .namespace(&spec.namespace)
                .metric_data(datum)
                .send()
                .await
                .with_context(|| format!("publishing {} in {region}", spec.name))?;
        }
        Ok((visible, in_service))
    }

    pub async fn status(&self) -> Result<Vec<FleetStatus>> {
        let mut out = Vec::new();
        for f in self.load().await? {
            let (state, _) = self.state(&f).await?;
            let mut groups = Vec::new();
            for side in Side::BOTH {
                if let Some(g) = self.group(&f, side).await? {
                    groups.push(g);
                }
            }
            let visible = self.visible(&f).await.ok();
            let in_service = groups.first().map(|g| g.in_service as u64).unwrap_or(0);
            out.push(FleetStatus {
                name: f.name.clone(),
                mode: state.mode,
                since_unix: state.since_unix,
                backlog_per_instance: visible.map(|v| backlog_per_instance(v, in_service)),
                visible_messages: visible,
                groups,
            });
        }
        Ok(out)
    }
}
