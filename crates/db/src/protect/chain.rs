//! What a recovery replays, fetched and checked before anything is written to the target.
//!
//! From the chosen base's position to the end of the log (or to `--until`), across timelines:
//! every piece must be listed without a gap (and up to the heartbeat's newest), its SHA-256 and
//! its link of the hash chain must hold, its events' CRCs, the GTIDs must follow one another
//! across pieces, files and timelines, a timeline's branch state must be what its parent's log
//! says there, and the base's position must be an event boundary of this log whose event has
//! the CRC the base recorded (a base of another server's log fails here). The verified pieces
//! are kept compressed, in memory, for the replay.

use super::base::BaseRecord;
use super::error::{ProtectError, Result};
use super::heartbeat;
use super::piece::{self, PieceHeader};
use super::statement::decide;
use super::timeline::Timeline;
use crate::binlog::event::{next, Event, Format, Next};
use crate::binlog::walk::{Step, Walker};
use crate::binlog::{Gtid, State};
use crate::store::BlobStore;
use spotctl_layout::log::log_dir;
use spotctl_layout::PieceKey;
use std::sync::Arc;

/// A verified piece and the part of it to replay (file offsets `[from, to)`).
#[derive(Debug, Clone)]
pub struct Segment {
    pub key: String,
    pub header: PieceHeader,
    pub compressed: Vec<u8>,
    pub from: u64,
    pub to: u64,
    /// The format description event of the piece's file.
    pub fde: Arc<Vec<u8>>,
}

/// Where the verified log ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    pub timeline: u32,
    pub seq: u64,
    pub file: String,
    pub offset: u64,
    pub state: State,
    pub last_gtid: Option<Gtid>,
    pub last_commit: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Verified {
    pub segments: Vec<Segment>,
    pub end: End,
    /// Transactions in the replayed range (whatever their database).
    pub transactions: u64,
    pub bytes: u64,
    pub first_commit: Option<u32>,
    /// Whether the replay stops at `--until` (else at the end of the shipped log).
    pub stopped_by_until: bool,
}

fn missing(prefix: &str, t: u32, seq: u64, detail: String) -> ProtectError {
    let key = format!("{}{seq:010}.*", log_dir(prefix, t));
    ProtectError::MissingPiece { key, detail }
}

fn fetch(
    store: &dyn BlobStore,
    prefix: &str,
    place: &PieceKey,
) -> Result<(String, PieceHeader, Vec<u8>, Vec<u8>)> {
    let key = place.key(prefix);
    let object = store.get(&key)?.ok_or_else(|| ProtectError::MissingPiece {
        key: key.clone(),
        detail: "listed, but not there when read".into(),
    })?;
    let (header, body) = piece::split(&key, place, &object)?;
    let raw = piece::unpack(&key, &header, body)?;
    let compressed = body.to_vec();
    Ok((key, header, compressed, raw))
}

fn corrupt(key: &str, detail: String) -> ProtectError {
    ProtectError::CorruptPiece { key: key.to_string(), detail }
}

/// The format description at the start of a file's header piece.
fn fde_of(key: &str, raw: &[u8]) -> Result<Arc<Vec<u8>>> {
    match next(raw, 4, 4).map_err(|e| corrupt(key, e.to_string()))? {
        Next::Event(e) => {
            e.check_crc().map_err(|err| corrupt(key, err.to_string()))?;
            Format::read(&e).map_err(|err| corrupt(key, err.to_string()))?;
            Ok(Arc::new(e.bytes.to_vec()))
        }
        _ => Err(corrupt(key, "a file's first piece holds no format description".into())),
    }
}

