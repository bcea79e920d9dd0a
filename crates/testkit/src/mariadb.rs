//! A throwaway MariaDB server for one test: its own data directory, socket and 127.0.0.1 port,
//! killed and removed when dropped. Uses Debian's `mariadb-install-db` and `mariadbd`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MariaDb {
    child: Child,
    pub dir: PathBuf,
    pub port: u16,
}

fn find(bin: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin"])
        .map(|d| PathBuf::from(d).join(bin))
        .find(|p| p.is_file());
    found
}

impl MariaDb {
    /// `None` when MariaDB is not installed and `SPOTCTL_REQUIRE_MARIADB` is unset (a developer
    /// machine without it); with the variable set (CI), a missing server is a failure.
    pub fn start() -> Option<MariaDb> {
        let (Some(install), Some(server)) = (find("mariadb-install-db"), find("mariadbd")) else {
            assert!(
                std::env::var_os("SPOTCTL_REQUIRE_MARIADB").is_none(),
                "MariaDB is required (SPOTCTL_REQUIRE_MARIADB is set) but mariadbd is not installed; run tests/setup.sh"
            );
            eprintln!("SKIPPED: mariadbd is not installed; run tests/setup.sh");
            return None;
        };
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let port = crate::free_port();
        let dir = std::env::temp_dir().join(format!("spotctl-mariadb-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Its own tmpdir too: internal temporary tables of servers sharing /tmp were seen to vanish
        // under each other in CI ("Error on delete of '/tmp/#sql-temptable-…MAI'").
        std::fs::create_dir_all(dir.join("tmp")).expect("mariadb dir");
        // Concurrent bootstraps of system tables fail now and then (seen here: "Installation of
        // system tables failed"); one at a time per test process is reliable.
        static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
        let install_once = || {
            let _ = std::fs::remove_dir_all(dir.join("data"));
            Command::new(&install)
                .args([
                    "--no-defaults",
                    "--auth-root-authentication-method=normal",
                    "--user=root",
                    "--skip-test-db",
                ])
                .arg(format!("--datadir={}", dir.join("data").display()))
                .arg(format!("--tmpdir={}", dir.join("tmp").display()))
                .output()
                .expect("mariadb-install-db runs")
        };
        // One retry: a bootstrap on a loaded machine can still fail once.
        let mut status = install_once();
        if !status.status.success() {
            status = install_once();
        }
        assert!(
            status.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&status.stdout),
            String::from_utf8_lossy(&status.stderr)
        );
        drop(guard);
        let child = Command::new(server)
            .args([
                "--no-defaults",
                "--user=root",
                "--bind-address=127.0.0.1",
                "--local-infile=1",
                "--log-bin=mysql-bin",
                "--server-id=1",
            ])
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--tmpdir={}", dir.join("tmp").display()))
            .arg(format!("--port={port}"))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .arg("--innodb-buffer-pool-size=256M")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd starts");
        let db = MariaDb { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !db.dir.join("sock").exists() {
            assert!(Instant::now() < deadline, "mariadbd did not come up within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(db)
    }

    /// Root over the unix socket (no password), optionally on a database.
    pub fn root_dsn(&self, db: &str) -> String {
        format!("mysql://root@localhost/{db}?socket={}", self.dir.join("sock").display())
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
