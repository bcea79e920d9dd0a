//! The env files shipped in `envs/` load, with the values the docs promise.
//!
//! The SSH key is not in the repository (key/.gitignore), so these tests read the env's files
//! through a stand-in that supplies a public key and reads everything else from the repository.

use spotctl_core::config::{self, InterruptionBucket, LoadedEnv, Period};
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

const TEST_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE5pYwL9l1oQy0a1sOj6Qp7gX5rY2aZ3kS8o0yq2cUvT spotctl-test";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn advisor() -> spotctl_core::placement::advisor::AdvisorData {
    spotctl_core::placement::advisor::AdvisorData::embedded()
}

/// Reads paths relative to the repository root, with `key/spotctl.pub` standing in when asked.
fn reader(with_key: bool) -> impl Fn(&Path) -> io::Result<String> {
    move |p: &Path| {
        if p == Path::new("key/spotctl.pub") {
            return if with_key { Ok(format!("{TEST_KEY}\n")) } else { Err(io::ErrorKind::NotFound.into()) };
        }
        std::fs::read_to_string(repo().join(p))
    }
}

/// Loads `envs/<name>` as the CLI does from the repository root (relative paths in messages).
fn load(name: &str, with_key: bool) -> Result<LoadedEnv, config::ConfigError> {
    let dir = Path::new("envs").join(name);
    let text =
        std::fs::read_to_string(repo().join(&dir).join(config::ENV_FILE)).expect("env file in the repo");
    let advisor = advisor();
    config::load_with(&dir, &text, &|t| advisor.knows_type(t), &reader(with_key))
}

