//! The whole life cycle against a real moto server, through the real binary:
//! plan → apply → plan is empty → handle an event → fis start/status → destroy → nothing remains.

mod support;

use spotctl_aws::sdk::Aws;
use spotctl_testkit::moto::Moto;
use support::{path_str, spotctl, stderr, stdout, temp_env};

const REGIONS: [&str; 2] = ["ap-northeast-1", "ap-northeast-3"];

/// Everything tagged `spotctl:env = dev`, or named for it, that moto still has, as readable lines.
async fn leftovers(aws: &Aws) -> Vec<String> {
    let mut left = Vec::new();
    for region in REGIONS {
        let ec2 = aws.ec2(region);
        let env_filter = aws_sdk_ec2::types::Filter::builder().name("tag:spotctl:env").values("dev").build();
        let inst =
            ec2.describe_instances().filters(env_filter.clone()).send().await.expect("describe instances");
        for i in inst.reservations().iter().flat_map(|r| r.instances()) {
            let state = i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default();
            if state != "terminated" {
                left.push(format!("instance {} ({state}) in {region}", i.instance_id().unwrap_or_default()));
            }
        }
        let sgs =
            ec2.describe_security_groups().filters(env_filter.clone()).send().await.expect("describe sgs");
        left.extend(
            sgs.security_groups()
                .iter()
                .map(|g| format!("sg {} in {region}", g.group_id().unwrap_or_default())),
        );
        let keys = ec2.describe_key_pairs().filters(env_filter).send().await.expect("describe keys");
        left.extend(
            keys.key_pairs().iter().map(|k| format!("key {} in {region}", k.key_name().unwrap_or_default())),
        );
        let rules =
            aws.events(region).list_rules().name_prefix("spotctl-dev-").send().await.expect("list rules");
        left.extend(
            rules.rules().iter().map(|r| format!("rule {} in {region}", r.name().unwrap_or_default())),
        );
        let fis = aws.fis(region).list_experiment_templates().send().await.expect("list fis");
        left.extend(
            fis.experiment_templates()
                .iter()
                .filter(|t| t.tags().and_then(|m| m.get("spotctl:env")).is_some_and(|v| v == "dev"))
                .map(|t| format!("fis template {} in {region}", t.id().unwrap_or_default())),
        );
    }
    let queues = aws
        .sqs("ap-northeast-1")
        .list_queues()
        .queue_name_prefix("spotctl-dev-")
        .send()
        .await
        .expect("queues");
    left.extend(queues.queue_urls().iter().map(|q| format!("queue {q}")));
    let fns = aws.lambda("ap-northeast-1").list_functions().send().await.expect("list functions");
    left.extend(
        fns.functions()
            .iter()
            .filter(|f| f.function_name().is_some_and(|n| n.starts_with("spotctl-dev-")))
            .map(|f| format!("function {}", f.function_name().unwrap_or_default())),
    );
    let roles = aws.iam().list_roles().path_prefix("/spotctl/dev/").send().await.expect("list roles");
    left.extend(roles.roles().iter().map(|r| format!("role {}", r.role_name())));
    let profiles =
        aws.iam().list_instance_profiles().path_prefix("/spotctl/dev/").send().await.expect("list profiles");
    left.extend(
        profiles.instance_profiles().iter().map(|p| format!("profile {}", p.instance_profile_name())),
    );
    let buckets = aws.s3("ap-northeast-1", "123456789012").list_buckets().send().await.expect("list buckets");
    left.extend(
        buckets
            .buckets()
            .iter()
            .filter_map(|b| b.name())
            .filter(|n| n.starts_with("spotctl-dev-"))
            .map(|n| format!("bucket {n}")),
    );
    let zones = aws.route53().list_hosted_zones_by_name().send().await.expect("list zones");
    left.extend(
        zones
            .hosted_zones()
            .iter()
            .filter(|z| z.name() == "dev.spotctl.internal." || z.name() == "dev.spotctl.internal")
            .map(|z| format!("hosted zone {} ({})", z.name(), z.id())),
    );
    let params = aws.ssm("ap-northeast-1").describe_parameters().send().await.expect("describe parameters");
    left.extend(
        params
            .parameters()
            .iter()
            .filter_map(|p| p.name())
            .filter(|n| n.starts_with("/spotctl/dev/"))
            .map(|n| format!("parameter {n}")),
    );
    left
}

