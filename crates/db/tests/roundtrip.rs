//! Drain from one real MariaDB and restore into another: every column type, NULLs, arbitrary
//! bytes, 4-byte UTF-8, a table without a primary key, a view, a trigger, a procedure and a
//! function survive and verify. A cut upload leaves no manifest; tampering is caught; the old
//! server is fenced.

use mysql::prelude::Queryable;
use spotctl_db::blob::FailAfter;
use spotctl_db::{drain, restore, verify, DbError, DrainOptions, FsBlobStore};
use spotctl_testkit::mariadb::MariaDb;

const SCHEMA: &[&str] = &[
    "CREATE DATABASE appdb CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    "CREATE TABLE appdb.employees (id INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, email VARCHAR(255) NOT NULL)",
    "CREATE TABLE appdb.every_type (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        ti TINYINT, si SMALLINT UNSIGNED, mi MEDIUMINT, bi BIGINT,
        d DECIMAL(20,6), f FLOAT, db DOUBLE,
        c CHAR(10), vc VARCHAR(200), tx TEXT,
        bn BINARY(4), vb VARBINARY(64), bl BLOB,
        js JSON, dt DATE, tm TIME(3), dtm DATETIME(6), ts TIMESTAMP(6) NULL, yr YEAR,
        en ENUM('a','b','c'), st SET('x','y','z'), bt BIT(10),
        gen INT AS (ti * 2) VIRTUAL)",
    "CREATE TABLE appdb.no_pk (k VARCHAR(20), v INT)",
    "CREATE VIEW appdb.rich AS SELECT id, name FROM appdb.employees WHERE id > 1",
    "CREATE TABLE appdb.audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(50))",
    "CREATE TRIGGER appdb.employees_ai AFTER INSERT ON appdb.employees FOR EACH ROW INSERT INTO appdb.audit (what) VALUES (CONCAT('new ', NEW.id))",
    "CREATE PROCEDURE appdb.count_employees(OUT n INT) SELECT COUNT(*) INTO n FROM appdb.employees",
    "CREATE FUNCTION appdb.twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
];

fn seed(dsn: &str) {
    let mut c = mysql::Conn::new(mysql::Opts::from_url(dsn).expect("dsn")).expect("connect");
    for s in SCHEMA {
        c.query_drop(*s).unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    c.query_drop("INSERT INTO appdb.employees VALUES (1,'chao','chao@example.com'),(2,'Zoë 🚀','z@example.com'),(3,'tab\there','new\nline@x')").expect("employees");
    c.exec_drop(
        "INSERT INTO appdb.every_type (ti,si,mi,bi,d,f,db,c,vc,tx,bn,vb,bl,js,dt,tm,dtm,ts,yr,en,st,bt) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        mysql::Params::Positional(vec![
            (-5i8).into(),
            65535u16.into(),
            (-8388608i32).into(),
            i64::MIN.into(),
            "12345678901234.123456".into(),
            1.5f32.into(),
            std::f64::consts::E.into(),
            "ch".into(),
            "emoji 😀 and \\ backslash".into(),
            "long\ttext\r\n".into(),
            vec![0u8, 9, 10, 92].into(),
            vec![0u8, 255, 13, 10, 9, 0].into(),
            (0u8..=255).collect::<Vec<u8>>().into(),
            r#"{"a": [1, 2, {"b": null}]}"#.into(),
            "2024-02-29".into(),
            "-838:59:59.000".into(),
            "2025-12-31 07:15:00.123456".into(),
            "2025-01-01 00:00:00.000001".into(),
            2155u16.into(),
            "b".into(),
            "x,z".into(),
            1023u16.into(),
        ]),
    )
    .expect("every_type");
    c.query_drop("INSERT INTO appdb.every_type (ti) VALUES (NULL)").expect("a row of NULLs");
    c.query_drop("INSERT INTO appdb.no_pk VALUES ('dup', 1), ('dup', 1), (NULL, NULL)").expect("no_pk");
    let more: Vec<String> = (4..=2000).map(|i| format!("({i}, 'name{i}', 'e{i}@example.com')")).collect();
    c.query_drop(format!("INSERT INTO appdb.employees VALUES {}", more.join(","))).expect("bulk");
}

