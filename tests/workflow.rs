//! The operator's workflow against a real moto server, through the real binary: a saved plan
//! applied exactly and refused once anything moved behind it; drift found outside spotctl; a
//! targeted plan; a half-made env imported; a saved plan shown; completions; closed pipes.

mod support;

use spotctl_aws::sdk::Aws;
use spotctl_aws::state::{read_primary, S3Store, StateStore};
use spotctl_core::handoff::{Cause, Handoff};
use spotctl_layout::state::handoff_key;
use spotctl_testkit::moto::Moto;
use support::{path_str, spotctl, stderr, stdout, temp_env, TempEnv};

const REGION: &str = "ap-northeast-1";

fn one_region(name: &str) -> impl Fn(String) -> String + '_ {
    move |t: String| {
        let line = t.lines().find(|l| l.trim_start().starts_with("regions")).expect("regions").to_string();
        t.replace(&line, &format!("regions = [\"{REGION}\"]"))
            .replace("name = \"dev\"", &format!("name = \"{name}\""))
    }
}

fn run(moto: &Moto, args: &[&str]) -> std::process::Output {
    spotctl(moto).env("SPOTCTL_ADVISOR_URL", "http://127.0.0.1:1/").args(args).output().expect("runs")
}

fn bucket(env: &str) -> String {
    format!("spotctl-{env}-123456789012-{REGION}")
}

/// Opens the database port to the world on the env's security group, behind spotctl's back.
async fn open_port_by_hand(aws: &Aws, env: &str) -> String {
    let ec2 = aws.ec2(REGION);
    let f =
        aws_sdk_ec2::types::Filter::builder().name("group-name").values(format!("spotctl-{env}-db")).build();
    let groups = ec2.describe_security_groups().filters(f).send().await.expect("describe");
    let id = groups.security_groups()[0].group_id().unwrap_or_default().to_string();
    let perm = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(3306)
        .to_port(3306)
        .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    ec2.authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(perm)
        .send()
        .await
        .expect("authorize");
    id
}

fn edit_env(env: &TempEnv, f: impl Fn(String) -> String) {
    let file = env.dir.join("spotctl.toml");
    let text = std::fs::read_to_string(&file).expect("env file");
    std::fs::write(&file, f(text)).expect("env file");
}

