//! Shared by the integration tests: throwaway MariaDB servers (from spotctl-testkit), a schema with
//! every column type and schema object a real application has, and an independent comparison of
//! two servers' rows through the binary protocol (not through this crate's encoding).

#![allow(dead_code)] // each test file uses its own subset

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, Value};
use spotctl_db::store::FsBlobStore;
use spotctl_testkit::mariadb::MariaDb;

pub fn conn(dsn: &str) -> Conn {
    Conn::new(Opts::from_url(dsn).expect("test DSN parses")).expect("connect to the test server")
}

/// Two fresh servers, or `None` when MariaDB is absent and not required (the testkit says so loudly).
pub fn two_servers() -> Option<(MariaDb, MariaDb)> {
    Some((MariaDb::start()?, MariaDb::start()?))
}

pub fn store(tag: &str) -> FsBlobStore {
    let d = std::env::temp_dir().join(format!("spotctl-db-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    FsBlobStore::new(d)
}

pub const SCHEMA: &[&str] = &[
    "CREATE DATABASE appdb CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    "CREATE TABLE appdb.employees (id INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, email VARCHAR(255) NOT NULL)",
    "CREATE TABLE appdb.every_type (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT UNSIGNED, mi MEDIUMINT, i INT, bi BIGINT, bu BIGINT UNSIGNED,
        d DECIMAL(20,6), dn DECIMAL(5,2), f FLOAT, db DOUBLE,
        c CHAR(10), vc VARCHAR(200), tx TEXT, mt MEDIUMTEXT,
        bn BINARY(4), vb VARBINARY(64), bl BLOB, lb LONGBLOB,
        js JSON, dt DATE, tm TIME(3), dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, yr YEAR,
        en ENUM('a','b','c'), st SET('x','y','z'), bt BIT(10), b1 BIT(1), b64 BIT(64),
        gen INT AS (ti * 2) VIRTUAL, gs BIGINT AS (i + 1) STORED)",
    "CREATE TABLE appdb.no_pk (k VARCHAR(20), v INT, b VARBINARY(8))",
    "CREATE TABLE appdb.str_pk (code VARCHAR(10) NOT NULL PRIMARY KEY, note TEXT)",
    "CREATE TABLE appdb.composite_pk (a INT NOT NULL, b VARCHAR(5) NOT NULL, v DOUBLE, PRIMARY KEY (a, b))",
    "CREATE TABLE appdb.audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(50))",
    // Not InnoDB, and InnoDB with a FULLTEXT index: both travel as rows whatever the drain method.
    "CREATE TABLE appdb.legacy (id INT PRIMARY KEY, note VARCHAR(20)) ENGINE=MyISAM",
    "CREATE TABLE appdb.notes (id INT PRIMARY KEY, body TEXT, FULLTEXT KEY body (body)) ENGINE=InnoDB",
    // Its FULLTEXT index is gone, InnoDB's hidden FTS_DOC_ID column is not: rows too.
    "CREATE TABLE appdb.was_fulltext (id INT PRIMARY KEY, body TEXT, FULLTEXT KEY b (body)) ENGINE=InnoDB",
    "ALTER TABLE appdb.was_fulltext DROP INDEX b",
    "CREATE VIEW appdb.rich AS SELECT id, name FROM appdb.employees WHERE id > 1",
    "CREATE VIEW appdb.rich_names AS SELECT UPPER(name) AS n FROM appdb.rich",
    "CREATE TRIGGER appdb.employees_ai AFTER INSERT ON appdb.employees FOR EACH ROW INSERT INTO appdb.audit (what) VALUES (CONCAT('new ', NEW.id))",
    "CREATE PROCEDURE appdb.count_employees(OUT n INT) SELECT COUNT(*) INTO n FROM appdb.employees",
    "CREATE FUNCTION appdb.twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
    "CREATE EVENT appdb.nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM appdb.audit",
    "CREATE DATABASE shop CHARACTER SET latin1",
    "CREATE TABLE shop.customers (id INT NOT NULL PRIMARY KEY, name VARCHAR(50)) CHARACTER SET latin1",
    "CREATE TABLE shop.orders (id INT NOT NULL PRIMARY KEY, customer_id INT NOT NULL, \
     FOREIGN KEY (customer_id) REFERENCES shop.customers (id)) ENGINE=InnoDB",
    "CREATE TABLE shop.`odd name.x/y` (`we``\"ird col` INT)",
];

/// Creates [`SCHEMA`] and fills it with nasty rows; `employees` gets `employees` rows.
pub fn seed(dsn: &str, employees: u32) {
    let mut c = conn(dsn);
    for s in SCHEMA {
        c.query_drop(*s).unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    let insert = "INSERT INTO appdb.every_type (id,ti,tu,si,mi,i,bi,bu,d,dn,f,db,c,vc,tx,mt,bn,vb,bl,lb,js,dt,tm,dtm,ts,yr,en,st,bt,b1,b64) \
                  VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    let nasty: Vec<Value> = vec![
        Value::NULL,
        (-128i8).into(),
        255u8.into(),
        65535u16.into(),
        (-8388608i32).into(),
        i32::MIN.into(),
        i64::MIN.into(),
        u64::MAX.into(),
        "-12345678901234.123456".into(),
        "-999.99".into(),
        1.234_567_8_f32.into(),
        std::f64::consts::E.into(),
        "ch  ".into(),
        "emoji 😀🚀 and \\ backslash \\N not null".into(),
        "long\ttext\r\nwith\0nul".into(),
        "Zoë ünïcödé".into(),
        vec![0u8, 9, 10, 92].into(),
        vec![0u8, 255, 13, 10, 9, 0, b'\\', b'N'].into(),
        (0u8..=255).collect::<Vec<u8>>().into(),
        (0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into(),
        r#"{"a": [1, 2.5, {"b": null}], "s": "tab\there 😀"}"#.into(),
        "2024-02-29".into(),
        "-838:59:59.000".into(),
        "2025-12-31 07:15:00.123456".into(),
        "2038-01-19 03:14:07.999999".into(),
        2155u16.into(),
        "b".into(),
        "x,z".into(),
        1023u16.into(),
        1u8.into(),
        u64::MAX.into(),
    ];
    c.exec_drop(insert, nasty).expect("the nasty row");
    let mut second = vec![Value::NULL; 31];
    second[7] = 0u64.into();
    second[10] = 16_777_217f32.into();
    second[11] = 0.1f64.into();
    second[12] = "".into();
    second[13] = "".into();
    second[16] = vec![0u8; 4].into();
    second[17] = Vec::<u8>::new().into();
    second[21] = "1000-01-01".into();
    second[24] = "1980-06-01 12:00:00".into();
    second[25] = 1901u16.into();
    second[27] = "".into();
    second[28] = 0u16.into();
    second[29] = 0u8.into();
    c.exec_drop(insert, second).expect("a row of edge values");
    c.query_drop("INSERT INTO appdb.every_type (ti) VALUES (NULL)").expect("a row of NULLs");
    c.query_drop("INSERT INTO appdb.every_type (id, ti) VALUES (18446744073709551615, 1)").expect("max id");
    c.query_drop("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'").expect("sql_mode");
    c.query_drop("INSERT INTO appdb.every_type (id, ti) VALUES (0, 2)").expect("id 0 stays 0");
    c.query_drop("INSERT INTO appdb.no_pk VALUES ('dup', 1, 'a\tb'), ('dup', 1, 'a\tb'), (NULL, NULL, NULL), ('', 0, '')")
        .expect("no_pk");
    c.query_drop("INSERT INTO appdb.str_pk VALUES ('a', 'x'), ('b\\\\', NULL), ('😀', 'emoji key')")
        .expect("str_pk");
    c.query_drop("INSERT INTO appdb.composite_pk VALUES (1, 'a', 0.5), (1, 'b', NULL), (-7, '', -1e300)")
        .expect("cpk");
    c.query_drop("INSERT INTO shop.customers VALUES (1, 'Zoë'), (2, 'café'), (3, NULL)")
        .expect("latin1 rows");
    c.query_drop("INSERT INTO shop.orders VALUES (10, 1), (11, 2), (12, 2)").expect("orders");
    c.query_drop("INSERT INTO shop.`odd name.x/y` VALUES (1), (NULL)").expect("odd table");
    c.query_drop("INSERT INTO appdb.legacy VALUES (1, 'myisam'), (2, NULL)").expect("legacy");
    c.query_drop("INSERT INTO appdb.notes VALUES (1, 'spot instances move'), (2, 'a fulltext row')")
        .expect("notes");
    c.query_drop("INSERT INTO appdb.was_fulltext VALUES (1, 'once indexed')").expect("was_fulltext");
    c.query_drop(
        "INSERT INTO appdb.employees VALUES (1,'chao','chao@example.com'),(2,'Zoë 🚀','z@example.com'),(3,'tab\there','new\nline@x')",
    )
    .expect("employees");
    if employees > 3 {
        c.query_drop(format!(
            "INSERT INTO appdb.employees SELECT seq, CONCAT('name', seq), CONCAT('e', seq, '@example.com') FROM appdb.seq_4_to_{employees}"
        ))
        .expect("bulk employees");
    }
}

/// Every base table of `dbs` with all its rows, read through the binary protocol in a fixed order:
/// floats come back as f32/f64, dates as dates, bytes as bytes. Two servers holding the same data
/// give equal values.
pub fn rows_of(dsn: &str, dbs: &[&str]) -> Vec<(String, String, Vec<Vec<Value>>)> {
    let mut c = conn(dsn);
    // The same instant reads the same in every session; CREATE TABLE text in one quoting style.
    c.query_drop("SET SESSION time_zone = '+00:00', sql_mode = ''").expect("session");
    let mut out = Vec::new();
    for db in dbs {
        let tables: Vec<String> = c
            .exec(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                (db,),
            )
            .expect("tables");
        for t in tables {
            let ncols: usize = c
                .exec_first("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", (db, &t))
                .expect("columns")
                .unwrap_or(0);
            let order: Vec<String> = (1..=ncols).map(|i| i.to_string()).collect();
            let sql =
                format!("SELECT * FROM `{db}`.`{}` ORDER BY {}", t.replace('`', "``"), order.join(", "));
            let rows: Vec<mysql::Row> = c.exec(&sql, ()).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let create: (String, String) = c
                .query_first(format!("SHOW CREATE TABLE `{db}`.`{}`", t.replace('`', "``")))
                .expect("create")
                .expect("one");
            out.push((format!("{db}.{t}"), create.1, rows.into_iter().map(|r| r.unwrap()).collect()));
        }
    }
    out
}

/// Whether `ROOT/manifest.json` was written after every other object under `ROOT/`.
pub fn manifest_is_newest(store: &FsBlobStore, root: &str) -> bool {
    use spotctl_db::store::BlobStore;
    let mtime = |key: &str| {
        std::fs::metadata(store.root().join(key))
            .and_then(|m| m.modified())
            .expect("stored object has a time")
    };
    let manifest = mtime(&format!("{root}/manifest.json"));
    let keys = store.list(&format!("{root}/")).expect("list");
    keys.len() > 1 && keys.iter().all(|k| mtime(k) <= manifest)
}
