//! The resources an env wants, computed from its env file and a few facts read from AWS (account,
//! default VPCs, the AMI, where the primary lives). Pure: the same input gives the same list.
//!
//! Attribute values are what discovery reads back, in the same canonical form, so that a converged
//! env plans empty. Attributes AWS cannot list cheaply are compared through a spec hash kept in a
//! `spotctl:spec` tag.
//!
//! May use: `config`, `endpoint`, `fleet`, `names`, `plan`, `templates`, the bucket's layout
//! (`spotctl_layout`).

pub mod bucket;
pub mod endpoint;
pub mod fleet;

pub use bucket::{LifecycleRule, PolicyMode};

use crate::names::{Names, RoleKind, Schedule};
use crate::plan::{Kind, Resource};
use crate::templates::{self, canonical_json, TemplateError};
use sha2::{Digest, Sha256};
use spotctl_layout::state;
use std::collections::BTreeMap;

/// The EC2 events every candidate region forwards (or, at home, hands to the Lambda): the spot
/// warnings, and an instance going away (the primary lost with no warning: the recovery).
pub const SPOT_EVENTS: [(&str, &str); 3] = [
    ("interruption", "EC2 Spot Instance Interruption Warning"),
    ("rebalance", "EC2 Instance Rebalance Recommendation"),
    ("state", STATE_CHANGE),
];

/// The EC2 state-change event, and the states of an instance that is going or gone.
pub const STATE_CHANGE: &str = "EC2 Instance State-change Notification";
pub const GONE_STATES: [&str; 4] = ["stopping", "stopped", "shutting-down", "terminated"];

/// Scheduled rules in the home region.
pub const SCHEDULES: [&str; 2] = [Schedule::Relocation.suffix(), Schedule::AdvisorRefresh.suffix()];

/// Lambda's own retries of a failed asynchronous invocation (at most 2), and how old an event may
/// be for a retry: within the two-minute warning the watchdog's minute is the retry that counts.
pub const HANDLER_RETRIES: u32 = 2;
pub const HANDLER_EVENT_AGE_S: u32 = 3600;
/// Dead letters stay 14 days (SQS's maximum): long enough for a person to look.
pub const DEAD_LETTER_RETENTION_S: u32 = 1_209_600;

/// How often the watchdog looks at an open handoff.
pub const WATCHDOG_RATE: &str = "rate(1 minute)";
/// How often the handler applies `[backup] retention` to the bucket's backups.
pub const RETENTION_RATE: &str = "rate(1 day)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaArtifact {
    /// Key of the zip in the state bucket (`artifacts/<sha>.zip`).
    pub key: String,
    /// Base64 SHA-256 of the zip, as Lambda reports `CodeSha256`.
    pub sha256_b64: String,
}

