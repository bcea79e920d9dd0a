//! Drain from one real MariaDB and restore into another: every column type, NULLs, arbitrary bytes,
//! 4-byte UTF-8, latin1, tables without (or with non-integer) primary keys, foreign keys, views,
//! a trigger, a procedure, a function and an event all survive. The comparison of rows is made
//! through the binary protocol, independently of this crate's own encoding and checksum.

mod support;

use mysql::prelude::Queryable;
use spotctl_db::backup::manifest::Codec;
use spotctl_db::backup::{drain, restore, verify, DrainOptions, Method, RestoreOptions};
use support::{conn, rows_of, seed, store, two_servers};

#[test]
fn every_type_and_object_round_trips_as_rows() {
    round_trip(Method::Rows);
}

/// The default: InnoDB tables travel as their files, the others (MyISAM, FULLTEXT, a name that
/// is not a file name) as rows, in the same backup.
#[test]
fn every_type_and_object_round_trips_as_files_and_rows() {
    round_trip(Method::Auto);
}

fn round_trip(method: Method) {
    let Some((old, new)) = two_servers() else { return };
    seed(&old.root_dsn(""), 3000);
    // Servers configured unlike each other and unlike the defaults: names in SHOW CREATE would be
    // double-quoted, and TIMESTAMP text would differ by twelve hours, were drain not to pin both.
    conn(&old.root_dsn(""))
        .query_drop("SET GLOBAL sql_mode = 'ANSI_QUOTES,STRICT_TRANS_TABLES', GLOBAL time_zone = '+05:00'")
        .expect("configure the old server");
    conn(&new.root_dsn("")).query_drop("SET GLOBAL time_zone = '-07:00'").expect("configure the new server");
    let before = rows_of(&old.root_dsn(""), &["appdb", "shop"]);
    let store = store(&format!("rt-{method:?}"));
    // Small chunks and reads: employees is split into several key ranges, each into chunks.
    let opts =
        DrainOptions { chunk_bytes: 8 << 10, readers: 3, uploaders: 2, method, ..DrainOptions::default() };
    let m = drain(&old.root_dsn(""), &store, "backups", "epoch-1", &opts).expect("drain");

    let names: Vec<String> = m.tables().map(|(d, t)| format!("{}.{}", d.name, t.name)).collect();
    assert_eq!(
        names,
        [
            "appdb.audit",
            "appdb.composite_pk",
            "appdb.employees",
            "appdb.every_type",
            "appdb.legacy",
            "appdb.notes",
            "appdb.no_pk",
            "appdb.str_pk",
            "appdb.was_fulltext",
            "shop.customers",
            "shop.odd name.x/y",
            "shop.orders"
        ],
        "system databases are left out; tables in the server's name order"
    );
    let (_, emp) = m.tables().find(|(_, t)| t.name == "employees").expect("employees");
    assert_eq!((emp.rows, emp.split_key.as_deref()), (3000, Some("id")));
    assert_eq!(
        m.format,
        if method == Method::Rows { 1 } else { 2 },
        "rows only stays readable by format 1 readers"
    );
    let as_files: Vec<&str> =
        m.tables().filter(|(_, t)| t.tablespace.is_some()).map(|(_, t)| t.name.as_str()).collect();
    if method == Method::Rows {
        assert!(as_files.is_empty(), "{as_files:?}");
        assert!(emp.chunks.len() >= 4, "small chunks split the table: {}", emp.chunks.len());
        let ranges: std::collections::BTreeSet<&str> =
            emp.chunks.iter().map(|c| &c.key[..c.key.len() - 13]).collect();
        assert!(ranges.len() > 1, "employees was read as several key ranges");
    } else {
        assert_eq!(
            as_files,
            ["audit", "composite_pk", "employees", "every_type", "no_pk", "str_pk", "customers", "orders"],
            "every plain-named InnoDB table without FULLTEXT travels as its file"
        );
        for (_, t) in m.tables().filter(|(_, t)| t.tablespace.is_some()) {
            assert!(t.chunks.is_empty(), "{}: files only", t.name);
        }
        for (_, t) in m.tables().filter(|(_, t)| t.tablespace.is_none()) {
            assert!(!t.chunks.is_empty(), "{}: rows", t.name);
        }
    }
    let (_, every) = m.tables().find(|(_, t)| t.name == "every_type").expect("every_type");
    assert!(
        every.columns.iter().all(|c| c.name != "gen" && c.name != "gs"),
        "generated columns are not dumped"
    );
    assert_eq!(every.columns.iter().find(|c| c.name == "f").map(|c| c.codec), Some(Codec::Float));
    assert_eq!(every.columns.iter().find(|c| c.name == "b64").map(|c| c.codec), Some(Codec::Text));
    let appdb = &m.databases[0];
    assert_eq!(
        (appdb.views.len(), appdb.routines.len(), appdb.triggers.len()),
        (2, 2, 2),
        "trigger and event"
    );
    assert!(
        m.binlog.as_ref().is_some_and(|b| b.file.starts_with("mysql-bin") && b.position > 0),
        "{:?}",
        m.binlog
    );
    assert!(m.stored_bytes() < m.raw_bytes(), "chunks are compressed");
    assert!(support::manifest_is_newest(&store, "backups/epoch-1"), "the manifest is written last");

    let v = restore(
        &new.root_dsn(""),
        &store,
        "backups",
        "epoch-1",
        &RestoreOptions { workers: 3, ..Default::default() },
    )
    .expect("restore");
    assert_eq!(v.tables.len(), m.tables().count());
    assert_eq!(v.rows(), m.rows());

    let after = rows_of(&new.root_dsn(""), &["appdb", "shop"]);
    assert_eq!(before.len(), after.len());
    for ((name, create_old, rows_old), (_, create_new, rows_new)) in before.iter().zip(&after) {
        assert_eq!(create_old, create_new, "{name}: same CREATE TABLE");
        assert_eq!(rows_old.len(), rows_new.len(), "{name}: same number of rows");
        for (a, b) in rows_old.iter().zip(rows_new) {
            assert_eq!(a, b, "{name}: every value identical, bit for bit");
        }
    }

    let mut c = conn(&new.root_dsn("appdb"));
    assert_eq!(c.query_first::<i64, _>("SELECT twice(21)").expect("function"), Some(42));
    c.query_drop("CALL count_employees(@n)").expect("procedure");
    assert_eq!(c.query_first::<i64, _>("SELECT @n").expect("out parameter"), Some(3000));
    assert_eq!(
        c.query_first::<i64, _>("SELECT COUNT(*) FROM rich_names").expect("view of a view"),
        Some(2999)
    );
    let f: Option<f32> = c.exec_first("SELECT f FROM every_type WHERE f > 16000000", ()).expect("float");
    assert_eq!(f, Some(16_777_216f32), "FLOAT keeps every bit (its text form would say 16777200)");
    let zero: Option<i64> = c.query_first("SELECT ti FROM every_type WHERE id = 0").expect("id 0");
    assert_eq!(zero, Some(2), "an AUTO_INCREMENT 0 stays 0");
    let events: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'appdb'")
        .expect("events");
    assert_eq!(events, Some(1));
    let audit_before: Option<i64> = c.query_first("SELECT COUNT(*) FROM audit").expect("audit");
    assert_eq!(
        audit_before,
        Some(3000),
        "the old server's audit rows, and no more: the trigger did not fire on load"
    );
    c.query_drop("INSERT INTO employees VALUES (5000, 'after', 'a@b')")
        .expect("writes work on the new server");
    let audited: Option<String> =
        c.query_first("SELECT what FROM audit ORDER BY id DESC LIMIT 1").expect("trigger");
    assert_eq!(audited.as_deref(), Some("new 5000"));
    let latin1: Option<Vec<u8>> =
        c.query_first("SELECT CAST(name AS BINARY) FROM shop.customers WHERE id = 2").expect("latin1 bytes");
    assert_eq!(latin1, Some(b"caf\xe9".to_vec()), "latin1 stays one byte per character");

    // Verify alone passes on the restored server until something changes.
    c.query_drop("DELETE FROM employees WHERE id = 5000").expect("undo");
    c.query_drop("DELETE FROM audit WHERE what = 'new 5000'").expect("undo the trigger's row");
    let again = verify(&new.root_dsn(""), &store, "backups", "epoch-1", 2).expect("verify alone");
    assert_eq!(again.tables, v.tables);
    let _ = std::fs::remove_dir_all(store.root());
}

