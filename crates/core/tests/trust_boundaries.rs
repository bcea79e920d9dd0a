//! Who may write what (ARD.md, "Trust boundaries"), checked on the documents `desired` renders for
//! an env, by the small evaluator in `policy/`: which keys of the state bucket each role may write
//! and how, which tags it may set, what the handler may launch, who may assume each role — and that
//! nothing of env `dev` reaches env `dev2`, whose name extends it.

mod policy;

use policy::{decide, Decision, Request};
use serde_json::Value;
use spotctl_core::desired::fleet::{FleetInput, FleetRegion};
use spotctl_core::desired::{desired, DesiredInput, LambdaArtifact, LaunchSpec, PolicyMode, PrimarySpec};
use spotctl_core::names::{Names, RoleKind};
use spotctl_core::plan::{Kind, Resource};

const ACCOUNT: &str = "123456789012";
const HOME: &str = "ap-northeast-1";

fn input(env: &str) -> DesiredInput {
    let fleet = serde_json::from_value(serde_json::json!({
        "name": "workers", "primary_region": "us-east-1", "fallback_region": "us-east-2",
        "instance_types": ["g5.xlarge"], "queue": "jobs", "max_primary": 2, "max_fallback": 1,
        "command": "/bin/true"
    }))
    .expect("a fleet");
    let facts = FleetRegion { ami: "ami-1".into(), vpc: "vpc-1".into(), subnets: vec!["subnet-1".into()] };
    DesiredInput {
        names: Names::new(env, ACCOUNT, HOME),
        regions: vec![HOME.into()],
        instance_types: vec!["m5.large".into(), "m6i.large".into(), "r5.large".into()],
        ssh_public_key: "ssh-ed25519 AAAA test".into(),
        ssh_cidrs: vec![],
        mysql_cidrs: vec![],
        relocation_schedule: "rate(12 hours)".into(),
        advisor_schedule: "rate(1 day)".into(),
        fis_lead: "PT2M".into(),
        database: "appdb".into(),
        schema_sql: String::new(),
        volume_gb: 20,
        env_json: "{}".into(),
        lambda: LambdaArtifact { key: "artifacts/x.zip".into(), sha256_b64: "abc=".into() },
        vpcs: [(HOME.to_string(), "vpc-1".to_string())].into(),
        primary: PrimarySpec::Launch(LaunchSpec {
            region: HOME.into(),
            az: "ap-northeast-1a".into(),
            subnet: "subnet-1".into(),
            instance_type: "m5.large".into(),
            ami: "ami-1".into(),
            reason: "best".into(),
        }),
        fleets: vec![FleetInput {
            fleet,
            user_data_script: None,
            regions: [("us-east-1".to_string(), facts.clone()), ("us-east-2".to_string(), facts)].into(),
        }],
        bucket_policy: PolicyMode::Enforced,
        backup: Default::default(),
        image_parameter: None,
        endpoint: None,
    }
}

struct Docs {
    names: Names,
    all: Vec<Resource>,
}

impl Docs {
    fn of(env: &str) -> Docs {
        Docs::from(input(env))
    }

    fn from(i: DesiredInput) -> Docs {
        Docs { names: i.names.clone(), all: desired(&i).expect("renders") }
    }

    fn role(&self, kind: RoleKind, attr: &str) -> Value {
        let name = self.names.role(kind);
        let r = self
            .all
            .iter()
            .find(|r| r.address.kind == Kind::IamRole && r.address.name == name)
            .unwrap_or_else(|| panic!("no role {name}"));
        serde_json::from_str(r.value(attr).expect("attribute")).expect("json")
    }

    fn bucket_policy(&self) -> Value {
        let b = self.all.iter().find(|r| r.address.kind == Kind::Bucket).expect("bucket");
        serde_json::from_str(b.value("policy").expect("policy")).expect("json")
    }

    fn key(&self, key: &str) -> String {
        format!("arn:aws:s3:::{}/{key}", self.names.bucket())
    }

    fn principal(&self, kind: RoleKind) -> String {
        self.names.role_arn(kind)
    }

