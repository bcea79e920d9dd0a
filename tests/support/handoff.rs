//! The handoff's parts with real servers, for the tests that drive it: an env applied to moto
//! with a seeded MariaDB standing for its first primary, the handler run through `spotctl handle`
//! (optionally killed after its N-th AWS call), and the agent run once through `spotctl agent
//! watch --once` against an IMDSv2 stand-in.

use super::{path_str, spotctl, stderr, stdout, temp_env, TempEnv};
use mysql::prelude::Queryable;
use serde_json::{json, Value};
use spotctl_aws::sdk::Aws;
use spotctl_testkit::imds::{ImdsServer, InstanceMetadata};
use spotctl_testkit::mariadb::MariaDb;
use spotctl_testkit::moto::Moto;

pub const REGION: &str = "ap-northeast-1";

/// The spot interruption notice as IMDS shows it.
pub const NOTICE: &str = r#"{"action":"terminate","time":"2026-11-22T12:02:00Z"}"#;

/// `envs/dev`, renamed `name` and limited to one region, applied to moto.
pub struct Env {
    pub env: TempEnv,
    pub dir: String,
    pub name: String,
    pub aws: Aws,
}

/// What a process run said: whether it exited 0, and its output.
pub struct Ran {
    pub ok: bool,
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    fn of(out: std::process::Output) -> Ran {
        Ran { ok: out.status.success(), code: out.status.code(), stdout: stdout(&out), stderr: stderr(&out) }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", self.stdout, self.stderr))
    }
}

impl Env {
    /// Applies the env and seeds `old_db` with `rows` employees as user-data would have made it.
    pub async fn applied(moto: &Moto, name: &str, old_db: &MariaDb, rows: usize) -> Env {
        Env::applied_with(moto, name, old_db, rows, "").await
    }

    /// [`Env::applied`], with `extra` (whole sections) appended to the env file.
    pub async fn applied_with(moto: &Moto, name: &str, old_db: &MariaDb, rows: usize, extra: &str) -> Env {
        let env = temp_env("dev", |t| {
            let line =
                t.lines().find(|l| l.trim_start().starts_with("regions")).expect("regions").to_string();
            let t = t
                .replace(&line, &format!("regions = [\"{REGION}\"]"))
                .replace("name = \"dev\"", &format!("name = \"{name}\""));
            format!("{t}\n{extra}")
        });
        let dir = path_str(&env.dir);
        let out = spotctl(moto).args(["apply", &dir, "--auto-approve"]).output().expect("runs");
        assert!(out.status.success(), "apply: {}{}", stdout(&out), stderr(&out));
        let aws = Aws::for_emulator(&moto.endpoint()).await;
        seed(old_db, rows);
        Env { env, dir, name: name.to_string(), aws }
    }

    pub fn bucket(&self) -> String {
        format!("spotctl-{}-123456789012-{REGION}", self.name)
    }

