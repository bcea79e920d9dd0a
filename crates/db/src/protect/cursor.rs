//! The shipper's place in one binary log file: the bytes read past what is shipped, walked event
//! by event, and the transaction ends among them — the only places a piece may end.
//!
//! A file's first piece is its header alone (magic, format description, GTID list), so that
//! recovery can replay from the middle of any file by fetching that small piece. The server
//! clears the format description's in-use flag when it closes a file; shipped bytes have it
//! cleared already, so a file's bytes compare equal before and after it is closed.

use super::error::{ProtectError, Result};
use super::files::LocalLog;
use crate::binlog::event::{next, Next, FDE_FLAGS_OFFSET, IN_USE_FLAG, MAGIC};
use crate::binlog::walk::{Commit, Step, Walker};
use crate::binlog::{Kind, State};

/// A place a piece may end, after `at` bytes of the buffer.
#[derive(Debug, Clone)]
struct Boundary {
    at: usize,
    state: State,
    commit: Option<Commit>,
    file_end: bool,
}

/// What a piece cut from the cursor holds.
#[derive(Debug, Clone)]
pub struct Cut {
    pub file: String,
    pub offset: u64,
    pub bytes: Vec<u8>,
    pub commits: Vec<Commit>,
    pub state_after: State,
    pub file_done: bool,
}

#[derive(Debug)]
pub struct Cursor {
    pub file: String,
    /// File offset everything before which is shipped.
    pub shipped: u64,
    /// The GTID state at `shipped`.
    pub shipped_state: Option<State>,
    buf: Vec<u8>,
    walked: usize,
    walker: Walker,
    boundaries: Vec<Boundary>,
    /// Polls in a row that found no new bytes.
    pub quiet_polls: u32,
}

/// Bytes read from a file in one go, at most.
const READ_MAX: usize = 64 << 20;

pub fn normalise_header(offset: u64, bytes: &mut [u8]) {
    if offset == 0 && bytes.len() > FDE_FLAGS_OFFSET {
        bytes[FDE_FLAGS_OFFSET] &= !(IN_USE_FLAG as u8);
    }
}

fn malformed(offset: u64, message: &str) -> crate::binlog::WalkError {
    crate::binlog::event::FormatError::Malformed { offset, message: message.into() }.into()
}

impl Cursor {
    pub fn new(file: String, shipped: u64, state: Option<State>) -> Cursor {
        Cursor {
            file,
            shipped,
            shipped_state: state.clone(),
            buf: Vec::new(),
            walked: 0,
            walker: Walker::new(state),
            boundaries: Vec::new(),
            quiet_polls: 0,
        }
    }

    fn log_error(&self, source: crate::binlog::WalkError) -> ProtectError {
        ProtectError::Log { file: self.file.clone(), source }
    }

    /// Reads what the file gained and walks it. `Ok(false)`: the file is gone.
    pub fn poll(&mut self, local: &LocalLog) -> Result<bool> {
        let from = self.shipped + self.buf.len() as u64;
        let Some(more) = local.read_from(&self.file, from, READ_MAX)? else { return Ok(false) };
        self.quiet_polls = if more.is_empty() { self.quiet_polls + 1 } else { 0 };
        self.buf.extend_from_slice(&more);
        if self.shipped == 0 && self.walked == 0 {
            if self.buf.len() < MAGIC.len() {
                return Ok(true);
            }
            if &self.buf[..MAGIC.len()] != MAGIC {
                return Err(self.log_error(malformed(0, "not a binary log file")));
            }
            self.walked = MAGIC.len();
        }
        loop {
            let offset = self.shipped + self.walked as u64;
            let e = match next(&self.buf, self.walked, offset).map_err(|e| self.log_error(e.into()))? {
                Next::Event(e) => e,
                Next::Partial | Next::End => break,
            };
            // The header: a format description, then the GTID list, nothing else.
            let first = self.shipped == 0 && self.boundaries.is_empty();
            let expected = match (first, offset) {
                (true, 4) => Some(Kind::FormatDescription),
                (true, _) => Some(Kind::GtidList),
                _ => None,
            };
            if expected.is_some_and(|k| k != e.kind()) {
                return Err(self.log_error(malformed(
                    offset,
                    "a file must start with a format description and a GTID list",
                )));
            }
            let step = self.walker.feed(&e).map_err(|err| self.log_error(err))?;
            self.walked += e.bytes.len();
            let (commit, file_end) = match step {
                Step::End(c, _) => (Some(c), false),
                Step::FileEnd => (None, true),
                Step::GtidList | Step::Skip if self.walker.idle() => (None, false),
                _ => continue,
            };
            let state = self.walker.state().cloned().unwrap_or_default();
            self.boundaries.push(Boundary { at: self.walked, state, commit, file_end });
            if file_end {
                break;
            }
        }
        Ok(true)
    }

    /// Whether a rotate or stop event was walked: the file will not grow.
    pub fn ended(&self) -> bool {
        self.boundaries.last().is_some_and(|b| b.file_end)
    }

    /// Bytes read past the last transaction end (a transaction still being written, or a
    /// crash's torn tail).
    pub fn tail_bytes(&self) -> usize {
        self.buf.len() - self.ready_bytes()
    }

    /// Bytes that a cut now would ship.
    pub fn ready_bytes(&self) -> usize {
        self.boundaries.last().map_or(0, |b| b.at)
    }

    /// The GTID of the newest complete transaction read (shipped or not), if it was read here.
    pub fn last_read_gtid(&self) -> Option<String> {
        self.boundaries.iter().rev().find_map(|b| b.commit.as_ref()).map(|c| c.gtid.to_string())
    }

    /// Whether the file's header piece can be cut (it ships at once, whatever the interval).
    pub fn header_due(&self) -> bool {
        self.shipped == 0 && !self.boundaries.is_empty()
    }

    /// The next piece: the bytes up to the last transaction end (for a file's first piece, up to
    /// its GTID list), left in the cursor until [`Cursor::advance`] says it is stored.
    pub fn cut(&self) -> Option<Cut> {
        let n = if self.shipped == 0 { 1 } else { self.boundaries.len() };
        let last = self.boundaries.get(n.checked_sub(1)?)?;
        let mut bytes = self.buf[..last.at].to_vec();
        normalise_header(self.shipped, &mut bytes);
        Some(Cut {
            file: self.file.clone(),
            offset: self.shipped,
            bytes,
            commits: self.boundaries[..n].iter().filter_map(|b| b.commit).collect(),
            state_after: last.state.clone(),
            file_done: last.file_end,
        })
    }

    /// Drops the first `len` bytes (a stored piece, which ended at a boundary) from the cursor.
    pub fn advance(&mut self, len: usize) {
        let Some(i) = self.boundaries.iter().position(|b| b.at == len) else { return };
        let last = self.boundaries.drain(..=i).next_back();
        self.buf.drain(..len);
        self.walked -= len;
        for b in &mut self.boundaries {
            b.at -= len;
        }
        self.shipped += len as u64;
        self.shipped_state = last.map(|b| b.state);
    }
}
