//! Fleet mode against a real moto server, through the real binary: apply `envs/fleet` → groups,
//! policies, rules and queue exist in both regions and the plan converges → the scaling metric
//! for N messages and M workers is N/M → failover and gradual failback through `spotctl handle`,
//! with duplicated, late, reordered and concurrent events → a worker drains the queue and retires
//! itself, another stops on an interruption notice and one on a rebalance recommendation → destroy
//! leaves nothing.
//!
//! moto does not emit Auto Scaling launch events, run the Lambda or serve IMDS: the events are
//! files handed to `spotctl handle` (what the Lambda runs), and IMDS is the test kit's stand-in.

mod support;

use aws_sdk_autoscaling::types::Filter as AsgFilter;
use serde_json::Value;
use spotctl_aws::sdk::Aws;
use spotctl_testkit::cloudwatch::CloudWatchServer;
use spotctl_testkit::imds::{ImdsServer, InstanceMetadata};
use spotctl_testkit::moto::Moto;
use support::{path_str, spotctl, stderr, stdout, temp_env, TempEnv};

const PRIMARY: &str = "spotctl-fleet-workers-primary";
const FALLBACK: &str = "spotctl-fleet-workers-fallback";
const QUEUE: &str = "spotctl-fleet-jobs";

fn launch_event(id: &str, time: &str, success: bool, group: &str) -> String {
    let file = if success { "successful" } else { "unsuccessful" };
    std::fs::read_to_string(format!("tests/events/fleet-launch-{file}.json"))
        .expect("event file")
        .replace("5b2a3c3e-0f5e-4f4e-9f5a-fleet000000", &format!("{id}-"))
        .replace("\"time\": \"2026-11-22T10:00:00Z\"", &format!("\"time\": \"{time}\""))
        .replace("\"time\": \"2026-11-22T10:30:00Z\"", &format!("\"time\": \"{time}\""))
        .replace(PRIMARY, group)
}

fn tick_event(id: &str) -> String {
    serde_json::json!({
        "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-22T11:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/spotctl-fleet-fleet-metrics"],
        "detail": {}
    })
    .to_string()
}

/// Runs `spotctl handle` on an event body; returns what the handler said it did, as JSON.
/// CloudWatch goes to the stand-in (moto does not speak the SDK's CBOR protocol for it).
fn handle(moto: &Moto, cw: &CloudWatchServer, env: &TempEnv, name: &str, body: &str) -> Value {
    let file = env.root.join(format!("{name}.json"));
    std::fs::write(&file, body).expect("write event");
    let out = spotctl(moto)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", cw.endpoint())
        .args(["handle", &path_str(&env.dir), "--event", &path_str(&file)])
        .output()
        .expect("runs");
    assert!(out.status.success(), "handle {name}: {}{}", stdout(&out), stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("handle prints JSON")
}

/// Asserts a fleet transition `from -> to` (modes as the JSON writes them).
fn assert_transition(said: &Value, from: &str, to: &str) {
    let next = &said["next"];
    assert_eq!(
        (next["result"].as_str(), next["from"].as_str(), next["to"].as_str()),
        (Some("transition"), Some(from), Some(to)),
        "{said:#}"
    );
}

/// Asserts an unchanged (or remembered) outcome whose reason says `why`.
fn assert_kept(said: &Value, result: &str, why: &str) {
    let next = &said["next"];
    assert_eq!(next["result"], result, "{said:#}");
    assert!(next["why"].as_str().is_some_and(|w| w.contains(why)), "{said:#}");
}

/// (min, max, desired, in service) of a group.
async fn group(aws: &Aws, region: &str, name: &str) -> (i32, i32, i32, usize) {
    let out = aws
        .autoscaling(region)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .expect("describe group");
    let g = out.auto_scaling_groups().first().unwrap_or_else(|| panic!("group {name} missing in {region}"));
    let in_service =
        g.instances().iter().filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService")).count();
    (g.min_size().unwrap_or(-1), g.max_size().unwrap_or(-1), g.desired_capacity().unwrap_or(-1), in_service)
}

async fn queue_url(aws: &Aws) -> String {
    let out = aws.sqs("us-east-1").get_queue_url().queue_name(QUEUE).send().await.expect("queue exists");
    out.queue_url().unwrap_or_default().to_string()
}

async fn queue_depth(aws: &Aws) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = aws
        .sqs("us-east-1")
        .get_queue_attributes()
        .queue_url(queue_url(aws).await)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let get =
        |k: A| out.attributes().and_then(|m| m.get(&k)).and_then(|v| v.parse().ok()).unwrap_or(u64::MAX);
    (get(A::ApproximateNumberOfMessages), get(A::ApproximateNumberOfMessagesNotVisible))
}

