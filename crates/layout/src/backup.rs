//! A backup's objects: everything under `PREFIX/ID/`, the manifest at `manifest.json` (or, for a
//! sealed drain, the seal at `seal.json`), each chunk at `data/DB/TABLE/TASK-PART.tsv.zst`, each
//! piece of a tablespace at `files/DB/TABLE/ibd-PART.zst` (its metadata at `files/DB/TABLE/cfg.zst`).
//! Names are escaped so that any database or table name makes a safe key.
//!
//! A handoff's drain lives at `backups/epoch-N/`, named by the epoch of the primary it replaces.
//!
//! May use: `error`.

use crate::error::{plain, LayoutError};

/// Where an env's backups live: handoffs' drains, the shipped log, base backups.
pub const BACKUPS: &str = "backups/";

/// The prefix of the agents' health reports.
pub fn health_prefix() -> String {
    format!("{BACKUPS}{HEALTH}")
}

const HANDOFF_ID_PREFIX: &str = "epoch-";

/// The id of the handoff that replaces the primary of epoch `epoch` (and of its drain).
pub fn handoff_id(epoch: u64) -> String {
    format!("{HANDOFF_ID_PREFIX}{epoch}")
}

/// The epoch a handoff id names (`None` for an id spotctl did not make).
pub fn epoch_of(id: &str) -> Option<u64> {
    id.strip_prefix(HANDOFF_ID_PREFIX)?.parse().ok()
}

/// The prefix every handoff's drain starts with (`backups/epoch-`): listing it never walks the
/// shipped log or the bases.
pub fn handoff_drains() -> String {
    format!("{BACKUPS}{HANDOFF_ID_PREFIX}")
}

/// Where the agents of instance `instance_id` report its server's health:
/// `backups/reports/<instance>/`. Each writer has its own key under it ([`health_key`]); the
/// instance role may write only the key that ends in its own session's id, so no instance writes
/// a report another instance's readers take.
pub fn health_dir(instance_id: &str) -> String {
    format!("{BACKUPS}{HEALTH}{instance_id}/")
}

/// `backups/reports/<instance>/<writer>.json`: the health report `writer` (the caller's
/// `aws:userid`, `<role id>:<instance id>` for an instance's role) writes about `instance_id`.
pub fn health_key(instance_id: &str, writer: &str) -> String {
    format!("{}{writer}.json", health_dir(instance_id))
}

/// Whether `key`, listed under [`health_dir`]`(instance_id)`, is that instance's own report: its
/// writer is a session of a role named for that instance (`<role id>:<instance>`), the one name
/// only the instance's own credentials may write (the instance policy's `${aws:userid}`).
pub fn own_health_report(instance_id: &str, key: &str) -> bool {
    key.strip_prefix(&health_dir(instance_id))
        .and_then(|r| r.strip_suffix(".json"))
        .and_then(writer_session)
        .is_some_and(|session| session == instance_id)
}

/// The session a writer's id names, when it is a role's session (`<role id>:<session>`, the
/// session an instance's being its instance id); `None` for any other id (a user's, a person's).
pub fn writer_session(writer: &str) -> Option<&str> {
    let (role, session) = writer.rsplit_once(':')?;
    (!role.is_empty() && writer_ok(role) && writer_ok(session)).then_some(session)
}

/// A writer's id as a key segment: what `aws:userid` holds (letters, digits and `_+=,.@-`, one
/// `:` between a role's id and its session's name); never a `/`, so it cannot climb or split.
pub fn writer_ok(writer: &str) -> bool {
    !writer.is_empty()
        && writer != "."
        && writer != ".."
        && writer.bytes().all(|b| b.is_ascii_alphanumeric() || b":_+=,.@-".contains(&b))
}

const HEALTH: &str = "reports/";

/// Where agents of a build before per-writer reports wrote theirs: `backups/health/<instance>.json`,
/// a key any instance may write. Never read as a report; the watchdog only sees from it that the
/// primary runs an agent of that build, and does not judge it.
pub fn legacy_health_key(instance_id: &str) -> String {
    format!("{BACKUPS}health/{instance_id}.json")
}

/// Where one backup's objects live: `PREFIX/ID` (just the id when the prefix is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRoot(String);