    /// May `kind` put `key`, over TLS, with these conditional headers?
    fn put(&self, kind: RoleKind, key: &str, headers: &[&str]) -> Decision {
        let mut req = Request::new(&self.principal(kind), "s3:PutObject", &self.key(key))
            .with("aws:SecureTransport", &["true"])
            .with("aws:PrincipalArn", &[&self.principal(kind)])
            .with("aws:userid", &[&session(kind)]);
        for h in headers {
            req = req.with(h, &["*"]);
        }
        decide(&[&self.role(kind, "policy")], Some(&self.bucket_policy()), &req)
    }

    /// The operator running apply: allowed everything by its own policy, bounded by the bucket's.
    fn operator_put(&self, key: &str, tls: bool, headers: &[&str]) -> Decision {
        let admin = serde_json::json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}});
        let who = format!("arn:aws:iam::{ACCOUNT}:user/operator");
        let mut req = Request::new(&who, "s3:PutObject", &self.key(key))
            .with("aws:SecureTransport", &[if tls { "true" } else { "false" }])
            .with("aws:PrincipalArn", &[&who]);
        for h in headers {
            req = req.with(h, &["*"]);
        }
        decide(&[&admin], Some(&self.bucket_policy()), &req)
    }
}

/// The `aws:userid` of a role's session: for the instance role, instance `i-0abc0000000000000`'s (EC2 names
/// the session for the instance).
fn session(kind: RoleKind) -> String {
    match kind {
        RoleKind::Instance => format!("{INSTANCE_ROLE_ID}:i-0abc0000000000000"),
        other => format!("AROA{other:?}:session").to_ascii_uppercase(),
    }
}

const INSTANCE_ROLE_ID: &str = "AROAINSTANCEROLE";

const KEYS: [&str; 22] = [
    "backups/epoch-3/data/appdb/t/0-0.tsv.zst",
    "backups/epoch-3/manifest.json",
    "backups/bases/20261205T120000Z/manifest.json",
    "backups/bases/20261205T120000Z/base.json",
    "backups/timelines/0002/timeline.json",
    "backups/timelines/0002/log/0000000007.mariadb-bin.000001.000000004711.piece",
    "backups/timelines/0002/heartbeat.json",
    "backups/timelines/0002/heartbeats/AROAINSTANCEROLE:i-0abc0000000000000.json",
    "backups/timelines/0002/heartbeats/AROAINSTANCEROLE:i-0def0000000000000.json",
    "backups/reports/i-0abc0000000000000/AROAINSTANCEROLE:i-0abc0000000000000.json",
    "backups/reports/i-0def0000000000000/AROAINSTANCEROLE:i-0def0000000000000.json",
    "backups/health/i-0def0000000000000.json",
    "state/primary.json",
    "state/handoffs/epoch-3.json",
    "state/openings/0000000004-i-0abc.json",
    "state/env.json",
    "state/user-data.sh",
    "state/lock.json",
    "state/events/e-1-warning.json",
    "state/fleets/workers.json",
    "cache/sps-ledger.json",
    "artifacts/spotctl-0123.zip",
];

/// The keys a role may write with each way of writing (plain, If-None-Match, If-Match).
fn writable(d: &Docs, kind: RoleKind) -> Vec<String> {
    let mut out = Vec::new();
    for key in KEYS {
        for (how, headers) in
            [("plain", &[][..]), ("create", &["s3:if-none-match"][..]), ("replace", &["s3:if-match"][..])]
        {
            if d.put(kind, key, headers) == Decision::Allowed {
                out.push(format!("{how} {key}"));
            }
        }
    }
    out
}

