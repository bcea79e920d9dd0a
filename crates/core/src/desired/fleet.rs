//! What a `[[fleet]]` wants: its queue, a worker launch template and an Auto Scaling group in each
//! of its two regions, a target-tracking policy on each group, the rules that hand the primary
//! group's launch results to the handler, the once-a-minute metrics schedule, and the workers'
//! role, instance profile and (closed) security group.
//!
//! Capacity is split between apply and the handler: apply owns the primary group's maximum and
//! everything about how groups launch; the fallback group's size belongs to the failover state
//! (`crate::fleet`), so apply creates it empty and never compares its size afterwards.

use super::{policy, DesiredInput};
use crate::config::Fleet;
use crate::fleet::Side;
use crate::names::{
    RoleKind, METRIC_BACKLOG, METRIC_NAMESPACE, METRIC_VISIBLE, TAG_ENV, TAG_FLEET, TAG_KIND,
};
use crate::plan::{Kind, Resource};
use crate::templates::{self, canonical_json, TemplateError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The rule that runs the fleet metrics and failback steps.
pub const METRICS_RULE: &str = crate::names::Schedule::FleetMetrics.suffix();
pub const METRICS_SCHEDULE: &str = "rate(1 minute)";
/// How spot capacity is chosen among the fleet's types (AWS's recommended default).
pub const SPOT_STRATEGY: &str = "price-capacity-optimized";

/// A fleet and the facts of its two regions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetInput {
    pub fleet: Fleet,
    /// The script the env file names in `user_data`; `None` when the fleet runs `command`.
    pub user_data_script: Option<String>,
    /// Facts of the primary and the fallback region, by region.
    pub regions: BTreeMap<String, FleetRegion>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetRegion {
    pub ami: String,
    /// Default VPC (the workers' security group goes there).
    pub vpc: String,
    /// The default subnets, sorted: the group spreads over every zone.
    pub subnets: Vec<String>,
}

/// What a launch template holds; the executor turns it into `RequestLaunchTemplateData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplateBody {
    pub image_id: String,
    pub instance_profile: String,
    /// By name; the executor looks up its id in the region.
    pub security_group: String,
    pub user_data_b64: String,
    /// Tags of the instances and volumes launched from it.
    pub tags: BTreeMap<String, String>,
    /// The root device, launched encrypted (gp3, deleted with the instance).
    #[serde(default)]
    pub encrypted_root_device: String,
    /// Its size: at least the image's (AL2023's is 8 GiB), room for a job's scratch files.
    #[serde(default)]
    pub root_volume_gb: u32,
    /// IMDS answers travel one hop: never past the instance.
    #[serde(default)]
    pub metadata_hop_limit: u8,
}

/// SQS's default retention for the work queue (4 days) and its most for the dead letters (14 days,
/// time to look at them).
pub const QUEUE_RETENTION_S: u64 = 345_600;
pub const DEAD_LETTER_RETENTION_S: u64 = 1_209_600;

/// The workers' root volume, GiB.
pub const ROOT_VOLUME_GB: u32 = 30;

/// AL2023's root device.
pub const ROOT_DEVICE: &str = "/dev/xvda";

/// A CloudWatch metric for a target-tracking policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricSpec {
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
    pub statistic: String,
}

