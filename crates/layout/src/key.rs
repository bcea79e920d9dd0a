//! Any key of the bucket read back as what it is ([`Key::parse`]): the inverse of every key
//! function, so that listing code never takes a key apart by hand.
//!
//! May use: `backup`, `log`, `state`, `error`: it reads back what they make.

use crate::backup::{health_prefix, writer_ok, BACKUPS};
use crate::error::plain;
use crate::log::{bases, timelines, PieceKey};
use crate::state;

/// What a key in the bucket is, read back from the key alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key<'a> {
    Env,
    UserData,
    Lock,
    Primary,
    FisLast,
    Handoff(&'a str),
    /// `state/openings/<epoch>-<who>.json`: the control plane allowed `who` at `epoch`.
    Opening(u64, &'a str),
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
    /// A timeline's heartbeat: its writer's own (`heartbeats/<writer>.json`), or the shared one of
    /// a timeline naming no writer.
    Heartbeat(u32, Option<&'a str>),
    LogPiece(PieceKey),
    /// `backups/reports/<instance>/<writer>.json`: a health report of an instance, by a writer.
    Health(&'a str, &'a str),
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
        if let Some((epoch, who)) = json_in(OPENINGS).and_then(|n| n.split_once('-')) {
            let epoch = epoch.parse().ok().filter(|_| epoch.len() == 10);
            return epoch.filter(|_| plain(who)).map(|e| Key::Opening(e, who));
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
        if let Some((id, writer)) = key
            .strip_prefix(&health_prefix())
            .and_then(|r| r.strip_suffix(".json"))
            .and_then(|r| r.split_once('/'))
            .filter(|(i, w)| plain(i) && writer_ok(w))
        {
            return Some(Key::Health(id, writer));
        }
        protection(key).or_else(|| drain(key))
    }
}

/// A drain's key under [`BACKUPS`] (the shipped log and the bases are read first).
fn drain(key: &str) -> Option<Key<'_>> {
    let (id, rest) = key.strip_prefix(BACKUPS)?.split_once('/')?;
    if !plain(id) {
        return None;
    }
    match rest {
        "manifest.json" => Some(Key::DrainManifest(id)),
        "seal.json" => Some(Key::DrainSeal(id)),
        r if r.starts_with("data/") || r.starts_with("files/") => Some(Key::DrainData(id)),
        _ => None,
    }
}

/// A key of the shipped log or of a base under [`BACKUPS`].
fn protection(key: &str) -> Option<Key<'_>> {
    if let Some(rest) = key.strip_prefix(&timelines(BACKUPS)) {
        let (t, file) = rest.split_once('/')?;
        let n: u32 = t.parse().ok().filter(|_| t.len() == 4)?;
        return match file {
            "timeline.json" => Some(Key::Timeline(n)),
            "heartbeat.json" => Some(Key::Heartbeat(n, None)),
            f if f.starts_with("heartbeats/") => f["heartbeats/".len()..]
                .strip_suffix(".json")
                .filter(|w| writer_ok(w))
                .map(|w| Key::Heartbeat(n, Some(w))),
            _ => PieceKey::parse(BACKUPS, n, key).ok().map(Key::LogPiece),
        };
    }
    let (id, rest) = key.strip_prefix(&bases(BACKUPS))?.strip_prefix('/')?.split_once('/')?;
    if !plain(id) {
        return None;
    }
    match rest {
        "base.json" => Some(Key::BaseRecord(id)),
        "manifest.json" => Some(Key::BaseData(id)),
        r if r.starts_with("data/") || r.starts_with("files/") => Some(Key::BaseData(id)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::{handoff_id, BackupRoot};
    use crate::error::LayoutError;
    use crate::log;

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
            (state::opening_key(12, "i-0abc"), Key::Opening(12, "i-0abc")),
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
            (log::heartbeat_key(BACKUPS, 3, None), Key::Heartbeat(3, None)),
            (
                log::heartbeat_key(BACKUPS, 3, Some("AROAEXAMPLE:i-0abc")),
                Key::Heartbeat(3, Some("AROAEXAMPLE:i-0abc")),
            ),
            (piece.key(BACKUPS), Key::LogPiece(piece.clone())),
            (log::base_record_key(BACKUPS, "20261129T101500Z"), Key::BaseRecord("20261129T101500Z")),
            (base.manifest_key(), Key::BaseData("20261129T101500Z")),
            (base.chunk_key("appdb", "t", 0, 0), Key::BaseData("20261129T101500Z")),
            (
                crate::backup::health_key("i-0abc", "AROAEXAMPLE:i-0abc"),
                Key::Health("i-0abc", "AROAEXAMPLE:i-0abc"),
            ),
        ];
        for (key, kind) in &cases {
            assert_eq!(Key::parse(key).as_ref(), Some(kind), "{key}");
        }
        for stranger in [
            "state/other.json",
            "state/handoffs/../x.json",
            "backups/",
            "backups/a/b/c",
            "x",
            "backups/reports/i-0abc/a/b.json",
            "backups/timelines/0003/heartbeats/a/b.json",
        ] {
            assert_eq!(Key::parse(stranger), None, "{stranger}");
        }
        Ok(())
    }
}
