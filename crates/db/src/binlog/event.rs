//! One binary-log event: its 19-byte header, its CRC32, and the few bodies spotctl reads.
//!
//! MariaDB's v4 format, little-endian: `timestamp u32, type u8, server_id u32, size u32,
//! next_position u32, flags u16`, the body, then the CRC32 (IEEE, zlib's) of everything before
//! it. The format description event (FDE) is the exception: its CRC is computed with the
//! `LOG_EVENT_BINLOG_IN_USE_F` flag cleared, because the server clears that flag in place when it
//! closes the file. Pure: bytes in, values or a [`FormatError`] naming the offset out.

use super::gtid::Gtid;

pub const HEADER_LEN: usize = 19;
pub const CRC_LEN: usize = 4;
/// The 4 bytes every binary log file starts with.
pub const MAGIC: &[u8; 4] = b"\xfebin";
/// Set in the FDE's flags while the server has the file open.
pub const IN_USE_FLAG: u16 = 0x1;
/// An event a reader that does not know it may skip.
const IGNORABLE_FLAG: u16 = 0x80;
/// The FDE's flags, as a file offset (magic, then the FDE's header up to its flags).
pub const FDE_FLAGS_OFFSET: usize = MAGIC.len() + 17;

/// The event types spotctl tells apart. Everything else is [`Kind::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Query,
    Stop,
    Rotate,
    /// Statement-based context (INTVAR, RAND, USER_VAR): a sign of statement logging.
    StatementContext,
    FormatDescription,
    Xid,
    TableMap,
    /// WRITE/UPDATE/DELETE rows, v1 (23-25) or v2 (30-32).
    Rows,
    Incident,
    Heartbeat,
    AnnotateRows,
    BinlogCheckpoint,
    Gtid,
    GtidList,
    StartEncryption,
    /// Compressed query or rows events (`log_bin_compress`).
    Compressed,
    /// XA PREPARE.
    XaPrepare,
    Other(u8),
}

impl Kind {
    pub fn of(code: u8) -> Kind {
        match code {
            2 => Kind::Query,
            3 => Kind::Stop,
            4 => Kind::Rotate,
            5 | 13 | 14 => Kind::StatementContext,
            15 => Kind::FormatDescription,
            16 => Kind::Xid,
            19 => Kind::TableMap,
            23..=25 | 30..=32 => Kind::Rows,
            26 => Kind::Incident,
            27 => Kind::Heartbeat,
            38 => Kind::XaPrepare,
            160 => Kind::AnnotateRows,
            161 => Kind::BinlogCheckpoint,
            162 => Kind::Gtid,
            163 => Kind::GtidList,
            164 => Kind::StartEncryption,
            165..=171 => Kind::Compressed,
            other => Kind::Other(other),
        }
    }
}

/// Why bytes are not a valid, complete binary log event where one was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("offset {offset}: {message}")]
    Malformed { offset: u64, message: String },
    #[error("offset {offset}: CRC32 of the {kind:?} event is {actual:08x}, it says {stored:08x}")]
    Checksum { offset: u64, kind: Kind, stored: u32, actual: u32 },
    #[error("offset {offset}: {what} cannot be replayed ({why})")]
    Unsupported { offset: u64, what: String, why: &'static str },
}

fn malformed(offset: u64, message: impl Into<String>) -> FormatError {
    FormatError::Malformed { offset, message: message.into() }
}

/// An event's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub timestamp: u32,
    pub code: u8,
    pub server_id: u32,
    pub size: u32,
    pub next_position: u32,
    pub flags: u16,
}

impl Header {
    pub fn kind(&self) -> Kind {
        Kind::of(self.code)
    }

    pub fn ignorable(&self) -> bool {
        self.flags & IGNORABLE_FLAG != 0
    }
}

/// One complete event: its bytes (header, body and CRC) and where it starts in its file.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub offset: u64,
    pub header: Header,
    pub bytes: &'a [u8],
}

/// What is at a position of a buffer.
pub enum Next<'a> {
    Event(Event<'a>),
    /// The bytes end inside an event (a file being written, or a crash's torn tail).
    Partial,
    End,
}

pub fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The event at `buf[at..]`, whose first byte is at `offset` in its file.
pub fn next(buf: &[u8], at: usize, offset: u64) -> Result<Next<'_>, FormatError> {
    let rest = buf.get(at..).unwrap_or_default();
    if rest.is_empty() {
        return Ok(Next::End);
    }
    if rest.len() < HEADER_LEN {
        return Ok(Next::Partial);
    }
    let field = |v: Option<u32>| v.ok_or_else(|| malformed(offset, "short header"));
    let header = Header {
        timestamp: field(u32_at(rest, 0))?,
        code: rest[4],
        server_id: field(u32_at(rest, 5))?,
        size: field(u32_at(rest, 9))?,
        next_position: field(u32_at(rest, 13))?,
        flags: u16_at(rest, 17).ok_or_else(|| malformed(offset, "short header"))?,
    };
    let size = header.size as usize;
    if size < HEADER_LEN + CRC_LEN {
        return Err(malformed(offset, format!("event size {size} is smaller than a header and a CRC")));
    }
    if rest.len() < size {
        return Ok(Next::Partial);
    }
    let end = offset + size as u64;
    // next_position is the event's end in its file, except for events that were never in a file.
    if header.next_position != 0 && u64::from(header.next_position) != end {
        return Err(malformed(
            offset,
            format!("next position {} is not the event's end {end}", header.next_position),
        ));
    }
    Ok(Next::Event(Event { offset, header, bytes: &rest[..size] }))
}