    /// The credentials EC2 gives instance `id`: a session of the env's instance role named for the
    /// instance (moto's STS, whose `GetCallerIdentity` then says `<role id>:<id>`, as AWS does), so
    /// each agent and shipper writes as itself.
    pub fn instance_credentials(&self, moto: &Moto, id: &str) -> Vec<(&'static str, String)> {
        let role = spotctl_core::names::Names::new(&self.name, "123456789012", REGION)
            .role_arn(spotctl_core::names::RoleKind::Instance);
        let conf = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .endpoint_url(moto.endpoint())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .build();
        let sts = aws_sdk_sts::Client::from_conf(conf);
        let session = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current()
                .block_on(sts.assume_role().role_arn(&role).role_session_name(id).send())
                .map_err(|e| e.to_string())
        })
        .expect("moto's STS gives the instance its role's session");
        let c = session.credentials.expect("credentials");
        vec![
            ("AWS_ACCESS_KEY_ID", c.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", c.secret_access_key),
            ("AWS_SESSION_TOKEN", c.session_token),
        ]
    }

    /// The health report instance `id`'s own agent wrote (its session's key under the instance's
    /// reports).
    pub async fn health_report(&self, id: &str) -> Option<Value> {
        let s3 = self.aws.s3(REGION, "123456789012");
        let prefix = spotctl_layout::health_dir(id);
        let listed = s3.list_objects_v2().bucket(self.bucket()).prefix(&prefix).send().await.ok()?;
        let own = listed
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .find(|k| spotctl_layout::own_health_report(id, k))?
            .to_string();
        self.object(&own).await
    }

    /// `spotctl <args>` against this env's moto.
    pub fn run(&self, moto: &Moto, args: &[&str], abort_after: Option<u64>) -> Ran {
        let mut cmd = spotctl(moto);
        cmd.env("SPOTCTL_ADVISOR_URL", "http://127.0.0.1:1/");
        if let Some(n) = abort_after {
            cmd.env("SPOTCTL_TEST_ABORT_AFTER_CALLS", n.to_string());
        }
        Ran::of(cmd.args(args).output().expect("runs"))
    }

    /// The handler on `event` (a file written under the env's temporary root).
    pub fn handle(&self, moto: &Moto, file: &str, event: &str, abort_after: Option<u64>) -> Ran {
        let f = self.env.root.join(file);
        std::fs::write(&f, event).expect("event file");
        self.run(moto, &["handle", &self.dir, "--event", &path_str(&f)], abort_after)
    }

    /// One look of the agent of the instance `imds` describes, on the server at `mysql`.
    pub fn watch_once(&self, moto: &Moto, imds: &ImdsServer, mysql: &str, abort_after: Option<u64>) -> Ran {
        let mut cmd = spotctl(moto);
        cmd.envs(self.instance_credentials(moto, &imds.instance_id()))
            .env("SPOTCTL_IMDS_ENDPOINT", imds.endpoint())
            .env("SPOTCTL_TEST_REQUEST_LOG_AS", imds.instance_id())
            .env("SPOTCTL_ADVISOR_URL", "http://127.0.0.1:1/");
        if let Some(n) = abort_after {
            cmd.env("SPOTCTL_TEST_ABORT_AFTER_CALLS", n.to_string());
        }
        let bucket = self.bucket();
        cmd.args([
            "agent",
            "watch",
            "--once",
            "--bucket",
            &bucket,
            "--bucket-region",
            REGION,
            "--env",
            &self.name,
        ]);
        Ran::of(cmd.args(["--mysql", mysql]).output().expect("runs"))
    }

    /// The agent's watch loop (`spotctl agent watch`, as user-data runs it, looking every 2 s) of
    /// the instance `imds` describes, on the server at `mysql`, with `envs` set; killed when the
    /// returned guard is dropped.
    pub fn watch(&self, moto: &Moto, imds: &ImdsServer, mysql: &str, envs: &[(&str, &str)]) -> Watcher {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_spotctl"));
        cmd.envs(moto.env())
            .envs(self.instance_credentials(moto, &imds.instance_id()))
            .env("SPOTCTL_IMDS_ENDPOINT", imds.endpoint())
            .env("SPOTCTL_TEST_REQUEST_LOG_AS", imds.instance_id())
            .env("SPOTCTL_ADVISOR_URL", "http://127.0.0.1:1/")
            .envs(envs.iter().copied())
            .args([
                "agent",
                "watch",
                "--bucket",
                &self.bucket(),
                "--bucket-region",
                REGION,
                "--env",
                &self.name,
            ])
            .args(["--mysql", mysql, "--interval", "2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        Watcher(cmd.spawn().expect("agent watch"))
    }

    /// EC2's view of instance `id`.
    pub async fn instance(&self, id: &str) -> Option<aws_sdk_ec2::types::Instance> {
        let out = self.aws.ec2(REGION).describe_instances().instance_ids(id).send().await.expect("describe");
        out.reservations().iter().flat_map(|r| r.instances()).next().cloned()
    }

    /// The warning EventBridge delivers for `instance`, with event id `id`.
    pub fn warning(&self, instance: &str, id: &str) -> String {
        std::fs::read_to_string("tests/events/seed-interruption.json")
            .expect("seed event")
            .replace("i-0abcd1234efgh5678", instance)
            .replace("us-west-2", REGION)
            .replace("abcd1234-5678-90ab-cdef-EXAMPLE11111", id)
    }

    /// (id, role, handoff) of the env's pending or running instances.
    pub async fn instances(&self) -> Vec<(String, String, String)> {
        let out = self
            .aws
            .ec2(REGION)
            .describe_instances()
            .filters(aws_sdk_ec2::types::Filter::builder().name("tag:spotctl:env").values(&self.name).build())
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .build(),
            )
            .send()
            .await
            .expect("describe");
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| {
                let tag = |k: &str| {
                    i.tags()
                        .iter()
                        .find(|t| t.key() == Some(k))
                        .and_then(|t| t.value())
                        .unwrap_or_default()
                        .to_string()
                };
                (i.instance_id().unwrap_or_default().to_string(), tag("spotctl:role"), tag("spotctl:handoff"))
            })
            .collect()
    }

    /// The addresses EC2 gave `id`, for its IMDS stand-in (`public-ipv4`, `local-ipv4`), so the
    /// agent on it names the same address `apply` reads from DescribeInstances.
    pub async fn give_addresses(&self, id: &str, imds: &ImdsServer) {
        let (public, local) = match self.instance(id).await {
            Some(i) => {
                (i.public_ip_address().map(str::to_string), i.private_ip_address().map(str::to_string))
            }
            None => (None, None),
        };
        imds.update(|m| {
            m.public_ipv4 = public;
            m.local_ipv4 = local;
        });
    }

    /// AWS takes the instance back.
    pub async fn reclaim(&self, id: &str) {
        self.aws.ec2(REGION).terminate_instances().instance_ids(id).send().await.expect("terminate");
    }

    /// The object at `key` in the env's bucket, parsed.
    pub async fn object(&self, key: &str) -> Option<Value> {
        let got = self
            .aws
            .s3(REGION, "123456789012")
            .get_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
            .ok()?;
        let body = got.body.collect().await.ok()?.into_bytes();
        serde_json::from_slice(&body).ok()
    }
}

