//! One piece of the shipped log: a byte range `[offset, end)` of one binary log file, cut only
//! between transactions, stored as one object — a line of JSON ([`PieceHeader`]) followed by the
//! zstd frame of the bytes.
//!
//! The header carries the SHA-256 of the raw bytes and a hash chain: each piece's `chain` is the
//! SHA-256 of the previous piece's `chain` and this piece's place and digest, starting from the
//! SHA-256 of the timeline's record. A piece altered, dropped or moved breaks the chain at the
//! next piece; the heartbeat holds the newest link, so the tail is covered too.

use super::error::{ProtectError, Result};
use crate::backup::rows::sha256_hex;
use crate::store::BlobStore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use spotctl_layout::log::log_dir;
use spotctl_layout::PieceKey;

pub const PIECE_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceHeader {
    pub format: u32,
    pub timeline: u32,
    pub seq: u64,
    pub file: String,
    pub offset: u64,
    pub end: u64,
    pub raw_sha256: String,
    /// The hash chain up to and including this piece.
    pub chain: String,
    /// Transactions that end in this piece.
    pub transactions: u64,
    /// The first and last of them (GTID text), when there are any.
    pub first_gtid: Option<String>,
    pub last_gtid: Option<String>,
    /// Their commit times (seconds since 1970, UTC).
    pub first_commit: Option<u32>,
    pub last_commit: Option<u32>,
    /// `gtid_binlog_state` after this piece: where a shipper that resumes here continues.
    pub state_after: String,
    /// The file ends with this piece (a rotate or stop event, or a crash's cut).
    pub file_done: bool,
}

impl PieceHeader {
    pub fn place(&self) -> PieceKey {
        PieceKey { timeline: self.timeline, seq: self.seq, file: self.file.clone(), offset: self.offset }
    }
}

/// The next link of the chain after `prev`.
pub fn link(prev: &str, place: &PieceKey, end: u64, raw_sha256: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(format!("|{}|{}|{}|{}|{end}|{raw_sha256}", place.timeline, place.seq, place.file, place.offset));
    hex(&h.finalize())
}