impl BackupRoot {
    /// Checks `id` (it becomes a path segment) and joins it to `prefix`.
    pub fn new(prefix: &str, id: &str) -> Result<BackupRoot, LayoutError> {
        if !plain(id) {
            return Err(LayoutError::BadId(id.to_string()));
        }
        let prefix = prefix.trim_matches('/');
        Ok(BackupRoot(if prefix.is_empty() { id.to_string() } else { format!("{prefix}/{id}") }))
    }

    /// Handoff `id`'s drain in an env's bucket (`backups/ID`).
    pub fn handoff(id: &str) -> Result<BackupRoot, LayoutError> {
        BackupRoot::new(BACKUPS, id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Written last: the backup is complete.
    pub fn manifest_key(&self) -> String {
        format!("{}/manifest.json", self.0)
    }

    /// Where a drain sealed rather than stored says so.
    pub fn seal_key(&self) -> String {
        format!("{}/seal.json", self.0)
    }

    /// The key of the `part`th chunk that read task `task` of a table produced.
    pub fn chunk_key(&self, db: &str, table: &str, task: usize, part: usize) -> String {
        format!("{}/data/{}/{}/{task:05}-{part:04}.tsv.zst", self.0, escape(db), escape(table))
    }

    /// The key of a tablespace's `part`th piece (`None`: its `.cfg`).
    pub fn file_key(&self, db: &str, table: &str, part: Option<usize>) -> String {
        let name = match part {
            Some(p) => format!("ibd-{p:05}"),
            None => "cfg".to_string(),
        };
        format!("{}/files/{}/{}/{name}.zst", self.0, escape(db), escape(table))
    }
}

impl std::fmt::Display for BackupRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
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
    fn roots_join_prefix_and_id() -> Result<(), LayoutError> {
        assert_eq!(BackupRoot::new("backups/", "epoch-3")?.as_str(), "backups/epoch-3");
        assert_eq!(BackupRoot::new("", "epoch-3")?.as_str(), "epoch-3");
        assert_eq!(BackupRoot::new("b", "e.1")?.manifest_key(), "b/e.1/manifest.json");
        assert_eq!(BackupRoot::handoff(&handoff_id(4))?.seal_key(), "backups/epoch-4/seal.json");
        assert_eq!(handoff_drains(), "backups/epoch-");
        assert_eq!(epoch_of("epoch-10"), Some(10));
        assert_eq!(epoch_of("epoch-x"), None);
        Ok(())
    }

    /// Only a report whose writer is a session named for the instance is its own: another
    /// instance's session, a person's credentials or a name that climbs are not.
    #[test]
    fn an_instances_own_report_is_the_one_its_session_wrote() {
        let own = health_key("i-0abc", "AROAEXAMPLE:i-0abc");
        assert_eq!(own, "backups/reports/i-0abc/AROAEXAMPLE:i-0abc.json");
        assert!(own_health_report("i-0abc", &own));
        for other in [
            health_key("i-0abc", "AROAEXAMPLE:i-0def"),
            health_key("i-0abc", "AKIAIOSFODNN7EXAMPLE"),
            health_key("i-0abc", ":i-0abc"),
            health_key("i-0def", "AROAEXAMPLE:i-0abc"),
            "backups/reports/i-0abc/x/AROAEXAMPLE:i-0abc.json".to_string(),
            "backups/health/i-0abc.json".to_string(),
        ] {
            assert!(!own_health_report("i-0abc", &other), "{other}");
        }
        for bad in ["", ".", "..", "a/b", "a b"] {
            assert!(!writer_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn handoff_ids_cannot_shape_the_key() {
        for id in ["", ".", "..", "a/b", "epoch 1", "é"] {
            assert!(matches!(BackupRoot::new("b", id), Err(LayoutError::BadId(_))), "{id:?}");
        }
    }

    #[test]
    fn names_are_escaped_in_chunk_keys() -> Result<(), LayoutError> {
        let r = BackupRoot::new("", "r")?;
        assert_eq!(
            r.chunk_key("app db", "../t/é", 3, 12),
            "r/data/app%20db/%2E%2E%2Ft%2F%C3%A9/00003-0012.tsv.zst"
        );
        assert_eq!(r.file_key("appdb", "t", Some(7)), "r/files/appdb/t/ibd-00007.zst");
        assert_eq!(r.file_key("appdb", "t", None), "r/files/appdb/t/cfg.zst");
        Ok(())
    }
}