/// A scheduled event (EventBridge) of the env `env`'s rule `rule` (`watchdog`, `relocation`, …).
pub fn scheduled(env: &str, rule: &str, id: &str) -> String {
    json!({
        "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-29T10:00:00Z", "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:123456789012:rule/spotctl-{env}-{rule}")], "detail": {}
    })
    .to_string()
}

/// EventBridge's note that `instance` went to `state`.
pub fn state_change(instance: &str, state: &str) -> String {
    json!({
        "version": "0", "id": format!("state-{instance}-{state}"), "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": "123456789012", "time": "2026-11-29T10:00:00Z", "region": REGION,
        "resources": [], "detail": {"instance-id": instance, "state": state}
    })
    .to_string()
}

/// An applied env whose primary (on `old_db`, seeded with 1 000 rows) serves, ships its log and
/// has one base backup, as user-data's units leave it: the env, the primary's id, its IMDS
/// stand-in, and the shipper's process.
pub async fn shipping_primary(
    moto: &Moto,
    old_db: &MariaDb,
) -> (Env, String, ImdsServer, std::process::Child) {
    shipping_primary_of(Env::applied(moto, "dev", old_db, 1000).await, moto, old_db).await
}

/// [`shipping_primary`] for an env applied already.
pub async fn shipping_primary_of(
    env: Env,
    moto: &Moto,
    old_db: &MariaDb,
) -> (Env, String, ImdsServer, std::process::Child) {
    shipping_primary_with(env, moto, old_db, &[]).await
}

