//! Where a backup's objects live: everything under `PREFIX/HANDOFF_ID/`, the manifest at
//! `manifest.json` (or, for a sealed drain, the seal at `seal.json`), each chunk at `data/DB/TABLE/TASK-PART.tsv.zst`, each piece of a tablespace at
//! `files/DB/TABLE/ibd-PART.zst` (its metadata at `files/DB/TABLE/cfg.zst`). Names are escaped so that any
//! database or table name makes a safe key.

use crate::{DbError, Result};

/// `PREFIX/HANDOFF_ID` (or just the id when the prefix is empty), after checking the id.
pub fn backup_root(prefix: &str, handoff_id: &str) -> Result<String> {
    let ok = !handoff_id.is_empty()
        && handoff_id != "."
        && handoff_id != ".."
        && handoff_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        return Err(DbError::BadHandoffId(handoff_id.to_string()));
    }
    let prefix = prefix.trim_matches('/');
    Ok(if prefix.is_empty() { handoff_id.to_string() } else { format!("{prefix}/{handoff_id}") })
}

pub fn manifest_key(root: &str) -> String {
    format!("{root}/manifest.json")
}

/// Where a drain sealed rather than stored says so (`protect::seal`).
pub fn seal_key(root: &str) -> String {
    format!("{root}/seal.json")
}

/// The key of the `part`th chunk that read task `task` of a table produced.
pub fn chunk_key(root: &str, db: &str, table: &str, task: usize, part: usize) -> String {
    format!("{root}/data/{}/{}/{task:05}-{part:04}.tsv.zst", escape(db), escape(table))
}

/// The key of a tablespace's `part`th piece (`None`: its `.cfg`).
pub fn file_key(root: &str, db: &str, table: &str, part: Option<usize>) -> String {
    let name = match part {
        Some(p) => format!("ibd-{p:05}"),
        None => "cfg".to_string(),
    };
    format!("{root}/files/{}/{}/{name}.zst", escape(db), escape(table))
}

/// Bytes outside `[A-Za-z0-9_$-]` become `%XX`, so `/`, `.` and spaces cannot shape the key.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'$' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_join_prefix_and_id() -> Result<()> {
        assert_eq!(backup_root("backups/", "epoch-3")?, "backups/epoch-3");
        assert_eq!(backup_root("", "epoch-3")?, "epoch-3");
        assert_eq!(manifest_key(&backup_root("b", "e.1")?), "b/e.1/manifest.json");
        Ok(())
    }

    #[test]
    fn handoff_ids_cannot_shape_the_key() {
        for id in ["", "..", "a/b", "epoch 1", "é"] {
            assert!(matches!(backup_root("b", id), Err(DbError::BadHandoffId(_))), "{id:?}");
        }
    }

    #[test]
    fn names_are_escaped_in_chunk_keys() {
        assert_eq!(
            chunk_key("r", "app db", "../t/é", 3, 12),
            "r/data/app%20db/%2E%2E%2Ft%2F%C3%A9/00003-0012.tsv.zst"
        );
        assert_eq!(file_key("r", "appdb", "t", Some(7)), "r/files/appdb/t/ibd-00007.zst");
        assert_eq!(file_key("r", "appdb", "t", None), "r/files/appdb/t/cfg.zst");
    }
}
