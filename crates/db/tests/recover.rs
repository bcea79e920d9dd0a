//! Recovery against real servers: a base taken while writes go on, the shipped log replayed on
//! top of it (DDL included, other databases left out), to the end or to a second; a new timeline
//! that fences the old shipper and bounds what later recoveries replay.

mod protect_support;

use mysql::prelude::Queryable;
use mysql::Value;
use protect_support::{conn, fast, insert, primary, ship, store, wait_shipped, PREFIX};
use spotctl_db::protect::timeline::read_all;
use spotctl_db::protect::{base_backup, recover, BaseOptions, RecoverOptions, Stopped};
use spotctl_testkit::mariadb::MariaDb;

/// Every row of every table of `appdb`, in key order, through the binary protocol.
fn contents(dsn: &str) -> Vec<(String, Vec<Vec<Value>>)> {
    let mut c = conn(dsn);
    c.query_drop("SET SESSION time_zone = '+00:00'").expect("tz");
    let tables: Vec<String> = c
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'appdb' ORDER BY TABLE_NAME")
        .expect("tables");
    tables
        .into_iter()
        .map(|t| {
            let rows: Vec<mysql::Row> =
                c.query(format!("SELECT * FROM appdb.`{t}` ORDER BY 1")).expect("rows");
            (t, rows.into_iter().map(|r| r.unwrap()).collect())
        })
        .collect()
}

fn gtid_pos(dsn: &str) -> String {
    conn(dsn).query_first("SELECT @@gtid_binlog_pos").expect("pos").unwrap_or_default()
}

