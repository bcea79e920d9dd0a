//! Shared by the integration tests: a temporary copy of an env with its own SSH key, and running
//! the real spotctl binary against a moto server.

#![allow(dead_code)]

pub mod handoff;
pub mod load;
pub mod permissions;

use assert_cmd::Command;
use spotctl_testkit::moto::Moto;
use std::path::{Path, PathBuf};

pub struct TempEnv {
    pub root: PathBuf,
    pub dir: PathBuf,
}

impl Drop for TempEnv {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies `envs/<name>` into a fresh directory laid out like the repository (`envs/<name>`,
/// `key/`), with a newly generated SSH key, and lets the caller edit the env file.
pub fn temp_env(name: &str, edit: impl Fn(String) -> String) -> TempEnv {
    let root = std::env::temp_dir().join(format!("spotctl-test-{}-{}", std::process::id(), unique()));
    let dir = root.join("envs").join(name);
    std::fs::create_dir_all(&dir).expect("temp env dir");
    std::fs::create_dir_all(root.join("key")).expect("temp key dir");
    for entry in std::fs::read_dir(repo().join("envs").join(name)).expect("env exists") {
        let entry = entry.expect("dir entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy env file");
    }
    let toml = dir.join("spotctl.toml");
    let text = std::fs::read_to_string(&toml).expect("env file");
    std::fs::write(&toml, edit(text)).expect("write env file");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "spotctl-test", "-f"])
        .arg(root.join("key/spotctl"))
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen failed");
    TempEnv { root, dir }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// The spotctl binary with moto's environment and nothing of the host's AWS setup.
pub fn spotctl(moto: &Moto) -> Command {
    let mut cmd = Command::cargo_bin("spotctl").expect("binary built");
    for key in ["AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"] {
        cmd.env_remove(key);
    }
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
