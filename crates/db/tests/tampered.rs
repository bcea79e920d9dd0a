//! Restore trusts nothing from a bucket, against two real MariaDB servers: a manifest rewritten by
//! whoever can write the backup (the old primary's host) is refused before the target server is
//! touched — other databases, statements smuggled into DDL, charsets and collations the server does
//! not have, objects of another kind or on another table, definers the server does not know — and
//! a target that already holds rows is refused unless the caller asks to replace it.

mod support;

use mysql::prelude::Queryable;
use spotctl_db::backup::manifest::Manifest;
use spotctl_db::backup::{drain, restore, DrainOptions, Method, RestoreOptions};
use spotctl_db::error::DbError;
use spotctl_db::store::{BlobStore, FsBlobStore};
use support::{conn, seed, store, two_servers};

/// The backup's databases do not exist on the server, and no database was dropped.
fn assert_untouched(dsn: &str) {
    let dbs: Vec<String> = conn(dsn).query("SHOW DATABASES").expect("databases");
    assert!(!dbs.iter().any(|d| d == "appdb" || d == "shop"), "restore touched nothing: {dbs:?}");
    assert!(dbs.iter().any(|d| d == "mysql"), "the system schema is still there: {dbs:?}");
}

fn refused(result: &Result<spotctl_db::backup::Verification, DbError>, says: &str) {
    match result {
        Err(DbError::BadManifest { key, message }) => {
            assert!(
                format!("{key}: {message}").contains(says),
                "refused, but for {key}: {message} (wanted {says:?})"
            )
        }
        other => panic!("expected a refusal saying {says:?}, got {other:?}"),
    }
}

#[test]
fn a_tampered_manifest_is_refused_before_anything_is_touched() {
    let Some((old, new)) = two_servers() else { return };
    seed(&old.root_dsn(""), 10);
    let store: FsBlobStore = store("tampered");
    let opts = DrainOptions { method: Method::Rows, ..DrainOptions::default() };
    let m = drain(&old.root_dsn(""), &store, "backups", "epoch-7", &opts).expect("drain");
    let new_dsn = new.root_dsn("");
    let tamper = |f: &dyn Fn(&mut Manifest), opts: &RestoreOptions| {
        let mut bad = m.clone();
        f(&mut bad);
        store
            .put("backups/epoch-7/manifest.json", serde_json::to_vec(&bad).expect("json"))
            .expect("manifest");
        restore(&new_dsn, &store, "backups", "epoch-7", opts)
    };
    let any = RestoreOptions::default();
    let env_db = RestoreOptions { databases: Some(vec!["appdb".into()]), ..RestoreOptions::default() };
    let table = |m: &mut Manifest, name: &str| -> usize {
        m.databases[0].tables.iter().position(|t| t.name == name).unwrap_or_else(|| panic!("table {name}"))
    };

    refused(&tamper(&|_| {}, &env_db), "shop: this restore may write only `appdb`");
    refused(&tamper(&|m| m.databases[1].name = "mysql".into(), &any), "never restores a system schema");
    refused(
        &tamper(
            &|m| {
                let i = table(m, "employees");
                m.databases[0].tables[i].create.push_str("; DROP DATABASE mysql");
            },
            &any,
        ),
        "more than one statement",
    );
    refused(
        &tamper(
            &|m| {
                let i = table(m, "employees");
                m.databases[0].tables[i].create =
                    "CREATE TABLE `employees` (id int) DATA DIRECTORY='/etc'".into();
            },
            &any,
        ),
        "DIRECTORY",
    );
    refused(
        &tamper(
            &|m| {
                let i = table(m, "employees");
                m.databases[0].tables[i].create =
                    "CREATE TABLE `employees` (id int) ENGINE=BLACKHOLE_X".into();
            },
            &any,
        ),
        "engine blackhole_x",
    );
    refused(
        &tamper(
            &|m| m.databases[0].charset = "latin1 COLLATE latin1_bin; DROP DATABASE mysql; --".into(),
            &any,
        ),
        "is not one of this server's",
    );
    refused(
        &tamper(
            &|m| {
                // A real collation, of another character set than the database's.
                let other = if m.databases[0].charset == "latin1" { "utf8mb4_bin" } else { "latin1_bin" };
                m.databases[0].collation = other.into();
            },
            &any,
        ),
        "collation",
    );
    refused(&tamper(&|m| m.databases[0].views[0].kind = "DATABASE".into(), &any), "not an object kind");
    refused(
        &tamper(
            &|m| {
                let v = &mut m.databases[0].views[0];
                v.create = format!("CREATE VIEW `{}` AS SELECT 1; DROP DATABASE mysql", v.name);
            },
            &any,
        ),
        "more than one statement",
    );
    refused(
        &tamper(
            &|m| {
                let tr = &mut m.databases[0].triggers[0];
                tr.create = format!(
                    "CREATE TRIGGER `{}` BEFORE INSERT ON `mysql`.`user` FOR EACH ROW SET @a = 1",
                    tr.name
                );
            },
            &any,
        ),
        "another database",
    );
    refused(
        &tamper(
            &|m| {
                let r = &mut m.databases[0].routines[0];
                r.create = r.create.replacen(
                    "CREATE DEFINER=`root`@`localhost`",
                    "CREATE DEFINER=`intruder`@`%`",
                    1,
                );
                assert!(r.create.contains("intruder"), "the routine had root as its definer: {}", r.create);
            },
            &any,
        ),
        "not an account of this server",
    );
    refused(
        &tamper(
            &|m| m.databases[0].routines[0].sql_mode = Some("ANSI'; DROP DATABASE mysql; --".into()),
            &any,
        ),
        "not a list of modes",
    );
    refused(
        &tamper(
            &|m| {
                let i = table(m, "employees");
                m.databases[0].tables[i].chunks[0].key =
                    "backups/epoch-1/data/appdb/employees/00000-0000.tsv.zst".into();
            },
            &any,
        ),
        "outside the backup",
    );
    assert_untouched(&new_dsn);

    // The untampered backup restores, into the env's database only when asked for exactly that.
    tamper(&|_| {}, &any).expect("the real backup restores");
    let _ = std::fs::remove_dir_all(store.root());
}