/// The chain's first link: the SHA-256 of the timeline record's bytes.
pub fn chain_start(timeline_record: &[u8]) -> String {
    sha256_hex(timeline_record)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The pieces of timeline `t`, in order: numbered without a gap from the first one listed (1, or
/// where retention cut the log's beginning; such a cut starts at a file's first piece).
pub fn list(store: &dyn BlobStore, prefix: &str, t: u32) -> Result<Vec<PieceKey>> {
    let keys: Vec<PieceKey> = store
        .list(&log_dir(prefix, t))?
        .iter()
        .map(|k| PieceKey::parse(prefix, t, k).map_err(ProtectError::from))
        .collect::<Result<_>>()?;
    if let Some(first) = keys.first().filter(|k| k.seq != 1 && k.offset != 0) {
        return Err(ProtectError::MissingPiece {
            key: format!("{}{:010}.*", log_dir(prefix, t), first.seq - 1),
            detail: format!(
                "the log of timeline {t} begins with piece {}, in the middle of {}",
                first.seq, first.file
            ),
        });
    }
    for pair in keys.windows(2) {
        if pair[1].seq != pair[0].seq + 1 {
            return Err(ProtectError::MissingPiece {
                key: format!("{}{:010}.*", log_dir(prefix, t), pair[0].seq + 1),
                detail: format!("the log goes from piece {} to piece {}", pair[0].seq, pair[1].seq),
            });
        }
    }
    Ok(keys)
}

/// The stored object: the header line, then the compressed bytes.
pub fn encode(header: &PieceHeader, compressed: &[u8]) -> Result<Vec<u8>> {
    let mut out = serde_json::to_vec(header).map_err(|e| ProtectError::BadRecord {
        key: format!("piece {}", header.seq),
        message: e.to_string(),
    })?;
    out.push(b'\n');
    out.extend_from_slice(compressed);
    Ok(out)
}

/// Splits a stored piece and checks it against its key; the bytes are not decompressed here.
pub fn split<'a>(key: &str, place: &PieceKey, object: &'a [u8]) -> Result<(PieceHeader, &'a [u8])> {
    let corrupt = |detail: String| ProtectError::CorruptPiece { key: key.to_string(), detail };
    let nl = object.iter().position(|&b| b == b'\n').ok_or_else(|| corrupt("no header line".into()))?;
    let header: PieceHeader = serde_json::from_slice(&object[..nl])
        .map_err(|e| corrupt(format!("its header does not parse: {e}")))?;
    if header.format != PIECE_FORMAT {
        return Err(corrupt(format!(
            "format {} is not one this build reads ({PIECE_FORMAT})",
            header.format
        )));
    }
    if header.place() != *place {
        return Err(corrupt(format!(
            "its header says timeline {} piece {} of {} at {}, its key says otherwise",
            header.timeline, header.seq, header.file, header.offset
        )));
    }
    if header.end <= header.offset {
        return Err(corrupt(format!("it ends at {} but starts at {}", header.end, header.offset)));
    }
    Ok((header, &object[nl + 1..]))
}

/// Decompresses a piece's bytes and checks their length and SHA-256 against its header.
pub fn unpack(key: &str, header: &PieceHeader, compressed: &[u8]) -> Result<Vec<u8>> {
    let corrupt = |detail: String| ProtectError::CorruptPiece { key: key.to_string(), detail };
    let want = usize::try_from(header.end - header.offset).map_err(|_| corrupt("too large".into()))?;
    let raw = zstd::bulk::decompress(compressed, want).map_err(|e| corrupt(format!("zstd: {e}")))?;
    if raw.len() != want {
        return Err(corrupt(format!("{} bytes after decompression, the header says {want}", raw.len())));
    }
    let sha = sha256_hex(&raw);
    if sha != header.raw_sha256 {
        return Err(corrupt(format!("its bytes' SHA-256 is {sha}, its header says {}", header.raw_sha256)));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(raw: &[u8]) -> PieceHeader {
        let place = PieceKey { timeline: 1, seq: 3, file: "spot-bin.000001".into(), offset: 400 };
        let raw_sha256 = sha256_hex(raw);
        PieceHeader {
            format: PIECE_FORMAT,
            timeline: 1,
            seq: 3,
            file: place.file.clone(),
            offset: 400,
            end: 400 + raw.len() as u64,
            chain: link("start", &place, 400 + raw.len() as u64, &raw_sha256),
            raw_sha256,
            transactions: 1,
            first_gtid: Some("0-1-5".into()),
            last_gtid: Some("0-1-5".into()),
            first_commit: Some(1),
            last_commit: Some(1),
            state_after: "0-1-5".into(),
            file_done: false,
        }
    }

    #[test]
    fn a_piece_round_trips_and_damage_is_named() -> Result<()> {
        let raw = b"some binary log bytes".repeat(10);
        let h = header(&raw);
        let z = zstd::bulk::compress(&raw, 3)
            .map_err(|e| ProtectError::BadRecord { key: "z".into(), message: e.to_string() })?;
        let object = encode(&h, &z)?;
        let (back, body) = split("k", &h.place(), &object)?;
        assert_eq!(back, h);
        assert_eq!(unpack("k", &back, body)?, raw);

        let mut other = h.clone();
        other.raw_sha256 = sha256_hex(b"not these bytes");
        let err = unpack("k", &other, body).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("log object k is corrupt: its bytes' SHA-256"), "{err}");
        let moved = PieceKey { seq: 4, ..h.place() };
        assert!(split("k", &moved, &object).is_err(), "a piece under another key is refused");
        let mut flipped = object.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x40;
        assert!(unpack("k", &h, &flipped[object.len() - z.len()..]).is_err());
        Ok(())
    }

    #[test]
    fn the_chain_depends_on_every_link() {
        let p = PieceKey { timeline: 1, seq: 1, file: "f.000001".into(), offset: 0 };
        let a = link("s", &p, 10, "aa");
        assert_ne!(a, link("s", &p, 11, "aa"));
        assert_ne!(a, link("t", &p, 10, "aa"));
        assert_ne!(a, link("s", &PieceKey { seq: 2, ..p.clone() }, 10, "aa"));
        assert_eq!(a, link("s", &p, 10, "aa"));
    }
}