#[test]
fn a_base_and_the_log_recover_every_commit_ddl_included_other_databases_left_out() {
    let (Some(db), Some(target)) = (primary(), MariaDb::start_protected()) else { return };
    let dsn = db.root_dsn("");
    let s = store("roundtrip");
    let shipper = ship(&dsn, s.clone(), fast());
    insert(&dsn, 1, 100);
    // The base is taken while a writer goes on.
    let writer = {
        let dsn = dsn.clone();
        std::thread::spawn(move || insert(&dsn, 100, 600))
    };
    let base = base_backup(&dsn, s.as_ref(), PREFIX, &BaseOptions::default()).expect("base backup");
    writer.join().expect("writer");
    assert_eq!(base.timeline, 1);
    assert!(base.rows >= 100 && base.rows <= 600, "{}", base.rows);
    // The application's DDL runs with its database as the default (the only form replayed);
    // another database's statements run without one.
    let mut c = conn(&db.root_dsn("appdb"));
    let mut other = conn(&dsn);
    for sql in [
        "CREATE TABLE appdb.u (id INT AUTO_INCREMENT PRIMARY KEY, note TEXT, big MEDIUMBLOB)",
        "ALTER TABLE appdb.t ADD COLUMN extra INT NULL",
        "INSERT INTO appdb.u (note, big) VALUES ('😀 emoji', REPEAT('x', 100000)), (NULL, NULL)",
        "UPDATE appdb.t SET extra = id * 2 WHERE id < 50",
        "DELETE FROM appdb.t WHERE id BETWEEN 10 AND 19",
        "CREATE USER 'someone'@'localhost'",
    ] {
        c.query_drop(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    for sql in [
        "CREATE DATABASE otherdb",
        "CREATE TABLE otherdb.x (id INT PRIMARY KEY)",
        "INSERT INTO otherdb.x VALUES (1), (2)",
    ] {
        other.query_drop(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    // One transaction touching both databases: only appdb's rows travel.
    c.query_drop("BEGIN").expect("begin");
    c.query_drop("INSERT INTO otherdb.x VALUES (3)").expect("other");
    c.query_drop("INSERT INTO appdb.u (note) VALUES ('mixed')").expect("mixed");
    c.query_drop("UPDATE appdb.t t JOIN otherdb.x x ON x.id = t.id SET t.v = 'joined'").expect("multi-table");
    c.query_drop("COMMIT").expect("commit");
    // A transaction that touched a non-transactional table and rolled back: logged with its
    // ROLLBACK; the MyISAM row stays, the InnoDB one does not, here as there.
    c.query_drop("CREATE TABLE appdb.legacy (id INT PRIMARY KEY) ENGINE=MyISAM").expect("myisam");
    c.query_drop("BEGIN").expect("begin");
    c.query_drop("INSERT INTO appdb.u (note) VALUES ('rolled back')").expect("innodb row");
    c.query_drop("INSERT INTO appdb.legacy VALUES (1)").expect("myisam row");
    c.query_drop("ROLLBACK").expect("rollback");
    insert(&dsn, 600, 700);
    wait_shipped(s.as_ref(), 1, &dsn);

    let report =
        recover(&target.root_dsn(""), s.as_ref(), PREFIX, &RecoverOptions::default()).expect("recover");
    assert_eq!(contents(&target.root_dsn("")), contents(&dsn), "the target holds what the primary held");
    assert_eq!(report.reached.gtid, gtid_pos(&dsn), "the report names the primary's last GTID");
    assert_eq!(gtid_pos(&target.root_dsn("")), gtid_pos(&dsn), "the target's log continues from there");
    assert!(!report.stopped_by_until);
    assert_eq!(report.applied.ddl, 3, "{:?}", report.applied);
    assert!(report.applied.skipped >= 4, "{:?}", report.applied);
    let other: Option<String> = conn(&target.root_dsn(""))
        .query_first("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'otherdb'")
        .expect("schemata");
    assert_eq!(other, None, "another database's DDL and rows are not replayed");
    assert_eq!(report.new_timeline, 2);
    assert_eq!(read_all(s.as_ref(), PREFIX).expect("timelines").len(), 2);
    // The old primary's shipper finds timeline 2 and stops.
    insert(&dsn, 700, 710);
    let stopped = loop {
        if shipper.finished() {
            break shipper.join();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(stopped, Ok(Stopped::Fenced { timeline: 2 }));
}

#[test]
fn until_keeps_every_commit_before_the_second_and_none_after() {
    let (Some(db), Some(target)) = (primary(), MariaDb::start_protected()) else { return };
    let dsn = db.root_dsn("");
    let s = store("until");
    let _shipper = ship(&dsn, s.clone(), fast());
    insert(&dsn, 1, 50);
    let base = base_backup(&dsn, s.as_ref(), PREFIX, &BaseOptions::default()).expect("base");
    // Commits stamped at chosen seconds after the base (the session clock sets a commit's time),
    // all in the past by the time anything is recovered.
    let t0 = (base.taken_at_ms / 1000) as u32 + 1;
    std::thread::sleep(std::time::Duration::from_secs(7));
    let mut c = conn(&dsn);
    for (i, at) in [(100, t0), (101, t0), (102, t0 + 1), (103, t0 + 2), (104, t0 + 2), (105, t0 + 5)] {
        c.query_drop(format!("SET TIMESTAMP = {at}")).expect("timestamp");
        c.exec_drop("INSERT INTO appdb.t (id, v) VALUES (?, 'timed')", (i,)).expect("timed insert");
    }
    wait_shipped(s.as_ref(), 1, &dsn);
    let ids = |dsn: &str| -> Vec<u32> {
        conn(dsn).query("SELECT id FROM appdb.t WHERE id >= 100 ORDER BY id").expect("ids")
    };

    let opts = RecoverOptions { until: Some(t0 + 2), ..RecoverOptions::default() };
    let report = recover(&target.root_dsn(""), s.as_ref(), PREFIX, &opts).expect("recover to a second");
    assert_eq!(ids(&target.root_dsn("")), [100, 101, 102], "commits before t0+2 only");
    assert!(report.stopped_by_until);
    assert_eq!(report.reached.last_commit_unix, Some(t0 + 1));

    // A second recovery to a later second, after the first created timeline 2, still reads timeline
    // 1 as it was at that time.
    let Some(again) = MariaDb::start_protected() else { return };
    let opts = RecoverOptions { until: Some(t0 + 3), ..RecoverOptions::default() };
    recover(&again.root_dsn(""), s.as_ref(), PREFIX, &opts).expect("recover to a later second");
    assert_eq!(ids(&again.root_dsn("")), [100, 101, 102, 103, 104]);
}

#[test]
fn a_recovered_server_continues_the_log_and_later_recoveries_skip_the_abandoned_tail() {
    let (Some(db), Some(second), Some(third)) =
        (primary(), MariaDb::start_protected(), MariaDb::start_protected())
    else {
        return;
    };
    let dsn = db.root_dsn("");
    let s = store("timelines");
    let old_shipper = ship(&dsn, s.clone(), fast());
    insert(&dsn, 1, 20);
    base_backup(&dsn, s.as_ref(), PREFIX, &BaseOptions::default()).expect("base");
    insert(&dsn, 20, 40);
    wait_shipped(s.as_ref(), 1, &dsn);
    assert_eq!(old_shipper.stop(), Ok(Stopped::Requested));

    // Recover to the end of timeline 1 on a second server; it ships timeline 2 and takes writes.
    let r = recover(&second.root_dsn(""), s.as_ref(), PREFIX, &RecoverOptions::default()).expect("recover");
    assert_eq!(r.new_timeline, 2);
    let new_shipper = ship(&second.root_dsn(""), s.clone(), fast());
    insert(&second.root_dsn(""), 1000, 1010);
    wait_shipped(s.as_ref(), 2, &second.root_dsn(""));
    // Meanwhile the old primary (a zombie) writes on; its shipper, restarted, refuses timeline 2.
    insert(&dsn, 40, 60);
    let zombie = spotctl_db::protect::Shipper::start(&dsn, s.as_ref(), PREFIX, fast());
    assert!(zombie.is_err(), "the old primary's log does not continue timeline 2");
    assert_eq!(new_shipper.stop(), Ok(Stopped::Requested));

    let r =
        recover(&third.root_dsn(""), s.as_ref(), PREFIX, &RecoverOptions::default()).expect("recover again");
    assert_eq!(r.chain, [1, 2], "timeline 1 up to the branch, then timeline 2");
    assert_eq!(
        contents(&third.root_dsn("")),
        contents(&second.root_dsn("")),
        "the zombie's rows 40..60 are not there"
    );
    assert_eq!(r.new_timeline, 3);
}

#[test]
fn retention_deletes_only_what_no_recovery_needs() {
    let (Some(db), Some(target)) = (primary(), MariaDb::start_protected()) else { return };
    let dsn = db.root_dsn("");
    let s = store("retention");
    let shipper = ship(&dsn, s.clone(), fast());
    insert(&dsn, 1, 30);
    let first = base_backup(&dsn, s.as_ref(), PREFIX, &BaseOptions::default()).expect("first base");
    insert(&dsn, 30, 60);
    conn(&dsn).query_drop("FLUSH BINARY LOGS").expect("rotate");
    insert(&dsn, 60, 90);
    std::thread::sleep(std::time::Duration::from_millis(1100)); // bases are named by the second
    let second = base_backup(&dsn, s.as_ref(), PREFIX, &BaseOptions::default()).expect("second base");
    insert(&dsn, 90, 120);
    wait_shipped(s.as_ref(), 1, &dsn);
    assert_eq!(shipper.stop(), Ok(Stopped::Requested));

    // A window of nothing: only the newest base, and the log from its file on, are needed.
    let report = spotctl_db::protect::retention::apply(s.as_ref(), PREFIX, std::time::Duration::ZERO)
        .expect("retention");
    assert_eq!(report.plan.delete_bases, std::slice::from_ref(&first.id));
    assert_eq!(report.plan.keep_bases, std::slice::from_ref(&second.id));
    let left = spotctl_db::protect::piece::list(s.as_ref(), PREFIX, 1)
        .expect("the log is still whole from its floor");
    assert!(left.iter().all(|k| k.file == second.position.file), "{left:?}");
    assert_eq!(left.first().map(|k| k.offset), Some(0), "the floor is a file's first piece");
    assert!(spotctl_db::protect::list_bases(s.as_ref(), PREFIX)
        .expect("bases")
        .iter()
        .all(|b| b.id == second.id));
    recover(&target.root_dsn(""), s.as_ref(), PREFIX, &RecoverOptions::default())
        .expect("recover after retention");
    assert_eq!(contents(&target.root_dsn("")), contents(&dsn));
}

#[test]
fn a_transaction_larger_than_a_statement_may_be_replays() {
    let (Some(db), Some(target)) = (primary(), MariaDb::start_protected()) else { return };
    let dsn = db.root_dsn("");
    let s = store("big");
    let shipper = ship(&dsn, s.clone(), fast());
    base_backup(&dsn, s.as_ref(), PREFIX, &BaseOptions::default()).expect("base");
    let mut c = conn(&db.root_dsn("appdb"));
    c.query_drop("CREATE TABLE bulk (id INT PRIMARY KEY, pad VARCHAR(200))").expect("table");
    // One statement of about 60 MB of row events: more than max_allowed_packet (16 MiB) can carry.
    c.query_drop("INSERT INTO bulk SELECT seq, REPEAT('p', 180) FROM seq_1_to_300000").expect("bulk insert");
    c.query_drop("UPDATE bulk SET pad = 'q' WHERE id % 1000 = 0").expect("update");
    wait_shipped(s.as_ref(), 1, &dsn);
    assert_eq!(shipper.stop(), Ok(Stopped::Requested));
    recover(&target.root_dsn(""), s.as_ref(), PREFIX, &RecoverOptions::default())
        .expect("recover a big transaction");
    let sums = |dsn: &str| -> Option<(u64, String)> {
        conn(dsn).query_first("SELECT COUNT(*), SUM(CRC32(CONCAT(id, pad))) FROM appdb.bulk").expect("sum")
    };
    assert_eq!(sums(&target.root_dsn("")), sums(&dsn));
}
