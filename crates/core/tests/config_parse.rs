//! The env file reader on text: what it accepts, the defaults it fills in, the canonical form it
//! gives, the warnings it raises, and the files it reads through `load_with`. The refusals
//! themselves are covered case by case in the corpus (`config_corpus.rs`).

use proptest::prelude::*;
use spotctl_core::config::{self, ConfigError, EnvFile, InterruptionBucket, LoadedEnv, Parsed, Period};
use std::io;
use std::path::Path;

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE5pYwL9l1oQy0a1sOj6Qp7gX5rY2aZ3kS8o0yq2cUvT test";

/// A fixed stand-in for the Spot Advisor's type list, so these tests depend on no data file.
fn known(t: &str) -> bool {
    ["m5.large", "m5.xlarge", "m6i.large", "r5.large", "c5.large", "g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge"]
        .contains(&t)
}

const MINIMAL: &str = r#"
[env]
name = "dev"
home_region = "ap-northeast-1"
regions = ["ap-northeast-1"]

[instance]
types = ["m5.large", "m6i.large", "r5.large"]

[access]
ssh_public_key = "key.pub"
"#;

fn parse(text: &str) -> Result<Parsed, ConfigError> {
    config::parse(text, Path::new("envs/t/spotctl.toml"), &known)
}

fn problems(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.to_string().lines().map(str::to_string).collect(),
    }
}

/// Reads `key.pub` (the test key), and any other path from `files`.
fn load(text: &str, files: &[(&str, &str)]) -> Result<LoadedEnv, ConfigError> {
    let files: Vec<(String, String)> =
        files.iter().map(|(p, c)| (format!("envs/t/{p}"), c.to_string())).collect();
    let read = move |p: &Path| -> io::Result<String> {
        if p == Path::new("envs/t/key.pub") {
            return Ok(format!("{KEY}\n"));
        }
        files
            .iter()
            .find(|(f, _)| Path::new(f) == p)
            .map(|(_, c)| c.clone())
            .ok_or(io::ErrorKind::NotFound.into())
    };
    config::load_with(Path::new("envs/t"), text, &known, &read)
}

#[test]
fn a_minimal_env_gets_every_default() {
    let env = parse(MINIMAL).unwrap_or_else(|e| panic!("{e}")).env;
    assert_eq!(env.instance.target_capacity, 1);
    assert_eq!(env.instance.volume_gb, 20);
    assert_eq!(env.instance.image_parameter, None);
    assert_eq!(env.placement.min_sps, None);
    assert_eq!(env.placement.max_interruption, None);
    assert_eq!(env.placement.max_price, None);
    assert_eq!(env.placement.relocation_margin, 0.10);
    assert_eq!(env.placement.interruption_cooldown, Period::from_secs(43_200));
    assert_eq!(env.database.name, "appdb");
    assert_eq!(env.database.schema, None);
    assert!(env.access.ssh_cidrs.is_empty() && env.access.mysql_cidrs.is_empty());
    assert_eq!(env.schedule.relocation, "rate(12 hours)");
    assert_eq!(env.schedule.advisor_refresh, "rate(1 day)");
    assert_eq!(env.fis.interruption_lead, "PT2M");
    assert!(env.fleet.is_empty());
}

#[test]
fn a_prepared_image_is_named_by_its_parameter() {
    let text = MINIMAL.replace(
        "types = [\"m5.large\", \"m6i.large\", \"r5.large\"]",
        "types = [\"m5.large\", \"m6i.large\", \"r5.large\"]\nimage_parameter = \"/my-org/spotctl-mariadb-ami\"",
    );
    let env = parse(&text).unwrap_or_else(|e| panic!("{e}")).env;
    assert_eq!(env.instance.image_parameter.as_deref(), Some("/my-org/spotctl-mariadb-ami"));
    let bad = MINIMAL.replace("types = [", "image_parameter = \"/no spaces\"\ntypes = [");
    assert!(problems(&bad).iter().any(|p| p.contains("instance.image_parameter")), "{:?}", problems(&bad));
}

