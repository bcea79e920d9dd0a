//! The shipper: the primary's binary log to the bucket, continuously, in order, without gaps.
//!
//! Every `poll` it reads what the current file gained, walks it (every CRC, every GTID) and, when
//! complete transactions wait and `min_interval` has passed since the last piece (or they fill
//! `max_piece_bytes`, or the file ended), stores them as the next piece with a create-only write.
//! Nothing is written while nothing is committed, besides a heartbeat a minute.
//!
//! It resumes from the bucket: the newest timeline's last piece, whose bytes must still be this
//! server's (else the log has diverged and it stops, saying so). It follows rotations and
//! restarts through the index file, re-checking the server's settings at each new file; a torn
//! tail left by a crash is never shipped (the server abandons it too). It stops when a newer
//! timeline appears: a recovery has taken over the log.

use super::clock::now_ms;
use super::cursor::{normalise_header, Cursor, Cut};
use super::error::{ProtectError, Result};
use super::files::LocalLog;
use super::heartbeat::{self, Heartbeat};
use super::piece::{self, PieceHeader, PIECE_FORMAT};
use super::server::{self, ServerLog};
use super::timeline;
use crate::backup::rows::sha256_hex;
use crate::binlog::State;
use crate::session::connect;
use crate::store::{BlobStore, Creation};
use crate::store::{CountingStore, Requests};
use serde::Serialize;
use spotctl_layout::log::timeline_key;
use spotctl_layout::PieceKey;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ShipOptions {
    /// How often the current file is read.
    pub poll: Duration,
    /// Complete transactions wait at most this long for the next piece (after the previous).
    pub min_interval: Duration,
    /// A piece is stored at once when this many bytes wait.
    pub max_piece_bytes: usize,
    pub zstd_level: i32,
    /// Heartbeats while pieces are being stored, and while idle. A report older than the idle
    /// interval and a slow write is overdue (`status` calls the shipper silent); while pieces
    /// are stored the busy one bounds how stale a "behind" figure is (ARD.md, *The loss bound*).
    pub heartbeat_busy: Duration,
    pub heartbeat_idle: Duration,
    /// How often to look for a newer timeline (a recovery that fences this shipper).
    pub fence_check: Duration,
    /// How often to report [`ShipStats`] as a [`Note::Stats`] (`None`: never).
    pub stats_every: Option<Duration>,
    /// Who ships (the credentials' `aws:userid`; `None` where it is not known, a file store):
    /// named in a timeline this shipper begins, whose heartbeat is then read only under its key.
    pub writer: Option<String>,
}

