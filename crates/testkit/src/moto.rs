//! A moto server for one test: its own process and port, so tests do not see each other's state.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub port: u16,
    /// Where every spotctl process of this moto logs the requests it sends (the permission check).
    requests: std::path::PathBuf,
}

/// The python that has moto installed: `SPOTCTL_MOTO_PYTHON` (set by `tests/run.sh`), else the
/// repository's `.venv`.
fn python() -> String {
    std::env::var("SPOTCTL_MOTO_PYTHON").unwrap_or_else(|_| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
        root.to_string_lossy().into_owned()
    })
}

impl Moto {
    /// Starts moto and waits until it answers. Panics with the reason when it cannot: a test that
    /// needs the emulator must not pass without it.
    pub fn start() -> Moto {
        let port = crate::free_port();
        let py = python();
        let child = Command::new(&py)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto with {py}: {e}; run `bash tests/setup.sh` first"));
        let requests = std::env::temp_dir().join(format!("spotctl-moto-{port}-requests"));
        let _ = std::fs::remove_dir_all(&requests);
        std::fs::create_dir_all(&requests).expect("a directory for the request log");
        let moto = Moto { child, port, requests };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not listen on port {port} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Stops the server: every call to it is refused from now on (a bucket cut off).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a spotctl process needs to talk to this moto (and nothing else).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
            // moto evaluates no policy condition: the state bucket's conditional Denies would
            // refuse every object request there (ARD.md, Trust boundaries).
            ("SPOTCTL_EMULATOR_UNENFORCED_CONDITIONS", "1".into()),
            ("SPOTCTL_TEST_REQUEST_LOG", self.requests.to_string_lossy().into_owned()),
        ]
    }

    /// Every request the spotctl processes of this moto sent so far, one JSON line each
    /// (`spotctl_aws::sdk::calls`), in no particular order across processes.
    pub fn requests(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for entry in std::fs::read_dir(&self.requests).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            lines.extend(text.lines().map(String::from));
        }
        lines
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.requests);
    }
}