/// Checks the log from `base` to the end of `chain` (or to `until`, seconds since 1970).
pub fn verify(
    store: &dyn BlobStore,
    prefix: &str,
    chain: &[&Timeline],
    base: &BaseRecord,
    database: &str,
    until: Option<u32>,
) -> Result<Verified> {
    let first = chain.iter().position(|t| t.record.timeline == base.timeline).ok_or_else(|| {
        ProtectError::ForeignBase {
            id: base.id.clone(),
            detail: format!("its timeline {} is not on the chain being recovered", base.timeline),
        }
    })?;
    let foreign = |detail: String| ProtectError::ForeignBase { id: base.id.clone(), detail };
    let start_state = State::parse(&base.position.gtid).map_err(foreign)?;
    let mut walker = Walker::new(Some(start_state.clone()));
    let mut out = Verified {
        segments: Vec::new(),
        end: End {
            timeline: base.timeline,
            seq: 0,
            file: base.position.file.clone(),
            offset: base.position.offset,
            state: start_state,
            last_gtid: None,
            last_commit: None,
        },
        transactions: 0,
        bytes: 0,
        first_commit: None,
        stopped_by_until: false,
    };
    for (i, tl) in chain.iter().enumerate().skip(first) {
        let t = tl.record.timeline;
        let keys = piece::list(store, prefix, t)?;
        let branch = chain.get(i + 1).and_then(|child| child.record.branch.clone());
        let newest = keys.last().map_or(0, |k| k.seq);
        let last_seq = match &branch {
            Some(b) if b.seq > newest => {
                let detail = format!("timeline {} branches at piece {}", chain[i + 1].record.timeline, b.seq);
                return Err(missing(prefix, t, newest + 1, detail));
            }
            Some(b) => b.seq,
            None => {
                if let Some(hb) = heartbeat::read(store, prefix, &tl.record)? {
                    if hb.seq.is_some_and(|s| s > newest) {
                        let detail =
                            format!("the shipper's heartbeat says piece {} was stored", hb.seq.unwrap_or(0));
                        return Err(missing(prefix, t, newest + 1, detail));
                    }
                }
                newest
            }
        };
        if i > first && keys.first().is_some_and(|k| k.seq != 1) {
            let detail = format!(
                "timeline {t} is replayed from its start, but its log begins at piece {}",
                keys[0].seq
            );
            return Err(missing(prefix, t, 1, detail));
        }
        let start = if i == first {
            let p = &base.position;
            // The piece holding the event that ends at the base's position.
            let at = keys.iter().rposition(|k| k.file == p.file && k.offset < p.offset);
            let header = keys.iter().position(|k| k.file == p.file && k.offset == 0);
            match (at, header) {
                (Some(at), Some(h)) => {
                    let (key, _, _, raw) = fetch(store, prefix, &keys[h])?;
                    let fde = fde_of(&key, &raw)?;
                    out.end.seq = keys[at].seq;
                    (at, Some(fde))
                }
                _ => {
                    let files: Vec<&str> =
                        keys.iter().filter(|k| k.offset == 0).map(|k| k.file.as_str()).collect();
                    return Err(foreign(format!(
                        "its position {}:{} is not in timeline {t}'s shipped log (files {})",
                        p.file,
                        p.offset,
                        if files.is_empty() { "none".to_string() } else { files.join(", ") }
                    )));
                }
            }
        } else {
            (0, None)
        };
        let (start_idx, mut fde) = start;
        let mut prev: Option<PieceHeader> = None;
        for (n, place) in keys.iter().enumerate().skip(start_idx).take_while(|(_, k)| k.seq <= last_seq) {
            let (key, header, compressed, raw) = fetch(store, prefix, place)?;
            let anchor = match (&prev, place.seq) {
                (Some(p), _) => Some(p.chain.clone()),
                (None, 1) => Some(piece::chain_start(&tl.bytes)),
                (None, _) => None,
            };
            if let Some(prev_link) = anchor {
                let want = piece::link(&prev_link, place, header.end, &header.raw_sha256);
                if want != header.chain {
                    return Err(corrupt(
                        &key,
                        "its link of the hash chain does not follow the piece before it".into(),
                    ));
                }
            }
            if let Some(p) = prev.as_ref().filter(|p| p.file == header.file) {
                if p.end != header.offset {
                    return Err(corrupt(
                        &key,
                        format!("it starts at {}, the piece before ended at {}", header.offset, p.end),
                    ));
                }
            } else if header.offset == 0 {
                fde = Some(fde_of(&key, &raw)?);
            } else if prev.is_some() {
                return Err(corrupt(&key, "a new file's first piece does not start at 0".into()));
            }
            let fde = fde.clone().ok_or_else(|| corrupt(&key, "no format description before it".into()))?;
            // A file's first piece starts with the magic bytes, which are no event.
            let mut from = header.offset.max(4);
            if i == first && n == start_idx {
                from = base.position.offset;
                anchor_base(&key, &header, &raw, base)?;
            }
            let mut to = match &branch {
                Some(b) if b.seq == place.seq => b.offset,
                _ => header.end,
            };
            if from < to {
                let range = Range { key: &key, header: &header, raw: &raw, from, to };
                let stop = walk(&range, &mut walker, database, until, &mut out)?;
                if let Some(at) = stop {
                    to = at;
                    out.stopped_by_until = true;
                }
                out.bytes += to - from;
                out.segments.push(Segment {
                    key: key.clone(),
                    header: header.clone(),
                    compressed,
                    from,
                    to,
                    fde,
                });
            }
            out.end.timeline = t;
            out.end.seq = place.seq;
            out.end.file = header.file.clone();
            out.end.offset = to;
            prev = Some(header);
            if out.stopped_by_until {
                break;
            }
        }
        if let (None, Some(hb)) = (&branch, heartbeat::read(store, prefix, &tl.record)?) {
            let newest = prev.as_ref().filter(|p| Some(p.seq) == hb.seq);
            if newest.is_some_and(|p| Some(&p.chain) != hb.chain.as_ref()) && !out.stopped_by_until {
                return Err(corrupt(
                    &keys[keys.len() - 1].key(prefix),
                    "its hash chain link is not the one the heartbeat recorded".into(),
                ));
            }
        }
        out.end.state = walker.state().cloned().unwrap_or_default();
        if out.stopped_by_until {
            break;
        }
        if let Some(b) = &branch {
            let said = State::parse(&b.state).map_err(|message| ProtectError::BadRecord {
                key: spotctl_layout::log::timeline_key(prefix, t + 1),
                message,
            })?;
            if !said.same_position(&out.end.state) {
                return Err(ProtectError::BadRecord {
                    key: spotctl_layout::log::timeline_key(prefix, chain[i + 1].record.timeline),
                    message: format!(
                        "its branch state is {said}, the parent's log there is at {}",
                        out.end.state
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// The base's position must be the end of an event of this piece, with the CRC the base saw.
fn anchor_base(key: &str, header: &PieceHeader, raw: &[u8], base: &BaseRecord) -> Result<()> {
    let mut at = if header.offset == 0 { 4 } else { 0 };
    loop {
        let offset = header.offset + at as u64;
        match next(raw, at, offset).map_err(|e| corrupt(key, e.to_string()))? {
            Next::Event(e) if e.end() == base.position.offset => {
                let crc = format!("{:08x}", e.stored_crc());
                return if crc == base.position.last_event_crc {
                    Ok(())
                } else {
                    Err(ProtectError::ForeignBase {
                        id: base.id.clone(),
                        detail: format!(
                            "the event ending at {}:{} has CRC {crc} in the shipped log, the base saw {}: the base \
                             was taken on another server's log",
                            base.position.file, base.position.offset, base.position.last_event_crc
                        ),
                    })
                };
            }
            Next::Event(e) if e.end() < base.position.offset => at += e.bytes.len(),
            _ if header.end == base.position.offset && at == raw.len() => return Ok(()),
            _ => {
                return Err(ProtectError::ForeignBase {
                    id: base.id.clone(),
                    detail: format!(
                        "its position {}:{} is not an event boundary of the shipped log",
                        base.position.file, base.position.offset
                    ),
                })
            }
        }
    }
}

/// Part of a fetched piece: its bytes `[from, to)` (file offsets).
struct Range<'a> {
    key: &'a str,
    header: &'a PieceHeader,
    raw: &'a [u8],
    from: u64,
    to: u64,
}

/// Walks a range, checking every statement can be replayed; returns where `until` stops it (the
/// first transaction that committed at or after it), if it does.
fn walk(
    r: &Range<'_>,
    walker: &mut Walker,
    database: &str,
    until: Option<u32>,
    out: &mut Verified,
) -> Result<Option<u64>> {
    let Range { key, header, raw, from, to } = *r;
    let slice = &raw[..(to - header.offset) as usize];
    let mut at = (from - header.offset) as usize;
    loop {
        let offset = header.offset + at as u64;
        let e: Event<'_> = match next(slice, at, offset).map_err(|e| corrupt(key, e.to_string()))? {
            Next::Event(e) => e,
            Next::End => break,
            Next::Partial => return Err(corrupt(key, format!("an event is cut at {to}"))),
        };
        if e.kind() == crate::binlog::Kind::Gtid && until.is_some_and(|u| e.header.timestamp >= u) {
            return Ok(Some(e.offset));
        }
        let step = walker
            .feed(&e)
            .map_err(|source| ProtectError::Log { file: format!("{} ({key})", header.file), source })?;
        let statement = match &step {
            Step::Statement(q) | Step::End(_, Some(q)) => Some(q),
            _ => None,
        };
        if let Some(q) = statement {
            decide(q, database).map_err(|what| ProtectError::Replay {
                key: key.to_string(),
                offset: e.offset,
                gtid: out.end.last_gtid.map(|g| g.to_string()).unwrap_or_else(|| "-".into()),
                what,
                source: None,
            })?;
        }
        if let Step::End(c, _) = step {
            out.transactions += 1;
            out.first_commit.get_or_insert(c.timestamp);
            out.end.last_commit = Some(c.timestamp);
            out.end.last_gtid = Some(c.gtid);
        }
        at += e.bytes.len();
    }
    if !walker.idle() {
        return Err(corrupt(key, format!("it ends inside a transaction at {to}")));
    }
    Ok(None)
}