#[test]
fn each_role_writes_only_its_own_keys_and_only_as_the_protocol_writes_them() {
    let d = Docs::of("dev");
    assert_eq!(
        writable(&d, RoleKind::Instance),
        [
            "plain backups/epoch-3/data/appdb/t/0-0.tsv.zst",
            "create backups/epoch-3/data/appdb/t/0-0.tsv.zst",
            "replace backups/epoch-3/data/appdb/t/0-0.tsv.zst",
            "create backups/epoch-3/manifest.json",
            "create backups/bases/20261205T120000Z/manifest.json",
            "create backups/bases/20261205T120000Z/base.json",
            "create backups/timelines/0002/timeline.json",
            "create backups/timelines/0002/log/0000000007.mariadb-bin.000001.000000004711.piece",
            "plain backups/timelines/0002/heartbeat.json",
            "create backups/timelines/0002/heartbeat.json",
            "replace backups/timelines/0002/heartbeat.json",
            "plain backups/timelines/0002/heartbeats/AROAINSTANCEROLE:i-0abc0000000000000.json",
            "create backups/timelines/0002/heartbeats/AROAINSTANCEROLE:i-0abc0000000000000.json",
            "replace backups/timelines/0002/heartbeats/AROAINSTANCEROLE:i-0abc0000000000000.json",
            "plain backups/reports/i-0abc0000000000000/AROAINSTANCEROLE:i-0abc0000000000000.json",
            "create backups/reports/i-0abc0000000000000/AROAINSTANCEROLE:i-0abc0000000000000.json",
            "replace backups/reports/i-0abc0000000000000/AROAINSTANCEROLE:i-0abc0000000000000.json",
            "plain backups/health/i-0def0000000000000.json",
            "create backups/health/i-0def0000000000000.json",
            "replace backups/health/i-0def0000000000000.json",
            "replace state/primary.json",
            "replace state/handoffs/epoch-3.json",
        ],
        "the database instance (i-0abc…): its backups (what the protocol reads, create-only), its own \
         heartbeat and health report (never i-0def's; the shared key of agents before per-writer reports \
         is read by nobody), and only replacing the record and the leases"
    );
    assert_eq!(
        writable(&d, RoleKind::Lambda),
        [
            "create state/handoffs/epoch-3.json",
            "replace state/handoffs/epoch-3.json",
            "create state/openings/0000000004-i-0abc.json",
            "plain state/events/e-1-warning.json",
            "create state/events/e-1-warning.json",
            "replace state/events/e-1-warning.json",
            "plain state/fleets/workers.json",
            "create state/fleets/workers.json",
            "replace state/fleets/workers.json",
            "plain cache/sps-ledger.json",
            "create cache/sps-ledger.json",
            "replace cache/sps-ledger.json",
        ],
        "the handler: leases (conditionally), openings (create-only), events, fleets and its cache"
    );
    assert!(writable(&d, RoleKind::Worker).is_empty(), "workers write nothing");
    // Each half holds alone: the instance role's own policy, without the bucket's, grants no more.
    let role = d.role(RoleKind::Instance, "policy");
    let alone: Vec<&str> = KEYS
        .into_iter()
        .filter(|key| {
            let req = Request::new(&d.principal(RoleKind::Instance), "s3:PutObject", &d.key(key))
                .with("s3:if-match", &["*"])
                .with("aws:userid", &[&session(RoleKind::Instance)]);
            decide(&[&role], None, &req) == Decision::Allowed
        })
        .collect();
    assert_eq!(
        alone,
        [
            "backups/epoch-3/data/appdb/t/0-0.tsv.zst",
            "backups/epoch-3/manifest.json",
            "backups/bases/20261205T120000Z/manifest.json",
            "backups/bases/20261205T120000Z/base.json",
            "backups/timelines/0002/timeline.json",
            "backups/timelines/0002/log/0000000007.mariadb-bin.000001.000000004711.piece",
            "backups/timelines/0002/heartbeat.json",
            "backups/timelines/0002/heartbeats/AROAINSTANCEROLE:i-0abc0000000000000.json",
            "backups/reports/i-0abc0000000000000/AROAINSTANCEROLE:i-0abc0000000000000.json",
            "backups/health/i-0def0000000000000.json",
            "state/primary.json",
            "state/handoffs/epoch-3.json"
        ]
    );
    // Its own writer's key under another instance's reports is allowed, and read by nobody
    // (`spotctl_layout::own_health_report`: the session must be named for the instance).
    assert_eq!(
        d.put(
            RoleKind::Instance,
            "backups/reports/i-0def0000000000000/AROAINSTANCEROLE:i-0abc0000000000000.json",
            &[]
        ),
        Decision::Allowed
    );
    // But nothing deeper: a listing of another instance's reports holds at most one key per
    // session, so no instance can flood it (nor the log's listing with heartbeats).
    for flood in [
        "backups/reports/i-0def0000000000000/x/AROAINSTANCEROLE:i-0abc0000000000000.json",
        "backups/timelines/0002/log/x/heartbeats/AROAINSTANCEROLE:i-0abc0000000000000.json",
    ] {
        assert_ne!(d.put(RoleKind::Instance, flood, &[]), Decision::Allowed, "{flood}");
    }
    for kind in [RoleKind::Fis, RoleKind::Events] {
        assert!(writable(&d, kind).is_empty(), "{kind:?} writes nothing");
    }
}

