//! Trust boundaries against a real moto server, through the real binary: two envs whose names
//! extend one another (`dev`, `dev2`) live side by side; drift on the security group (rules of
//! every kind, added out of band) and on the bucket (versioning suspended, a public policy) is
//! planned and put right by `apply`; destroying one env leaves the other whole.

mod support;

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
use spotctl_aws::sdk::Aws;
use spotctl_testkit::moto::Moto;
use support::{path_str, spotctl, stderr, stdout, temp_env, TempEnv};

const HOME: &str = "ap-northeast-1";
const ACCOUNT: &str = "123456789012";

fn named(name: &'static str) -> impl Fn(String) -> String {
    move |text: String| {
        let regions =
            text.lines().find(|l| l.trim_start().starts_with("regions")).expect("regions key").to_string();
        text.replace(&regions, &format!("regions = [\"{HOME}\"]"))
            .replace("name = \"dev\"", &format!("name = \"{name}\""))
    }
}

fn plan_exit(moto: &Moto, env: &TempEnv) -> (i32, String) {
    let out =
        spotctl(moto).args(["plan", &path_str(&env.dir), "--detailed-exitcode"]).output().expect("runs");
    (out.status.code().unwrap_or(-1), format!("{}{}", stdout(&out), stderr(&out)))
}