impl<'a> Event<'a> {
    pub fn kind(&self) -> Kind {
        self.header.kind()
    }

    pub fn end(&self) -> u64 {
        self.offset + self.bytes.len() as u64
    }

    /// The body between the header and the CRC.
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..self.bytes.len() - CRC_LEN]
    }

    /// Checks the CRC32 (the FDE's with its in-use flag cleared).
    pub fn check_crc(&self) -> Result<(), FormatError> {
        let n = self.bytes.len() - CRC_LEN;
        let stored = u32_at(self.bytes, n).unwrap_or_default();
        let mut h = crc32fast::Hasher::new();
        if self.kind() == Kind::FormatDescription {
            h.update(&self.bytes[..17]);
            h.update(&(self.header.flags & !IN_USE_FLAG).to_le_bytes());
            h.update(&self.bytes[19..n]);
        } else {
            h.update(&self.bytes[..n]);
        }
        let actual = h.finalize();
        if actual == stored {
            Ok(())
        } else {
            Err(FormatError::Checksum { offset: self.offset, kind: self.kind(), stored, actual })
        }
    }

    /// The CRC32 stored in the event's last 4 bytes: what a base backup records of the event
    /// that ends at its position.
    pub fn stored_crc(&self) -> u32 {
        u32_at(self.bytes, self.bytes.len() - CRC_LEN).unwrap_or_default()
    }

    fn short(&self, what: &str) -> FormatError {
        malformed(self.offset, format!("{what} body is too short"))
    }

    /// A GTID event: the transaction's id and its flags.
    pub fn gtid(&self, server_id: u32) -> Result<GtidEvent, FormatError> {
        let b = self.body();
        let seq = u64_at(b, 0).ok_or_else(|| self.short("GTID"))?;
        let domain = u32_at(b, 8).ok_or_else(|| self.short("GTID"))?;
        let flags = *b.get(12).ok_or_else(|| self.short("GTID"))?;
        Ok(GtidEvent { gtid: Gtid { domain, server: server_id, seq }, flags })
    }

    /// A GTID list event: the binary log state when the file was opened.
    pub fn gtid_list(&self) -> Result<Vec<Gtid>, FormatError> {
        let b = self.body();
        let n = u32_at(b, 0).ok_or_else(|| self.short("GTID list"))? & 0x0fff_ffff;
        (0..n as usize)
            .map(|i| {
                let at = 4 + 16 * i;
                match (u32_at(b, at), u32_at(b, at + 4), u64_at(b, at + 8)) {
                    (Some(domain), Some(server), Some(seq)) => Ok(Gtid { domain, server, seq }),
                    _ => Err(self.short("GTID list")),
                }
            })
            .collect()
    }

    /// A table map: the database and table its id stands for in this transaction.
    pub fn table_map(&self) -> Result<TableMap, FormatError> {
        let b = self.body();
        let id = table_id(b).ok_or_else(|| self.short("table map"))?;
        let db_len = *b.get(8).ok_or_else(|| self.short("table map"))? as usize;
        let db = b.get(9..9 + db_len).ok_or_else(|| self.short("table map"))?;
        let t_at = 9 + db_len + 1;
        let t_len = *b.get(t_at).ok_or_else(|| self.short("table map"))? as usize;
        let table = b.get(t_at + 1..t_at + 1 + t_len).ok_or_else(|| self.short("table map"))?;
        Ok(TableMap {
            id,
            db: String::from_utf8_lossy(db).into_owned(),
            table: String::from_utf8_lossy(table).into_owned(),
        })
    }

    /// A rows event's table id and flags (the post-header of v1 and v2 rows events alike).
    pub fn rows(&self) -> Result<RowsHeader, FormatError> {
        let b = self.body();
        let id = table_id(b).ok_or_else(|| self.short("rows"))?;
        let flags = u16_at(b, 6).ok_or_else(|| self.short("rows"))?;
        Ok(RowsHeader { table_id: id, flags })
    }

    /// A rotate event: the name of the file that follows.
    pub fn rotate(&self) -> Result<String, FormatError> {
        let name = self.body().get(8..).ok_or_else(|| self.short("rotate"))?;
        Ok(String::from_utf8_lossy(name).into_owned())
    }
}

/// `STMT_END_F`: the last rows event of a statement.
pub const STMT_END_FLAG: u16 = 0x1;