#[test]
fn nobody_deletes_with_an_instance_or_worker_role_and_nothing_travels_without_tls() {
    let d = Docs::of("dev");
    for kind in [RoleKind::Instance, RoleKind::Worker] {
        let req =
            Request::new(&d.principal(kind), "s3:DeleteObject", &d.key("backups/epoch-1/manifest.json"))
                .with("aws:SecureTransport", &["true"])
                .with("aws:PrincipalArn", &[&d.principal(kind)]);
        assert_ne!(decide(&[&d.role(kind, "policy")], Some(&d.bucket_policy()), &req), Decision::Allowed);
    }
    // The operator (allowed everything by its own policy) is still bound by the bucket's.
    assert_eq!(d.operator_put("state/env.json", true, &[]), Decision::Allowed);
    assert_eq!(d.operator_put("state/env.json", false, &[]), Decision::ExplicitDeny, "plain HTTP");
    assert_eq!(
        d.operator_put("state/primary.json", true, &[]),
        Decision::ExplicitDeny,
        "unconditional record"
    );
    assert_eq!(d.operator_put("state/primary.json", true, &["s3:if-none-match"]), Decision::Allowed);
    assert_eq!(d.operator_put("backups/epoch-9/manifest.json", true, &[]), Decision::ExplicitDeny);
    assert_eq!(d.operator_put("backups/epoch-9/seal.json", true, &[]), Decision::ExplicitDeny, "seals too");
    assert_eq!(d.operator_put("backups/epoch-9/seal.json", true, &["s3:if-none-match"]), Decision::Allowed);
    // Openings (what makes a record the primary record) are never replaced, even by the operator.
    let opening = "state/openings/0000000004-i-0abc.json";
    assert_eq!(d.operator_put(opening, true, &["s3:if-match"]), Decision::ExplicitDeny, "a replaced opening");
    assert_eq!(d.operator_put(opening, true, &["s3:if-none-match"]), Decision::Allowed);
    let read = Request::new("arn:aws:iam::999999999999:root", "s3:GetObject", &d.key("state/env.json"))
        .with("aws:SecureTransport", &["false"]);
    assert_eq!(decide(&[], Some(&d.bucket_policy()), &read), Decision::ExplicitDeny);
}

fn tag(
    d: &Docs,
    kind: RoleKind,
    target: &[(&str, &str)],
    keys: &[(&str, &str)],
    at_launch: bool,
) -> Decision {
    let target_arn = format!("arn:aws:ec2:{HOME}:{ACCOUNT}:instance/i-0123");
    // An instance's own credentials: the request comes from the instance it tags.
    let mut req = Request::new(&d.principal(kind), "ec2:CreateTags", &target_arn)
        .with("aws:TagKeys", &keys.iter().map(|(k, _)| *k).collect::<Vec<_>>())
        .with("ec2:SourceInstanceARN", &[&target_arn])
        .with("ec2:InstanceID", &["i-0123"]);
    for (k, v) in target {
        req = req.with(&format!("ec2:ResourceTag/{k}"), &[v]);
    }
    for (k, v) in keys {
        req = req.with(&format!("aws:RequestTag/{k}"), &[v]);
    }
    if at_launch {
        req = req.with("ec2:CreateAction", &["RunInstances"]);
    }
    decide(&[&d.role(kind, "policy")], None, &req)
}