#[test]
fn every_optional_key_is_read() {
    let text = format!(
        "{}{}",
        MINIMAL.replace("[access]", "target_capacity = 0x10\nvolume_gb = 1_000\n\n[access]"),
        r#"
[placement]
min_sps = 3
max_interruption = "10-15%"
max_price = 0.2
relocation_margin = 0
interruption_cooldown = "90m"

[database]
name = "shop_1"
schema = "schema.sql"

[schedule]
relocation = "cron(0 3 * * ? *)"
advisor_refresh = "rate(6 hours)"

[fis]
interruption_lead = "PT150S"
"#
    );
    let env = parse(&text).unwrap_or_else(|e| panic!("{e}")).env;
    assert_eq!((env.instance.target_capacity, env.instance.volume_gb), (16, 1000));
    assert_eq!(env.placement.min_sps, Some(3));
    assert_eq!(env.placement.max_interruption, Some(InterruptionBucket::From10To15));
    assert_eq!(env.placement.max_interruption.map(InterruptionBucket::index), Some(2));
    assert_eq!(env.placement.max_price, Some(0.2));
    assert_eq!(env.placement.relocation_margin, 0.0);
    assert_eq!(env.placement.interruption_cooldown.to_string(), "90m");
    assert_eq!(env.database.name, "shop_1");
    assert_eq!(env.database.schema.as_deref(), Some("schema.sql"));
    assert_eq!(env.schedule.relocation, "cron(0 3 * * ? *)");
    assert_eq!(env.fis.interruption_lead, "PT150S");
}

