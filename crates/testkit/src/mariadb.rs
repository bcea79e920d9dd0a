//! A throwaway MariaDB server for one test: its own data directory, socket and 127.0.0.1 port,
//! killed and removed when dropped. Uses Debian's `mariadb-install-db` and `mariadbd`.
//!
//! [`MariaDb::start`] runs the plain configuration drain and restore need; [`Config::protected`]
//! adds what continuous protection requires of a primary (row-based binary log in its own
//! directory, GTIDs in strict mode, `sync_binlog = 1`), as user-data configures one.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MariaDb {
    child: Child,
    server: PathBuf,
    args: Vec<String>,
    pub dir: PathBuf,
    pub port: u16,
}

/// How a test server is configured beyond the defaults every test server gets.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The binary log as continuous protection needs it, in `DIR/binlog/spot-bin.NNNNNN`.
    pub protected: bool,
    /// `server_id` (when zero: the server's own, counted from 1 in each test process, as each
    /// instance of an env has its own).
    pub server_id: u32,
    /// Further `--option=value` arguments, after the others (so they win).
    pub extra: Vec<String>,
}

impl Config {
    /// A primary as user-data configures one for continuous protection.
    pub fn protected() -> Config {
        Config { protected: true, ..Config::default() }
    }

    /// The server arguments this configuration adds.
    fn args(&self, dir: &std::path::Path, own_id: u32) -> Vec<String> {
        let id = if self.server_id == 0 { own_id } else { self.server_id };
        let mut args = vec![format!("--server-id={id}")];
        if self.protected {
            // log-basename must come before log-bin, or it moves the binlog into the datadir.
            args.extend([
                "--log-basename=spot".to_string(),
                format!("--log-bin={}", dir.join("binlog/spot-bin").display()),
                "--binlog-format=ROW".into(),
                "--binlog-row-image=FULL".into(),
                "--binlog-checksum=CRC32".into(),
                "--sync-binlog=1".into(),
                "--innodb-flush-log-at-trx-commit=1".into(),
                "--gtid-domain-id=0".into(),
                "--gtid-strict-mode=1".into(),
            ]);
        } else {
            args.push("--log-bin=mysql-bin".into());
        }
        args.extend(self.extra.iter().cloned());
        args
    }
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
        MariaDb::start_with(&Config::default())
    }

    /// A server configured as [`Config::protected`] says.
    pub fn start_protected() -> Option<MariaDb> {
        MariaDb::start_with(&Config::protected())
    }

    /// A server with `config`; `None` as for [`MariaDb::start`].
    pub fn start_with(config: &Config) -> Option<MariaDb> {
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
        std::fs::create_dir_all(dir.join("binlog")).expect("binlog dir");
        let mut args: Vec<String> =
            ["--no-defaults", "--user=root", "--bind-address=127.0.0.1", "--local-infile=1"]
                .map(String::from)
                .to_vec();
        args.extend([
            format!("--datadir={}", dir.join("data").display()),
            format!("--socket={}", dir.join("sock").display()),
            format!("--tmpdir={}", dir.join("tmp").display()),
            format!("--port={port}"),
            format!("--pid-file={}", dir.join("pid").display()),
            "--innodb-buffer-pool-size=256M".into(),
        ]);
        args.extend(config.args(&dir, u32::try_from(n + 1).unwrap_or(u32::MAX)));
        let child = spawn(&server, &args);
        let mut db = MariaDb { child, server, args, dir, port };
        db.wait_up();
        Some(db)
    }

    /// Until the server accepts a connection on its socket: the file appears when the socket is
    /// bound, a moment before the server listens (a connection then is refused).
    fn wait_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::os::unix::net::UnixStream::connect(self.dir.join("sock")).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mariadbd exited with {status} before it came up");
            }
            assert!(Instant::now() < deadline, "mariadbd did not come up within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server with SIGKILL, as a vanished instance would leave it: no shutdown, the
    /// binary log as it was at that instant.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same data directory, port and configuration (after
    /// [`MariaDb::kill`], or to restart a running one: it is killed first).
    pub fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(self.dir.join("sock"));
        self.child = spawn(&self.server, &self.args);
        self.wait_up();
    }

    /// Where a protected server keeps its binary log.
    pub fn binlog_dir(&self) -> PathBuf {
        self.dir.join("binlog")
    }

    /// Root over the unix socket (no password), optionally on a database.
    pub fn root_dsn(&self, db: &str) -> String {
        format!("mysql://root@localhost/{db}?socket={}", self.dir.join("sock").display())
    }
}

fn spawn(server: &std::path::Path, args: &[String]) -> Child {
    Command::new(server)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mariadbd starts")
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
