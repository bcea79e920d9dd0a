//! Where continuous protection keeps its objects, all under one prefix (`backups/` in an env's
//! bucket):
//!
//! ```text
//! P/timelines/<T:04>/timeline.json                         create-only: parent and branch point
//! P/timelines/<T:04>/log/<seq:010>.<file>.<offset:012>.piece   create-only: one piece of the log
//! P/timelines/<T:04>/heartbeats/<writer>.json              the shipper's last word (overwritten,
//!                                                          only by the writer the timeline names)
//! P/timelines/<T:04>/heartbeat.json                        the same, of a timeline naming no writer
//! P/bases/<id>/manifest.json, data/…                       a base backup, as a drain lays it out
//! P/bases/<id>/base.json                                   create-only, last: the base is complete
//! ```
//!
//! A piece's key says which timeline, which place in the sequence, which binary log file and
//! from which offset: listing a timeline's log is its index, in order, and a gap in the
//! sequence shows in the listing. Two writers of the same piece race for one key.
//!
//! May use: `error`.

use crate::error::LayoutError;

/// `P/timelines/`.
pub fn timelines(prefix: &str) -> String {
    format!("{}timelines/", root(prefix))
}

pub fn timeline_dir(prefix: &str, t: u32) -> String {
    format!("{}timelines/{t:04}/", root(prefix))
}

pub fn timeline_key(prefix: &str, t: u32) -> String {
    format!("{}timeline.json", timeline_dir(prefix, t))
}

/// Where timeline `t`'s shipper reports: under its writer's own key when the timeline names one
/// (the instance role may write only the key of its own `aws:userid`), else the one shared key of
/// timelines begun before writers were named.
pub fn heartbeat_key(prefix: &str, t: u32, writer: Option<&str>) -> String {
    match writer {
        Some(w) => format!("{}heartbeats/{w}.json", timeline_dir(prefix, t)),
        None => format!("{}heartbeat.json", timeline_dir(prefix, t)),
    }
}

/// `P/timelines/<T>/log/`: list it for the timeline's pieces.
pub fn log_dir(prefix: &str, t: u32) -> String {
    format!("{}log/", timeline_dir(prefix, t))
}

/// `P/bases`: a base's objects live under `P/bases/<id>/`, as a drain lays out a handoff's.
pub fn bases(prefix: &str) -> String {
    format!("{}bases", root(prefix))
}

pub fn base_record_key(prefix: &str, id: &str) -> String {
    format!("{}/{id}/base.json", bases(prefix))
}

fn root(prefix: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

/// A timeline number from a `…/timelines/<T>/timeline.json` key.
pub fn timeline_of(prefix: &str, key: &str) -> Option<u32> {
    let rest = key.strip_prefix(&timelines(prefix))?;
    let (t, file) = rest.split_once('/')?;
    (file == "timeline.json" && t.len() == 4).then(|| t.parse().ok()).flatten()
}

/// Where a piece sits: its timeline, its place in the sequence, its file and first offset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct PieceKey {
    pub timeline: u32,
    pub seq: u64,
    pub file: String,
    pub offset: u64,
}

impl PieceKey {
    pub fn key(&self, prefix: &str) -> String {
        format!("{}{:010}.{}.{:012}.piece", log_dir(prefix, self.timeline), self.seq, self.file, self.offset)
    }

    /// Reads a key made by [`PieceKey::key`]; anything else under `log/` is an error, not skipped.
    pub fn parse(prefix: &str, timeline: u32, key: &str) -> Result<PieceKey, LayoutError> {
        let bad = || LayoutError::BadPiece {
            key: key.to_string(),
            detail: "the name is not <seq>.<file>.<offset>.piece".into(),
        };
        let name = key.strip_prefix(&log_dir(prefix, timeline)).ok_or_else(bad)?;
        let name = name.strip_suffix(".piece").ok_or_else(bad)?;
        let (seq, rest) = name.split_once('.').ok_or_else(bad)?;
        let (file, offset) = rest.rsplit_once('.').ok_or_else(bad)?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(seq, 10) || !digits(offset, 12) || !log_file_name_ok(file) {
            return Err(bad());
        }
        Ok(PieceKey {
            timeline,
            seq: seq.parse().map_err(|_| bad())?,
            file: file.to_string(),
            offset: offset.parse().map_err(|_| bad())?,
        })
    }
}

/// A binary log file name as the server makes them (`<basename>.NNNNNN`): plain characters only,
/// so a name can never shape a key or a path.
pub fn log_file_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_keys_round_trip_and_sort_by_sequence() -> Result<(), LayoutError> {
        let p = PieceKey { timeline: 2, seq: 42, file: "spot-bin.000003".into(), offset: 1234 };
        let key = p.key("backups/");
        assert_eq!(key, "backups/timelines/0002/log/0000000042.spot-bin.000003.000000001234.piece");
        assert_eq!(PieceKey::parse("backups", 2, &key)?, p);
        let later = PieceKey { seq: 43, file: "spot-bin.000004".into(), offset: 0, ..p.clone() };
        assert!(key < later.key("backups"), "listing order is sequence order");
        for bad in [
            "backups/timelines/0002/log/42.spot-bin.000003.000000001234.piece",
            "backups/timelines/0002/log/0000000042.../x.000000001234.piece",
            "backups/timelines/0002/log/0000000042.spot-bin.000003.000000001234.zst",
            "backups/timelines/0003/log/0000000042.spot-bin.000003.000000001234.piece",
        ] {
            assert!(PieceKey::parse("backups", 2, bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn timelines_and_bases() {
        assert_eq!(timeline_key("backups", 7), "backups/timelines/0007/timeline.json");
        assert_eq!(timeline_of("backups", "backups/timelines/0007/timeline.json"), Some(7));
        assert_eq!(timeline_of("backups", "backups/timelines/0007/heartbeat.json"), None);
        assert_eq!(base_record_key("", "x"), "bases/x/base.json");
    }
}
