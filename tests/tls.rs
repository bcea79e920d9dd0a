//! TLS end to end with real parts: the env's CA in its SSM SecureString (moto), the certificate
//! `spotctl agent tls` writes from it, a real MariaDB configured as user-data configures it
//! (`require_secure_transport`, the app user `REQUIRE SSL`), and the `mariadb` client: it connects
//! when it verifies the server's certificate against the env's CA, and is refused without TLS and
//! against another CA.

mod support;

use mysql::prelude::Queryable;
use spotctl_aws::sdk::Aws;
use spotctl_aws::tls::Ca;
use spotctl_testkit::imds::{ImdsServer, InstanceMetadata};
use spotctl_testkit::mariadb::{Config, MariaDb};
use spotctl_testkit::moto::Moto;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use support::{spotctl, stderr, stdout};

const REGION: &str = "ap-northeast-1";

/// `mariadb -e 'SELECT 1'` as the app user over TCP, with `tls` options; (succeeded, stderr).
fn client(db: &MariaDb, tls: &[String]) -> (bool, String) {
    let out = Command::new("mariadb")
        .args(["--no-defaults", "--protocol=TCP", "--host=127.0.0.1", "--user=app", "--batch"])
        .arg(format!("--port={}", db.port))
        .args(tls)
        .args(["-e", "SELECT 1"])
        .env("MYSQL_PWD", "app-secret")
        .output()
        .expect("the mariadb client runs");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_takes_only_tls_from_clients_that_trust_the_envs_ca() {
    let Some(_probe) = MariaDb::start() else { return };
    drop(_probe);
    let moto = Moto::start();
    let aws = Aws::for_emulator(&moto.endpoint()).await;
    let ca = Ca::generate("tl", 1_790_000_000).expect("a CA");
    aws.ssm(REGION)
        .put_parameter()
        .name("/spotctl/tl/ca")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(ca.bundle())
        .send()
        .await
        .expect("the CA parameter");
    let imds = ImdsServer::start(InstanceMetadata {
        instance_id: "i-0tls".into(),
        region: REGION.into(),
        availability_zone: "ap-northeast-1a".into(),
        instance_type: "m5.large".into(),
        local_ipv4: Some("127.0.0.1".into()),
        ..Default::default()
    });
    let dir = std::env::temp_dir().join(format!("spotctl-tls-{}", std::process::id()));
    let out = spotctl(&moto)
        .env("SPOTCTL_IMDS_ENDPOINT", imds.endpoint())
        .args(["agent", "tls", "--env", "tl", "--region", REGION, "--name", "db.tl.spotctl.internal"])
        .arg("--out")
        .arg(&dir)
        .output()
        .expect("runs");
    assert!(out.status.success(), "agent tls: {}{}", stdout(&out), stderr(&out));
    let said: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(said["names"], serde_json::json!(["db.tl.spotctl.internal", "127.0.0.1"]), "{said:#}");
    assert!(
        !stdout(&out).contains("PRIVATE KEY") && !stderr(&out).contains("PRIVATE KEY"),
        "no key in output"
    );
    let key_mode = std::fs::metadata(dir.join("server-key.pem")).expect("key").permissions().mode() & 0o777;
    assert_eq!(key_mode, 0o600, "the server key is readable by its owner only");

    let path = |f: &str| dir.join(f).display().to_string();
    let config = Config {
        extra: vec![
            format!("--ssl-ca={}", path("ca.pem")),
            format!("--ssl-cert={}", path("server-cert.pem")),
            format!("--ssl-key={}", path("server-key.pem")),
            "--require-secure-transport=ON".into(),
        ],
        ..Config::default()
    };
    let db = MariaDb::start_with(&config).expect("a TLS server");
    let mut root = mysql::Conn::new(mysql::Opts::from_url(&db.root_dsn("")).expect("dsn"))
        .expect("root over the socket");
    root.query_drop("CREATE USER 'app'@'%' IDENTIFIED BY 'app-secret' REQUIRE SSL").expect("the app user");

    let verify = vec![format!("--ssl-ca={}", path("ca.pem")), "--ssl-verify-server-cert".into()];
    let (ok, err) = client(&db, &verify);
    assert!(ok, "a client that verifies against the env's CA connects: {err}");

    let (ok, err) = client(&db, &["--skip-ssl".to_string()]);
    assert!(!ok, "a client without TLS is refused");
    assert!(err.contains("insecure transport") || err.contains("Access denied"), "{err}");

    let other = dir.join("other-ca.pem");
    std::fs::write(&other, Ca::generate("tl", 1_790_000_000).expect("another CA").cert_pem).expect("write");
    let (ok, err) =
        client(&db, &[format!("--ssl-ca={}", other.display()), "--ssl-verify-server-cert".into()]);
    assert!(!ok, "a client trusting another CA does not connect: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}