fn open_ssh(t: String) -> String {
    t.replace("ssh_cidrs = []", "ssh_cidrs = [\"203.0.113.7/32\"]")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_applied_exactly_or_refused_naming_what_moved() {
    let moto = Moto::start();
    let aws = Aws::for_emulator(&moto.endpoint()).await;
    let env = temp_env("dev", one_region("wf"));
    let dir = path_str(&env.dir);
    let file = |n: &str| path_str(&env.root.join(n));

    // The first plan, saved, then applied without a question (stdin is no terminal here).
    let out = run(&moto, &["plan", &dir, "--out", &file("first.plan")]);
    assert!(out.status.success(), "plan --out: {}{}", stdout(&out), stderr(&out));
    let shown = run(&moto, &["show", &file("first.plan"), "--output", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("show json");
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["env"], "wf");
    assert_eq!(doc["saved"]["env_dir"], dir.as_str());
    assert!(doc["summary"]["create"].as_u64().unwrap_or(0) > 10, "{doc:#}");
    let out = run(&moto, &["apply", &file("first.plan")]);
    assert!(out.status.success(), "apply FILE: {}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("Apply complete"), "{}", stdout(&out));
    let out = run(&moto, &["plan", &dir, "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "not converged: {}{}", stdout(&out), stderr(&out));
    // Applied once, it is stale: the env moved (it now exists) since it was made.
    let again = run(&moto, &["apply", &file("first.plan")]);
    assert_eq!(again.status.code(), Some(1), "{}{}", stdout(&again), stderr(&again));
    assert!(stderr(&again).contains("the saved plan is stale"), "{}", stderr(&again));

    // An env file change, saved; then live state moves behind the plan: refused, nothing touched.
    edit_env(&env, open_ssh);
    let out = run(&moto, &["plan", &dir, "--out", &file("ssh.plan")]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("tcp/22/203.0.113.7/32"), "{}", stdout(&out));
    let sg = open_port_by_hand(&aws, "wf").await;
    let out = run(&moto, &["apply", &file("ssh.plan")]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("stale") && err.contains("security_group.spotctl-wf-db[ap-northeast-1] changed"),
        "{err}"
    );
    let plan = run(&moto, &["plan", &dir, "--output", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("json");
    assert!(plan.to_string().contains("tcp/3306/0.0.0.0/0"), "the refused apply changed {sg}: {plan:#}");

    // Drift: the port opened by hand, by attribute, and not the env file's own change (ssh).
    let out = run(&moto, &["plan", &dir, "--refresh-only", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("security_group.spotctl-wf-db[ap-northeast-1] changed"), "{text}");
    assert!(text.contains("ingress: applied \"[]\", now \"[\\\"tcp/3306/0.0.0.0/0\\\"]\""), "{text}");
    assert!(!text.contains("203.0.113.7"), "drift showed the env file's change: {text}");
    let out = run(&moto, &["plan", &dir, "--refresh-only", "--output", "json"]);
    let drift: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(drift["mode"], "refresh_only");
    assert_eq!(drift["drift"][0]["kind"], "changed", "{drift:#}");
    assert_eq!(drift["drift"][0]["attrs"][0]["key"], "ingress", "{drift:#}");

    // Made again, the plan applies; a handoff opened behind the next one is named.
    let out = run(&moto, &["plan", &dir, "--out", &file("ssh2.plan")]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = run(&moto, &["apply", &file("ssh2.plan")]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    edit_env(&env, |t| t.replace("203.0.113.7/32", "203.0.113.8/32"));
    let out = run(&moto, &["plan", &dir, "--out", &file("held.plan")]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let store = S3Store::new(aws.s3(REGION, "123456789012"), bucket("wf"));
    let (record, _) = read_primary(&store).await.expect("read").expect("a primary record");
    let h = Handoff::new(Cause::Interruption, &record, spotctl_aws::sdk::clock::now_unix());
    store.put(&handoff_key(&h.id), serde_json::to_vec(&h).expect("json")).await.expect("put handoff");
    let out = run(&moto, &["apply", &file("held.plan")]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("a handoff of the recorded epoch opened since the plan was saved"),
        "{}",
        stderr(&out)
    );

    // Bad input: exit 2, nothing touched.
    let bytes = std::fs::read(env.root.join("held.plan")).expect("plan file");
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    v["plan"]["changes"][0]["action"] = "delete".into();
    std::fs::write(env.root.join("tampered.plan"), serde_json::to_vec(&v).expect("json")).expect("write");
    let out = run(&moto, &["apply", &file("tampered.plan")]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("changed after it was saved") && stderr(&out).contains(": plan)"),
        "{}",
        stderr(&out)
    );
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    v["format_version"] = 99.into();
    std::fs::write(env.root.join("future.plan"), serde_json::to_vec(&v).expect("json")).expect("write");
    let out = run(&moto, &["apply", &file("future.plan")]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("plan file format 99"), "{}", stderr(&out));
    let other = temp_env("dev", one_region("other"));
    let out = run(&moto, &["apply", &path_str(&other.dir), &file("held.plan")]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("is a plan of env `wf`") && stderr(&out).contains("this is env `other`"),
        "{}",
        stderr(&out)
    );
    let out = run(&moto, &["show", &file("tampered.plan")]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));

    // --target: only the named change, with the warning; a bad address is bad input.
    let out = run(&moto, &["plan", &dir, "--target", "event_rule.spotctl-wf-nothing"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("resource targeting is in effect"), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("note:") || stdout(&out).contains("No changes."), "{}", stdout(&out));
    let out = run(&moto, &["plan", &dir, "--target", "security_group.spotctl-wf-db", "--output", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let changes = doc["changes"].as_array().cloned().unwrap_or_default();
    assert_eq!(changes.len(), 1, "{doc:#}");
    assert_eq!(changes[0]["address"]["kind"], "security_group");
    assert_eq!(doc["targets"][0], "security_group.spotctl-wf-db");
    let out = run(&moto, &["plan", &dir, "--target", "vm.primary"]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("valid kinds: bucket"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_half_made_env_is_imported_by_tagging_and_its_primary_by_the_record() {
    let moto = Moto::start();
    let aws = Aws::for_emulator(&moto.endpoint()).await;
    let env = temp_env("dev", one_region("imp"));
    let dir = path_str(&env.dir);
    // An operator made the security group by hand, with the env's name and no tag.
    let ec2 = aws.ec2(REGION);
    let vpc = ec2
        .describe_vpcs()
        .filters(aws_sdk_ec2::types::Filter::builder().name("is-default").values("true").build())
        .send()
        .await
        .expect("vpcs");
    let vpc = vpc.vpcs()[0].vpc_id().unwrap_or_default().to_string();
    let made = ec2
        .create_security_group()
        .group_name("spotctl-imp-db")
        .description("by hand")
        .vpc_id(&vpc)
        .send()
        .await
        .expect("create sg");
    let sg = made.group_id().unwrap_or_default().to_string();
    let out = run(&moto, &["import", &dir]);
    assert_eq!(out.status.code(), Some(2), "import asks first: {}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("tag   security_group.spotctl-imp-db[{REGION}]  ({sg})")),
        "{}",
        stdout(&out)
    );
    let out = run(&moto, &["import", &dir, "--auto-approve"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let plan = run(&moto, &["plan", &dir, "--output", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("json");
    let sg_change = plan["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["address"]["kind"] == "security_group")
        .cloned();
    assert!(sg_change.is_none_or(|c| c["action"] != "create" && c["id"] == sg.as_str()), "{plan:#}");

    // Applied, then the primary is lost with no backup and a stray instance is tagged primary:
    // import records the stray as the primary (the next epoch) and the plan keeps it.
    let out = run(&moto, &["apply", &dir, "--auto-approve"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let store = S3Store::new(aws.s3(REGION, "123456789012"), bucket("imp"));
    let (record, _) = read_primary(&store).await.expect("read").expect("record");
    ec2.terminate_instances().instance_ids(&record.instance_id).send().await.expect("terminate");
    let image = ec2.describe_images().send().await.expect("images").images()[0]
        .image_id()
        .unwrap_or_default()
        .to_string();
    let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
    let stray = ec2
        .run_instances()
        .image_id(image)
        .min_count(1)
        .max_count(1)
        .instance_type(aws_sdk_ec2::types::InstanceType::M5Large)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                .tags(tag("spotctl:env", "imp"))
                .tags(tag("spotctl:kind", "db"))
                .tags(tag("spotctl:role", "primary"))
                .build(),
        )
        .send()
        .await
        .expect("run");
    let stray = stray.instances()[0].instance_id().unwrap_or_default().to_string();
    let out = run(&moto, &["plan", &dir]);
    assert!(stdout(&out).contains("Adopt it with `spotctl import`"), "{}", stdout(&out));
    let out = run(&moto, &["import", &dir, "--auto-approve"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("adopt instance {stray} in {REGION} as the primary")),
        "{}",
        stdout(&out)
    );
    let (now, _) = read_primary(&store).await.expect("read").expect("record");
    assert_eq!((now.instance_id.as_str(), now.epoch), (stray.as_str(), record.epoch + 1));
    let out = run(&moto, &["plan", &dir]);
    assert!(
        !stdout(&out).contains("tagged primary but the primary record does not name it"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("+   instance primary"), "{}", stdout(&out));
    // A second import finds nothing to do: a live recorded primary is never replaced.
    let out = run(&moto, &["import", &dir, "--auto-approve"]);
    assert!(stdout(&out).contains("Nothing to import"), "{}{}", stdout(&out), stderr(&out));

    // `status --watch` redraws every second until Ctrl-C, which ends it cleanly.
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("spotctl"))
        .args(["status", &dir, "--watch", "--interval", "1"])
        .envs(moto.env())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(4500));
    let killed =
        std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("waits");
    assert!(out.status.success(), "Ctrl-C ends the watch cleanly: {:?}", out.status);
    let text = stdout(&out);
    assert!(text.matches("spotctl status imp at").count() >= 2, "one redraw only: {text}");
    assert!(text.contains(&format!("primary: {stray}")), "{text}");
}

/// Every subcommand whose stdout is closed before it writes ends quietly, killed by SIGPIPE (141 in
/// a shell), with no panic.
#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let moto = Moto::start();
    let env = temp_env("dev", one_region("pipe"));
    let dir = path_str(&env.dir);
    let out = run(&moto, &["apply", &dir, "--auto-approve"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    edit_env(&env, open_ssh);
    let out = run(&moto, &["plan", &dir, "--out", &path_str(&env.root.join("p.plan"))]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let plan_file = path_str(&env.root.join("p.plan"));
    let commands: Vec<Vec<&str>> = vec![
        vec!["plan", &dir],
        vec!["plan", &dir, "--output", "json"],
        vec!["plan", &dir, "--refresh-only"],
        vec!["show", &plan_file],
        vec!["status", &dir],
        vec!["score", &dir],
        vec!["completions", "bash"],
        vec!["import", &dir],
        vec!["--help"],
        vec!["apply", &plan_file],
        vec!["destroy", &dir, "--auto-approve"],
    ];
    for args in commands {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("spotctl"))
            .envs(moto.env())
            .env("SPOTCTL_ADVISOR_URL", "http://127.0.0.1:1/")
            .args(&args)
            .stdout(writer)
            .output()
            .expect("runs");
        let err = stderr(&out);
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?}: {err}");
        assert!(
            out.status.signal() == Some(13) || out.status.code() == Some(0),
            "{args:?} ended with {:?}: {err}",
            out.status
        );
    }
}

#[test]
fn completions_for_each_shell_and_colour_only_on_a_terminal_that_wants_it() {
    let moto = Moto::start();
    for (shell, mark) in
        [("bash", "complete -F"), ("zsh", "#compdef spotctl"), ("fish", "complete -c spotctl")]
    {
        let out = run(&moto, &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains(mark) && text.contains("import") && text.contains("refresh-only"),
            "{shell}: {text}"
        );
    }
    let env = temp_env("dev", one_region("col"));
    let file = path_str(&env.root.join("c.plan"));
    let out = run(&moto, &["plan", &path_str(&env.dir), "--out", &file]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // `script` gives the command a terminal; colour shows unless NO_COLOR or --no-color says no.
    let bin = assert_cmd::cargo::cargo_bin("spotctl");
    let on_tty = |extra: &str, no_color: Option<&str>| {
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &format!("{} show {file} {extra}", bin.display()), "/dev/null"])
            .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd.output().expect("script runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(on_tty("", None).contains("\x1b[32m+"), "no colour on a terminal: {}", on_tty("", None));
    assert!(on_tty("", Some("")).contains("\x1b[32m"), "an empty NO_COLOR does not count");
    assert!(!on_tty("", Some("1")).contains('\x1b'), "NO_COLOR=1 ignored");
    assert!(!on_tty("--no-color", None).contains('\x1b'), "--no-color ignored");
}