impl Default for ShipOptions {
    fn default() -> Self {
        ShipOptions {
            poll: Duration::from_millis(100),
            min_interval: Duration::from_millis(500),
            max_piece_bytes: 8 << 20,
            zstd_level: 3,
            heartbeat_busy: Duration::from_secs(2),
            heartbeat_idle: Duration::from_secs(15),
            fence_check: Duration::from_secs(10),
            stats_every: None,
            writer: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ShipStats {
    /// When these counters were read (ms since 1970).
    pub at_ms: u64,
    pub timeline: u32,
    pub pieces: u64,
    pub transactions: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    /// Bytes of torn transactions left at the end of crashed files (never committed).
    pub abandoned_tail_bytes: u64,
    pub files_finished: u64,
    pub requests: Requests,
}

/// Why [`Shipper::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    /// The caller asked (every complete transaction read by then was stored first).
    Requested,
    /// A newer timeline exists: a recovery continues the log elsewhere.
    Fenced { timeline: u32 },
}

/// What the shipper tells its caller along the way (the CLI logs it).
#[derive(Debug, Clone)]
pub enum Note {
    Resumed { timeline: u32, file: String, offset: u64, seq: u64 },
    FileDone { file: String, abandoned_tail_bytes: usize },
    Retrying { error: String },
    Stats(ShipStats),
}

pub struct Shipper<'a> {
    dsn: String,
    store: CountingStore<'a>,
    prefix: String,
    opts: ShipOptions,
    server: ServerLog,
    local: LocalLog,
    timeline: u32,
    /// The writer the timeline names: its heartbeat's key.
    writer: Option<String>,
    cursor: Cursor,
    /// The next piece's number and the chain's newest link.
    seq: u64,
    chain: String,
    last: Heartbeat,
    last_piece: Option<Instant>,
    last_heartbeat: Option<Instant>,
    last_fence_check: Instant,
    last_stats: Instant,
    shipped_since_heartbeat: bool,
    stats: ShipStats,
    /// The last read of the server's log, and the newest such read all of whose complete
    /// transactions are stored (every commit acknowledged before it is in the bucket).
    read: Read,
    safe_through_ms: Option<u64>,
    /// Since the last heartbeat: the longest a stored commit can have waited, and the longest
    /// write to the bucket.
    period_lag_ms: u64,
    period_put_ms: u64,
}

/// One read of the server's log: when, and where its complete transactions ended then. `whole`:
/// the read covered everything the server had committed (its newest file, not ended by a rotate,
/// whose successor would hold more).
#[derive(Debug, Clone, Default)]
struct Read {
    at_ms: u64,
    file: String,
    end: u64,
    whole: bool,
}

impl<'a> Shipper<'a> {
    /// Checks the server, finds (or starts) the timeline this server's log continues, and checks
    /// that the shipped log's last piece is still this server's.
    pub fn start(
        dsn: &str,
        store: &'a dyn BlobStore,
        prefix: &str,
        opts: ShipOptions,
    ) -> Result<Shipper<'a>> {
        let server = server::check(&mut connect(dsn)?)?;
        let local = LocalLog::of(&server);
        let store = CountingStore::new(store);
        let tl = timeline::current(&store, prefix, opts.writer.as_deref())?;
        let t = tl.record.timeline;
        let keys = piece::list(&store, prefix, t)?;
        let last = last_piece(&store, prefix, &keys)?;
        let (cursor, seq, chain, hb) = match last {
            Some(h) => resume_after(&local, &h)?,
            None => {
                let files = local.files()?;
                let first = files
                    .first()
                    .cloned()
                    .ok_or_else(|| ProtectError::Purged { file: "(none listed)".into() })?;
                let state =
                    tl.record.branch.as_ref().map(|b| State::parse(&b.state)).transpose().map_err(
                        |message| ProtectError::BadRecord { key: timeline_key(prefix, t), message },
                    )?;
                let hb = Heartbeat { timeline: t, file: first.clone(), ..Heartbeat::default() };
                (Cursor::new(first, 0, state), 1, piece::chain_start(&tl.bytes), hb)
            }
        };
        // What the last report said stays true: commits before its safe instant are stored.
        let safe_through_ms = heartbeat::read(&store, prefix, &tl.record)?.and_then(|h| h.safe_through_ms);
        let writer = tl.record.writer.clone();
        let last = Heartbeat { timeline: t, server_id: server.server_id, ..hb };
        let stats = ShipStats { timeline: t, ..ShipStats::default() };
        Ok(Shipper {
            dsn: dsn.to_string(),
            store,
            prefix: prefix.to_string(),
            opts,
            server,
            local,
            timeline: t,
            writer,
            cursor,
            seq,
            chain,
            last,
            last_piece: None,
            last_heartbeat: None,
            last_fence_check: Instant::now(),
            last_stats: Instant::now(),
            shipped_since_heartbeat: false,
            stats,
            read: Read::default(),
            safe_through_ms,
            period_lag_ms: 0,
            period_put_ms: 0,
        })
    }

    pub fn timeline(&self) -> u32 {
        self.timeline
    }

    /// The writer the timeline names (its heartbeats go under that writer's key, the only one
    /// its readers take), when the timeline names one.
    pub fn writer(&self) -> Option<&str> {
        self.writer.as_deref()
    }

    /// Where the shipped log ends: the file, offset and piece it resumes at.
    pub fn position(&self) -> (String, u64, u64) {
        (self.cursor.file.clone(), self.cursor.shipped, self.seq)
    }

    pub fn stats(&self) -> ShipStats {
        ShipStats { at_ms: now_ms(), requests: self.store.requests(), ..self.stats.clone() }
    }