fn store_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("spotctl-db-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn round_trip_between_two_servers() {
    let (Some(old), Some(new)) = (MariaDb::start(), MariaDb::start()) else { return };
    seed(&old.root_dsn(""));
    let store = FsBlobStore { root: store_dir("rt") };
    let opts = DrainOptions { chunk_bytes: 16 << 10, ..DrainOptions::default() };
    let m = drain(&old.root_dsn(""), &store, "backups/epoch-1", &opts).expect("drain");
    let emp = m.tables.iter().find(|t| t.name == "employees").expect("employees in manifest");
    assert_eq!(emp.rows, 2000);
    assert!(emp.chunks.len() > 1, "small chunks should split the table");
    assert_eq!(m.views.len(), 1);
    assert_eq!(m.triggers.len(), 1);
    assert_eq!(m.routines.len(), 2);
    assert!(m.binlog.is_some(), "binary logging is on in the test server");

    // The old server is fenced: a non-root application user cannot write any more.
    let mut root = mysql::Conn::new(mysql::Opts::from_url(&old.root_dsn("")).expect("dsn")).expect("connect");
    let ro: Option<i64> = root.query_first("SELECT @@GLOBAL.read_only").expect("read_only");
    assert_eq!(ro, Some(1));

    let v = restore(&new.root_dsn(""), &store, "backups/epoch-1", 3).expect("restore");
    assert_eq!(v.tables.len(), m.tables.len());
    let mut c =
        mysql::Conn::new(mysql::Opts::from_url(&new.root_dsn("appdb")).expect("dsn")).expect("connect");
    let twice: Option<i64> = c.query_first("SELECT twice(21)").expect("function");
    assert_eq!(twice, Some(42));
    let zoe: Option<String> = c.query_first("SELECT name FROM employees WHERE id = 2").expect("utf8mb4");
    assert_eq!(zoe.as_deref(), Some("Zoë 🚀"));
    let blob: Option<Vec<u8>> =
        c.query_first("SELECT bl FROM every_type WHERE bl IS NOT NULL").expect("blob");
    assert_eq!(blob, Some((0u8..=255).collect::<Vec<u8>>()));
    let bit: Option<u64> = c.query_first("SELECT bt + 0 FROM every_type WHERE bt IS NOT NULL").expect("bit");
    assert_eq!(bit, Some(1023));
    let view: Option<i64> = c.query_first("SELECT COUNT(*) FROM rich").expect("view");
    assert_eq!(view, Some(1999));
    c.query_drop("INSERT INTO employees VALUES (5000, 'after', 'a@b')")
        .expect("writes allowed on the new server");
    let audited: Option<String> =
        c.query_first("SELECT what FROM audit ORDER BY id DESC LIMIT 1").expect("trigger");
    assert_eq!(audited.as_deref(), Some("new 5000"));
    let _ = std::fs::remove_dir_all(&store.root);
}

#[test]
fn a_cut_upload_leaves_no_manifest_and_tampering_is_caught() {
    let (Some(old), Some(new)) = (MariaDb::start(), MariaDb::start()) else { return };
    seed(&old.root_dsn(""));
    let root = store_dir("cut");
    let cut = FailAfter::new(FsBlobStore { root: root.clone() }, 3);
    let opts = DrainOptions { chunk_bytes: 16 << 10, ..DrainOptions::default() };
    assert!(drain(&old.root_dsn(""), &cut, "backups/epoch-2", &opts).is_err());
    let store = FsBlobStore { root: root.clone() };
    assert!(!root.join("backups/epoch-2/manifest.json").exists(), "a cut upload must leave no manifest");
    assert!(matches!(restore(&new.root_dsn(""), &store, "backups/epoch-2", 2), Err(DbError::NoManifest(_))));

    // A whole backup, then one row changed on the restored side: verification names the table.
    let mut c = mysql::Conn::new(mysql::Opts::from_url(&old.root_dsn("")).expect("dsn")).expect("connect");
    c.query_drop("SET GLOBAL read_only = OFF").expect("unfence for the second drain");
    drain(&old.root_dsn(""), &store, "backups/epoch-3", &opts).expect("drain");
    restore(&new.root_dsn(""), &store, "backups/epoch-3", 2).expect("restore");
    let mut n =
        mysql::Conn::new(mysql::Opts::from_url(&new.root_dsn("appdb")).expect("dsn")).expect("connect");
    n.query_drop("UPDATE employees SET name = 'changed' WHERE id = 7").expect("tamper");
    match verify(&new.root_dsn(""), &store, "backups/epoch-3") {
        Err(DbError::Mismatch { table, what, .. }) => {
            assert_eq!((table.as_str(), what), ("employees", "checksum"))
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&root);
}
