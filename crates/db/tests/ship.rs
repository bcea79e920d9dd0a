//! Shipping the binary log of a real MariaDB: the pieces tile the server's files byte for byte
//! (the header's in-use flag aside), through rotations, a SIGKILL and restart of the server,
//! and a restart of the shipper, which resumes from the bucket. A server configured otherwise is
//! refused, naming the setting; a shipper whose log is not the timeline's refuses to continue.

mod protect_support;

use mysql::prelude::Queryable;
use protect_support::{conn, fast, insert, primary, ship, shipped_files, store, wait_shipped, PREFIX};
use spotctl_db::protect::{ProtectError, Shipper, Stopped};
use spotctl_testkit::mariadb::{Config, MariaDb};

/// The server's file with the in-use flag cleared, as shipped.
fn local_file(db: &MariaDb, name: &str) -> Vec<u8> {
    let mut b = std::fs::read(db.binlog_dir().join(name)).expect("binlog file");
    b[21] &= !1;
    b
}

#[test]
fn the_shipped_log_is_the_servers_log_through_rotation_crash_and_restarts() {
    let Some(mut db) = primary() else { return };
    let dsn = db.root_dsn("");
    let s = store("tile");
    let shipper = ship(&dsn, s.clone(), fast());
    insert(&dsn, 1, 200);
    conn(&dsn).query_drop("FLUSH BINARY LOGS").expect("rotate");
    insert(&dsn, 200, 300);
    wait_shipped(s.as_ref(), 1, &dsn);
    // The shipper stops; writes go on; it resumes from the bucket and catches up.
    assert_eq!(shipper.stop(), Ok(Stopped::Requested));
    insert(&dsn, 300, 400);
    let shipper = ship(&dsn, s.clone(), fast());
    insert(&dsn, 400, 450);
    wait_shipped(s.as_ref(), 1, &dsn);
    // The server dies without a word and comes back on a new file.
    db.kill();
    db.restart();
    insert(&dsn, 450, 500);
    wait_shipped(s.as_ref(), 1, &dsn);
    assert_eq!(shipper.stop(), Ok(Stopped::Requested));

    let shipped = shipped_files(s.as_ref(), 1);
    let names: Vec<&str> = shipped.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(names, ["spot-bin.000001", "spot-bin.000002", "spot-bin.000003"], "every file, in order");
    for (name, bytes) in &shipped {
        let local = local_file(&db, name);
        assert!(
            bytes.len() <= local.len() && local[..bytes.len()] == bytes[..],
            "{name}: shipped bytes are the server's"
        );
    }
    // The killed file was shipped to its end (nothing was torn: every commit was whole).
    assert_eq!(shipped[1].1.len(), local_file(&db, "spot-bin.000002").len());
    let rows: u64 = conn(&dsn).query_first("SELECT COUNT(*) FROM appdb.t").expect("count").unwrap_or(0);
    assert_eq!(rows, 500);
}

#[test]
fn a_server_not_configured_for_protection_is_refused_naming_the_setting() {
    let config = Config { extra: vec!["--binlog-format=MIXED".into()], ..Config::protected() };
    let Some(db) = MariaDb::start_with(&config) else { return };
    let s = store("refuse");
    let err = Shipper::start(&db.root_dsn(""), s.as_ref(), PREFIX, fast()).err();
    let text = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
    assert!(matches!(err, Some(ProtectError::ServerConfig { setting: "binlog_format", .. })), "{text}");
    assert!(text.contains("binlog_format is MIXED") && text.contains("binlog_format = ROW"), "{text}");

    let Some(plain) = MariaDb::start() else { return };
    let err = Shipper::start(&plain.root_dsn(""), s.as_ref(), PREFIX, fast()).err();
    assert!(
        matches!(
            err,
            Some(ProtectError::ServerConfig {
                setting: "binlog_checksum" | "gtid_strict_mode" | "sync_binlog" | "binlog_format",
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn another_servers_shipper_cannot_continue_a_timeline() {
    let (Some(a), Some(b)) = (primary(), primary()) else { return };
    let s = store("foreign");
    let shipper = ship(&a.root_dsn(""), s.clone(), fast());
    insert(&a.root_dsn(""), 1, 20);
    wait_shipped(s.as_ref(), 1, &a.root_dsn(""));
    assert_eq!(shipper.stop(), Ok(Stopped::Requested));
    let err = Shipper::start(&b.root_dsn(""), s.as_ref(), PREFIX, fast()).err();
    assert!(matches!(err, Some(ProtectError::Diverged { .. })), "{err:?}");
}

/// On an instance's shutdown the shipper stops after the server (`spotctl-ship` is ordered
/// `Before=mariadb.service`): what it had not stored when the server stopped is still in the
/// server's files, and its last flush stores it.
#[test]
fn a_shipper_that_outlives_its_server_stores_the_servers_last_commits() {
    let Some(mut db) = primary() else { return };
    let dsn = db.root_dsn("");
    let s = store("outlives");
    // Slow on purpose: nothing after the first piece is stored before the stop.
    let slow = spotctl_db::protect::ShipOptions {
        poll: std::time::Duration::from_millis(20),
        min_interval: std::time::Duration::from_secs(3600),
        ..fast()
    };
    let shipper = ship(&dsn, s.clone(), slow);
    insert(&dsn, 1, 100);
    std::thread::sleep(std::time::Duration::from_millis(300));
    // The server stops first (here without a word), with commits the shipper has not stored.
    db.kill();
    assert_eq!(shipper.stop(), Ok(Stopped::Requested), "it stops when asked, after a last flush");
    let shipped = shipped_files(s.as_ref(), 1);
    let (name, bytes) = shipped.last().expect("a file shipped");
    assert_eq!(bytes.len(), local_file(&db, name).len(), "{name}: stored to the server's last byte");
}