    /// Ships until `stop` is set or a newer timeline fences it. Store errors are retried (the
    /// same piece, the same key) with a growing pause; anything else ends the run.
    pub fn run(&mut self, stop: &AtomicBool, note: &mut dyn FnMut(Note)) -> Result<Stopped> {
        let mut backoff = Duration::ZERO;
        loop {
            if stop.load(Ordering::SeqCst) {
                self.flush(note)?;
                return Ok(Stopped::Requested);
            }
            match self.step(note) {
                Ok(Some(fenced)) => return Ok(fenced),
                Ok(None) => backoff = Duration::ZERO,
                Err(ProtectError::Blob(e)) => {
                    note(Note::Retrying { error: e.to_string() });
                    backoff = (backoff * 2).clamp(Duration::from_millis(200), Duration::from_secs(30));
                    std::thread::sleep(backoff);
                }
                Err(e) => return Err(e),
            }
            std::thread::sleep(self.opts.poll);
        }
    }

    /// Stores every complete transaction read so far and writes a heartbeat.
    pub fn flush(&mut self, note: &mut dyn FnMut(Note)) -> Result<()> {
        self.read_log()?;
        while self.cursor.ready_bytes() > 0 {
            self.store_next()?;
            self.next_file_if_done(note)?;
        }
        self.heartbeat()
    }

    /// One poll: read, maybe store a piece, maybe move to the next file, maybe beat.
    pub fn step(&mut self, note: &mut dyn FnMut(Note)) -> Result<Option<Stopped>> {
        if self.last_fence_check.elapsed() >= self.opts.fence_check {
            self.last_fence_check = Instant::now();
            if self.store.get(&timeline_key(&self.prefix, self.timeline + 1))?.is_some() {
                return Ok(Some(Stopped::Fenced { timeline: self.timeline + 1 }));
            }
        }
        if !self.read_log()? {
            return Err(ProtectError::Purged { file: self.cursor.file.clone() });
        }
        let ready = self.cursor.ready_bytes();
        let due = self.last_piece.is_none_or(|t| t.elapsed() >= self.opts.min_interval);
        if self.cursor.header_due()
            || (ready > 0 && (due || ready >= self.opts.max_piece_bytes || self.cursor.ended()))
        {
            self.store_next()?;
        }
        self.next_file_if_done(note)?;
        let every =
            if self.shipped_since_heartbeat { self.opts.heartbeat_busy } else { self.opts.heartbeat_idle };
        if self.last_heartbeat.is_none_or(|t| t.elapsed() >= every) {
            self.heartbeat()?;
        }
        if self.opts.stats_every.is_some_and(|every| self.last_stats.elapsed() >= every) {
            self.last_stats = Instant::now();
            note(Note::Stats(self.stats()));
        }
        Ok(None)
    }

    /// Reads what the server's log gained, noting when and where its complete transactions end
    /// (the committed position). `Ok(false)`: the cursor's file is gone.
    fn read_log(&mut self) -> Result<bool> {
        let at_ms = now_ms();
        // Listed before the read: a file the server begins after the listing holds only commits
        // acknowledged after `at_ms`.
        let newest = self.local.files()?.last() == Some(&self.cursor.file);
        if !self.cursor.poll(&self.local)? {
            return Ok(false);
        }
        self.read = Read {
            at_ms,
            file: self.cursor.file.clone(),
            end: self.cursor.shipped + self.cursor.ready_bytes() as u64,
            whole: newest && !self.cursor.ended(),
        };
        self.settle();
        Ok(true)
    }

    /// Moves the safe instant to the last read once everything it found is stored.
    fn settle(&mut self) {
        let r = &self.read;
        if r.whole && r.file == self.cursor.file && self.cursor.shipped >= r.end {
            self.safe_through_ms = Some(r.at_ms);
        }
    }

    /// Reads the log afresh (so "caught up" means nothing waits as it is written), then reports
    /// both positions, the safe instant and the bound it measured.
    fn heartbeat(&mut self) -> Result<()> {
        self.read_log()?;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let bound = ms(self.opts.min_interval) + ms(self.opts.poll) + 2 * self.period_put_ms.max(500);
        self.last.committed_file = Some(self.read.file.clone());
        self.last.committed_end = Some(self.read.end);
        self.last.committed_gtid = self.cursor.last_read_gtid().or_else(|| self.last.last_gtid.clone());
        self.last.read_at_ms = Some(self.read.at_ms);
        self.last.safe_through_ms = self.safe_through_ms;
        self.last.bound_ms = Some(bound.max(self.period_lag_ms));
        self.last.written_at_ms = now_ms();
        let started = Instant::now();
        heartbeat::write(&self.store, &self.prefix, &self.last, self.writer.as_deref())?;
        self.last_heartbeat = Some(Instant::now());
        self.shipped_since_heartbeat = false;
        // This write delays the next piece: it counts in the next period's bound.
        self.period_put_ms = ms(started.elapsed());
        self.period_lag_ms = 0;
        Ok(())
    }