fn table_id(b: &[u8]) -> Option<u64> {
    let mut id = [0u8; 8];
    id[..6].copy_from_slice(b.get(0..6)?);
    Some(u64::from_le_bytes(id))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GtidEvent {
    pub gtid: Gtid,
    pub flags: u8,
}

impl GtidEvent {
    /// A group of exactly one statement (DDL), with no COMMIT.
    pub fn standalone(&self) -> bool {
        self.flags & 0x01 != 0
    }

    /// Part of an XA transaction (`FL_PREPARED_XA`, `FL_COMPLETED_XA`).
    pub fn xa(&self) -> bool {
        self.flags & 0xc0 != 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMap {
    pub id: u64,
    pub db: String,
    pub table: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowsHeader {
    pub table_id: u64,
    pub flags: u16,
}

/// What the format description says that matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub server_version: String,
    /// Every event carries a CRC32 (`binlog_checksum = CRC32`).
    pub crc32: bool,
}

impl Format {
    /// Reads an FDE. Only CRC32-checksummed logs are accepted: without checksums nothing from the
    /// bucket could be told from damage.
    pub fn read(e: &Event<'_>) -> Result<Format, FormatError> {
        if e.kind() != Kind::FormatDescription {
            return Err(malformed(
                e.offset,
                format!("expected a format description event, found {:?}", e.kind()),
            ));
        }
        let b = &e.bytes[HEADER_LEN..];
        let version = b.get(2..52).ok_or_else(|| e.short("format description"))?;
        let version = String::from_utf8_lossy(version).trim_end_matches('\0').to_string();
        let alg = e.bytes[e.bytes.len() - CRC_LEN - 1];
        if alg != 1 {
            return Err(FormatError::Unsupported {
                offset: e.offset,
                what: format!("a binary log with checksum algorithm {alg}"),
                why: "spotctl needs binlog_checksum = CRC32",
            });
        }
        Ok(Format { server_version: version, crc32: true })
    }
}

/// Sets or clears an event's flag bits and recomputes its CRC (the applier marks the last rows
/// event it keeps of a statement as the statement's end).
pub fn with_flags(event: &[u8], rows_flags: u16) -> Vec<u8> {
    let mut out = event.to_vec();
    out[HEADER_LEN + 6..HEADER_LEN + 8].copy_from_slice(&rows_flags.to_le_bytes());
    let n = out.len() - CRC_LEN;
    let crc = crc32fast::hash(&out[..n]);
    out[n..].copy_from_slice(&crc.to_le_bytes());
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An event of type `code` with `body`, a valid CRC, ending at `offset + size`.
    pub fn event(code: u8, ts: u32, offset: u64, body: &[u8]) -> Vec<u8> {
        let size = (HEADER_LEN + body.len() + CRC_LEN) as u32;
        let mut e = Vec::new();
        e.extend_from_slice(&ts.to_le_bytes());
        e.push(code);
        e.extend_from_slice(&1u32.to_le_bytes());
        e.extend_from_slice(&size.to_le_bytes());
        e.extend_from_slice(&(offset as u32 + size).to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        e.extend_from_slice(body);
        let crc = crc32fast::hash(&e);
        e.extend_from_slice(&crc.to_le_bytes());
        e
    }

    #[test]
    fn reads_headers_and_checks_crcs() -> Result<(), FormatError> {
        let mut body = 7u64.to_le_bytes().to_vec();
        body.extend_from_slice(&0u32.to_le_bytes());
        body.push(0x0c);
        let bytes = event(162, 1_700_000_000, 100, &body);
        let Next::Event(e) = next(&bytes, 0, 100)? else { panic!("a whole event") };
        e.check_crc()?;
        assert_eq!(e.kind(), Kind::Gtid);
        let g = e.gtid(e.header.server_id)?;
        assert_eq!((g.gtid.to_string(), g.standalone()), ("0-1-7".to_string(), false));
        assert!(matches!(next(&bytes[..bytes.len() - 1], 0, 100)?, Next::Partial));
        assert!(matches!(next(&bytes, bytes.len(), 0)?, Next::End));
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        let Next::Event(e) = next(&bad, 0, 100)? else { panic!("a whole event") };
        assert!(matches!(e.check_crc(), Err(FormatError::Checksum { offset: 100, .. })));
        Ok(())
    }

    #[test]
    fn the_fde_crc_ignores_the_in_use_flag() -> Result<(), FormatError> {
        let mut body = vec![4, 0];
        body.extend_from_slice(&[b'1'; 50]);
        body.extend_from_slice(&[0; 5]);
        body.push(1);
        let mut bytes = event(15, 1, 4, &body);
        bytes[17] |= IN_USE_FLAG as u8; // set after the CRC was computed, as the server does
        let Next::Event(e) = next(&bytes, 0, 4)? else { panic!("a whole event") };
        e.check_crc()?;
        assert!(Format::read(&e)?.crc32);
        Ok(())
    }

    #[test]
    fn setting_rows_flags_keeps_the_crc_valid() -> Result<(), FormatError> {
        let bytes = event(23, 1, 0, &[5, 0, 0, 0, 0, 0, 0, 0, 9, 9]);
        let marked = with_flags(&bytes, STMT_END_FLAG);
        let Next::Event(e) = next(&marked, 0, 0)? else { panic!("a whole event") };
        e.check_crc()?;
        assert_eq!(e.rows()?, RowsHeader { table_id: 5, flags: STMT_END_FLAG });
        Ok(())
    }
}