impl MetricSpec {
    /// The metric a group of this fleet scales on: backlog per instance for the primary, the
    /// visible count for the fallback (as in the seed).
    pub fn of(env: &str, fleet: &str, side: Side) -> MetricSpec {
        let name = match side {
            Side::Primary => METRIC_BACKLOG,
            Side::Fallback => METRIC_VISIBLE,
        };
        MetricSpec {
            namespace: METRIC_NAMESPACE.into(),
            name: name.into(),
            dimensions: [("Env".to_string(), env.to_string()), ("Fleet".to_string(), fleet.to_string())]
                .into(),
            statistic: "Average".into(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

pub fn region_of(f: &Fleet, side: Side) -> &str {
    match side {
        Side::Primary => &f.primary_region,
        Side::Fallback => &f.fallback_region,
    }
}

/// The worker's user-data: the env's script, or spotctl's worker agent running `command`.
pub fn worker_user_data(input: &DesiredInput, f: &FleetInput) -> Result<String, TemplateError> {
    if let Some(script) = &f.user_data_script {
        return Ok(script.clone());
    }
    let n = &input.names;
    let fleet = &f.fleet;
    let v: BTreeMap<&str, String> = [
        ("env", n.env.clone()),
        ("fleet", fleet.name.clone()),
        ("home_region", n.home_region.clone()),
        ("bucket", n.bucket()),
        ("agent_key", input.lambda.key.clone()),
        ("command", fleet.command.clone().unwrap_or_default()),
        ("queue", n.queue(&fleet.queue)),
        ("queue_region", fleet.primary_region.clone()),
        ("idle_secs", fleet.idle_timeout.as_secs().to_string()),
        ("visibility_secs", fleet.visibility_timeout.as_secs().to_string()),
    ]
    .into();
    templates::render("worker-user-data.sh", &v)
}

/// The group's launch result rule: events from the primary group reach the handler.
fn launch_pattern(group: &str) -> String {
    let v = serde_json::json!({
        "source": ["aws.autoscaling"],
        "detail-type": ["EC2 Instance Launch Successful", "EC2 Instance Launch Unsuccessful"],
        "detail": { "AutoScalingGroupName": [group] },
    });
    canonical_json(&v.to_string()).unwrap_or_default()
}

/// Every fleet resource of the env; nothing when it has no fleet.
pub fn resources(input: &DesiredInput) -> Result<Vec<Resource>, TemplateError> {
    let n = &input.names;
    let home = n.home_region.as_str();
    let mut out = Vec::new();
    if input.fleets.is_empty() {
        return Ok(out);
    }
    let worker = n.role(RoleKind::Worker);
    out.push(
        Resource::new(Kind::IamRole, "global", &worker)
            .forces("path", n.iam_path())
            .with("trust", policy("iam/worker-trust.json", input)?)
            .with("policy", policy("iam/worker-policy.json", input)?),
    );
    out.push(
        Resource::new(Kind::InstanceProfile, "global", n.worker_profile())
            .forces("path", n.iam_path())
            .with("role", worker),
    );
    out.push(
        Resource::new(Kind::EventRule, home, n.rule(METRICS_RULE))
            .with("schedule", METRICS_SCHEDULE)
            .with("state", "ENABLED")
            .with("target", n.function_arn()),
    );

    let mut sg_regions: BTreeMap<String, String> = BTreeMap::new();
    for f in &input.fleets {
        let fleet = &f.fleet;
        // A message received max_receives times without being deleted (a poison message, or a
        // job that keeps failing) moves to the dead-letter queue instead of looping forever.
        let dead = n.fleet_dead_letter_queue(&fleet.queue);
        out.push(
            Resource::new(Kind::Queue, &fleet.primary_region, &dead)
                .with("receive_wait_s", "20")
                .with("sse", "true")
                .with("visibility_timeout_s", fleet.visibility_timeout.as_secs().to_string())
                .with("retention_s", DEAD_LETTER_RETENTION_S.to_string())
                .with("redrive", ""),
        );
        let redrive = serde_json::json!({
            "deadLetterTargetArn": format!("arn:aws:sqs:{}:{}:{dead}", fleet.primary_region, n.account),
            "maxReceiveCount": fleet.max_receives,
        });
        out.push(
            Resource::new(Kind::Queue, &fleet.primary_region, n.queue(&fleet.queue))
                .with("receive_wait_s", "20")
                .with("sse", "true")
                .with("visibility_timeout_s", fleet.visibility_timeout.as_secs().to_string())
                .with("retention_s", QUEUE_RETENTION_S.to_string())
                .with("redrive", canonical_json(&redrive.to_string()).unwrap_or_default()),
        );
        let ud = worker_user_data(input, f)?;
        let body = LaunchTemplateBody {
            image_id: String::new(),
            instance_profile: n.worker_profile(),
            security_group: n.worker_security_group(),
            user_data_b64: {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(ud.as_bytes())
            },
            tags: [
                (TAG_ENV.to_string(), n.env.clone()),
                (TAG_KIND.to_string(), "worker".to_string()),
                (TAG_FLEET.to_string(), fleet.name.clone()),
                ("Name".to_string(), format!("{}{}-worker", n.prefix(), fleet.name)),
            ]
            .into(),
            encrypted_root_device: ROOT_DEVICE.to_string(),
            root_volume_gb: ROOT_VOLUME_GB,
            metadata_hop_limit: 1,
        };
        for side in Side::BOTH {
            let region = region_of(fleet, side);
            let facts = f.regions.get(region).cloned().unwrap_or_default();
            sg_regions.insert(region.to_string(), facts.vpc.clone());
            let body = LaunchTemplateBody { image_id: facts.ami.clone(), ..body.clone() };
            let body = serde_json::to_string(&body).unwrap_or_default();
            out.push(
                Resource::new(Kind::LaunchTemplate, region, n.launch_template(&fleet.name))
                    .with("spec_sha256", super::sha256_hex(body.as_bytes()))
                    .create_only("body", body),
            );
            let group = n.fleet_group(&fleet.name, side);
            let mut types = fleet.instance_types.clone();
            types.sort();
            let mut asg = Resource::new(Kind::AutoScalingGroup, region, &group)
                .with("launch_template", n.launch_template(&fleet.name))
                .with("types", serde_json::to_string(&types).unwrap_or_default())
                .with("subnets", facts.subnets.join(","))
                .with("capacity_rebalance", "true")
                .with("spot_strategy", SPOT_STRATEGY)
                .create_only("fleet", fleet.name.clone())
                .create_only("min", "0")
                .create_only("desired", "0");
            asg = match side {
                Side::Primary => asg.with("max", fleet.max_primary.to_string()),
                // The failover state owns the fallback's size: empty until a failover.
                Side::Fallback => asg.create_only("max", "0"),
            };
            out.push(asg);
            let target = fleet.backlog_per_instance;
            out.push(
                Resource::new(Kind::ScalingPolicy, region, n.fleet_policy(&fleet.name, side))
                    .forces("group", group.clone())
                    .with("target", target.to_string())
                    .with("metric", MetricSpec::of(&n.env, &fleet.name, side).to_json()),
            );
        }
        let primary_group = n.fleet_group(&fleet.name, Side::Primary);
        let rule_regions: BTreeSet<&str> = [fleet.primary_region.as_str(), home].into();
        for region in rule_regions {
            let mut rule = Resource::new(Kind::EventRule, region, n.rule(&format!("{}-launch", fleet.name)))
                .with("pattern", launch_pattern(&primary_group))
                .with("state", "ENABLED");
            rule = if region == home {
                rule.with("target", n.function_arn())
            } else {
                rule.with("target", n.home_bus_arn()).create_only("target_role", n.role_arn(RoleKind::Events))
            };
            out.push(rule);
        }
    }
    for (region, vpc) in sg_regions {
        out.push(
            Resource::new(Kind::SecurityGroup, region, n.worker_security_group())
                .forces("vpc", vpc)
                .with("ingress", "[]"),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Period;
    use crate::plan::{plan, Action, OnChange};

    fn with_fleet() -> DesiredInput {
        let mut input = super::super::tests::input();
        let fleet = Fleet {
            name: "workers".into(),
            primary_region: "us-east-1".into(),
            fallback_region: "us-east-2".into(),
            instance_types: vec!["g5.xlarge".into(), "g4dn.xlarge".into()],
            queue: "jobs".into(),
            backlog_per_instance: 20,
            max_primary: 200,
            max_fallback: 50,
            failback: Default::default(),
            idle_timeout: Period::from_secs(30),
            visibility_timeout: Period::from_secs(300),
            max_receives: 5,
            command: Some("/opt/worker/run --fast".into()),
            user_data: None,
        };
        let facts = |r: &str| FleetRegion {
            ami: format!("ami-{r}"),
            vpc: format!("vpc-{r}"),
            subnets: vec![format!("subnet-{r}-a"), format!("subnet-{r}-b")],
        };
        input.fleets = vec![FleetInput {
            fleet,
            user_data_script: None,
            regions: [("us-east-1".into(), facts("us-east-1")), ("us-east-2".into(), facts("us-east-2"))]
                .into(),
        }];
        input
    }

    fn find<'a>(all: &'a [Resource], kind: Kind, region: &str, name: &str) -> &'a Resource {
        all.iter()
            .find(|r| r.address.kind == kind && r.address.region == region && r.address.name == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in {region}"))
    }

    #[test]
    fn a_fleet_wants_both_groups_policies_and_rules() {
        let all = super::super::desired(&with_fleet()).expect("renders");
        let primary = find(&all, Kind::AutoScalingGroup, "us-east-1", "spotctl-dev-workers-primary");
        assert_eq!(primary.value("max"), Some("200"));
        assert_eq!(primary.value("types"), Some(r#"["g4dn.xlarge","g5.xlarge"]"#));
        assert_eq!(primary.value("subnets"), Some("subnet-us-east-1-a,subnet-us-east-1-b"));
        let fallback = find(&all, Kind::AutoScalingGroup, "us-east-2", "spotctl-dev-workers-fallback");
        // The failover state owns the fallback's size: apply sets it once and never compares it.
        assert_eq!(fallback.attrs.get("max").map(|a| a.on_change), Some(OnChange::CreateOnly));
        let p = find(&all, Kind::ScalingPolicy, "us-east-1", "spotctl-dev-workers-primary-scaling");
        assert!(p.value("metric").is_some_and(|m| m.contains("BacklogPerInstance")));
        let f = find(&all, Kind::ScalingPolicy, "us-east-2", "spotctl-dev-workers-fallback-scaling");
        assert!(f.value("metric").is_some_and(|m| m.contains("VisibleMessages")));
        // us-east-1 is not home (ap-northeast-1): the rule forwards there, and home has its own.
        let away = find(&all, Kind::EventRule, "us-east-1", "spotctl-dev-workers-launch");
        assert_eq!(
            away.value("target"),
            Some("arn:aws:events:ap-northeast-1:123456789012:event-bus/default")
        );
        let at_home = find(&all, Kind::EventRule, "ap-northeast-1", "spotctl-dev-workers-launch");
        assert!(at_home.value("target").is_some_and(|t| t.contains(":function:")));
        assert!(at_home.value("pattern").is_some_and(|p| p.contains("spotctl-dev-workers-primary")));
        find(&all, Kind::EventRule, "ap-northeast-1", "spotctl-dev-fleet-metrics");
        let queue = find(&all, Kind::Queue, "us-east-1", "spotctl-dev-jobs");
        assert_eq!(queue.value("visibility_timeout_s"), Some("300"));
        assert_eq!(
            queue.value("redrive"),
            Some(
                r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:spotctl-dev-jobs-dead","maxReceiveCount":5}"#
            )
        );
        let dead = find(&all, Kind::Queue, "us-east-1", "spotctl-dev-jobs-dead");
        assert_eq!((dead.value("redrive"), dead.value("retention_s")), (Some(""), Some("1209600")));
        for region in ["us-east-1", "us-east-2"] {
            let sg = find(&all, Kind::SecurityGroup, region, "spotctl-dev-worker");
            assert_eq!(sg.value("ingress"), Some("[]"), "workers take no inbound traffic");
            let lt = find(&all, Kind::LaunchTemplate, region, "spotctl-dev-workers");
            let body: LaunchTemplateBody =
                serde_json::from_str(lt.value("body").unwrap_or_default()).expect("body");
            assert_eq!(body.image_id, format!("ami-{region}"));
            assert_eq!((body.encrypted_root_device.as_str(), body.metadata_hop_limit), ("/dev/xvda", 1));
        }
        find(&all, Kind::IamRole, "global", "spotctl-dev-worker");
        let p = plan(&all, &[]);
        assert!(p.changes.iter().all(|c| c.action == Action::Create));
    }

    #[test]
    fn the_worker_runs_the_command_and_holds_no_secret() {
        let input = with_fleet();
        let ud = worker_user_data(&input, &input.fleets[0]).expect("renders");
        assert!(ud.contains("\n/opt/worker/run --fast\n"));
        assert!(ud.contains(
            "--queue spotctl-dev-jobs --queue-region us-east-1 --idle-timeout 30s --visibility-timeout 300s"
        ));
        assert!(ud.contains("SyslogIdentifier=spot-worker"));
        assert!(!ud.contains("{{"));
    }

    #[test]
    fn no_fleet_no_fleet_resources() {
        let input = super::super::tests::input();
        let all = super::super::desired(&input).expect("renders");
        // The one queue an env without a fleet has is the handler's dead letters.
        let dead_letters = input.names.dead_letter_queue();
        assert!(!all.iter().any(|r| r.address.kind == Kind::Queue && r.address.name != dead_letters));
        assert!(!all.iter().any(|r| matches!(
            r.address.kind,
            Kind::LaunchTemplate | Kind::AutoScalingGroup | Kind::ScalingPolicy
        )));
        assert!(!all.iter().any(|r| r.address.name.ends_with("-worker")));
    }
}