    /// Moves to the next file once this one is done: it ended with a rotate or stop and all of
    /// it is stored, or it stopped growing while the server lists a newer one (a crash: its torn
    /// tail is left behind). The server's settings are checked again first: it may have
    /// restarted with others. An unreachable server just means "not yet".
    fn next_file_if_done(&mut self, note: &mut dyn FnMut(Note)) -> Result<()> {
        let files = self.local.files()?;
        let pos = files.iter().position(|f| *f == self.cursor.file);
        let next = match pos {
            Some(i) => files.get(i + 1).cloned(),
            None => return Err(ProtectError::Purged { file: self.cursor.file.clone() }),
        };
        let Some(next) = next else { return Ok(()) };
        let ended_clean = self.cursor.ended() && self.cursor.ready_bytes() == 0;
        let ended_crash =
            !self.cursor.ended() && self.cursor.quiet_polls >= 2 && self.cursor.ready_bytes() == 0;
        if !(ended_clean || ended_crash) {
            return Ok(());
        }
        match connect(&self.dsn).map_err(ProtectError::from).and_then(|mut c| server::check(&mut c)) {
            Ok(s) => self.server = s,
            Err(ProtectError::Db(_)) => return Ok(()),
            Err(e) => return Err(e),
        }
        let abandoned = self.cursor.tail_bytes();
        self.stats.abandoned_tail_bytes += abandoned as u64;
        self.stats.files_finished += 1;
        note(Note::FileDone { file: self.cursor.file.clone(), abandoned_tail_bytes: abandoned });
        self.cursor = Cursor::new(next, 0, self.cursor.shipped_state.clone());
        Ok(())
    }

    /// Stores the cursor's next piece; on success the cursor moves past it.
    fn store_next(&mut self) -> Result<()> {
        let Some(cut) = self.cursor.cut() else { return Ok(()) };
        let (header, object) = self.pack(&cut)?;
        let key = header.place().key(&self.prefix);
        let started = Instant::now();
        let stored = match self.store.put_if_absent(&key, object.clone())? {
            Creation::Created => header,
            Creation::Existed => self.adopt(&key, &header, &cut)?,
        };
        let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.period_put_ms = self.period_put_ms.max(took);
        let len = usize::try_from(stored.end - stored.offset).unwrap_or(usize::MAX);
        let before = self.cursor.shipped;
        self.cursor.advance(len);
        let safe_before = self.safe_through_ms;
        self.settle();
        // Its commits were acknowledged after the safe instant before it: none waited longer.
        if let Some(before) = safe_before {
            self.period_lag_ms = self.period_lag_ms.max(now_ms().saturating_sub(before));
        }
        if self.cursor.shipped == before {
            return Err(ProtectError::Diverged {
                what: format!("log object {key}"),
                detail: format!(
                    "it ends at {}, which is not a transaction end of {} here",
                    stored.end, stored.file
                ),
            });
        }
        self.seq += 1;
        self.chain = stored.chain.clone();
        self.stats.pieces += 1;
        self.stats.transactions += stored.transactions;
        self.stats.raw_bytes += stored.end - stored.offset;
        self.stats.stored_bytes += object.len() as u64;
        self.last_piece = Some(Instant::now());
        self.shipped_since_heartbeat = true;
        self.last = Heartbeat {
            seq: Some(stored.seq),
            chain: Some(stored.chain.clone()),
            file: stored.file.clone(),
            end: stored.end,
            last_gtid: stored.last_gtid.clone().or(self.last.last_gtid.take()),
            last_commit: stored.last_commit.or(self.last.last_commit),
            shipped_at_ms: Some(now_ms()),
            ..self.last.clone()
        };
        Ok(())
    }