#[test]
fn the_dev_env_loads_with_the_original_projects_values() {
    let loaded = load("dev", true).unwrap_or_else(|e| panic!("{e}"));
    let env = &loaded.env;
    assert_eq!(env.env.name, "dev");
    assert_eq!(env.env.home_region, "ap-northeast-1");
    assert_eq!(env.env.regions, ["ap-northeast-1", "ap-northeast-3", "ap-southeast-1"]);
    assert!(env.instance.types.len() >= 3);
    assert_eq!(env.instance.target_capacity, 1);
    assert_eq!(env.instance.volume_gb, 20);
    assert_eq!(env.placement.relocation_margin, 0.10);
    assert_eq!(env.placement.interruption_cooldown, Period::from_secs(6 * 3600));
    assert_eq!(env.database.name, "appdb");
    assert_eq!(env.access.ssh_public_key, "../../key/spotctl.pub");
    assert!(env.access.ssh_cidrs.is_empty() && env.access.mysql_cidrs.is_empty());
    assert!(!env.access.allow_public_mysql);
    assert_eq!(env.schedule.relocation, "rate(12 hours)");
    assert_eq!(env.schedule.advisor_refresh, "rate(1 day)");
    assert_eq!(env.fis.interruption_lead, "PT2M");
    assert!(env.fleet.is_empty());

    assert_eq!(loaded.ssh_public_key, TEST_KEY);
    assert_eq!(loaded.ssh_public_key_path, PathBuf::from("key/spotctl.pub"));
    assert_eq!(loaded.schema_path, Some(PathBuf::from("envs/dev/schema.sql")));
    assert!(loaded.schema_sql.contains("CREATE TABLE IF NOT EXISTS employees"));
    assert_eq!(loaded.file, PathBuf::from("envs/dev/spotctl.toml"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn every_dev_instance_type_is_in_the_advisor_data_of_every_dev_region() {
    let data: serde_json::Value =
        serde_json::from_str(include_str!("../data/spot-advisor-data.json")).expect("json");
    let loaded = load("dev", true).unwrap_or_else(|e| panic!("{e}"));
    for region in &loaded.env.env.regions {
        let linux = data["spot_advisor"][region]["Linux"].as_object().expect("region in the advisor data");
        let missing: Vec<&String> =
            loaded.env.instance.types.iter().filter(|t| !linux.contains_key(*t)).collect();
        assert!(missing.is_empty(), "{region} has no advisor data for {missing:?}");
    }
}

#[test]
fn the_dev_env_without_its_key_says_how_to_make_one() {
    let err = load("dev", false).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "envs/dev/spotctl.toml:28:18: access.ssh_public_key: no file at key/spotctl.pub; create the key pair \
             with: ssh-keygen -t ed25519 -N '' -f key/spotctl"
        )
    );
}

#[test]
fn the_fleet_env_loads_with_one_fleet() {
    let loaded = load("fleet", true).unwrap_or_else(|e| panic!("{e}"));
    let [fleet] = loaded.env.fleet.as_slice() else { panic!("one fleet expected: {:?}", loaded.env.fleet) };
    assert_eq!(fleet.name, "workers");
    assert_eq!(fleet.primary_region, "us-east-1");
    assert_eq!(fleet.fallback_region, "us-east-2");
    assert_eq!(fleet.instance_types, ["g4dn.2xlarge", "g4dn.xlarge", "g5.xlarge"]);
    assert_eq!(fleet.queue, "jobs");
    assert_eq!((fleet.backlog_per_instance, fleet.max_primary, fleet.max_fallback), (20, 200, 50));
    assert_eq!(fleet.idle_timeout, Period::from_secs(30));
    assert_eq!(fleet.command.as_deref(), Some("/opt/worker/run"));
    assert_eq!(fleet.user_data, None);
    // Defaults fill what the fleet env leaves out.
    assert_eq!(loaded.env.schedule.relocation, "rate(12 hours)");
    assert_eq!(loaded.env.database.name, "appdb");
    assert_eq!(loaded.env.placement.max_interruption, None::<InterruptionBucket>);
    assert_eq!(loaded.schema_sql, "");
}

#[test]
fn the_envs_use_only_types_the_advisor_knows() {
    let advisor = advisor();
    let mut types = BTreeSet::new();
    for name in ["dev", "fleet"] {
        let loaded = load(name, true).unwrap_or_else(|e| panic!("{e}"));
        types.extend(loaded.env.instance.types.clone());
        types.extend(loaded.env.fleet.iter().flat_map(|f| f.instance_types.clone()));
    }
    assert!(types.iter().all(|t| advisor.knows_type(t)), "{types:?}");
}

#[test]
fn loading_a_real_env_dir_reads_its_files_from_disk() {
    // A temporary copy of envs/dev next to a generated-looking key, so `load` (not `load_with`) runs.
    let root = std::env::temp_dir().join(format!("spotctl-config-envs-{}", std::process::id()));
    let dir = root.join("envs/dev");
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::create_dir_all(root.join("key")).expect("temp key dir");
    for f in ["spotctl.toml", "schema.sql"] {
        std::fs::copy(repo().join("envs/dev").join(f), dir.join(f)).expect("copy env");
    }
    std::fs::write(root.join("key/spotctl.pub"), format!("{TEST_KEY}\n")).expect("write key");
    let advisor = advisor();
    let by_dir = config::load(&dir, &|t| advisor.knows_type(t));
    let by_file = config::load(&dir.join("spotctl.toml"), &|t| advisor.knows_type(t));
    let missing = config::load(&root.join("nowhere"), &|t| advisor.knows_type(t));
    std::fs::remove_dir_all(&root).expect("clean up");

    let by_dir = by_dir.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(by_dir.ssh_public_key, TEST_KEY);
    assert_eq!(by_dir.ssh_public_key_path, root.join("key/spotctl.pub"));
    assert_eq!(by_file.map(|l| l.env).ok(), Some(by_dir.env));
    let missing = missing.err().map(|e| e.to_string());
    let expected = format!(
        "{}: no env file here; valid: an env dir holding spotctl.toml (see docs/env-reference.md)",
        root.join("nowhere/spotctl.toml").display()
    );
    assert_eq!(missing, Some(expected));
}
