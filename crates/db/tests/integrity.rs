//! A backup is all or nothing, and what is restored is what was drained: a cut upload leaves no
//! manifest and restore refuses it; a missing handoff is an error; a damaged chunk is refused; a
//! chunk re-encoded with different rows (its digest fixed up too) is caught by the row checksum;
//! a damaged part of a table's file is refused; files from another server series are refused
//! before anything is touched; a change made after restore is caught by `verify`.

mod support;

use mysql::prelude::Queryable;
use spotctl_db::backup::fence;
use spotctl_db::backup::manifest::{read_manifest, Manifest};
use spotctl_db::backup::rows::sha256_hex;
use spotctl_db::backup::{drain, restore, verify, DrainOptions, Method, RestoreOptions};
use spotctl_db::error::DbError;
use spotctl_db::store::testing::FailingPut;
use spotctl_db::store::{BlobStore, FsBlobStore};
use support::{conn, seed, store, two_servers};

/// Every table as rows, in small chunks: the tests that alter a chunk need several per table.
fn small_chunks() -> DrainOptions {
    DrainOptions { chunk_bytes: 8 << 10, method: Method::Rows, ..DrainOptions::default() }
}

#[test]
fn a_cut_upload_leaves_no_manifest_and_restore_refuses() {
    let Some((old, new)) = two_servers() else { return };
    seed(&old.root_dsn(""), 3000);
    for method in [Method::Rows, Method::Auto] {
        cut_upload(&old.root_dsn(""), &new.root_dsn(""), method);
        fence::lift(&old.root_dsn("")).expect("lift the fence");
    }
}

fn cut_upload(old: &str, new: &str, method: Method) {
    let store = store(&format!("cut-{method:?}"));
    let cut = FailingPut::new(FsBlobStore::new(store.root()), 3);
    let opts = DrainOptions { method, ..small_chunks() };
    let err = drain(old, &cut, "backups", "epoch-2", &opts).expect_err("a lost chunk fails");
    assert!(matches!(&err, DbError::Blob(e) if e.message == "injected failure"), "{err:?}");
    assert!(store.get("backups/epoch-2/manifest.json").expect("get").is_none(), "no manifest");
    match restore(new, &store, "backups", "epoch-2", &RestoreOptions::default()) {
        Err(DbError::NoBackup { key, orphans }) => {
            assert_eq!(key, "backups/epoch-2/manifest.json");
            assert!(orphans >= 2, "the chunks stored before the cut are counted: {orphans}");
        }
        other => panic!("expected NoBackup, got {other:?}"),
    }
    assert_untouched(new);
    let _ = std::fs::remove_dir_all(store.root());
}

#[test]
fn a_missing_handoff_is_no_backup() {
    let Some(db) = spotctl_testkit::mariadb::MariaDb::start() else { return };
    let store = store("missing");
    let err = restore(&db.root_dsn(""), &store, "backups", "epoch-9", &RestoreOptions::default());
    assert!(matches!(&err, Err(DbError::NoBackup { orphans: 0, .. })), "{err:?}");
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(msg, "no complete backup at backups/epoch-9/manifest.json: its manifest is missing");
    assert!(matches!(
        verify(&db.root_dsn(""), &store, "backups", "epoch-9", 1),
        Err(DbError::NoBackup { .. })
    ));
    assert!(matches!(
        restore(&db.root_dsn(""), &store, "backups", "../etc", &RestoreOptions::default()),
        Err(DbError::Layout(spotctl_layout::LayoutError::BadId(_)))
    ));
}

/// Flips one bit in the middle of a stored object, as a bad disk or a bad copy would.
fn damage(store: &FsBlobStore, key: &str) {
    let mut body = store.get(key).expect("get").expect("object stored");
    let mid = body.len() / 2;
    body[mid] ^= 0x01;
    store.put(key, body).expect("tamper");
}

/// The backup's databases do not exist on the server: restore refused before touching it.
fn assert_untouched(dsn: &str) {
    let dbs: Vec<String> = conn(dsn).query("SHOW DATABASES").expect("databases");
    assert!(!dbs.iter().any(|d| d == "appdb"), "restore touched nothing");
}

/// Drains `old` into a fresh store, and lifts the fence so that the test can drain again.
fn drained(old: &str, tag: &str) -> (FsBlobStore, Manifest) {
    let store = store(tag);
    let m = drain(old, &store, "backups", "epoch-3", &small_chunks()).expect("drain");
    fence::lift(old).expect("lift the fence");
    (store, m)
}