fn dev_in_two_regions(text: String) -> String {
    let regions_line =
        text.lines().find(|l| l.trim_start().starts_with("regions")).expect("regions key").to_string();
    text.replace(&regions_line, "regions = [\"ap-northeast-1\", \"ap-northeast-3\"]")
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_apply_plan_fis_handle_destroy() {
    let moto = Moto::start();
    let env = temp_env("dev", dev_in_two_regions);
    let dir = path_str(&env.dir);
    let aws = Aws::for_emulator(&moto.endpoint()).await;

    // A fresh env: the plan has changes (exit 2 with --detailed-exitcode) and touches nothing.
    let out = spotctl(&moto).args(["plan", &dir, "--detailed-exitcode"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "plan: {}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("+   bucket spotctl-dev-"), "{text}");
    assert!(text.contains("+   instance primary in ap-northeast-"), "{text}");
    assert!(leftovers(&aws).await.is_empty(), "plan created something");

    let out = spotctl(&moto).args(["apply", &dir, "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "apply: {}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("Apply complete"), "{}", stdout(&out));

    // Converged: the second plan is empty, and cheap.
    let out = spotctl(&moto)
        .args(["plan", &dir, "--detailed-exitcode", "--output", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "second plan: {}{}", stdout(&out), stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json plan");
    assert_eq!(json["changes"].as_array().map(Vec::len), Some(0), "{json:#}");
    let calls = json["calls"].as_object().expect("calls");
    for (op, n) in calls {
        let n = n.as_u64().unwrap_or(0);
        let op_lc = op.to_ascii_lowercase();
        let per_region =
            op_lc.starts_with("ec2:") || op_lc.starts_with("eventbridge:") || op_lc.starts_with("fis:");
        // One per region for regional kinds; one per role for inline policies (IAM lists none); one
        // per state object (env, user-data, handler zip); four reads (the stored env's regions,
        // the primary record, its opening and its epoch's handoff record); one for everything else.
        let limit = match op_lc.as_str() {
            _ if per_region => REGIONS.len() as u64,
            "iam:getrolepolicy" => 4,
            "s3:headobject" => 3,
            "s3:getobject" => 4,
            _ => 1,
        };
        assert!(n <= limit, "a converged plan made {n} {op} calls (limit {limit}): {calls:?}");
    }

    // The handler, run locally on an event for the primary: recorded once, then a duplicate.
    let primary = aws_primary(&aws).await;
    // TLS only: the env's CA in its SecureString, and the instance told to require TLS, no key in
    // what it runs.
    spotctl_aws::tls::fetch_ca(&aws, "ap-northeast-1", "dev").await.expect("the CA parameter holds a CA");
    let ud = aws
        .ec2(&primary.1)
        .describe_instance_attribute()
        .instance_id(&primary.0)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .expect("user data");
    let ud = ud.user_data().and_then(|v| v.value()).unwrap_or_default();
    use base64::Engine as _;
    let ud = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(ud).expect("base64"))
        .expect("utf-8");
    assert!(ud.contains("require_secure_transport = ON") && ud.contains("REQUIRE SSL"), "{ud}");
    assert!(ud.contains("spotctl agent tls") && !ud.contains("PRIVATE KEY"), "{ud}");
    // The endpoint names the primary: an A record in the private zone spotctl made, TTL 10.
    let (address, ttl) = endpoint_record(&aws).await.expect("an endpoint record after apply");
    assert_eq!(Some(address), primary_address(&aws, &primary).await, "the endpoint names the primary");
    assert_eq!(ttl, 10);
    // status says where the endpoint points; connect says how to reach it and writes the CA's
    // certificate, never a key.
    let out = spotctl(&moto).args(["status", &dir]).output().expect("runs");
    let text = stdout(&out);
    assert!(
        out.status.success() && text.contains("endpoint: db.dev.spotctl.internal -> "),
        "{text}{}",
        stderr(&out)
    );
    assert!(text.contains("(epoch 1, TTL 10 s): the primary"), "{text}");
    let ca_file = env.dir.join("ca.pem");
    let out = spotctl(&moto).args(["connect", &dir, "--ca-out", &path_str(&ca_file)]).output().expect("runs");
    let text = stdout(&out);
    assert!(out.status.success(), "connect: {text}{}", stderr(&out));
    assert!(
        text.contains("--host=db.dev.spotctl.internal") && text.contains("--ssl-verify-server-cert"),
        "{text}"
    );
    let ca_pem = std::fs::read_to_string(&ca_file).expect("the CA certificate");
    assert!(ca_pem.contains("BEGIN CERTIFICATE") && !ca_pem.contains("PRIVATE KEY"), "{ca_pem}");
    assert!(!text.contains("PRIVATE KEY") && !stderr(&out).contains("PRIVATE KEY"));
    let event = std::fs::read_to_string("tests/events/seed-interruption.json")
        .expect("seed event")
        .replace("i-0abcd1234efgh5678", &primary.0)
        .replace("us-west-2", &primary.1);
    let event_file = env.root.join("event.json");
    std::fs::write(&event_file, event).expect("write event");
    let out =
        spotctl(&moto).args(["handle", &dir, "--event", &path_str(&event_file)]).output().expect("runs");
    assert!(out.status.success(), "handle: {}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("\"outcome\": \"handled\""), "{}", stdout(&out));
    let out =
        spotctl(&moto).args(["handle", &dir, "--event", &path_str(&event_file)]).output().expect("runs");
    assert!(stdout(&out).contains("\"outcome\": \"duplicate\""), "{}", stdout(&out));
    // The seed's own sample names an instance that is not ours: recorded as not ours, nothing else.
    let out = spotctl(&moto)
        .args(["handle", &dir, "--event", "tests/events/seed-interruption.json"])
        .output()
        .expect("runs");
    assert!(stdout(&out).contains("\"outcome\": \"not_ours\""), "{}{}", stdout(&out), stderr(&out));

    // The handler's failed invocations, once Lambda's retries are spent, land in the dead-letter
    // queue its invoke settings name; status shows them. (moto stores the settings but never
    // delivers a failure: the test puts one there in Lambda's on-failure shape.)
    let lambda = aws.lambda("ap-northeast-1");
    let config = lambda
        .get_function_event_invoke_config()
        .function_name("spotctl-dev-handler")
        .send()
        .await
        .expect("config");
    assert_eq!(config.maximum_retry_attempts(), Some(2));
    let dlq = config
        .destination_config()
        .and_then(|d| d.on_failure())
        .and_then(|f| f.destination())
        .unwrap_or_default();
    assert_eq!(dlq, "arn:aws:sqs:ap-northeast-1:123456789012:spotctl-dev-dead-letters");
    let sqs = aws.sqs("ap-northeast-1");
    let url = sqs.get_queue_url().queue_name("spotctl-dev-dead-letters").send().await.expect("dlq");
    let record = serde_json::json!({
        "version": "1.0", "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"id": "evt-7", "detail-type": "EC2 Spot Instance Interruption Warning"},
        "responsePayload": {"errorMessage": "launching the standby of epoch-1: AccessDenied (retryable: false)"}
    });
    sqs.send_message()
        .queue_url(url.queue_url().unwrap_or_default())
        .message_body(record.to_string())
        .send()
        .await
        .expect("send");
    let out = spotctl(&moto).args(["status", &dir]).output().expect("runs");
    let text = stdout(&out);
    assert!(text.contains("dead letters: 1 in spotctl-dev-dead-letters"), "{text}{}", stderr(&out));
    assert!(text.contains("evt-7 (EC2 Spot Instance Interruption Warning): launching the standby"), "{text}");

    let out = spotctl(&moto).args(["fis", "start", &dir]).output().expect("runs");
    assert!(out.status.success(), "fis start: {}{}", stdout(&out), stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert!(!id.is_empty());
    let out = spotctl(&moto).args(["fis", "status", &dir]).output().expect("runs");
    assert!(out.status.success(), "fis status: {}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with(&id), "{}", stdout(&out));

    let out = spotctl(&moto).args(["destroy", &dir, "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "destroy: {}{}", stdout(&out), stderr(&out));
    let left = leftovers(&aws).await;
    assert!(left.is_empty(), "destroy left: {left:#?}");

    // And destroy of a destroyed env is a no-op.
    let out = spotctl(&moto).args(["destroy", &dir, "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "second destroy: {}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("Nothing to destroy"), "{}", stdout(&out));
}

/// `db.dev.spotctl.internal`'s A record (address, TTL), read directly from Route 53.
async fn endpoint_record(aws: &Aws) -> Option<(String, i64)> {
    let zones =
        aws.route53().list_hosted_zones_by_name().dns_name("dev.spotctl.internal").send().await.ok()?;
    let zone =
        zones.hosted_zones().iter().find(|z| z.name().trim_end_matches('.') == "dev.spotctl.internal")?;
    let sets = aws.route53().list_resource_record_sets().hosted_zone_id(zone.id()).send().await.ok()?;
    let set = sets.resource_record_sets().iter().find(|r| {
        r.name().trim_end_matches('.') == "db.dev.spotctl.internal"
            && r.r#type() == &aws_sdk_route53::types::RrType::A
    })?;
    let address = set.resource_records().first()?.value().to_string();
    Some((address, set.ttl()?))
}

async fn primary_address(aws: &Aws, (id, region): &(String, String)) -> Option<String> {
    let out = aws.ec2(region).describe_instances().instance_ids(id).send().await.ok()?;
    let i = out.reservations().iter().flat_map(|r| r.instances()).next()?;
    i.public_ip_address().or(i.private_ip_address()).map(str::to_string)
}

/// The running primary's (instance id, region), read directly from EC2.
async fn aws_primary(aws: &Aws) -> (String, String) {
    for region in REGIONS {
        let out = aws
            .ec2(region)
            .describe_instances()
            .filters(aws_sdk_ec2::types::Filter::builder().name("tag:spotctl:role").values("primary").build())
            .filters(
                aws_sdk_ec2::types::Filter::builder().name("instance-state-name").values("running").build(),
            )
            .send()
            .await
            .expect("describe");
        if let Some(i) = out.reservations().iter().flat_map(|r| r.instances()).next() {
            return (i.instance_id().unwrap_or_default().to_string(), region.to_string());
        }
    }
    panic!("no running primary after apply");
}