async fn send(aws: &Aws, n: usize) {
    let url = queue_url(aws).await;
    for i in 0..n {
        aws.sqs("us-east-1")
            .send_message()
            .queue_url(&url)
            .message_body(format!("job-{i}"))
            .send()
            .await
            .expect("send");
    }
}

/// The newest value of a spotctl metric for this fleet that reached the stand-in in `region`.
fn metric(cw: &CloudWatchServer, region: &str, name: &str) -> Option<f64> {
    let dims = vec![("Env".to_string(), "fleet".to_string()), ("Fleet".to_string(), "workers".to_string())];
    cw.data()
        .into_iter()
        .filter(|d| d.region == region && d.namespace == "spotctl" && d.name == name && d.dimensions == dims)
        .map(|d| d.value)
        .next_back()
}

fn worker(moto: &Moto, imds: &ImdsServer, command: &str, idle: &str) -> serde_json::Value {
    let out = spotctl(moto)
        .env("SPOTCTL_IMDS_ENDPOINT", imds.endpoint())
        .args(["agent", "worker", "--queue", QUEUE, "--queue-region", "us-east-1", "--idle-timeout", idle])
        .args(["--command", command])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("runs");
    assert!(out.status.success(), "worker: {}{}", stdout(&out), stderr(&out));
    serde_json::from_str(stdout(&out).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_apply_failover_failback_metrics_workers_destroy() {
    let moto = Moto::start();
    let env = temp_env("fleet", |t| {
        t.replace("idle_timeout = \"30s\"", "idle_timeout = \"30s\"\nmax_receives = 2")
    });
    let dir = path_str(&env.dir);
    let aws = Aws::for_emulator(&moto.endpoint()).await;
    let cw = CloudWatchServer::start();

    let out = spotctl(&moto).args(["apply", &dir, "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "apply: {}{}", stdout(&out), stderr(&out));

    // Both groups: spot only, the fleet's types, capacity rebalancing; the fallback empty.
    for (region, name, max) in [("us-east-1", PRIMARY, 200), ("us-east-2", FALLBACK, 0)] {
        let out = aws
            .autoscaling(region)
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await;
        let out = out.expect("describe");
        let g = out.auto_scaling_groups().first().unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(
            (g.min_size(), g.max_size(), g.desired_capacity()),
            (Some(0), Some(max), Some(0)),
            "{name}"
        );
        assert_eq!(g.capacity_rebalance(), Some(true), "{name}");
        let mixed = g.mixed_instances_policy().expect("mixed instances policy");
        let mut types: Vec<&str> = mixed
            .launch_template()
            .map(|l| l.overrides().iter().filter_map(|o| o.instance_type()).collect())
            .unwrap_or_default();
        types.sort();
        assert_eq!(types, ["g4dn.2xlarge", "g4dn.xlarge", "g5.xlarge"]);
        let dist = mixed.instances_distribution().expect("distribution");
        assert_eq!(dist.on_demand_percentage_above_base_capacity(), Some(0), "spot only");
        let policies = aws.autoscaling(region).describe_policies().auto_scaling_group_name(name).send().await;
        let policies = policies.expect("policies");
        let p = policies.scaling_policies().first().unwrap_or_else(|| panic!("{name} has no policy"));
        let tt = p.target_tracking_configuration().expect("target tracking");
        assert_eq!(tt.target_value(), Some(20.0));
        let metric = tt.customized_metric_specification().and_then(|m| m.metric_name()).unwrap_or_default();
        let want = if name == PRIMARY { "BacklogPerInstance" } else { "VisibleMessages" };
        assert_eq!(metric, want);
        // The workers' launch template: IMDSv2 required, instance tags in metadata.
        let lt = aws
            .ec2(region)
            .describe_launch_template_versions()
            .launch_template_name("spotctl-fleet-workers")
            .versions("$Default")
            .send()
            .await
            .expect("launch template");
        let data =
            lt.launch_template_versions().first().and_then(|v| v.launch_template_data()).expect("data");
        let meta = data.metadata_options().expect("metadata options");
        assert_eq!(meta.http_tokens().map(|t| t.as_str()), Some("required"));
    }
    let rules =
        aws.events("us-east-1").list_rules().name_prefix("spotctl-fleet-").send().await.expect("rules");
    let launch =
        rules.rules().iter().find(|r| r.name() == Some("spotctl-fleet-workers-launch")).expect("launch rule");
    let pattern = launch.event_pattern().unwrap_or_default();
    assert!(pattern.contains("aws.autoscaling") && pattern.contains(PRIMARY), "{pattern}");
    assert!(
        pattern.contains("EC2 Instance Launch Unsuccessful")
            && pattern.contains("EC2 Instance Launch Successful")
    );
    let metrics_rule = rules.rules().iter().find(|r| r.name() == Some("spotctl-fleet-fleet-metrics"));
    assert_eq!(metrics_rule.and_then(|r| r.schedule_expression()), Some("rate(1 minute)"));
    let out = spotctl(&moto).args(["plan", &dir, "--detailed-exitcode"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "plan after apply: {}{}", stdout(&out), stderr(&out));

    // The metric: 50 messages, 5 workers in service → 10 per instance; 50 visible for the fallback.
    aws.autoscaling("us-east-1")
        .set_desired_capacity()
        .auto_scaling_group_name(PRIMARY)
        .desired_capacity(5)
        .send()
        .await
        .expect("scale primary");
    assert_eq!(group(&aws, "us-east-1", PRIMARY).await.3, 5);
    send(&aws, 50).await;
    let said = handle(&moto, &cw, &env, "tick-metrics", &tick_event("tick-0"));
    let tick = &said["next"]["fleets"][0];
    assert_eq!(
        (tick["visible_messages"].as_u64(), tick["in_service"].as_u64()),
        (Some(50), Some(5)),
        "{said:#}"
    );
    assert_eq!(metric(&cw, "us-east-1", "BacklogPerInstance"), Some(10.0));
    assert_eq!(metric(&cw, "us-east-2", "VisibleMessages"), Some(50.0));

    // Failover, with the event delivered twice and a late success from before it.
    let said =
        handle(&moto, &cw, &env, "fail-1", &launch_event("f1", "2026-11-22T10:00:00Z", false, PRIMARY));
    assert_transition(&said, "normal", "failed_over");
    let (min, max, desired, _) = group(&aws, "us-east-2", FALLBACK).await;
    assert!(desired > 0 && min >= 1 && max == 50, "fallback after failover: {min} {max} {desired}");
    let said =
        handle(&moto, &cw, &env, "fail-1", &launch_event("f1", "2026-11-22T10:00:00Z", false, PRIMARY));
    assert_eq!(said["outcome"], "duplicate", "{said:#}");
    let said = handle(&moto, &cw, &env, "ok-0", &launch_event("s0", "2026-11-22T09:00:00Z", true, PRIMARY));
    assert_kept(&said, "unchanged", "late news");
    let said =
        handle(&moto, &cw, &env, "fail-2", &launch_event("f2", "2026-11-22T10:05:00Z", false, PRIMARY));
    assert_kept(&said, "remembered", "already failed over");
    let said = handle(&moto, &cw, &env, "fb", &launch_event("fb", "2026-11-22T10:06:00Z", false, FALLBACK));
    assert_eq!(said["next"]["result"], "not_a_primary_group", "{said:#}");
    assert_eq!(group(&aws, "us-east-2", FALLBACK).await.2, desired, "repeats changed the fallback");

    // The fallback's own policy grew it to 8 meanwhile; the primary launches again.
    aws.autoscaling("us-east-2")
        .set_desired_capacity()
        .auto_scaling_group_name(FALLBACK)
        .desired_capacity(8)
        .send()
        .await
        .expect("scale fallback");
    // The success is remembered; the next tick, finding the primary quiet, starts the failback.
    let said = handle(&moto, &cw, &env, "ok-1", &launch_event("s1", "2026-11-22T10:30:00Z", true, PRIMARY));
    assert_kept(&said, "remembered", "launches again");
    assert_eq!(group(&aws, "us-east-2", FALLBACK).await.2, 8, "a success alone changed the fallback");
    let said = handle(&moto, &cw, &env, "ok-1", &launch_event("s1", "2026-11-22T10:30:00Z", true, PRIMARY));
    assert_eq!(said["outcome"], "duplicate", "{said:#}");
    let said = handle(&moto, &cw, &env, "ok-2", &launch_event("s2", "2026-11-22T10:31:00Z", true, PRIMARY));
    assert_kept(&said, "remembered", "launches again");
    let said = handle(&moto, &cw, &env, "tick-1", &tick_event("tick-1"));
    let step = &said["next"]["fleets"][0]["step"];
    assert_eq!(
        (step["from"].as_str(), step["to"].as_str()),
        (Some("failed_over"), Some("failing_back")),
        "{said:#}"
    );
    assert_eq!(group(&aws, "us-east-2", FALLBACK).await, (0, 4, 4, 4), "half the fallback left");
    // One step a minute: 4 → 2 → 1 → 0 (the primary has been quiet for longer than the quiet
    // period since 10:30), then back to normal with the fallback closed.
    for (i, want) in [(2, 2), (3, 1), (4, 0)] {
        handle(&moto, &cw, &env, &format!("tick-{i}"), &tick_event(&format!("tick-{i}")));
        assert_eq!(group(&aws, "us-east-2", FALLBACK).await.2, want, "after tick {i}");
    }
    let said = handle(&moto, &cw, &env, "tick-5", &tick_event("tick-5"));
    let step = &said["next"]["fleets"][0]["step"];
    assert_eq!(
        (step["from"].as_str(), step["to"].as_str()),
        (Some("failing_back"), Some("normal")),
        "{said:#}"
    );
    assert_eq!(group(&aws, "us-east-2", FALLBACK).await, (0, 0, 0, 0));

    // A new failure delivered by six concurrent handlers, each with its own event id: one
    // transition, one worker in the fallback.
    let handlers: Vec<_> = (0..6)
        .map(|i| {
            let file = env.root.join(format!("burst-{i}.json"));
            std::fs::write(&file, launch_event(&format!("burst{i}"), "2026-11-22T12:00:00Z", false, PRIMARY))
                .expect("write");
            let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("spotctl"));
            for (k, v) in moto.env() {
                cmd.env(k, v);
            }
            cmd.args(["handle", &dir, "--event", &path_str(&file)])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("starts")
        })
        .collect();
    let mut transitions = 0;
    for h in handlers {
        let out = h.wait_with_output().expect("handler finishes");
        assert!(out.status.success(), "concurrent handle: {}{}", stdout(&out), stderr(&out));
        let said: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
        transitions +=
            usize::from(said["next"]["result"] == "transition" && said["next"]["to"] == "failed_over");
    }
    assert_eq!(transitions, 1, "exactly one handler made the transition");
    assert_eq!(group(&aws, "us-east-2", FALLBACK).await, (1, 50, 1, 1));
    let out = spotctl(&moto).args(["status", &dir]).output().expect("runs");
    let text = stdout(&out);
    assert!(text.contains("fleet workers: FailedOver"), "{text}");
    assert!(
        text.contains("spotctl-fleet-workers-fallback in us-east-2: desired 1 (min 1, max 50), 1 in service"),
        "{text}"
    );

    // Two different events that share an id (as AWS's documentation samples do) are both handled.
    let shared = "12345678-1234-1234-1234-123456789012";
    let ok = launch_event("x", "2026-11-22T12:10:00Z", true, PRIMARY).replace("x-2", shared);
    let said = handle(&moto, &cw, &env, "shared-ok", &ok);
    assert_kept(&said, "remembered", "launches again");
    let failed = launch_event("x", "2026-11-22T12:10:00Z", false, PRIMARY).replace("x-1", shared);
    let said = handle(&moto, &cw, &env, "shared-failed", &failed);
    assert_kept(&said, "remembered", "already failed over");
    let said = handle(&moto, &cw, &env, "shared-failed", &failed);
    assert_eq!(said["outcome"], "duplicate", "{said:#}");

    // A worker (one of the primary's instances) runs the command on every message, then retires.
    let instance = {
        let out =
            aws.autoscaling("us-east-1").describe_auto_scaling_groups().auto_scaling_group_names(PRIMARY);
        let out = out.send().await.expect("describe");
        out.auto_scaling_groups()[0].instances()[0].instance_id().unwrap_or_default().to_string()
    };
    let other_instance = {
        let out =
            aws.autoscaling("us-east-1").describe_auto_scaling_groups().auto_scaling_group_names(PRIMARY);
        let out = out.send().await.expect("describe");
        out.auto_scaling_groups()[0].instances()[1].instance_id().unwrap_or_default().to_string()
    };
    let imds = ImdsServer::start(InstanceMetadata {
        instance_id: instance.clone(),
        region: "us-east-1".into(),
        availability_zone: "us-east-1a".into(),
        instance_type: "g4dn.xlarge".into(),
        ..Default::default()
    });
    let done = env.root.join("done.txt");
    let command = format!("cat >> '{}' && echo >> '{}'", path_str(&done), path_str(&done));
    let exit = worker(&moto, &imds, &command, "2s");
    assert_eq!(exit["stopped"], "retired", "{exit}");
    assert_eq!(exit["processed"], 50, "{exit}");
    let lines = std::fs::read_to_string(&done).expect("the command ran");
    assert_eq!(lines.lines().filter(|l| l.starts_with("job-")).count(), 50);
    assert_eq!(queue_depth(&aws).await, (0, 0), "every message deleted after its command succeeded");
    let (_, _, desired, in_service) = group(&aws, "us-east-1", PRIMARY).await;
    assert_eq!((desired, in_service), (4, 4), "the group shrank by the retired worker, no replacement");

    // On a spot interruption notice (then a rebalance recommendation) a worker takes nothing.
    send(&aws, 3).await;
    imds.update(|m| {
        m.instance_action = Some(r#"{"action":"terminate","time":"2026-11-22T12:02:00Z"}"#.into())
    });
    let exit = worker(&moto, &imds, "exit 1", "30s");
    assert_eq!(
        (exit["stopped"].as_str(), exit["processed"].as_u64()),
        (Some("interrupted"), Some(0)),
        "{exit}"
    );
    imds.update(|m| {
        m.instance_action = None;
        m.rebalance = Some(r#"{"noticeTime":"2026-11-22T12:01:00Z"}"#.into());
    });
    let exit = worker(&moto, &imds, "exit 1", "30s");
    assert_eq!(exit["stopped"], "rebalance", "{exit}");
    assert_eq!(queue_depth(&aws).await.0, 3, "messages stay for other workers");

    // A job longer than the visibility timeout runs once: the worker extends the lease while it
    // runs. A message whose command always fails ends in the dead-letter queue after max_receives.
    let url = queue_url(&aws).await;
    let sqs = aws.sqs("us-east-1");
    sqs.purge_queue().queue_url(&url).send().await.expect("purge");
    // Short, so that the job outlasts it three times over (the env file's least is 30 s).
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "2")
        .send()
        .await
        .expect("visibility");
    for body in ["long", "poison"] {
        sqs.send_message().queue_url(&url).message_body(body).send().await.expect("send");
    }
    imds.update(|m| {
        m.rebalance = None;
        m.instance_id = other_instance.clone();
    });
    let ran = env.root.join("ran.txt");
    let job = format!(
        "read b; case \"$b\" in long) echo started >> '{r}'; sleep 7; echo long >> '{r}';; *) exit 1;; esac",
        r = path_str(&ran)
    );
    let worker_run = {
        let (moto_env, imds_endpoint) = (moto.env(), imds.endpoint());
        std::thread::spawn(move || {
            let mut cmd = assert_cmd::Command::cargo_bin("spotctl").expect("binary");
            for (k, v) in moto_env {
                cmd.env(k, v);
            }
            cmd.env("SPOTCTL_IMDS_ENDPOINT", imds_endpoint)
                .args(["agent", "worker", "--queue", QUEUE, "--queue-region", "us-east-1"])
                .args(["--idle-timeout", "2s", "--visibility-timeout", "2s", "--command", &job])
                .timeout(std::time::Duration::from_secs(60))
                .output()
                .expect("runs")
        })
    };
    // Once the worker runs the long job, another consumer looks for it for more than twice the
    // timeout: it must never see it.
    for _ in 0..100 {
        if std::fs::read_to_string(&ran).is_ok_and(|t| t.contains("started")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(std::fs::read_to_string(&ran).is_ok_and(|t| t.contains("started")), "the worker took the job");
    for _ in 0..10 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).visibility_timeout(1);
        let got = got.wait_time_seconds(0);
        let got = got.send().await.expect("receive");
        assert!(
            !got.messages().iter().any(|m| m.body() == Some("long")),
            "the running job was handed out again"
        );
    }
    let out = worker_run.join().expect("worker thread");
    assert!(out.status.success(), "worker: {}{}", stdout(&out), stderr(&out));
    assert_eq!(std::fs::read_to_string(&ran).expect("the job ran"), "started\nlong\n", "exactly once");
    let dead =
        sqs.get_queue_url().queue_name(format!("{QUEUE}-dead")).send().await.expect("dead-letter queue");
    let dead = sqs
        .receive_message()
        .queue_url(dead.queue_url().unwrap_or_default())
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive dead letters");
    let bodies: Vec<&str> = dead.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, ["poison"], "the poison message is parked, not looping");

    // Destroy leaves nothing of the fleet in either region.
    let out = spotctl(&moto).args(["destroy", &dir, "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "destroy: {}{}", stdout(&out), stderr(&out));
    for region in ["us-east-1", "us-east-2"] {
        let groups = aws
            .autoscaling(region)
            .describe_auto_scaling_groups()
            .filters(AsgFilter::builder().name("tag:spotctl:env").values("fleet").build())
            .send()
            .await
            .expect("groups");
        assert!(groups.auto_scaling_groups().is_empty(), "groups left in {region}");
        let lts = aws.ec2(region).describe_launch_templates().send().await.expect("launch templates");
        assert!(
            !lts.launch_templates()
                .iter()
                .any(|t| t.launch_template_name().is_some_and(|n| n.starts_with("spotctl-fleet-"))),
            "launch templates left in {region}"
        );
        let queues =
            aws.sqs(region).list_queues().queue_name_prefix("spotctl-fleet-").send().await.expect("queues");
        assert!(queues.queue_urls().is_empty(), "queues left in {region}: {:?}", queues.queue_urls());
        let sgs = aws
            .ec2(region)
            .describe_security_groups()
            .filters(aws_sdk_ec2::types::Filter::builder().name("tag:spotctl:env").values("fleet").build())
            .send()
            .await
            .expect("sgs");
        assert!(sgs.security_groups().is_empty(), "security groups left in {region}");
        let rules =
            aws.events(region).list_rules().name_prefix("spotctl-fleet-").send().await.expect("rules");
        assert!(rules.rules().is_empty(), "rules left in {region}");
        let instances = aws
            .ec2(region)
            .describe_instances()
            .filters(
                aws_sdk_ec2::types::Filter::builder().name("instance-state-name").values("running").build(),
            )
            .send()
            .await
            .expect("instances");
        let running: Vec<_> = instances.reservations().iter().flat_map(|r| r.instances()).collect();
        assert!(running.is_empty(), "instances left running in {region}: {}", running.len());
    }
    let roles = aws.iam().list_roles().path_prefix("/spotctl/fleet/").send().await.expect("roles");
    assert!(roles.roles().is_empty(), "roles left");
}
