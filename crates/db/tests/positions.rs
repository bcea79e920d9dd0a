//! The shipper's report of positions, against a real MariaDB: while every write to the bucket is
//! slowed and a writer commits, its heartbeat says commits wait (the committed position ahead of
//! the stored one, the safe instant behind its last read) and `loss_window` says `behind`; once the
//! writer stops it says caught up, both positions equal to the server's, with a bound that counts
//! the slow writes it measured.

mod protect_support;

use mysql::prelude::Queryable;
use protect_support::{conn, fast, insert, primary, store, PREFIX};
use spotctl_db::protect::heartbeat::{self, Heartbeat};
use spotctl_db::protect::{loss_window, LossWindow, Note, Shipper};
use spotctl_db::store::{BlobError, BlobStore, Creation, FsBlobStore};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SLOW: Duration = Duration::from_millis(300);

/// Every write waits [`SLOW`] first, as a throttled bucket's would.
struct Slow(Arc<FsBlobStore>);

impl BlobStore for Slow {
    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError> {
        std::thread::sleep(SLOW);
        self.0.put(key, body)
    }
    fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Creation, BlobError> {
        std::thread::sleep(SLOW);
        self.0.put_if_absent(key, body)
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        self.0.get(key)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.0.list(prefix)
    }
    fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.0.delete(key)
    }
}

fn beat(store: &FsBlobStore) -> Heartbeat {
    heartbeat::read_of(store, PREFIX, 1).expect("read").expect("a heartbeat")
}

fn now_ms() -> u64 {
    spotctl_db::protect::clock::now_ms()
}

#[test]
fn a_slowed_shipper_reports_commits_waiting_then_caught_up() {
    let Some(db) = primary() else { return };
    let dsn = db.root_dsn("");
    let fs = store("positions");
    let stop = Arc::new(AtomicBool::new(false));
    let (d, s, f) = (dsn.clone(), stop.clone(), fs.clone());
    let shipper = std::thread::spawn(move || {
        let slow = Slow(f);
        let mut shipper = Shipper::start(&d, &slow, PREFIX, fast()).expect("starts");
        shipper.run(&s, &mut |_: Note| {}).expect("ships")
    });
    let writing = Arc::new(AtomicBool::new(true));
    let (d, w) = (dsn.clone(), writing.clone());
    let writer = std::thread::spawn(move || {
        let mut i = 1;
        while w.load(Ordering::SeqCst) {
            insert(&d, i, i + 1);
            i += 1;
        }
    });
    std::thread::sleep(Duration::from_secs(4));
    let hb = beat(&fs);
    assert_eq!(hb.caught_up(), Some(false), "{hb:#?}");
    let (read, safe) = (hb.read_at_ms.expect("read"), hb.safe_through_ms.expect("safe"));
    assert!(
        read - safe >= SLOW.as_millis() as u64,
        "the safe instant trails the read by a slow write: {hb:#?}"
    );
    assert_ne!(hb.committed_gtid, hb.last_gtid, "committed ahead of stored: {hb:#?}");
    match loss_window(Some(&hb), 0, now_ms(), &fast()) {
        LossWindow::Behind { ms, .. } => assert!(ms >= SLOW.as_millis() as u64, "{ms}"),
        other => panic!("not behind: {other:?} {hb:#?}"),
    }

    writing.store(false, Ordering::SeqCst);
    writer.join().expect("writer");
    let pos: String = conn(&dsn).query_first("SELECT @@gtid_binlog_pos").expect("pos").unwrap_or_default();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let hb = loop {
        let hb = beat(&fs);
        if hb.caught_up() == Some(true) && hb.last_gtid.as_deref() == Some(pos.as_str()) {
            break hb;
        }
        assert!(std::time::Instant::now() < deadline, "never caught up: {hb:#?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(hb.committed_gtid.as_deref(), Some(pos.as_str()), "{hb:#?}");
    assert_eq!((hb.committed_file.as_deref(), hb.committed_end), (Some(hb.file.as_str()), Some(hb.end)));
    let bound = hb.bound_ms.expect("a measured bound");
    assert!(bound >= 2 * SLOW.as_millis() as u64, "the slow writes count in the bound: {bound}");
    assert_eq!(
        loss_window(Some(&hb), 0, hb.written_at_ms + 100, &fast()),
        LossWindow::Shipping { bound_ms: bound }
    );
    stop.store(true, Ordering::SeqCst);
    shipper.join().expect("shipper");
}