/// Where the primary database instance is, or is to be launched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimarySpec {
    /// A primary runs in this region: keep it (relocation is the handoff's job, not apply's).
    Existing { region: String },
    /// None was ever recorded (or an interrupted apply's launch is finished): launch one with
    /// exactly this spec.
    Launch(LaunchSpec),
    /// Database instances are not apply's now (a handoff holds them, or a recovery will make the
    /// primary): want none, delete none.
    Hold,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    pub region: String,
    pub az: String,
    pub subnet: String,
    pub instance_type: String,
    pub ami: String,
    /// One line saying why this placement won, shown in the plan.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredInput {
    pub names: Names,
    /// Candidate regions, sorted, home included.
    pub regions: Vec<String>,
    /// The env's instance types, sorted: the only ones the handler may launch.
    pub instance_types: Vec<String>,
    pub ssh_public_key: String,
    pub ssh_cidrs: Vec<String>,
    pub mysql_cidrs: Vec<String>,
    pub relocation_schedule: String,
    pub advisor_schedule: String,
    pub fis_lead: String,
    pub database: String,
    pub schema_sql: String,
    pub volume_gb: u32,
    /// The resolved env, as the Lambda and the agents read it from `state/env.json`.
    pub env_json: String,
    pub lambda: LambdaArtifact,
    /// Default VPC id per candidate region.
    pub vpcs: BTreeMap<String, String>,
    pub primary: PrimarySpec,
    /// The env's fleets with the facts of their regions (empty for a database-only env).
    pub fleets: Vec<fleet::FleetInput>,
    /// The name applications connect to.
    pub endpoint: Option<endpoint::EndpointInput>,
    /// Whether the bucket policy is whole (always, against AWS).
    pub bucket_policy: PolicyMode,
    /// Continuous protection's settings (the primary's base timer).
    pub backup: crate::config::BackupSection,
    /// `[instance] image_parameter`: the SSM parameter naming a prepared image, if any.
    pub image_parameter: Option<String>,
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn vars<const N: usize>(pairs: [(&'static str, String); N]) -> BTreeMap<&'static str, String> {
    pairs.into_iter().collect()
}

fn policy(name: &str, input: &DesiredInput) -> Result<String, TemplateError> {
    let n = &input.names;
    let all = vars([
        ("account", n.account.clone()),
        ("bucket", n.bucket()),
        ("env", n.env.clone()),
        ("home_region", n.home_region.clone()),
        ("function", n.function()),
        ("instance_types", serde_json::to_string(&input.instance_types).unwrap_or_default()),
        ("instance_role_arn", n.role_arn(RoleKind::Instance)),
        ("worker_role_arn", n.role_arn(RoleKind::Worker)),
        ("endpoint_name", endpoint_name(input)),
        ("endpoint_zone", endpoint_zone(input)),
        ("image_owner", image_owner(input)),
        ("image_parameter_arn", image_parameter_arn(input)),
    ]);
    let text = templates::ALL.iter().find(|(t, _)| *t == name).map(|(_, t)| *t).unwrap_or("");
    let used: BTreeMap<&str, String> =
        all.into_iter().filter(|(k, _)| text.contains(&format!("{{{{{k}}}}}"))).collect();
    let rendered = templates::render(name, &used)?;
    Ok(canonical_json(&rendered).unwrap_or(rendered))
}

/// Whose images the handler may launch standbys from besides Amazon's: the account's own when the
/// env names a prepared image (else Amazon again, which grants nothing more).
fn image_owner(input: &DesiredInput) -> String {
    match &input.image_parameter {
        Some(_) => input.names.account.clone(),
        None => "amazon".into(),
    }
}

/// The prepared image's parameter, in any region (else Amazon Linux's again).
fn image_parameter_arn(input: &DesiredInput) -> String {
    match &input.image_parameter {
        Some(p) => format!("arn:aws:ssm:*:{}:parameter{p}", input.names.account),
        None => "arn:aws:ssm:*::parameter/aws/service/ami-amazon-linux-latest/*".into(),
    }
}

/// The record the instances may point (the default name when the input names no endpoint).
fn endpoint_name(input: &DesiredInput) -> String {
    match &input.endpoint {
        Some(e) => e.name.clone(),
        None => crate::config::EndpointSection::defaults().name_for(&input.names.env),
    }
}

/// The hosted zone the instances may change, by id: the one the env names; `*` for the zone spotctl
/// makes (its id is known only once it exists; the record name and types still bound the change).
fn endpoint_zone(input: &DesiredInput) -> String {
    match input.endpoint.as_ref().map(|e| &e.zone) {
        Some(endpoint::EndpointZone::Existing { id }) => id.trim_start_matches("/hostedzone/").to_string(),
        _ => "*".to_string(),
    }
}

/// Ingress rules as discovery reports them: sorted `tcp/<port>/<cidr>` entries, JSON-encoded.
pub fn ingress_value(ssh: &[String], mysql: &[String]) -> String {
    let mut rules: Vec<String> = ssh
        .iter()
        .map(|c| format!("tcp/22/{c}"))
        .chain(mysql.iter().map(|c| format!("tcp/3306/{c}")))
        .collect();
    rules.sort();
    rules.dedup();
    serde_json::to_string(&rules).unwrap_or_default()
}

/// The FIS template body for a region, as JSON (what `CreateExperimentTemplate` takes).
pub fn fis_template_body(input: &DesiredInput) -> Result<String, TemplateError> {
    let v = vars([
        ("env", input.names.env.clone()),
        ("role_arn", input.names.role_arn(RoleKind::Fis)),
        ("lead", input.fis_lead.clone()),
    ]);
    templates::render("fis-template.json", &v)
}

pub fn user_data(input: &DesiredInput) -> Result<String, TemplateError> {
    use base64::Engine as _;
    let n = &input.names;
    let v = vars([
        ("env", n.env.clone()),
        ("home_region", n.home_region.clone()),
        ("bucket", n.bucket()),
        ("password_param", n.password_parameter()),
        ("ca_param", n.ca_parameter()),
        ("endpoint_name", endpoint_name(input)),
        ("database", input.database.clone()),
        ("schema_b64", base64::engine::general_purpose::STANDARD.encode(&input.schema_sql)),
        ("agent_key", input.lambda.key.clone()),
        ("base_every", input.backup.base_every.to_string()),
    ]);
    templates::render("user-data.sh", &v)
}

fn event_pattern(detail_type: &str) -> String {
    let mut v = serde_json::json!({ "source": ["aws.ec2"], "detail-type": [detail_type] });
    // Every instance of the account changes state: only going and gone are forwarded.
    if detail_type == STATE_CHANGE {
        v["detail"] = serde_json::json!({ "state": GONE_STATES });
    }
    serde_json::to_string(&v).unwrap_or_default()
}

/// Everything the env wants, in no particular order (the planner orders).
pub fn desired(input: &DesiredInput) -> Result<Vec<Resource>, TemplateError> {
    let n = &input.names;
    let home = n.home_region.as_str();
    let mut out = Vec::new();

    out.push(
        Resource::new(Kind::Bucket, home, n.bucket())
            .with("encryption", "AES256")
            .with("public_access_block", "all")
            .with("versioning", "Enabled")
            .with("lifecycle", bucket::lifecycle_value(&bucket::lifecycle_rules()))
            .with("policy", bucket::bucket_policy(input)?),
    );
    out.push(
        Resource::new(Kind::StateObject, home, state::ENV)
            .with("sha256", sha256_hex(input.env_json.as_bytes()))
            .create_only("body", input.env_json.clone()),
    );
    let ud = user_data(input)?;
    out.push(
        Resource::new(Kind::StateObject, home, state::USER_DATA)
            .with("sha256", sha256_hex(ud.as_bytes()))
            .create_only("body", ud),
    );
    out.push(Resource::new(Kind::Parameter, home, n.password_parameter()).forces("type", "SecureString"));
    out.push(Resource::new(Kind::Parameter, home, n.ca_parameter()).forces("type", "SecureString"));

    for kind in RoleKind::ALL {
        let s = kind.suffix();
        out.push(
            Resource::new(Kind::IamRole, "global", n.role(kind))
                .forces("path", n.iam_path())
                .with("trust", policy(&format!("iam/{s}-trust.json"), input)?)
                .with("policy", policy(&format!("iam/{s}-policy.json"), input)?),
        );
    }
    out.push(
        Resource::new(Kind::InstanceProfile, "global", n.instance_profile())
            .forces("path", n.iam_path())
            .with("role", n.role(RoleKind::Instance)),
    );

    let ingress = ingress_value(&input.ssh_cidrs, &input.mysql_cidrs);
    let key_sha = sha256_hex(input.ssh_public_key.trim().as_bytes());
    let fis_body = fis_template_body(input)?;
    for region in &input.regions {
        out.push(
            Resource::new(Kind::SecurityGroup, region, n.security_group())
                .forces("vpc", input.vpcs.get(region).cloned().unwrap_or_default())
                .with("ingress", ingress.clone()),
        );
        out.push(
            Resource::new(Kind::KeyPair, region, n.key_pair())
                .forces("public_key_sha256", key_sha.clone())
                .create_only("public_key", input.ssh_public_key.trim()),
        );
        let target = if region == home { n.function_arn() } else { n.home_bus_arn() };
        for (what, detail_type) in SPOT_EVENTS {
            let mut rule = Resource::new(Kind::EventRule, region, n.rule(what))
                .with("pattern", event_pattern(detail_type))
                .with("state", "ENABLED")
                .with("target", target.clone());
            if region != home {
                rule = rule.create_only("target_role", n.role_arn(RoleKind::Events));
            }
            out.push(rule);
        }
        out.push(
            Resource::new(Kind::FisTemplate, region, n.fis_template())
                .forces("spec_sha256", sha256_hex(fis_body.as_bytes()))
                .create_only("body", fis_body.clone()),
        );
    }
    // The watchdog re-checks an open handoff every minute: within the two-minute warning it is the
    // retry that counts (EventBridge's own retries of a failed invocation come minutes apart).
    let (watchdog, retention) = (WATCHDOG_RATE.to_string(), RETENTION_RATE.to_string());
    for (what, schedule) in [
        (SCHEDULES[0], &input.relocation_schedule),
        (SCHEDULES[1], &input.advisor_schedule),
        (Schedule::Watchdog.suffix(), &watchdog),
        (Schedule::Retention.suffix(), &retention),
    ] {
        out.push(
            Resource::new(Kind::EventRule, home, n.rule(what))
                .with("schedule", schedule.clone())
                .with("state", "ENABLED")
                .with("target", n.function_arn()),
        );
    }

    let env_vars = serde_json::json!({
        "SPOTCTL_ENV": n.env,
        "SPOTCTL_BUCKET": n.bucket(),
        "SPOTCTL_HOME_REGION": home,
    });
    out.push(
        Resource::new(Kind::LambdaFunction, home, n.function())
            .forces("runtime", "provided.al2023")
            .forces("architecture", "x86_64")
            .with("handler", "bootstrap")
            .with("role", n.role_arn(RoleKind::Lambda))
            .with("memory_mb", "512")
            .with("timeout_s", "120")
            .with("environment", serde_json::to_string(&env_vars).unwrap_or_default())
            .with("code_sha256", input.lambda.sha256_b64.clone())
            .create_only("code_key", input.lambda.key.clone()),
    );
    out.push(
        Resource::new(Kind::LambdaPermission, home, "events-invoke")
            .with("principal", "events.amazonaws.com")
            .with("source_arn", format!("arn:aws:events:{home}:{}:rule/{}*", n.account, n.prefix()))
            .with("source_account", n.account.clone()),
    );

    // A failed invocation is retried by Lambda (EventBridge invokes asynchronously); once the
    // retries are spent, the event lands in the dead-letter queue, which `status` shows.
    out.push(
        Resource::new(Kind::Queue, home, n.dead_letter_queue())
            .with("receive_wait_s", "0")
            .with("sse", "true")
            .with("retention_s", DEAD_LETTER_RETENTION_S.to_string()),
    );
    out.push(
        Resource::new(Kind::InvokeConfig, home, n.function())
            .with("max_retry_attempts", HANDLER_RETRIES.to_string())
            .with("max_event_age_s", HANDLER_EVENT_AGE_S.to_string())
            .with("on_failure", n.dead_letter_arn()),
    );
    if let Some(e) = &input.endpoint {
        out.extend(endpoint::resources(e, &input.vpcs));
    }
    out.extend(fleet::resources(input)?);
    out.extend(primary_instance(input)?);
    Ok(out)
}

fn primary_instance(input: &DesiredInput) -> Result<Option<Resource>, TemplateError> {
    Ok(match &input.primary {
        PrimarySpec::Existing { region } => Some(
            Resource::new(Kind::Instance, region, "primary")
                .with("http_tokens", "required")
                .with("hop_limit", "1")
                .with("metadata_tags", "enabled"),
        ),
        PrimarySpec::Launch(l) => {
            Some(db_instance("primary", l, &input.names, input.volume_gb, &user_data(input)?))
        }
        PrimarySpec::Hold => None,
    })
}

/// A database instance launched at placement `l`: the primary (`name` = "primary") or a standby.
/// Every attribute but the metadata options only matters at creation: the instance is never
/// changed in place, a new placement is a handoff.
pub fn db_instance(name: &str, l: &LaunchSpec, n: &Names, volume_gb: u32, user_data: &str) -> Resource {
    Resource::new(Kind::Instance, &l.region, name)
        .with("http_tokens", "required")
        .with("hop_limit", "1")
        .with("metadata_tags", "enabled")
        .create_only("availability_zone", l.az.clone())
        .create_only("subnet", l.subnet.clone())
        .create_only("instance_type", l.instance_type.clone())
        .create_only("ami", l.ami.clone())
        .create_only("market", "spot/one-time")
        .create_only("volume_gb", volume_gb.to_string())
        .create_only("instance_profile", n.instance_profile())
        .create_only("security_group", n.security_group())
        .create_only("key_pair", n.key_pair())
        .create_only("user_data", user_data)
        .create_only("why", l.reason.clone())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::{plan, Action};

    pub(crate) fn input() -> DesiredInput {
        DesiredInput {
            names: Names::new("dev", "123456789012", "ap-northeast-1"),
            regions: vec!["ap-northeast-1".into(), "ap-northeast-3".into()],
            instance_types: vec!["m5.large".into(), "m6i.large".into(), "r5.large".into()],
            ssh_public_key: "ssh-ed25519 AAAA test\n".into(),
            ssh_cidrs: vec![],
            mysql_cidrs: vec![],
            relocation_schedule: "rate(12 hours)".into(),
            advisor_schedule: "rate(1 day)".into(),
            fis_lead: "PT2M".into(),
            database: "appdb".into(),
            schema_sql: "CREATE TABLE employees (id INT PRIMARY KEY);".into(),
            volume_gb: 20,
            env_json: "{}".into(),
            lambda: LambdaArtifact { key: "artifacts/x.zip".into(), sha256_b64: "abc=".into() },
            vpcs: [("ap-northeast-1".into(), "vpc-1".into()), ("ap-northeast-3".into(), "vpc-3".into())]
                .into(),
            primary: PrimarySpec::Launch(LaunchSpec {
                region: "ap-northeast-3".into(),
                az: "ap-northeast-3a".into(),
                subnet: "subnet-1".into(),
                instance_type: "m5.large".into(),
                ami: "ami-1".into(),
                reason: "best".into(),
            }),
            fleets: Vec::new(),
            endpoint: None,
            bucket_policy: PolicyMode::Enforced,
            backup: Default::default(),
            image_parameter: None,
        }
    }

    #[test]
    fn every_resource_is_unique_and_deterministic() {
        let a = desired(&input()).expect("renders");
        let b = desired(&input()).expect("renders");
        assert_eq!(a, b);
        let mut addrs: Vec<_> = a.iter().map(|r| r.address.clone()).collect();
        addrs.sort();
        let before = addrs.len();
        addrs.dedup();
        assert_eq!(before, addrs.len(), "duplicate addresses");
    }

    #[test]
    fn rules_forward_from_other_regions_and_target_the_lambda_at_home() {
        let all = desired(&input()).expect("renders");
        let rule = |region: &str, what: &str| {
            all.iter()
                .find(|r| {
                    r.address.kind == Kind::EventRule
                        && r.address.region == region
                        && r.address.name == format!("spotctl-dev-{what}")
                })
                .cloned()
        };
        let home = rule("ap-northeast-1", "interruption").expect("home rule");
        assert_eq!(
            home.value("target"),
            Some("arn:aws:lambda:ap-northeast-1:123456789012:function:spotctl-dev-handler")
        );
        let away = rule("ap-northeast-3", "rebalance").expect("forwarding rule");
        assert_eq!(
            away.value("target"),
            Some("arn:aws:events:ap-northeast-1:123456789012:event-bus/default")
        );
        // The primary lost with no warning: its state change, from every candidate region, for
        // going and gone states only.
        let state = rule("ap-northeast-3", "state").expect("state-change rule in every region");
        let pattern: serde_json::Value =
            serde_json::from_str(state.value("pattern").expect("a pattern")).expect("JSON");
        assert_eq!(pattern["detail-type"][0], "EC2 Instance State-change Notification");
        assert_eq!(pattern["detail"]["state"], serde_json::json!(GONE_STATES));
        assert!(rule("ap-northeast-3", "relocation").is_none(), "schedules live at home only");
        assert_eq!(
            rule("ap-northeast-1", "relocation")
                .and_then(|r| r.value("schedule").map(String::from))
                .as_deref(),
            Some("rate(12 hours)")
        );
    }

    #[test]
    fn user_data_holds_no_secret_and_renders_fully() {
        let ud = user_data(&input()).expect("renders");
        assert!(!ud.contains("{{"));
        assert!(ud.contains("/spotctl/dev/mysql-password"));
        assert!(!ud.to_lowercase().contains("pass123"));
    }

    #[test]
    fn a_fresh_env_plans_only_creates() {
        let p = plan(&desired(&input()).expect("renders"), &[]);
        assert!(p.changes.iter().all(|c| c.action == Action::Create));
        assert_eq!(p.changes.last().map(|c| c.address.kind), Some(Kind::Instance));
    }
}

/// The rendered plan of a whole env, as a person reads it, held by a snapshot.
#[cfg(test)]
mod snapshots {
    use super::{desired, tests::input};
    use crate::plan::{plan, render, LiveResource};

    #[test]
    fn the_first_plan_of_an_env() {
        let wanted = desired(&input()).expect("desired");
        let live: Vec<LiveResource> = Vec::new();
        insta::assert_snapshot!(render(&plan(&wanted, &live), "dev", false));
    }
}