#[test]
fn tags_are_limited_to_the_keys_each_role_must_set() {
    let d = Docs::of("dev");
    let standby = [("spotctl:env", "dev"), ("spotctl:role", "standby")];
    let primary = [("spotctl:env", "dev"), ("spotctl:role", "primary")];
    let other_env = [("spotctl:env", "dev2"), ("spotctl:role", "standby")];
    use Decision::*;
    let i = RoleKind::Instance;
    assert_eq!(tag(&d, i, &standby, &[("spotctl:role", "primary")], false), Allowed, "promotion");
    assert_eq!(tag(&d, i, &other_env, &[("spotctl:role", "primary")], false), ImplicitDeny);
    assert_eq!(tag(&d, i, &standby, &[("spotctl:env", "dev2")], false), ImplicitDeny, "moving env");
    assert_eq!(
        tag(&d, i, &standby, &[("spotctl:role", "primary"), ("spotctl:env", "x")], false),
        ImplicitDeny
    );
    assert_eq!(tag(&d, i, &standby, &[("spotctl:role", "standby")], false), ImplicitDeny);
    assert_eq!(tag(&d, i, &primary, &[("spotctl:drain", "epoch-3")], false), ImplicitDeny);
    let l = RoleKind::Lambda;
    assert_eq!(
        tag(&d, l, &primary, &[("spotctl:drain", "epoch-3")], false),
        Allowed,
        "relocation asks to drain"
    );
    assert_eq!(tag(&d, l, &standby, &[("spotctl:role", "primary")], false), ImplicitDeny);
    assert_eq!(tag(&d, l, &other_env, &[("spotctl:drain", "x")], false), ImplicitDeny);
    let launch = [
        ("spotctl:env", "dev"),
        ("spotctl:kind", "db"),
        ("spotctl:role", "standby"),
        ("spotctl:handoff", "epoch-3"),
        ("spotctl:launch", "l"),
        ("Name", "n"),
    ];
    assert_eq!(tag(&d, l, &[], &launch, true), Allowed, "tags at launch");
    assert_eq!(tag(&d, l, &[], &[("spotctl:env", "dev2")], true), ImplicitDeny, "another env at launch");
    assert_eq!(tag(&d, l, &[], &[("spotctl:env", "dev"), ("owner", "x")], true), ImplicitDeny);
    for kind in [RoleKind::Worker, RoleKind::Fis, RoleKind::Events] {
        assert_eq!(tag(&d, kind, &standby, &[("spotctl:role", "primary")], false), ImplicitDeny, "{kind:?}");
    }
}

fn change_record(d: &Docs, kind: RoleKind, names: &[&str], types: &[&str], actions: &[&str]) -> Decision {
    let req = Request::new(
        &d.principal(kind),
        "route53:ChangeResourceRecordSets",
        "arn:aws:route53:::hostedzone/Z123",
    )
    .with("route53:ChangeResourceRecordSetsNormalizedRecordNames", names)
    .with("route53:ChangeResourceRecordSetsRecordTypes", types)
    .with("route53:ChangeResourceRecordSetsActions", actions);
    decide(&[&d.role(kind, "policy")], None, &req)
}

#[test]
fn an_instance_changes_only_its_envs_endpoint_record() {
    let d = Docs::of("dev");
    use Decision::*;
    let i = RoleKind::Instance;
    let me = "db.dev.spotctl.internal";
    let swap = ["CREATE", "DELETE"];
    assert_eq!(change_record(&d, i, &[me], &["A", "TXT"], &swap), Allowed, "the endpoint's swap");
    assert_eq!(
        change_record(&d, i, &["db.dev2.spotctl.internal"], &["A"], &swap),
        ImplicitDeny,
        "another env"
    );
    assert_eq!(change_record(&d, i, &[me, "www.example.com"], &["A"], &swap), ImplicitDeny, "one more name");
    assert_eq!(change_record(&d, i, &[me], &["NS"], &swap), ImplicitDeny, "another type");
    assert_eq!(change_record(&d, i, &[me], &["A"], &["UPSERT"]), ImplicitDeny, "an unconditional write");
    for kind in [RoleKind::Worker, RoleKind::Fis, RoleKind::Events, RoleKind::Lambda] {
        assert_eq!(change_record(&d, kind, &[me], &["A"], &swap), ImplicitDeny, "{kind:?}");
    }
}