fn employee_chunk(m: &Manifest) -> String {
    let (_, t) = m.tables().find(|(_, t)| t.name == "employees").expect("employees");
    t.chunks[1].key.clone()
}

#[test]
fn a_damaged_chunk_is_refused_by_its_digest() {
    let Some((old, new)) = two_servers() else { return };
    seed(&old.root_dsn(""), 3000);
    let (store, m) = drained(&old.root_dsn(""), "damaged");
    let key = employee_chunk(&m);
    damage(&store, &key);
    match restore(&new.root_dsn(""), &store, "backups", "epoch-3", &RestoreOptions::default()) {
        Err(DbError::CorruptChunk { key: k, expected, actual }) => {
            assert_eq!(k, key);
            assert_ne!(expected, actual);
        }
        other => panic!("expected CorruptChunk, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(store.root());
}

#[test]
fn a_damaged_part_of_a_table_file_is_refused_by_its_digest() {
    let Some((old, new)) = two_servers() else { return };
    seed(&old.root_dsn(""), 3000);
    let store = store("damaged-file");
    let m = drain(&old.root_dsn(""), &store, "backups", "epoch-4", &DrainOptions::default()).expect("drain");
    let (_, emp) = m.tables().find(|(_, t)| t.name == "employees").expect("employees");
    let ts = emp.tablespace.as_ref().expect("employees travels as its file");
    assert!(emp.chunks.is_empty() && !ts.parts.is_empty() && ts.file_bytes > 0, "{emp:?}");
    let key = ts.parts[0].key.clone();
    damage(&store, &key);
    match restore(&new.root_dsn(""), &store, "backups", "epoch-4", &RestoreOptions::default()) {
        Err(DbError::CorruptChunk { key: k, .. }) => assert_eq!(k, key),
        other => panic!("expected CorruptChunk, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(store.root());
}

#[test]
fn table_files_from_another_server_series_are_refused_before_anything_is_touched() {
    let Some((old, new)) = two_servers() else { return };
    seed(&old.root_dsn(""), 10);
    let store = store("series");
    let mut m =
        drain(&old.root_dsn(""), &store, "backups", "epoch-5", &DrainOptions::default()).expect("drain");
    m.server_version = "10.6.12-MariaDB".into();
    store.put("backups/epoch-5/manifest.json", serde_json::to_vec(&m).expect("json")).expect("manifest");
    match restore(&new.root_dsn(""), &store, "backups", "epoch-5", &RestoreOptions::default()) {
        Err(e @ DbError::Incompatible { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("10.6.12-MariaDB") && msg.contains("--logical"), "{msg}");
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
    assert_untouched(&new.root_dsn(""));
    let _ = std::fs::remove_dir_all(store.root());
}

#[test]
fn a_manifest_cannot_point_file_writes_outside_the_data_directory() {
    let Some((old, new)) = two_servers() else { return };
    seed(&old.root_dsn(""), 10);
    let store = store("paths");
    let m = drain(&old.root_dsn(""), &store, "backups", "epoch-6", &DrainOptions::default()).expect("drain");
    let tamper = |f: &dyn Fn(&mut Manifest)| {
        let mut bad = m.clone();
        f(&mut bad);
        store
            .put("backups/epoch-6/manifest.json", serde_json::to_vec(&bad).expect("json"))
            .expect("manifest");
        restore(&new.root_dsn(""), &store, "backups", "epoch-6", &RestoreOptions::default())
    };
    let renamed = tamper(&|m| {
        let t = m.databases[0].tables.iter_mut().find(|t| t.tablespace.is_some()).expect("a file table");
        t.name = "../../x".into();
    });
    assert!(
        // Refused by its statement (which creates another table) before the plain-name check.
        matches!(&renamed, Err(DbError::BadManifest { message, .. })
            if message.contains("plain name") || message.contains("not `../../x`")),
        "{renamed:?}"
    );
    let gap = tamper(&|m| {
        let t = m.databases[0].tables.iter_mut().find(|t| t.tablespace.is_some()).expect("a file table");
        t.tablespace.as_mut().expect("tablespace").parts[0].offset = 1 << 40;
    });
    assert!(
        matches!(&gap, Err(DbError::BadManifest { message, .. }) if message.contains("follow on")),
        "{gap:?}"
    );
    assert_untouched(&new.root_dsn(""));
    let _ = std::fs::remove_dir_all(store.root());
}

#[test]
fn rows_changed_inside_a_chunk_are_caught_by_the_checksum() {
    let Some((old, new)) = two_servers() else { return };
    seed(&old.root_dsn(""), 3000);
    let (store, mut m) = drained(&old.root_dsn(""), "reencoded");
    // Rewrite one chunk as an attacker or a bug would: same row count, one name changed, a valid
    // zstd frame, and the manifest's digest updated to match. Only the row checksum can tell.
    let key = employee_chunk(&m);
    let raw = zstd::decode_all(&store.get(&key).expect("get").expect("stored")[..]).expect("decompress");
    let text = String::from_utf8(raw).expect("employees chunk is text");
    let (first, rest) = text.split_once('\t').expect("a row");
    let (_, rest) = rest.split_once('\t').expect("a name");
    let changed = format!("{first}\tmallory\t{rest}");
    let body = zstd::encode_all(changed.as_bytes(), 1).expect("compress");
    let digest = sha256_hex(&body);
    store.put(&key, body).expect("tamper");
    for d in &mut m.databases {
        for t in &mut d.tables {
            for c in &mut t.chunks {
                if c.key == key {
                    c.sha256 = digest.clone();
                    c.stored_bytes = 0;
                }
            }
        }
    }
    store.put("backups/epoch-3/manifest.json", serde_json::to_vec(&m).expect("json")).expect("manifest");
    assert!(read_manifest(&store, "backups", "epoch-3").is_ok());
    match restore(&new.root_dsn(""), &store, "backups", "epoch-3", &RestoreOptions::default()) {
        Err(DbError::Verification(mismatches)) => {
            assert_eq!(mismatches.len(), 1, "{mismatches:?}");
            let (_, emp) = m.tables().find(|(_, t)| t.name == "employees").expect("employees");
            assert_eq!(mismatches[0].table, "`appdb`.`employees`");
            assert_eq!(mismatches[0].what, "checksum");
            assert_eq!(mismatches[0].expected, emp.checksum);
            assert_ne!(mismatches[0].restored, emp.checksum);
            let msg = DbError::Verification(mismatches).to_string();
            assert!(msg.contains("`appdb`.`employees`: checksum is"), "{msg}");
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(store.root());
}

#[test]
fn verify_catches_changes_made_after_restore() {
    let Some((old, new)) = two_servers() else { return };
    seed(&old.root_dsn(""), 500);
    let (store, _) = drained(&old.root_dsn(""), "after");
    restore(&new.root_dsn(""), &store, "backups", "epoch-3", &RestoreOptions::default()).expect("restore");
    let mut n = conn(&new.root_dsn(""));
    n.query_drop("UPDATE appdb.every_type SET vb = x'00ff0d0a0901' WHERE vb IS NOT NULL LIMIT 1")
        .expect("one byte");
    n.query_drop("DELETE FROM shop.orders WHERE id = 12").expect("one row");
    match verify(&new.root_dsn(""), &store, "backups", "epoch-3", 2) {
        Err(DbError::Verification(m)) => {
            let got: Vec<(&str, &str)> = m.iter().map(|m| (m.table.as_str(), m.what)).collect();
            assert_eq!(
                got,
                [
                    ("`appdb`.`every_type`", "checksum"),
                    ("`shop`.`orders`", "row count"),
                    ("`shop`.`orders`", "checksum")
                ]
            );
            assert_eq!((m[1].restored.as_str(), m[1].expected.as_str()), ("2", "3"));
        }
        other => panic!("expected mismatches, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(store.root());
}

#[test]
fn a_server_that_refuses_local_infile_is_named_as_such() {
    let Some((old, new)) = two_servers() else { return };
    seed(&old.root_dsn(""), 10);
    let (store, _) = drained(&old.root_dsn(""), "infile");
    conn(&new.root_dsn("")).query_drop("SET GLOBAL local_infile = 0").expect("refuse local infile");
    let err = restore(&new.root_dsn(""), &store, "backups", "epoch-3", &RestoreOptions::default());
    assert!(matches!(err, Err(DbError::LocalInfileRefused(_))), "{err:?}");
    let _ = std::fs::remove_dir_all(store.root());
}
