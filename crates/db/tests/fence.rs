//! The old primary takes no write once a drain starts: during the drain every writer, root
//! included, is blocked by the global read lock; afterwards ordinary accounts are refused by
//! `read_only`. Writes attempted during the drain are not in the server, nor in the backup.
//! And no error repeats the DSN's password.

mod support;

use mysql::prelude::Queryable;
use spotctl_db::backup::{drain, DrainOptions};
use spotctl_db::store::{BlobError, BlobStore, Creation, FsBlobStore};
use spotctl_testkit::mariadb::MariaDb;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;
use std::time::Duration;
use support::{conn, seed, store};

/// Holds the first `put` until the test says go, keeping the drain in progress meanwhile.
struct Gate {
    inner: FsBlobStore,
    entered: Mutex<Option<Sender<()>>>,
    go: Mutex<Receiver<()>>,
}

impl BlobStore for Gate {
    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError> {
        let first = self.entered.lock().ok().and_then(|mut e| e.take());
        if let Some(entered) = first {
            let _ = entered.send(());
            let _ = self.go.lock().map(|go| go.recv_timeout(Duration::from_secs(120)));
        }
        self.inner.put(key, body)
    }
    fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Creation, BlobError> {
        self.inner.put_if_absent(key, body)
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        self.inner.get(key)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.inner.list(prefix)
    }
    fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.inner.delete(key)
    }
}

fn app_user(db: &MariaDb, password: &str) -> String {
    let mut c = conn(&db.root_dsn(""));
    for host in ["localhost", "127.0.0.1"] {
        c.query_drop(format!("CREATE USER 'app'@'{host}' IDENTIFIED BY '{password}'")).expect("user");
        c.query_drop(format!("GRANT ALL ON appdb.* TO 'app'@'{host}'")).expect("grant");
    }
    format!("mysql://app:{password}@127.0.0.1:{}/appdb", db.port)
}

fn insert(dsn: &str, id: u32) -> Result<(), String> {
    let mut c = mysql::Conn::new(mysql::Opts::from_url(dsn).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    c.query_drop("SET SESSION lock_wait_timeout = 1").map_err(|e| e.to_string())?;
    c.query_drop(format!("INSERT INTO appdb.employees VALUES ({id}, 'late', 'late@x')"))
        .map_err(|e| e.to_string())
}

#[test]
fn writes_are_refused_during_and_after_a_drain() {
    let Some(db) = MariaDb::start() else { return };
    seed(&db.root_dsn(""), 100);
    let app = app_user(&db, "pw");
    insert(&app, 101).expect("the application writes before the drain");

    let (entered_tx, entered) = channel();
    let (go, go_rx) = channel();
    let gate = Gate { inner: store("fence"), entered: Mutex::new(Some(entered_tx)), go: Mutex::new(go_rx) };
    let root = db.root_dsn("");
    let m = std::thread::scope(|s| {
        let draining = s.spawn(|| drain(&root, &gate, "backups", "epoch-1", &DrainOptions::default()));
        entered.recv_timeout(Duration::from_secs(60)).expect("the drain reached its first upload");
        let by_root = insert(&root, 102).expect_err("root is blocked by the global read lock");
        assert!(by_root.contains("Lock wait timeout"), "{by_root}");
        let by_app = insert(&app, 103).expect_err("the application is refused during the drain");
        assert!(by_app.contains("read-only") || by_app.contains("Lock wait timeout"), "{by_app}");
        go.send(()).expect("release the upload");
        draining.join().expect("drain thread")
    })
    .expect("drain");

    let by_app = insert(&app, 104).expect_err("the application is refused after the drain");
    assert!(by_app.contains("read-only"), "{by_app}");
    let (_, emp) = m.tables().find(|(_, t)| t.name == "employees").expect("employees");
    assert_eq!(emp.rows, 101, "the backup has the write made before the fence and none after");
    let n: Option<u64> = conn(&root).query_first("SELECT COUNT(*) FROM appdb.employees").expect("count");
    assert_eq!(n, Some(101), "no refused write landed");
    assert_eq!(m.fence.statements, ["FLUSH TABLES WITH READ LOCK", "SET GLOBAL read_only = ON"]);
    let _ = std::fs::remove_dir_all(gate.inner.root());
}

#[test]
fn errors_never_repeat_the_password() {
    let Some(db) = MariaDb::start() else { return };
    seed(&db.root_dsn(""), 3);
    app_user(&db, "right-pw");
    let wrong = format!("mysql://app:hunter2-secret@127.0.0.1:{}/appdb", db.port);
    let err = drain(&wrong, &store("pw"), "b", "e1", &DrainOptions::default()).expect_err("access denied");
    let mut chain = format!("{err} {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    assert!(chain.contains("Access denied"), "{chain}");
    assert!(!chain.contains("hunter2"), "{chain}");
}
