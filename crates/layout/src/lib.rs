//! spotctl-layout: where everything lives in an env's state bucket. Every key the binary, the
//! control plane (`spotctl-aws`) and the database side (`spotctl-db`) read or write is made here
//! and nowhere else, and [`Key::parse`] reads any of them back:
//!
//! ```text
//! state/env.json                     the env as last applied (every region it used)
//! state/user-data.sh                 the rendered user-data the handler gives each standby
//! state/lock.json                    apply's and destroy's lock
//! state/primary.json                 the primary record
//! state/handoffs/<id>.json           a handoff's lease and steps
//! state/events/<event>.json          one record per handled event
//! state/fleets/<fleet>.json          a fleet's failover state
//! state/fis-last.json                the last FIS experiment spotctl started
//! cache/…                            the advisor feed, the SPS ledger, recent interruptions
//! artifacts/spotctl-<hash>.zip       the handler package
//! backups/<id>/manifest.json         a handoff's drain, complete (data/…, files/… beside it)
//! backups/<id>/seal.json             a handoff's drain, sealed: the shipped log holds everything
//! backups/timelines/<T>/…            the shipped binary log, its timeline record and heartbeat
//! backups/bases/<id>/…               base backups, laid out as a drain, base.json last
//! ```
//!
//! The backup keys take a prefix (`backups/` in an env's bucket; any prefix for the one-shot
//! commands a person runs), and ids are checked before they shape a key.
//!
//! Pure: strings in, strings out. Depends on nothing of spotctl.

pub mod backup;
pub mod log;
pub mod state;

pub use backup::{epoch_of, handoff_id, BackupRoot, BACKUPS};
pub use log::PieceKey;

/// A name that cannot shape a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("invalid handoff id {0:?}: use letters, digits, '.', '_' and '-' only")]
    BadId(String),
    #[error("{key}: {detail}")]
    BadPiece { key: String, detail: String },
}

/// What a key in the bucket is, read back from the key alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key<'a> {
    Env,
    UserData,
    Lock,
    Primary,
    FisLast,
    Handoff(&'a str),
    Event(&'a str),
    Fleet(&'a str),
    Advisor,
    SpsLedger,
    Interruptions,
    Artifact(&'a str),
    /// `backups/<id>/manifest.json`: handoff `id`'s drain is complete.
    DrainManifest(&'a str),
    /// `backups/<id>/seal.json`: handoff `id`'s drain is sealed.
    DrainSeal(&'a str),
    /// Any other object of handoff `id`'s drain (a chunk, a tablespace's part).
    DrainData(&'a str),
    Timeline(u32),
    Heartbeat(u32),
    LogPiece(PieceKey),
    /// `backups/bases/<id>/base.json`: base `id` is complete.
    BaseRecord(&'a str),
    /// Any other object of base `id` (its manifest, chunks, files).
    BaseData(&'a str),
}

impl<'a> Key<'a> {
    /// Reads a key of an env's bucket (backups under [`BACKUPS`]); `None` for anything spotctl
    /// does not write.
    pub fn parse(key: &'a str) -> Option<Key<'a>> {
        use state::*;
        let named = [
            (ENV, Key::Env),
            (USER_DATA, Key::UserData),
            (LOCK, Key::Lock),
            (PRIMARY, Key::Primary),
            (FIS_LAST, Key::FisLast),
            (ADVISOR, Key::Advisor),
            (SPS_LEDGER, Key::SpsLedger),
            (INTERRUPTIONS, Key::Interruptions),
        ];
        if let Some((_, k)) = named.into_iter().find(|(k, _)| *k == key) {
            return Some(k);
        }
        let json_in = |dir: &str| key.strip_prefix(dir)?.strip_suffix(".json").filter(|n| plain(n));
        if let Some(id) = json_in(HANDOFFS) {
            return Some(Key::Handoff(id));
        }
        if let Some(id) = json_in(EVENTS) {
            return Some(Key::Event(id));
        }
        if let Some(name) = json_in(FLEETS) {
            return Some(Key::Fleet(name));
        }
        if let Some(name) = key.strip_prefix(ARTIFACTS).filter(|n| plain(n)) {
            return Some(Key::Artifact(name));
        }
        log::parse(key).or_else(|| backup::parse(key))
    }
}

/// One path segment of plain characters: it cannot climb or split a key.
pub(crate) fn plain(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of key spotctl writes, made by its own function and read back as that kind: a
    /// new kind of key is added here, or `parse` does not know it.
    #[test]
    fn every_key_kind_reads_back_as_what_it_is() -> Result<(), LayoutError> {
        let drain = BackupRoot::new(BACKUPS, &handoff_id(7))?;
        let base = BackupRoot::new(&log::bases(BACKUPS), "20261129T101500Z")?;
        let piece = PieceKey { timeline: 3, seq: 42, file: "spot-bin.000003".into(), offset: 1234 };
        let cases: Vec<(String, Key)> = vec![
            (state::ENV.into(), Key::Env),
            (state::USER_DATA.into(), Key::UserData),
            (state::LOCK.into(), Key::Lock),
            (state::PRIMARY.into(), Key::Primary),
            (state::FIS_LAST.into(), Key::FisLast),
            (state::handoff_key("epoch-7"), Key::Handoff("epoch-7")),
            (state::event_key("e-1-warning"), Key::Event("e-1-warning")),
            (state::fleet_key("workers"), Key::Fleet("workers")),
            (state::ADVISOR.into(), Key::Advisor),
            (state::SPS_LEDGER.into(), Key::SpsLedger),
            (state::INTERRUPTIONS.into(), Key::Interruptions),
            (state::artifact_key("0123456789abcdef0123"), Key::Artifact("spotctl-0123456789abcdef.zip")),
            (drain.manifest_key(), Key::DrainManifest("epoch-7")),
            (drain.seal_key(), Key::DrainSeal("epoch-7")),
            (drain.chunk_key("appdb", "t", 0, 1), Key::DrainData("epoch-7")),
            (drain.file_key("appdb", "t", Some(2)), Key::DrainData("epoch-7")),
            (log::timeline_key(BACKUPS, 3), Key::Timeline(3)),
            (log::heartbeat_key(BACKUPS, 3), Key::Heartbeat(3)),
            (piece.key(BACKUPS), Key::LogPiece(piece.clone())),
            (log::base_record_key(BACKUPS, "20261129T101500Z"), Key::BaseRecord("20261129T101500Z")),
            (base.manifest_key(), Key::BaseData("20261129T101500Z")),
            (base.chunk_key("appdb", "t", 0, 0), Key::BaseData("20261129T101500Z")),
        ];
        for (key, kind) in &cases {
            assert_eq!(Key::parse(key).as_ref(), Some(kind), "{key}");
        }
        for stranger in ["state/other.json", "state/handoffs/../x.json", "backups/", "backups/a/b/c", "x"] {
            assert_eq!(Key::parse(stranger), None, "{stranger}");
        }
        Ok(())
    }
}