#[test]
fn a_target_that_holds_rows_is_refused_unless_replacing_is_asked_for() {
    let Some((old, new)) = two_servers() else { return };
    seed(&old.root_dsn(""), 10);
    let store = store("holds-rows");
    let opts = DrainOptions { method: Method::Rows, ..DrainOptions::default() };
    drain(&old.root_dsn(""), &store, "backups", "epoch-8", &opts).expect("drain");
    // The target's own data (a live server, say): one row in a table the backup does not have.
    let mut c = conn(&new.root_dsn(""));
    c.query_drop("CREATE DATABASE shop").expect("db");
    c.query_drop("CREATE TABLE shop.ledger (id INT PRIMARY KEY)").expect("table");
    c.query_drop("INSERT INTO shop.ledger VALUES (1)").expect("row");
    let err = restore(&new.root_dsn(""), &store, "backups", "epoch-8", &RestoreOptions::default());
    match err {
        Err(DbError::TargetNotEmpty { tables }) => assert_eq!(tables, ["`shop`.`ledger`"]),
        other => panic!("expected TargetNotEmpty, got {other:?}"),
    }
    let dbs: Vec<String> = c.query("SHOW DATABASES").expect("databases");
    assert!(!dbs.iter().any(|d| d == "appdb"), "nothing was created before the refusal: {dbs:?}");
    let kept: Option<u32> = c.query_first("SELECT id FROM shop.ledger").expect("ledger");
    assert_eq!(kept, Some(1));
    // Empty tables (a standby's schema.sql) are no data: the same target without the row restores.
    c.query_drop("DELETE FROM shop.ledger").expect("empty it");
    restore(&new.root_dsn(""), &store, "backups", "epoch-8", &RestoreOptions::default()).expect("restores");
    let replace = RestoreOptions { replace_existing: true, ..RestoreOptions::default() };
    restore(&new.root_dsn(""), &store, "backups", "epoch-8", &replace).expect("replacing is asked for");
    let _ = std::fs::remove_dir_all(store.root());
}