#[test]
fn only_the_database_instances_read_the_envs_ca_and_password() {
    let d = Docs::of("dev");
    use Decision::*;
    for param in ["/spotctl/dev/ca", "/spotctl/dev/mysql-password"] {
        let arn = format!("arn:aws:ssm:{HOME}:{ACCOUNT}:parameter{param}");
        let read = |kind: RoleKind| {
            decide(
                &[&d.role(kind, "policy")],
                None,
                &Request::new(&d.principal(kind), "ssm:GetParameter", &arn),
            )
        };
        assert_eq!(read(RoleKind::Instance), Allowed, "{param}");
        for kind in [RoleKind::Worker, RoleKind::Fis, RoleKind::Events, RoleKind::Lambda] {
            assert_eq!(read(kind), ImplicitDeny, "{kind:?} reads {param}");
        }
    }
    let other = format!("arn:aws:ssm:{HOME}:{ACCOUNT}:parameter/spotctl/dev2/ca");
    let req = Request::new(&d.principal(RoleKind::Instance), "ssm:GetParameter", &other);
    assert_eq!(
        decide(&[&d.role(RoleKind::Instance, "policy")], None, &req),
        ImplicitDeny,
        "another env's CA"
    );
}

#[test]
fn the_handler_launches_the_accounts_own_image_only_when_the_env_names_one() {
    use Decision::*;
    let launch = |d: &Docs, owner: &str| {
        let req = Request::new(
            &d.principal(RoleKind::Lambda),
            "ec2:RunInstances",
            "arn:aws:ec2:ap-northeast-1::image/ami-1",
        )
        .with("ec2:Owner", &[owner]);
        decide(&[&d.role(RoleKind::Lambda, "policy")], None, &req)
    };
    let find = |d: &Docs, param: &str| {
        let arn = format!("arn:aws:ssm:ap-northeast-3:{ACCOUNT}:parameter{param}");
        let req = Request::new(&d.principal(RoleKind::Lambda), "ssm:GetParameter", &arn);
        decide(&[&d.role(RoleKind::Lambda, "policy")], None, &req)
    };
    let plain = Docs::of("dev");
    assert_eq!(launch(&plain, "amazon"), Allowed);
    assert_eq!(launch(&plain, ACCOUNT), ImplicitDeny, "no prepared image named: none of the account's");
    assert_eq!(find(&plain, "/org/ami"), ImplicitDeny);
    let prepared = Docs::from(DesiredInput { image_parameter: Some("/org/ami".into()), ..input("dev") });
    assert_eq!(launch(&prepared, ACCOUNT), Allowed, "the account's prepared image");
    assert_eq!(launch(&prepared, "123456789999"), ImplicitDeny, "another account's image");
    assert_eq!(find(&prepared, "/org/ami"), Allowed);
    assert_eq!(find(&prepared, "/org/other"), ImplicitDeny);
}

