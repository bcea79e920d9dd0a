//! The sealed drain against a real server: the seal waits for the shipped log to hold the fenced
//! server's position, leaves it fenced for good, and is written once; a recovery that must reach
//! it gets every row; one whose log ends short of it is refused before anything is written. A
//! seal is refused (the caller then drains in full) when the shipper has stopped, when the
//! newest timeline is another primary's, or when no base lies on its chain.

mod protect_support;

use mysql::prelude::Queryable;
use protect_support::{conn, fast, insert, primary, ship, store, PREFIX};
use spotctl_db::protect::seal::{read, seal, SealOptions};
use spotctl_db::protect::timeline::{for_epoch, read_all};
use spotctl_db::protect::{base_backup, recover, BaseOptions, ProtectError, RecoverOptions};
use spotctl_testkit::mariadb::MariaDb;
use std::time::Duration;

const KEY: &str = "backups/epoch-1/seal.json";

fn rows(dsn: &str) -> u64 {
    conn(dsn).query_first("SELECT COUNT(*) FROM appdb.t").expect("count").unwrap_or(0)
}

fn writable(dsn: &str) -> bool {
    spotctl_db::backup::fence::is_writable(dsn).expect("read_only")
}

fn quick(epoch: u64) -> SealOptions {
    SealOptions { wait: Duration::from_secs(2), ..SealOptions::for_epoch(Some(epoch)) }
}

fn quick_none() -> SealOptions {
    SealOptions { wait: Duration::from_secs(2), ..SealOptions::for_epoch(None) }
}

#[test]
fn a_seal_waits_for_the_shipped_log_and_a_recovery_must_reach_it() {
    let (Some(db), Some(target), Some(short)) =
        (primary(), MariaDb::start_protected(), MariaDb::start_protected())
    else {
        return;
    };
    let dsn = db.root_dsn("");
    let s = store("seal");
    for_epoch(s.as_ref(), PREFIX, 1, None, Some("AROAEXAMPLE:i-1")).expect("the epoch-1 primary's timeline");
    let shipper = ship(&dsn, s.clone(), fast());
    insert(&dsn, 1, 200);
    base_backup(&dsn, s.as_ref(), PREFIX, &BaseOptions::default()).expect("base");
    // Committed just before the warning: the seal must wait until the shipper has stored them.
    insert(&dsn, 200, 700);

    let sealed = seal(&dsn, s.as_ref(), PREFIX, KEY, &SealOptions::for_epoch(Some(1))).expect("sealed");
    let pos: String = conn(&dsn).query_first("SELECT @@gtid_binlog_pos").expect("pos").unwrap_or_default();
    assert_eq!(sealed.gtid, pos, "the seal names where the fenced server's log stands");
    assert_eq!((sealed.epoch, sealed.timeline), (Some(1), 1));
    assert!(sealed.piece.is_some(), "rows after the base: a piece holds them");
    assert!(!writable(&dsn), "fenced for good");
    assert_eq!(read(s.as_ref(), KEY).expect("read"), Some(sealed.clone()));
    let again = seal(&dsn, s.as_ref(), PREFIX, KEY, &SealOptions::for_epoch(Some(1))).expect("again");
    assert_eq!(again, sealed, "a second run finds the seal the first wrote");
    let wrong =
        seal(&dsn, s.as_ref(), PREFIX, KEY, &SealOptions::for_epoch(Some(2))).expect_err("another epoch");
    assert!(matches!(wrong, ProtectError::CannotSeal { .. }), "{wrong}");
    drop(shipper);

    // A log that ends short of a seal (here, one naming a later transaction) is refused first.
    let seq: u64 = pos.rsplit('-').next().and_then(|n| n.parse().ok()).expect("a GTID");
    let beyond = format!("{}-{}", pos.rsplit_once('-').expect("a GTID").0, seq + 5);
    let opts = RecoverOptions { at_least: Some((KEY.into(), beyond.clone())), ..RecoverOptions::default() };
    let err = recover(&short.root_dsn(""), s.as_ref(), PREFIX, &opts).expect_err("short of the seal");
    assert!(
        matches!(&err, ProtectError::ShortOfSeal { needed, reached, .. } if *needed == beyond && *reached == pos),
        "{err}"
    );
    let db_there: Option<String> = conn(&short.root_dsn(""))
        .query_first("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'appdb'")
        .expect("schemata");
    assert_eq!(db_there, None, "nothing was written");
    assert_eq!(read_all(s.as_ref(), PREFIX).expect("timelines").len(), 1, "no timeline was begun");

    let opts =
        RecoverOptions { at_least: Some((KEY.into(), sealed.gtid.clone())), ..RecoverOptions::default() };
    let report = recover(&target.root_dsn(""), s.as_ref(), PREFIX, &opts).expect("recovered to the seal");
    assert_eq!(report.reached.gtid, sealed.gtid);
    assert_eq!((rows(&target.root_dsn("")), rows(&dsn)), (700, 700), "every acknowledged commit");
}

#[test]
fn a_seal_is_refused_when_the_log_cannot_hold_everything_and_the_server_stays_fenced() {
    let Some(db) = primary() else { return };
    let dsn = db.root_dsn("");

    // No base on the timeline's chain yet: nothing to recover from.
    let s = store("seal-nobase");
    for_epoch(s.as_ref(), PREFIX, 1, None, None).expect("timeline");
    let err = seal(&dsn, s.as_ref(), PREFIX, KEY, &quick(1)).expect_err("no base");
    assert!(matches!(&err, ProtectError::CannotSeal { detail } if detail.contains("no base")), "{err}");

    // The newest timeline is another primary's.
    let err = seal(&dsn, s.as_ref(), PREFIX, KEY, &quick(3)).expect_err("another epoch's timeline");
    assert!(matches!(&err, ProtectError::CannotSeal { detail } if detail.contains("not epoch 3")), "{err}");

    // A person's seal (no epoch) of a primary's timeline.
    let err = seal(&dsn, s.as_ref(), PREFIX, KEY, &quick_none()).expect_err("an epoch's timeline");
    assert!(matches!(&err, ProtectError::CannotSeal { detail } if detail.contains("names epoch 1")), "{err}");

    // The shipper stopped before the last commits: the seal waits, then gives up naming why.
    let shipper = ship(&dsn, s.clone(), fast());
    insert(&dsn, 1, 50);
    base_backup(&dsn, s.as_ref(), PREFIX, &BaseOptions::default()).expect("base");
    protect_support::wait_shipped(s.as_ref(), 1, &dsn);
    shipper.stop().expect("stopped");
    insert(&dsn, 50, 60);
    let err = seal(&dsn, s.as_ref(), PREFIX, KEY, &quick(1)).expect_err("the log lags");
    assert!(matches!(&err, ProtectError::CannotSeal { detail } if detail.contains("did not reach")), "{err}");
    assert!(!writable(&dsn), "refused or not, the server is fenced: the caller drains in full next");
    assert_eq!(read(s.as_ref(), KEY).expect("read"), None, "no seal was written");
}
