//! Shared by the continuous-protection tests: a protected primary, a shipper running beside it,
//! a steady writer, and reading back what was shipped.

#![allow(dead_code)] // each test file uses its own subset

use mysql::prelude::Queryable;
use mysql::{Conn, Opts};
use spotctl_db::protect::{Note, ShipOptions, Shipper, Stopped};
use spotctl_db::store::{BlobStore, FsBlobStore};
use spotctl_testkit::mariadb::MariaDb;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub fn conn(dsn: &str) -> Conn {
    Conn::new(Opts::from_url(dsn).expect("test DSN parses")).expect("connect to the test server")
}

pub fn store(tag: &str) -> Arc<FsBlobStore> {
    let d = std::env::temp_dir().join(format!("spotctl-protect-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    Arc::new(FsBlobStore::new(d))
}

pub const PREFIX: &str = "backups";

/// Quick options: a short interval and heartbeat so tests see pieces and fences soon.
pub fn fast() -> ShipOptions {
    ShipOptions {
        poll: Duration::from_millis(20),
        min_interval: Duration::from_millis(100),
        heartbeat_busy: Duration::from_millis(500),
        heartbeat_idle: Duration::from_secs(2),
        fence_check: Duration::from_millis(200),
        ..ShipOptions::default()
    }
}

/// A shipper running on its own thread until [`Running::stop`].
pub struct Running {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<Stopped, String>>>,
    pub notes: Arc<std::sync::Mutex<Vec<String>>>,
}

pub fn ship(dsn: &str, store: Arc<FsBlobStore>, opts: ShipOptions) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let notes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (dsn, s, n) = (dsn.to_string(), stop.clone(), notes.clone());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut shipper = match Shipper::start(&dsn, store.as_ref(), PREFIX, opts) {
            Ok(sh) => sh,
            Err(e) => {
                let _ = ready_tx.send(());
                return Err(format!("{e}"));
            }
        };
        let _ = ready_tx.send(());
        let mut note = |x: Note| n.lock().expect("notes").push(format!("{x:?}"));
        shipper.run(&s, &mut note).map_err(|e| format!("{e}"))
    });
    let _ = ready_rx.recv_timeout(Duration::from_secs(30));
    Running { stop, handle: Some(handle), notes }
}

impl Running {
    pub fn stop(mut self) -> Result<Stopped, String> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .map(|h| h.join().unwrap_or_else(|_| Err("shipper panicked".into())))
            .unwrap_or(Err("gone".into()))
    }

    /// Waits for the shipper to end by itself (fenced, or an error).
    pub fn join(mut self) -> Result<Stopped, String> {
        self.handle
            .take()
            .map(|h| h.join().unwrap_or_else(|_| Err("shipper panicked".into())))
            .unwrap_or(Err("gone".into()))
    }

    pub fn finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A protected primary with `appdb.t (id, v)` and one row.
pub fn primary() -> Option<MariaDb> {
    let db = MariaDb::start_protected()?;
    let mut c = conn(&db.root_dsn(""));
    c.query_drop("CREATE DATABASE appdb CHARACTER SET utf8mb4").expect("db");
    c.query_drop("CREATE TABLE appdb.t (id INT PRIMARY KEY, v VARCHAR(100), at DATETIME(6))").expect("table");
    c.query_drop("INSERT INTO appdb.t VALUES (0, 'first', NOW(6))").expect("row");
    Some(db)
}

/// Inserts rows `from..to` into `appdb.t`, one autocommit transaction each.
pub fn insert(dsn: &str, from: u32, to: u32) {
    let mut c = conn(dsn);
    for i in from..to {
        c.exec_drop("INSERT INTO appdb.t (id, v, at) VALUES (?, ?, NOW(6))", (i, format!("row {i}")))
            .expect("insert");
    }
}

/// Waits until the store's heartbeat (or pieces) show `gtid` shipped on timeline `t`.
pub fn wait_shipped(store: &dyn BlobStore, t: u32, dsn: &str) {
    let want: String = conn(dsn).query_first("SELECT @@gtid_binlog_pos").expect("pos").unwrap_or_default();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let hb = spotctl_db::protect::heartbeat::read_of(store, PREFIX, t).ok().flatten();
        let last = last_shipped_gtid(store, t);
        if last.as_deref() == Some(want.as_str())
            || hb.and_then(|h| h.last_gtid).as_deref() == Some(want.as_str())
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{want} not shipped within 30 s (last piece says {last:?})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last GTID of the newest piece with transactions.
pub fn last_shipped_gtid(store: &dyn BlobStore, t: u32) -> Option<String> {
    let keys = store.list(&spotctl_layout::log::log_dir(PREFIX, t)).ok()?;
    keys.iter().rev().find_map(|k| {
        let body = store.get(k).ok()??;
        let nl = body.iter().position(|&b| b == b'\n')?;
        let h: spotctl_db::protect::piece::PieceHeader = serde_json::from_slice(&body[..nl]).ok()?;
        h.last_gtid
    })
}

/// Every shipped byte of timeline `t`, file by file: (file, bytes from 0), checking that the
/// pieces tile each file.
pub fn shipped_files(store: &dyn BlobStore, t: u32) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for k in store.list(&spotctl_layout::log::log_dir(PREFIX, t)).expect("list") {
        let place = spotctl_layout::PieceKey::parse(PREFIX, t, &k).expect("piece key");
        let body = store.get(&k).expect("get").expect("there");
        let (h, z) = spotctl_db::protect::piece::split(&k, &place, &body).expect("header");
        let raw = spotctl_db::protect::piece::unpack(&k, &h, z).expect("bytes");
        match out.last_mut() {
            Some((f, bytes)) if *f == h.file => {
                assert_eq!(bytes.len() as u64, h.offset, "pieces of {f} are contiguous");
                bytes.extend_from_slice(&raw);
            }
            _ => {
                assert_eq!(h.offset, 0, "a file's first piece starts at 0");
                out.push((h.file.clone(), raw));
            }
        }
    }
    out
}