    fn pack(&self, cut: &Cut) -> Result<(PieceHeader, Vec<u8>)> {
        let place =
            PieceKey { timeline: self.timeline, seq: self.seq, file: cut.file.clone(), offset: cut.offset };
        let end = cut.offset + cut.bytes.len() as u64;
        let raw_sha256 = sha256_hex(&cut.bytes);
        let header = PieceHeader {
            format: PIECE_FORMAT,
            timeline: self.timeline,
            seq: self.seq,
            file: cut.file.clone(),
            offset: cut.offset,
            end,
            chain: piece::link(&self.chain, &place, end, &raw_sha256),
            raw_sha256,
            transactions: cut.commits.len() as u64,
            first_gtid: cut.commits.first().map(|c| c.gtid.to_string()),
            last_gtid: cut.commits.last().map(|c| c.gtid.to_string()),
            first_commit: cut.commits.first().map(|c| c.timestamp),
            last_commit: cut.commits.last().map(|c| c.timestamp),
            state_after: cut.state_after.to_string(),
            file_done: cut.file_done,
        };
        let mut z = crate::backup::dump::compressor(self.opts.zstd_level)?;
        let compressed = z
            .compress(&cut.bytes)
            .map_err(|source| crate::error::DbError::Codec { key: place.key(&self.prefix), source })?;
        Ok((header.clone(), piece::encode(&header, &compressed)?))
    }

    /// The key was taken: by our own earlier attempt whose reply was lost (then it holds our
    /// bytes, or a prefix of them cut at an earlier transaction end), or by another writer.
    fn adopt(&self, key: &str, ours: &PieceHeader, cut: &Cut) -> Result<PieceHeader> {
        let object = self.store.get(key)?.ok_or_else(|| ProtectError::MissingPiece {
            key: key.to_string(),
            detail: "a create-only write said it exists, a read says it does not".into(),
        })?;
        let (theirs, body) = piece::split(key, &ours.place(), &object)?;
        let raw = piece::unpack(key, &theirs, body)?;
        let len = raw.len();
        let chain = piece::link(&self.chain, &ours.place(), theirs.end, &theirs.raw_sha256);
        if len <= cut.bytes.len() && raw == cut.bytes[..len] && chain == theirs.chain {
            return Ok(theirs);
        }
        Err(ProtectError::Diverged {
            what: format!("log object {key}"),
            detail: "another writer stored different bytes there: two servers ship this timeline".into(),
        })
    }
}

/// The newest piece of a timeline (whose pieces must be numbered without a gap), read and checked.
fn last_piece(store: &dyn BlobStore, prefix: &str, keys: &[PieceKey]) -> Result<Option<PieceHeader>> {
    let Some(last) = keys.last() else { return Ok(None) };
    let key = last.key(prefix);
    let object = store
        .get(&key)?
        .ok_or_else(|| ProtectError::MissingPiece { key: key.clone(), detail: "listed but gone".into() })?;
    let (header, body) = piece::split(&key, last, &object)?;
    piece::unpack(&key, &header, body)?;
    Ok(Some(header))
}

/// The cursor after the shipped piece `h`, if its bytes are still this server's.
fn resume_after(local: &LocalLog, h: &PieceHeader) -> Result<(Cursor, u64, String, Heartbeat)> {
    let here = local.read_range(&h.file, h.offset, h.end)?.map(|mut b| {
        normalise_header(h.offset, &mut b);
        sha256_hex(&b)
    });
    if here.as_deref() != Some(h.raw_sha256.as_str()) {
        return Err(ProtectError::Diverged {
            what: format!("timeline {}'s shipped log", h.timeline),
            detail: format!(
                "its last piece ({} bytes {}..{}) is not in this server's binary log: this server does not continue \
                 that timeline (a recovery starts a new one)",
                h.file, h.offset, h.end
            ),
        });
    }
    let state = State::parse(&h.state_after)
        .map_err(|message| ProtectError::BadRecord { key: format!("piece {}", h.seq), message })?;
    let hb = Heartbeat {
        timeline: h.timeline,
        seq: Some(h.seq),
        chain: Some(h.chain.clone()),
        file: h.file.clone(),
        end: h.end,
        last_gtid: h.last_gtid.clone(),
        last_commit: h.last_commit,
        ..Heartbeat::default()
    };
    Ok((Cursor::new(h.file.clone(), h.end, Some(state)), h.seq + 1, h.chain.clone(), hb))
}