/// Also after a restore that stopped between writing a table's file and importing it.
#[test]
fn restoring_twice_replaces_rather_than_duplicates() {
    let Some((old, new)) = two_servers() else { return };
    seed(&old.root_dsn(""), 10);
    let store = store("twice");
    drain(&old.root_dsn(""), &store, "b", "e1", &DrainOptions::default()).expect("drain");
    let opts = RestoreOptions::default();
    restore(&new.root_dsn(""), &store, "b", "e1", &opts).expect("first restore");
    let mut c = conn(&new.root_dsn(""));
    c.query_drop("SET SESSION foreign_key_checks = 0").expect("fk off");
    // Stopped after the discard (the file written, not imported) ...
    c.query_drop("ALTER TABLE shop.customers DISCARD TABLESPACE").expect("discard");
    let datadir: Option<String> = c.query_first("SELECT @@datadir").expect("datadir");
    let datadir = std::path::PathBuf::from(datadir.expect("a datadir"));
    std::fs::write(datadir.join("shop/customers.ibd"), b"half a file").expect("a leftover file");
    // ... and a file with no table at all, which would make CREATE TABLE fail.
    c.query_drop("DROP TABLE shop.orders").expect("drop");
    std::fs::write(datadir.join("shop/orders.ibd"), b"an orphan").expect("an orphan file");
    let refused = restore(&new.root_dsn(""), &store, "b", "e1", &opts);
    assert!(matches!(refused, Err(spotctl_db::error::DbError::TargetNotEmpty { .. })), "{refused:?}");
    let again = RestoreOptions { replace_existing: true, ..opts };
    let v =
        restore(&new.root_dsn(""), &store, "b", "e1", &again).expect("a second restore of the same backup");
    assert_eq!(v.tables.iter().find(|t| t.table == "employees").map(|t| t.rows), Some(10));
    assert_eq!(v.tables.iter().find(|t| t.table == "customers").map(|t| t.rows), Some(3));
    assert_eq!(v.tables.iter().find(|t| t.table == "orders").map(|t| t.rows), Some(3));
    let _ = std::fs::remove_dir_all(store.root());
}