fn apply(moto: &Moto, env: &TempEnv) {
    let out = spotctl(moto).args(["apply", &path_str(&env.dir), "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "apply: {}{}", stdout(&out), stderr(&out));
}

async fn group(aws: &Aws, name: &str) -> (String, Vec<IpPermission>) {
    let out = aws
        .ec2(HOME)
        .describe_security_groups()
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-name").values(name).build())
        .send()
        .await
        .expect("describe groups");
    let g = out.security_groups().first().unwrap_or_else(|| panic!("no group {name}")).clone();
    (g.group_id().unwrap_or_default().to_string(), g.ip_permissions().to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_is_put_right_and_envs_whose_names_extend_one_another_stay_apart() {
    let moto = Moto::start();
    let aws = Aws::for_emulator(&moto.endpoint()).await;
    let (dev, dev2) = (temp_env("dev", named("dev")), temp_env("dev", named("dev2")));
    apply(&moto, &dev);
    apply(&moto, &dev2);
    assert_eq!(plan_exit(&moto, &dev).0, 0, "dev converged");
    assert_eq!(plan_exit(&moto, &dev2).0, 0, "dev2 converged");

    // Every instance answers IMDS one hop only.
    let described = aws.ec2(HOME).describe_instances().send().await.expect("describe");
    let hops: Vec<Option<i32>> = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| i.metadata_options().and_then(|m| m.http_put_response_hop_limit()))
        .collect();
    assert_eq!(hops, [Some(1), Some(1)], "one primary per env, hop limit 1");

    // Out of band: all traffic from everywhere, a port range to IPv6, a group pair, a prefix list.
    let (dev_sg, _) = group(&aws, "spotctl-dev-db").await;
    let (dev2_sg, dev2_before) = group(&aws, "spotctl-dev2-db").await;
    let drift = [
        IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build(),
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(3306)
            .to_port(3310)
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
            .build(),
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(&dev2_sg).description("peer").build())
            .build(),
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .prefix_list_ids(PrefixListId::builder().prefix_list_id("pl-12345678").build())
            .build(),
    ];
    for p in drift {
        aws.ec2(HOME)
            .authorize_security_group_ingress()
            .group_id(&dev_sg)
            .ip_permissions(p)
            .send()
            .await
            .expect("drift");
    }
    // And on the bucket: versioning suspended, a policy that makes it public.
    let s3 = aws.s3(HOME, ACCOUNT);
    let bucket = format!("spotctl-dev-{ACCOUNT}-{HOME}");
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .expect("suspend versioning");
    let public = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    );
    s3.put_bucket_policy().bucket(&bucket).policy(public).send().await.expect("public policy");

    let (code, text) = plan_exit(&moto, &dev);
    assert_eq!(code, 2, "drift is a change: {text}");
    for wanted in
        ["spotctl-dev-db", "-1/all/0.0.0.0/0", "tcp/3306-3310/::/0", &dev2_sg, "versioning", "policy"]
    {
        assert!(text.contains(wanted), "the plan names {wanted}: {text}");
    }
    assert_eq!(plan_exit(&moto, &dev2).0, 0, "dev2 sees nothing of dev's drift");

    apply(&moto, &dev);
    assert!(
        group(&aws, "spotctl-dev-db").await.1.is_empty(),
        "every rule the env file does not list is revoked"
    );
    assert_eq!(group(&aws, "spotctl-dev2-db").await.1, dev2_before, "dev2's group untouched");
    let versioning = plan_exit(&moto, &dev);
    assert_eq!(versioning.0, 0, "converged again: {}", versioning.1);
    assert!(s3.get_bucket_policy().bucket(&bucket).send().await.is_err(), "the public policy is gone");

    // Backups in dev's bucket, one object overwritten (two versions), the handler's log group.
    for key in
        ["backups/epoch-1/data/appdb/t/0.tsv.zst", "backups/epoch-1/manifest.json", "backups/epoch-2/data/x"]
    {
        for _ in 0..2 {
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(b"x".to_vec().into())
                .send()
                .await
                .expect("backup object");
        }
    }
    aws.logs(HOME)
        .create_log_group()
        .log_group_name("/aws/lambda/spotctl-dev-handler")
        .send()
        .await
        .expect("log group");

    // Destroying dev names the backups it deletes, removes every version and the log group, and
    // leaves dev2 whole.
    let out = spotctl(&moto).args(["destroy", &path_str(&dev.dir), "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "destroy dev: {}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "Deleted with the bucket: 1 complete backup(s) (epoch-1) and 1 incomplete (epoch-2), 3 object(s)"
        ),
        "{text}"
    );
    let order: Vec<usize> = ["event_rule", "lambda_function", "bucket", "every database instance"]
        .iter()
        .map(|k| text.find(&format!("-   {k} ")).unwrap_or_else(|| panic!("{k} in the plan: {text}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "rules and the handler go first: {text}");
    let running = aws
        .ec2(HOME)
        .describe_instances()
        .filters(aws_sdk_ec2::types::Filter::builder().name("tag:spotctl:env").values("dev").build())
        .filters(aws_sdk_ec2::types::Filter::builder().name("instance-state-name").values("running").build())
        .send()
        .await
        .expect("describe");
    assert_eq!(
        running.reservations().iter().flat_map(|r| r.instances()).count(),
        0,
        "dev's instances are gone"
    );
    assert!(
        s3.head_bucket().bucket(&bucket).send().await.is_err(),
        "the bucket is gone, every version with it"
    );
    let groups =
        aws.logs(HOME).describe_log_groups().log_group_name_prefix("/aws/lambda/spotctl-dev-").send().await;
    assert!(groups.expect("log groups").log_groups().is_empty(), "the log group is gone");
    assert_eq!(plan_exit(&moto, &dev2).0, 0, "dev2 still converged after dev's destroy");

    // A destroy that fails releases its lock; --keep-backups leaves the bucket and its backups.
    let iam = aws.iam();
    let blocker = iam
        .create_policy()
        .policy_name("out-of-band")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#)
        .send()
        .await
        .expect("policy");
    let blocker_arn = blocker.policy().and_then(|p| p.arn()).expect("arn").to_string();
    iam.attach_role_policy()
        .role_name("spotctl-dev2-events")
        .policy_arn(&blocker_arn)
        .send()
        .await
        .expect("attach");
    let out = spotctl(&moto)
        .args(["destroy", &path_str(&dev2.dir), "--auto-approve", "--keep-backups"])
        .output()
        .expect("runs");
    let bucket2 = format!("spotctl-dev2-{ACCOUNT}-{HOME}");
    assert!(
        !out.status.success(),
        "a role with a policy attached out of band cannot be deleted: {}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("spotctl-dev2-events"), "the error names the role: {}", stderr(&out));
    {
        assert!(
            s3.get_object().bucket(&bucket2).key("state/lock.json").send().await.is_err(),
            "a failed destroy leaves no lock: {}",
            stderr(&out)
        );
        iam.detach_role_policy()
            .role_name("spotctl-dev2-events")
            .policy_arn(&blocker_arn)
            .send()
            .await
            .expect("detach");
        let again = spotctl(&moto)
            .args(["destroy", &path_str(&dev2.dir), "--auto-approve", "--keep-backups"])
            .output()
            .expect("runs");
        assert!(again.status.success(), "destroy dev2 again: {}{}", stdout(&again), stderr(&again));
    }
    assert!(s3.head_bucket().bucket(&bucket2).send().await.is_ok(), "--keep-backups keeps the bucket");
    assert!(
        s3.get_object().bucket(&bucket2).key("state/lock.json").send().await.is_err(),
        "and no lock in it"
    );
    let out =
        spotctl(&moto).args(["destroy", &path_str(&dev2.dir), "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "destroy dev2: {}{}", stdout(&out), stderr(&out));
    assert!(s3.head_bucket().bucket(&bucket2).send().await.is_err(), "then it goes too");
}

/// Every S3 call names the bucket's expected owner (moto ignores the header, so a front checks it):
/// a bucket of that name owned by another account is refused before anything is read or written.
#[tokio::test(flavor = "multi_thread")]
async fn every_s3_call_names_the_expected_owner() {
    use spotctl_testkit::s3_owner::S3OwnerFront;
    let moto = Moto::start();
    let upstream = moto.endpoint().trim_start_matches("http://").to_string();
    let ours = S3OwnerFront::start(&upstream, ACCOUNT);
    let env = temp_env("dev", named("dev"));
    let out = spotctl(&moto)
        .env("AWS_ENDPOINT_URL_S3", ours.endpoint())
        .args(["apply", &path_str(&env.dir), "--auto-approve"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "apply through the front: {}{}", stdout(&out), stderr(&out));
    let seen = ours.seen();
    assert!(seen.len() > 10, "the apply's S3 calls went through the front: {seen:?}");
    // CreateBucket (PUT on the bucket itself, no query) takes no owner; every other call names ours.
    let create = |s: &spotctl_testkit::s3_owner::Seen| {
        s.method == "PUT" && !s.path.trim_matches('/').contains(['/', '?'])
    };
    let unnamed: Vec<_> = seen.iter().filter(|s| !create(s) && s.owner.as_deref() != Some(ACCOUNT)).collect();
    assert!(unnamed.is_empty(), "calls without the expected owner: {unnamed:?}");

    // The same name owned by someone else: refused, nothing read from it.
    let theirs = S3OwnerFront::start(&upstream, "999999999999");
    let out = spotctl(&moto)
        .env("AWS_ENDPOINT_URL_S3", theirs.endpoint())
        .args(["plan", &path_str(&env.dir)])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("AccessDenied"), "{}", stderr(&out));
    let out = spotctl(&moto).args(["destroy", &path_str(&env.dir), "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "destroy: {}{}", stdout(&out), stderr(&out));
}