#[test]
fn sets_are_sorted_and_cidrs_canonical_so_order_changes_nothing() {
    let a = MINIMAL
        .replace(r#"regions = ["ap-northeast-1"]"#, r#"regions = ["ap-southeast-1", "ap-northeast-1"]"#)
        .replace(r#"["m5.large", "m6i.large", "r5.large"]"#, r#"["r5.large", "m5.large", "m6i.large"]"#)
        + "ssh_cidrs = [\"203.0.113.0/24\", \"2001:DB8::/32\", \"198.51.100.7/32\"]\n";
    let b = MINIMAL
        .replace(r#"regions = ["ap-northeast-1"]"#, r#"regions = ["ap-northeast-1", "ap-southeast-1"]"#)
        + "ssh_cidrs = [\"198.51.100.7/32\", \"2001:db8::/32\", \"203.0.113.0/24\"]\n";
    let (a, b) = (parse(&a).map(|p| p.env), parse(&b).map(|p| p.env));
    let a = a.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(Some(&a), b.as_ref().ok());
    assert_eq!(a.env.regions, ["ap-northeast-1", "ap-southeast-1"]);
    assert_eq!(a.instance.types, ["m5.large", "m6i.large", "r5.large"]);
    assert_eq!(a.access.ssh_cidrs, ["198.51.100.7/32", "2001:db8::/32", "203.0.113.0/24"]);
}

#[test]
fn the_model_serialises_and_reads_back_unchanged() {
    let text = format!(
        "{MINIMAL}{}",
        r#"
[placement]
max_interruption = "<5%"

[[fleet]]
name = "w"
primary_region = "us-east-1"
fallback_region = "us-east-2"
instance_types = ["g4dn.xlarge"]
queue = "jobs"
max_primary = 3
max_fallback = 1
command = "/opt/worker/run"
"#
    );
    let env = parse(&text).unwrap_or_else(|e| panic!("{e}")).env;
    let as_toml = toml::to_string(&env).expect("serialises to TOML");
    assert_eq!(toml::from_str::<EnvFile>(&as_toml).ok().as_ref(), Some(&env), "{as_toml}");
    let as_json = serde_json::to_string(&env).expect("serialises to JSON");
    assert_eq!(serde_json::from_str::<EnvFile>(&as_json).ok().as_ref(), Some(&env), "{as_json}");
    assert!(as_json.contains(r#""max_interruption":"<5%""#) && as_json.contains(r#""idle_timeout":"30s""#));
}

#[test]
fn serde_alone_reads_a_valid_env_file_the_same_way() {
    // The validating reader and the serde model must agree on key names and defaults.
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../envs/fleet/spotctl.toml"))
            .expect("envs/fleet");
    let by_serde: EnvFile = toml::from_str(&text).expect("serde reads envs/fleet");
    let advisor_free = config::parse(&text, Path::new("envs/fleet/spotctl.toml"), &|_| true);
    let mut by_reader = advisor_free.unwrap_or_else(|e| panic!("{e}")).env;
    // The reader sorts sets; serde keeps file order.
    by_reader.fleet[0].instance_types = by_serde.fleet[0].instance_types.clone();
    assert_eq!(by_serde, by_reader);
}

#[test]
fn inline_tables_and_an_inline_fleet_array_are_the_same_as_headers() {
    let text = r#"
env = { name = "dev", home_region = "us-east-1", regions = ["us-east-1"] }
instance.types = ["m5.large", "m6i.large", "r5.large"]
access = { ssh_public_key = "key.pub" }
fleet = [{ name = "w", primary_region = "us-east-1", fallback_region = "us-east-2", instance_types = ["g5.xlarge"], queue = "q", max_primary = 1, max_fallback = 0, command = "run" }]
"#;
    let env = parse(text).unwrap_or_else(|e| panic!("{e}")).env;
    assert_eq!(env.fleet.len(), 1);
    assert_eq!(env.fleet[0].max_fallback, 0);
}

#[test]
fn problems_are_all_reported_in_file_order_with_positions() {
    let text =
        MINIMAL.replace(r#"name = "dev""#, r#"name = "Dev""#).replace("key.pub", "key") + "bogus = 1\n";
    assert_eq!(
        problems(&text),
        [
            r#"envs/t/spotctl.toml:3:8: env.name: "Dev" is not a valid env name; valid: 1 to 24 characters of a-z and 0-9, starting with a letter (no "-": spotctl-<env>- must not be the start of another env's names)"#,
            r#"envs/t/spotctl.toml:11:18: access.ssh_public_key: "key" does not end in .pub; valid: the path of an OpenSSH public key (ssh-keygen writes it as <name>.pub), never the private key"#,
            "envs/t/spotctl.toml:12:1: access.bogus: unknown key; valid in [access]: ssh_public_key, ssh_cidrs, mysql_cidrs, allow_public_mysql, allow_public_ssh",
        ]
    );
}

#[test]
fn the_error_carries_every_problem_as_data() {
    let text = MINIMAL
        .replace(r#"name = "dev""#, r#"name = 7"#)
        .replace(r#"regions = ["ap-northeast-1"]"#, "regions = []");
    let err = parse(&text).expect_err("refused");
    assert_eq!((err.line, err.col, err.key.as_str()), (3, 8, "env.name"));
    assert_eq!(err.message, "expected a string, found an integer");
    let keys: Vec<String> = err.problems().into_iter().map(|p| p.key).collect();
    assert_eq!(keys, ["env.name", "env.regions"]);
    assert_eq!(err.file, Path::new("envs/t/spotctl.toml"));
}

#[test]
fn a_password_is_refused_at_any_depth_even_inside_an_unknown_table() {
    let text = format!("{MINIMAL}\n[extra.nested]\nmysql_password = \"x\"\n");
    let found = problems(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("envs/t/spotctl.toml:13:2: extra: unknown table or key"));
    assert!(found[1].starts_with(
        "envs/t/spotctl.toml:14:1: extra.nested.mysql_password: an env file never holds a password"
    ));
    assert!(found[1].contains("SSM SecureString /spotctl/<env>/mysql-password"));
}

#[test]
fn columns_count_characters_not_bytes() {
    let text = MINIMAL.replace(r#"name = "dev""#, r#"name = "dév""#);
    assert!(problems(&text)[0].starts_with("envs/t/spotctl.toml:3:8: env.name: \"dév\""));
    let text = MINIMAL.replace("[access]", "# é\n[access]\nx = 1 # ü\ny = 2");
    assert!(problems(&text)[0].starts_with("envs/t/spotctl.toml:12:1: access.x: unknown key"));
}

#[test]
fn ssh_open_to_the_world_needs_saying_so_and_still_warns() {
    let open = MINIMAL.to_string() + "ssh_cidrs = [\"0.0.0.0/0\"]\n";
    assert_eq!(
        problems(&open),
        [
            r#"envs/t/spotctl.toml:12:14: access.ssh_cidrs[0]: "0.0.0.0/0" opens SSH to the whole IPv4 internet; valid: blocks that leave most of it out (your own addresses, e.g. "203.0.113.7/32"), or set access.allow_public_ssh = true to mean it"#
        ]
    );
    let meant = open + "allow_public_ssh = true\n";
    let warnings = parse(&meant).unwrap_or_else(|e| panic!("{e}")).warnings;
    let shown: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            r#"envs/t/spotctl.toml:12:14: access.ssh_cidrs[0]: "0.0.0.0/0" opens SSH to the whole IPv4 internet (access.allow_public_ssh = true)"#
        ]
    );
}

#[test]
fn the_whole_internet_in_pieces_is_refused_at_the_list() {
    let split = MINIMAL.to_string() + "mysql_cidrs = [\"0.0.0.0/1\", \"128.0.0.0/1\"]\n";
    assert_eq!(
        problems(&split),
        [
            r#"envs/t/spotctl.toml:12:15: access.mysql_cidrs: "0.0.0.0/1" + "128.0.0.0/1" together open MySQL to the whole IPv4 internet; valid: blocks that leave most of it out (your own addresses, e.g. "203.0.113.7/32"), or set access.allow_public_mysql = true to mean it"#
        ]
    );
    let narrow = MINIMAL.to_string() + "mysql_cidrs = [\"0.0.0.0/1\", \"10.0.0.0/8\"]\n";
    assert!(parse(&narrow).is_ok(), "half the internet is not the whole of it");
}

#[test]
fn public_mysql_needs_saying_so_and_still_warns() {
    let open = MINIMAL.to_string() + "mysql_cidrs = [\"::/0\"]\n";
    assert!(problems(&open)[0].contains("opens MySQL to the whole IPv6 internet; valid: blocks that leave"));
    let meant = open + "allow_public_mysql = true\n";
    let parsed = parse(&meant).unwrap_or_else(|e| panic!("{e}"));
    assert!(parsed.env.access.allow_public_mysql);
    assert_eq!(parsed.env.access.mysql_cidrs, ["::/0"]);
    assert_eq!(parsed.warnings.len(), 1);
    assert!(parsed.warnings[0].message.contains("(access.allow_public_mysql = true)"));
}

#[test]
fn parse_looks_at_no_file_but_load_reads_them_all() {
    let text = format!("{MINIMAL}\n[database]\nschema = \"schema.sql\"\n");
    assert!(parse(&text).is_ok(), "parse must not look for key.pub or schema.sql");

    let loaded =
        load(&text, &[("schema.sql", "CREATE TABLE t (id INT);\n")]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.ssh_public_key, KEY);
    assert_eq!(loaded.schema_sql, "CREATE TABLE t (id INT);\n");
    assert_eq!(loaded.schema_path.as_deref(), Some(Path::new("envs/t/schema.sql")));

    let missing = load(&text, &[]).err().map(|e| e.to_string());
    assert_eq!(
        missing.as_deref(),
        Some(
            r#"envs/t/spotctl.toml:14:10: database.schema: no file at envs/t/schema.sql; valid: the path, relative to the env dir, of an SQL file (e.g. "schema.sql")"#
        )
    );
}

#[test]
fn file_problems_and_text_problems_come_together() {
    let text = MINIMAL.replace("key.pub", "../keys/none.pub").replace(r#"name = "dev""#, r#"name = "-""#);
    let found: Vec<String> =
        load(&text, &[]).err().map(|e| e.to_string()).unwrap_or_default().lines().map(String::from).collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("env.name"));
    assert!(found[1].ends_with("access.ssh_public_key: no file at envs/keys/none.pub; create the key pair with: ssh-keygen -t ed25519 -N '' -f envs/keys/none"));
}

#[test]
fn a_private_key_behind_a_pub_name_is_refused() {
    let text = MINIMAL.replace("key.pub", "id.pub");
    let private = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    let err = load(&text, &[("id.pub", private)]).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.starts_with(
            "envs/t/spotctl.toml:11:18: access.ssh_public_key: envs/t/id.pub: this is a private key"
        ),
        "{err}"
    );
    let ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNh me\n";
    let err = load(&text, &[("id.pub", ecdsa)]).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("\"ecdsa-sha2-nistp256\" keys cannot be imported into EC2"), "{err}");
}

#[test]
fn a_fleet_user_data_script_is_read_and_kept_by_fleet_name() {
    let text = format!(
        "{MINIMAL}{}",
        r#"
[[fleet]]
name = "w"
primary_region = "us-east-1"
fallback_region = "us-east-2"
instance_types = ["g5.xlarge"]
queue = "q"
max_primary = 1
max_fallback = 1
user_data = "worker.sh"
"#
    );
    let loaded = load(&text, &[("worker.sh", "#!/bin/sh\necho hi\n")]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.fleet_user_data.get("w").map(String::as_str), Some("#!/bin/sh\necho hi\n"));
    let big = "#".repeat(16 * 1024 + 1);
    let err = load(&text, &[("worker.sh", &big)]).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("is 16385 bytes; valid: at most 16384 (EC2's user-data limit)"), "{err}");
}

#[test]
fn only_the_first_syntax_error_is_reported() {
    let found = problems("[env]\nname = = 1\n[env]\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("envs/t/spotctl.toml:2:"), "{found:?}");
    assert!(found[0].contains(": invalid TOML: "), "{found:?}");
}

#[test]
fn an_empty_file_names_what_is_missing() {
    assert_eq!(
        problems(""),
        [
            "envs/t/spotctl.toml:1:1: access: missing table [access]; valid: a table with ssh_public_key (and, optionally, ssh_cidrs and mysql_cidrs)",
            "envs/t/spotctl.toml:1:1: env: missing table [env]; valid: a table with name, home_region and regions",
            "envs/t/spotctl.toml:1:1: instance: missing table [instance]; valid: a table with types (at least 3 instance types)",
        ]
    );
}

proptest! {
    /// Whatever the text, reading it ends in a model or in problems that point inside the text,
    /// in file order.
    #[test]
    fn any_text_is_loaded_or_refused_with_positions_in_order(
        cut in 0usize..400,
        noise in "[ -~\n]{0,40}",
    ) {
        let mut text: String = MINIMAL.chars().take(cut).collect();
        text.push_str(&noise);
        if let Err(e) = parse(&text) {
            let lines = text.split('\n').count();
            let problems = e.problems();
            for p in &problems {
                prop_assert!(p.line >= 1 && p.line <= lines && p.col >= 1, "{p:?} outside {lines} lines");
            }
            let positions: Vec<(usize, usize)> = problems.iter().map(|p| (p.line, p.col)).collect();
            let mut sorted = positions.clone();
            sorted.sort();
            prop_assert_eq!(positions, sorted);
        }
    }
}