/// [`shipping_primary_of`] with `ship_env` set for the shipper's process (its test hooks).
pub async fn shipping_primary_with(
    env: Env,
    moto: &Moto,
    old_db: &MariaDb,
    ship_env: &[(&str, &str)],
) -> (Env, String, ImdsServer, std::process::Child) {
    let primary = env.instances().await[0].0.clone();
    let old_imds = imds(&primary, "ap-northeast-1a", &[("spotctl:role", "primary")]);
    let served = env.watch_once(moto, &old_imds, &old_db.root_dsn(""), None).json();
    assert_eq!(served["did"]["kind"], "served", "{served:#}");
    let t1 =
        env.object("backups/timelines/0001/timeline.json").await.expect("the serving agent began timeline 1");
    assert_eq!(t1["epoch"], 1, "{t1:#}");
    let to = format!("s3://{}/backups", env.bucket());
    let region = REGION;
    let shipper = std::process::Command::new(env!("CARGO_BIN_EXE_spotctl"))
        .envs(moto.env())
        .envs(env.instance_credentials(moto, &primary))
        .env("SPOTCTL_TEST_REQUEST_LOG_AS", &primary)
        .envs(ship_env.iter().copied())
        .args(["agent", "ship", "--mysql", &old_db.root_dsn(""), "--to", &to, "--bucket-region", region])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ship starts");
    let dsn = old_db.root_dsn("");
    let base = spotctl(moto)
        .envs(env.instance_credentials(moto, &primary))
        .env("SPOTCTL_TEST_REQUEST_LOG_AS", &primary)
        .args(["agent", "base-backup", "--mysql", &dsn, "--to", &to, "--bucket-region", region])
        .output()
        .expect("runs");
    assert!(base.status.success(), "base-backup: {}{}", stdout(&base), stderr(&base));
    (env, primary, old_imds, shipper)
}

/// Acknowledged commits of rows `ids` on the server at `dsn`, one transaction each.
pub fn insert(dsn: &str, ids: std::ops::RangeInclusive<i32>) {
    let mut c = mysql::Conn::new(mysql::Opts::from_url(dsn).expect("dsn")).expect("connect");
    for i in ids {
        mysql::prelude::Queryable::exec_drop(
            &mut c,
            "INSERT INTO appdb.employees VALUES (?, 'n', 'e')",
            (i,),
        )
        .expect("an acknowledged commit");
    }
}

fn seed(db: &MariaDb, rows: usize) {
    let mut c = mysql::Conn::new(mysql::Opts::from_url(&db.root_dsn("")).expect("dsn")).expect("connect");
    c.query_drop("CREATE DATABASE appdb").expect("db");
    c.query_drop(
        "CREATE TABLE appdb.employees (id INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, email VARCHAR(255) NOT NULL)",
    )
    .expect("table");
    let values: Vec<String> = (1..=rows).map(|i| format!("({i}, 'name{i}', 'e{i}@example.com')")).collect();
    c.query_drop(format!("INSERT INTO appdb.employees VALUES {}", values.join(","))).expect("seed");
}

/// Rows in `appdb.employees`.
pub fn count(dsn: &str) -> i64 {
    let mut c = mysql::Conn::new(mysql::Opts::from_url(dsn).expect("dsn")).expect("connect");
    c.query_first("SELECT COUNT(*) FROM appdb.employees").expect("count").unwrap_or(-1)
}

/// Whether the server takes ordinary writes.
pub fn writable(dsn: &str) -> bool {
    let mut c = mysql::Conn::new(mysql::Opts::from_url(dsn).expect("dsn")).expect("connect");
    c.query_first::<u8, _>("SELECT @@GLOBAL.read_only").expect("read_only") == Some(0)
}

/// A running agent process, killed when the test ends, however it ends.
pub struct Watcher(std::process::Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Instance metadata of an instance of the env, with its tags.
pub fn imds(id: &str, az: &str, tags: &[(&str, &str)]) -> ImdsServer {
    ImdsServer::start(InstanceMetadata {
        instance_id: id.to_string(),
        region: REGION.into(),
        availability_zone: az.into(),
        instance_type: "m5.large".into(),
        tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    })
}