#[test]
fn the_handler_launches_only_the_envs_kind_of_instance() {
    let d = Docs::of("dev");
    let lambda = d.role(RoleKind::Lambda, "policy");
    let instance = |ty: &str, hop: &str, env: &str| {
        Request::new(
            &d.principal(RoleKind::Lambda),
            "ec2:RunInstances",
            &format!("arn:aws:ec2:{HOME}:{ACCOUNT}:instance/*"),
        )
        .with("ec2:InstanceType", &[ty])
        .with("ec2:MetadataHttpTokens", &["required"])
        .with("ec2:MetadataHttpPutResponseHopLimit", &[hop])
        .with("aws:RequestTag/spotctl:env", &[env])
        .with("aws:RequestTag/spotctl:kind", &["db"])
    };
    assert_eq!(decide(&[&lambda], None, &instance("m5.large", "1", "dev")), Decision::Allowed);
    assert_eq!(decide(&[&lambda], None, &instance("p5.48xlarge", "1", "dev")), Decision::ImplicitDeny);
    assert_eq!(decide(&[&lambda], None, &instance("m5.large", "2", "dev")), Decision::ImplicitDeny);
    assert_eq!(decide(&[&lambda], None, &instance("m5.large", "1", "dev2")), Decision::ImplicitDeny);
    let image = |owner: &str| {
        Request::new(
            &d.principal(RoleKind::Lambda),
            "ec2:RunInstances",
            &format!("arn:aws:ec2:{HOME}::image/ami-1"),
        )
        .with("ec2:Owner", &[owner])
    };
    assert_eq!(decide(&[&lambda], None, &image("amazon")), Decision::Allowed);
    assert_eq!(decide(&[&lambda], None, &image("999999999999")), Decision::ImplicitDeny);
    let volume = |enc: &str| {
        Request::new(
            &d.principal(RoleKind::Lambda),
            "ec2:RunInstances",
            &format!("arn:aws:ec2:{HOME}:{ACCOUNT}:volume/*"),
        )
        .with("ec2:Encrypted", &[enc])
    };
    assert_eq!(decide(&[&lambda], None, &volume("true")), Decision::Allowed);
    assert_eq!(decide(&[&lambda], None, &volume("false")), Decision::ImplicitDeny);
    let group = |env: &str| {
        Request::new(
            &d.principal(RoleKind::Lambda),
            "ec2:RunInstances",
            &format!("arn:aws:ec2:{HOME}:{ACCOUNT}:security-group/sg-1"),
        )
        .with("ec2:ResourceTag/spotctl:env", &[env])
    };
    assert_eq!(decide(&[&lambda], None, &group("dev")), Decision::Allowed);
    assert_eq!(decide(&[&lambda], None, &group("dev2")), Decision::ImplicitDeny);
}

#[test]
fn services_assume_the_roles_only_for_this_account() {
    let d = Docs::of("dev");
    let assume = |kind: RoleKind, service: &str, account: &str, source_arn: &str| {
        let req = Request::new(service, "sts:AssumeRole", "")
            .with("aws:SourceAccount", &[account])
            .with("aws:SourceArn", &[source_arn]);
        let trust = d.role(kind, "trust");
        // A trust policy is a resource policy on the role: the service is its principal.
        decide(&[], Some(&trust), &req)
    };
    let fis_arn = format!("arn:aws:fis:{HOME}:{ACCOUNT}:experiment/EXP1");
    assert_eq!(assume(RoleKind::Fis, "fis.amazonaws.com", ACCOUNT, &fis_arn), Decision::Allowed);
    assert_eq!(assume(RoleKind::Fis, "fis.amazonaws.com", "999999999999", &fis_arn), Decision::ImplicitDeny);
    let rule = format!("arn:aws:events:us-east-2:{ACCOUNT}:rule/spotctl-dev-interruption");
    assert_eq!(assume(RoleKind::Events, "events.amazonaws.com", ACCOUNT, &rule), Decision::Allowed);
    let other = format!("arn:aws:events:us-east-2:{ACCOUNT}:rule/spotctl-dev2-interruption");
    assert_eq!(
        assume(RoleKind::Events, "events.amazonaws.com", ACCOUNT, &other),
        Decision::ImplicitDeny,
        "dev2's rule"
    );
    assert_eq!(assume(RoleKind::Lambda, "lambda.amazonaws.com", ACCOUNT, ""), Decision::Allowed);
    assert_eq!(assume(RoleKind::Lambda, "lambda.amazonaws.com", "999999999999", ""), Decision::ImplicitDeny);
    assert_eq!(assume(RoleKind::Lambda, "fis.amazonaws.com", ACCOUNT, &fis_arn), Decision::ImplicitDeny);
}

