//! What recovery refuses, each with a clear error naming what is missing or wrong, and nothing
//! written to the target: a corrupt log object, a missing one (in the middle, or the tail the
//! heartbeat vouches for), a base backup of another server's log, an `--until` before the oldest
//! base, and DDL whose database cannot be told.

mod protect_support;

use mysql::prelude::Queryable;
use protect_support::{conn, fast, insert, primary, ship, store, wait_shipped, PREFIX};
use spotctl_db::protect::timeline::read_all;
use spotctl_db::protect::{base_backup, recover, BaseOptions, ProtectError, RecoverOptions, Stopped};
use spotctl_db::store::{BlobStore, FsBlobStore};
use spotctl_layout::log::log_dir;
use spotctl_testkit::mariadb::MariaDb;
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A copy of `store` to damage.
fn copy(store: &FsBlobStore, tag: &str) -> FsBlobStore {
    let copy = protect_support::store(tag);
    copy_dir(store.root(), copy.root());
    FsBlobStore::new(copy.root())
}

/// The target was not touched: no database, no log written, no timeline made.
fn untouched(target: &MariaDb, store: &FsBlobStore) {
    let db: Option<String> = conn(&target.root_dsn(""))
        .query_first("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'appdb'")
        .expect("schemata");
    assert_eq!(db, None, "nothing was restored");
    assert_eq!(read_all(store, PREFIX).expect("timelines").len(), 1, "no timeline was created");
}

fn pieces(store: &FsBlobStore) -> Vec<String> {
    store.list(&log_dir(PREFIX, 1)).expect("list")
}

fn refused(target: &MariaDb, store: &FsBlobStore, opts: &RecoverOptions) -> ProtectError {
    let err = recover(&target.root_dsn(""), store, PREFIX, opts).expect_err("recovery must refuse");
    untouched(target, store);
    err
}

#[test]
fn damaged_logs_foreign_bases_and_early_targets_are_refused_before_anything_is_written() {
    let (Some(db), Some(other), Some(target)) = (primary(), primary(), MariaDb::start_protected()) else {
        return;
    };
    let dsn = db.root_dsn("");
    let s = store("errors");
    let shipper = ship(&dsn, s.clone(), fast());
    insert(&dsn, 1, 50);
    let base = base_backup(&dsn, s.as_ref(), PREFIX, &BaseOptions::default()).expect("base");
    for i in 0..8 {
        insert(&dsn, 100 + i * 10, 110 + i * 10);
        std::thread::sleep(std::time::Duration::from_millis(150)); // a piece each
    }
    wait_shipped(s.as_ref(), 1, &dsn);
    assert_eq!(shipper.stop(), Ok(Stopped::Requested));
    let all = pieces(&s);
    assert!(all.len() >= 6, "{} pieces", all.len());
    let defaults = RecoverOptions::default();

    // A flipped byte in a stored piece.
    let damaged = copy(&s, "corrupt");
    let victim = &all[all.len() - 3];
    let mut bytes = std::fs::read(damaged.root().join(victim)).expect("piece");
    let n = bytes.len() - 5;
    bytes[n] ^= 0x20;
    std::fs::write(damaged.root().join(victim), bytes).expect("damage");
    let err = refused(&target, &damaged, &defaults);
    assert!(matches!(&err, ProtectError::CorruptPiece { key, .. } if key == victim), "{err}");

    // A piece gone from the middle of the log.
    let damaged = copy(&s, "hole");
    damaged.delete(&all[all.len() - 3]).expect("delete");
    let err = refused(&target, &damaged, &defaults);
    let seq = &all[all.len() - 3][log_dir(PREFIX, 1).len()..][..10];
    assert!(matches!(&err, ProtectError::MissingPiece { key, .. } if key.contains(seq)), "{err}");
    assert!(err.to_string().contains("is missing"), "{err}");

    // The last piece gone: the heartbeat says it was stored.
    let damaged = copy(&s, "tail");
    damaged.delete(&all[all.len() - 1]).expect("delete");
    let err = refused(&target, &damaged, &defaults);
    assert!(
        matches!(&err, ProtectError::MissingPiece { detail, .. } if detail.contains("heartbeat")),
        "{err}"
    );

    // A base of another server's log, put where this log's bases are.
    let damaged = copy(&s, "foreign");
    insert(&other.root_dsn(""), 1, 50);
    base_backup(&other.root_dsn(""), &damaged, PREFIX, &BaseOptions::default()).expect("foreign base");
    let err = refused(&target, &damaged, &defaults);
    assert!(matches!(err, ProtectError::ForeignBase { .. }), "{err}");

    // A time before the oldest base.
    let early =
        RecoverOptions { until: Some((base.taken_at_ms / 1000) as u32 - 60), ..RecoverOptions::default() };
    let err = refused(&target, &s, &early);
    assert!(
        matches!(&err, ProtectError::UntilBeforeOldestBase { oldest, .. } if *oldest == base.id),
        "{err}"
    );
    assert!(err.to_string().contains("before the oldest base backup"), "{err}");

    // And the undamaged log recovers.
    recover(&target.root_dsn(""), s.as_ref(), PREFIX, &defaults).expect("the intact log recovers");
}

#[test]
fn ddl_that_names_the_env_database_from_elsewhere_is_refused_before_anything_is_written() {
    let (Some(db), Some(target)) = (primary(), MariaDb::start_protected()) else { return };
    let dsn = db.root_dsn("");
    let s = store("ambiguous");
    let shipper = ship(&dsn, s.clone(), fast());
    base_backup(&dsn, s.as_ref(), PREFIX, &BaseOptions::default()).expect("base");
    conn(&dsn).query_drop("CREATE TABLE appdb.made_without_use (id INT)").expect("ddl");
    wait_shipped(s.as_ref(), 1, &dsn);
    assert_eq!(shipper.stop(), Ok(Stopped::Requested));
    let err = refused(&target, &s, &RecoverOptions::default());
    assert!(
        matches!(&err, ProtectError::Replay { what, .. } if what.contains("cannot be told safely")),
        "{err}"
    );
}