#[test]
fn nothing_of_one_env_reaches_an_env_whose_name_extends_it() {
    let (dev, dev2) = (Docs::of("dev"), Docs::of("dev2"));
    let dev2_things = [
        ("sqs:ReceiveMessage", format!("arn:aws:sqs:us-east-1:{ACCOUNT}:spotctl-dev2-jobs")),
        ("sqs:GetQueueAttributes", format!("arn:aws:sqs:us-east-1:{ACCOUNT}:spotctl-dev2-jobs")),
        ("s3:PutObject", dev2.key("backups/epoch-1/manifest.json")),
        ("s3:GetObject", dev2.key("state/primary.json")),
        ("ssm:GetParameter", format!("arn:aws:ssm:{HOME}:{ACCOUNT}:parameter/spotctl/dev2/mysql-password")),
        ("iam:PassRole", dev2.principal(RoleKind::Instance)),
        (
            "logs:PutLogEvents",
            format!("arn:aws:logs:{HOME}:{ACCOUNT}:log-group:/aws/lambda/spotctl-dev2-handler:*"),
        ),
    ];
    for kind in [RoleKind::Lambda, RoleKind::Instance, RoleKind::Worker, RoleKind::Fis, RoleKind::Events] {
        let doc = dev.role(kind, "policy");
        for (action, resource) in &dev2_things {
            let req = Request::new(&dev.principal(kind), action, resource)
                .with("s3:if-match", &["*"])
                .with("aws:SecureTransport", &["true"])
                .with("iam:PassedToService", &["ec2.amazonaws.com"]);
            assert_eq!(decide(&[&doc], None, &req), Decision::ImplicitDeny, "{kind:?} {action} {resource}");
        }
    }
    // And the same actions on dev's own things are allowed to whoever needs them (the test can fail).
    let own = Request::new(
        &dev.principal(RoleKind::Worker),
        "sqs:ReceiveMessage",
        &format!("arn:aws:sqs:us-east-1:{ACCOUNT}:spotctl-dev-jobs"),
    );
    assert_eq!(decide(&[&dev.role(RoleKind::Worker, "policy")], None, &own), Decision::Allowed);
}

/// What one instance's credentials may do to instance `target` (tagged `tags`), asked from
/// instance `source`.
fn on_instance(
    d: &Docs,
    action: &str,
    source: Option<&str>,
    target: &str,
    tags: &[(&str, &str)],
) -> Decision {
    let arn = |id: &str| format!("arn:aws:ec2:{HOME}:{ACCOUNT}:instance/{id}");
    let mut req = Request::new(&d.principal(RoleKind::Instance), action, &arn(target))
        .with("ec2:InstanceID", &[target])
        .with("aws:TagKeys", &["spotctl:role"])
        .with("aws:RequestTag/spotctl:role", &["primary"]);
    if let Some(s) = source {
        req = req.with("ec2:SourceInstanceARN", &[&arn(s)]);
    }
    for (k, v) in tags {
        req = req.with(&format!("ec2:ResourceTag/{k}"), &[v]);
    }
    decide(&[&d.role(RoleKind::Instance, "policy")], None, &req)
}

#[test]
fn an_instance_terminates_and_promotes_only_itself() {
    let d = Docs::of("dev");
    let standby = [("spotctl:env", "dev"), ("spotctl:role", "standby")];
    let primary = [("spotctl:env", "dev"), ("spotctl:role", "primary")];
    use Decision::*;
    // Retiring: itself, never the healthy primary of its env (a forged handoff cannot reach it).
    assert_eq!(on_instance(&d, "ec2:TerminateInstances", Some("i-me"), "i-me", &primary), Allowed);
    assert_eq!(on_instance(&d, "ec2:TerminateInstances", Some("i-me"), "i-other", &primary), ImplicitDeny);
    assert_eq!(
        on_instance(&d, "ec2:TerminateInstances", None, "i-me", &primary),
        ImplicitDeny,
        "off the instance"
    );
    let other_env = [("spotctl:env", "dev2"), ("spotctl:role", "primary")];
    assert_eq!(on_instance(&d, "ec2:TerminateInstances", Some("i-me"), "i-me", &other_env), ImplicitDeny);
    // Promoting: its own standby tag, not another standby's.
    assert_eq!(on_instance(&d, "ec2:CreateTags", Some("i-me"), "i-me", &standby), Allowed);
    assert_eq!(on_instance(&d, "ec2:CreateTags", Some("i-me"), "i-other", &standby), ImplicitDeny);
}
