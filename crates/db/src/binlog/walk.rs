//! Walking a binary log file event by event: every CRC checked, transactions told apart, GTIDs
//! checked for continuity. The shipper walks to find where it may cut (only between
//! transactions); recovery walks to check the chain and to replay it.
//!
//! A ROW + GTID log is a sequence of groups, each opened by a GTID event:
//! - a *standalone* group (DDL) is the GTID event and exactly one query;
//! - any other group ends with an XID (InnoDB) or a `COMMIT`/`ROLLBACK` query (other engines).
//!
//! Between groups come only the file's own events: its format description, the GTID list (the
//! binary log state when the file was opened), binlog checkpoints, and at its end a rotate (the
//! next file follows) or a stop (a clean shutdown). A crash leaves no end event and maybe a torn
//! last transaction, which nobody ever completes: the server starts a new file.

use super::event::{Event, Format, FormatError, GtidEvent, Kind, RowsHeader, TableMap};
use super::gtid::{Discontinuity, Gtid, State};
use super::query::{Class, Query};

/// Why walking stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("offset {offset}: {gap}")]
    Gap { offset: u64, gap: Discontinuity },
    #[error("offset {offset}: the file's GTID list is {found}, but the log before it ended at {expected}")]
    ListMismatch { offset: u64, expected: String, found: String },
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Commit,
    Rollback,
}

/// A finished transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    pub gtid: Gtid,
    /// When it committed (the GTID event's timestamp, seconds since 1970, UTC).
    pub timestamp: u32,
    /// The offset just after its last event: a place to cut.
    pub end: u64,
    pub outcome: Outcome,
}

/// What one event was, in its transaction.
#[derive(Debug)]
pub enum Step<'a> {
    /// The file's format description.
    Format(Format),
    /// The file's GTID list, checked against the walk so far.
    GtidList,
    /// A checkpoint, or an event marked ignorable: nothing to replay.
    Skip,
    /// A rotate or stop event: nothing of this file follows.
    FileEnd,
    Begin(GtidEvent),
    TableMap(TableMap),
    Rows(RowsHeader),
    /// A statement inside a transaction that does not end it (DDL before rows, a savepoint).
    Statement(Query<'a>),
    /// The last event of a transaction; a standalone group's statement comes with it.
    End(Commit, Option<Query<'a>>),
}

#[derive(Debug, Clone, Copy)]
struct Open {
    gtid: GtidEvent,
    timestamp: u32,
}

/// The walk's state between events; it is between transactions exactly when [`Walker::idle`].
#[derive(Debug, Clone, Default)]
pub struct Walker {
    open: Option<Open>,
    /// `None` until a GTID list says where the log starts.
    state: Option<State>,
}

fn unsupported(e: &Event<'_>, what: impl Into<String>, why: &'static str) -> WalkError {
    WalkError::Format(FormatError::Unsupported { offset: e.offset, what: what.into(), why })
}

fn malformed(e: &Event<'_>, message: impl Into<String>) -> WalkError {
    WalkError::Format(FormatError::Malformed { offset: e.offset, message: message.into() })
}

impl Walker {
    /// A walk that continues a log whose state is `state` (`None`: take the first GTID list).
    pub fn new(state: Option<State>) -> Walker {
        Walker { open: None, state }
    }

    pub fn idle(&self) -> bool {
        self.open.is_none()
    }

    /// The binary log state after the last transaction walked.
    pub fn state(&self) -> Option<&State> {
        self.state.as_ref()
    }

    /// Checks `e`'s CRC and places it in its transaction.
    pub fn feed<'a>(&mut self, e: &Event<'a>) -> Result<Step<'a>, WalkError> {
        e.check_crc()?;
        match (e.kind(), self.open) {
            (Kind::FormatDescription, None) => Ok(Step::Format(Format::read(e)?)),
            (Kind::GtidList, None) => self.gtid_list(e),
            (Kind::BinlogCheckpoint, None) => Ok(Step::Skip),
            (Kind::Rotate | Kind::Stop, None) => Ok(Step::FileEnd),
            (Kind::Gtid, None) => {
                let g = e.gtid(e.header.server_id)?;
                if g.xa() {
                    return Err(unsupported(e, format!("XA transaction {}", g.gtid), "XA is not replayed"));
                }
                if let Some(state) = &mut self.state {
                    state.advance(g.gtid).map_err(|gap| WalkError::Gap { offset: e.offset, gap })?;
                } else {
                    return Err(malformed(e, "a transaction before the file's GTID list"));
                }
                self.open = Some(Open { gtid: g, timestamp: e.header.timestamp });
                Ok(Step::Begin(g))
            }
            (Kind::AnnotateRows, Some(_)) => Ok(Step::Skip),
            (Kind::TableMap, Some(_)) => Ok(Step::TableMap(e.table_map()?)),
            (Kind::Rows, Some(_)) => Ok(Step::Rows(e.rows()?)),
            (Kind::Xid, Some(open)) if !open.gtid.standalone() => {
                Ok(self.end(e, open, Outcome::Commit, None))
            }
            (Kind::Query, Some(open)) => self.query(e, open),
            (Kind::StatementContext, Some(_)) => Err(unsupported(
                e,
                "a statement-based data change",
                "the server logged a statement (binlog_format = STATEMENT in some session)",
            )),
            (Kind::Incident, _) => {
                Err(unsupported(e, "an incident event", "the server recorded that the log may be incomplete"))
            }
            (Kind::StartEncryption, _) => {
                Err(unsupported(e, "an encrypted binary log", "encrypt_binlog must be OFF"))
            }
            (Kind::Compressed, _) => {
                Err(unsupported(e, "a compressed event", "log_bin_compress must be OFF"))
            }
            (Kind::XaPrepare, _) => Err(unsupported(e, "XA PREPARE", "XA is not replayed")),
            (kind, _) if e.header.ignorable() => {
                let _ = kind;
                Ok(Step::Skip)
            }
            (kind, open) => Err(malformed(
                e,
                format!(
                    "a {kind:?} event {}",
                    if open.is_some() { "inside a transaction" } else { "outside any transaction" }
                ),
            )),
        }
    }

    fn gtid_list<'a>(&mut self, e: &Event<'a>) -> Result<Step<'a>, WalkError> {
        let found = State::from_list(&e.gtid_list()?);
        match &self.state {
            None => self.state = Some(found),
            Some(expected) if !expected.same_position(&found) => {
                return Err(WalkError::ListMismatch {
                    offset: e.offset,
                    expected: expected.to_string(),
                    found: found.to_string(),
                })
            }
            Some(_) => {}
        }
        Ok(Step::GtidList)
    }

    fn query<'a>(&mut self, e: &Event<'a>, open: Open) -> Result<Step<'a>, WalkError> {
        let q = Query::read(e)?;
        if open.gtid.standalone() {
            return Ok(self.end(e, open, Outcome::Commit, Some(q)));
        }
        match q.class() {
            Class::Begin => Ok(Step::Skip),
            Class::Commit => Ok(self.end(e, open, Outcome::Commit, None)),
            Class::Rollback => Ok(self.end(e, open, Outcome::Rollback, None)),
            Class::Xa => Err(unsupported(e, format!("`{}`", q.summary()), "XA is not replayed")),
            Class::RowChange => Err(unsupported(
                e,
                format!("the statement `{}`", q.summary()),
                "a data change logged as a statement (binlog_format = STATEMENT in some session)",
            )),
            _ => Ok(Step::Statement(q)),
        }
    }

    fn end<'a>(&mut self, e: &Event<'a>, open: Open, outcome: Outcome, q: Option<Query<'a>>) -> Step<'a> {
        self.open = None;
        let commit = Commit { gtid: open.gtid.gtid, timestamp: open.timestamp, end: e.end(), outcome };
        Step::End(commit, q)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::binlog::event::tests::event;
    use crate::binlog::event::{next, Next, MAGIC};

    /// A small log file built by hand: FDE, GTID list, then the given groups.
    pub struct FileBuilder {
        pub bytes: Vec<u8>,
    }

    impl FileBuilder {
        pub fn new(list: &[Gtid]) -> FileBuilder {
            let mut f = FileBuilder { bytes: MAGIC.to_vec() };
            let mut fde = vec![4, 0];
            let mut version = b"10.11.19-MariaDB".to_vec();
            version.resize(50, 0);
            fde.extend_from_slice(&version);
            fde.extend_from_slice(&[0, 0, 0, 0, 19]);
            fde.extend_from_slice(&[0; 10]);
            fde.push(1);
            f.push(15, 1, &fde);
            let mut body = (list.len() as u32).to_le_bytes().to_vec();
            for g in list {
                body.extend_from_slice(&g.domain.to_le_bytes());
                body.extend_from_slice(&g.server.to_le_bytes());
                body.extend_from_slice(&g.seq.to_le_bytes());
            }
            f.push(163, 1, &body);
            f
        }

        pub fn push(&mut self, code: u8, ts: u32, body: &[u8]) -> &mut FileBuilder {
            let e = event(code, ts, self.bytes.len() as u64, body);
            self.bytes.extend_from_slice(&e);
            self
        }

        pub fn gtid(&mut self, seq: u64, ts: u32, standalone: bool) -> &mut FileBuilder {
            let mut body = seq.to_le_bytes().to_vec();
            body.extend_from_slice(&0u32.to_le_bytes());
            body.push(if standalone { 0x29 } else { 0x0c });
            self.push(162, ts, &body)
        }

        pub fn query(&mut self, ts: u32, db: &str, text: &str) -> &mut FileBuilder {
            let mut body = 1u32.to_le_bytes().to_vec();
            body.extend_from_slice(&0u32.to_le_bytes());
            body.push(db.len() as u8);
            body.extend_from_slice(&0u16.to_le_bytes());
            let vars = [1u8, 0, 0, 0, 0, 0, 0, 0, 0];
            body.extend_from_slice(&(vars.len() as u16).to_le_bytes());
            body.extend_from_slice(&vars);
            body.extend_from_slice(db.as_bytes());
            body.push(0);
            body.extend_from_slice(text.as_bytes());
            self.push(2, ts, &body)
        }

        pub fn table_map(&mut self, ts: u32, id: u8, db: &str, table: &str) -> &mut FileBuilder {
            let mut body = vec![id, 0, 0, 0, 0, 0, 1, 0, db.len() as u8];
            body.extend_from_slice(db.as_bytes());
            body.push(0);
            body.push(table.len() as u8);
            body.extend_from_slice(table.as_bytes());
            body.extend_from_slice(&[0, 1, 3, 0]);
            self.push(19, ts, &body)
        }

        pub fn rows(&mut self, ts: u32, table: u8, last: bool) -> &mut FileBuilder {
            let body = [table, 0, 0, 0, 0, 0, u8::from(last), 0, 1, 1, 0, 1, 0, 0, 0];
            self.push(23, ts, &body)
        }

        pub fn xid(&mut self, ts: u32) -> &mut FileBuilder {
            self.push(16, ts, &9u64.to_le_bytes())
        }

        /// One InnoDB transaction writing one row of `db`.`t`.
        pub fn row_trx(&mut self, seq: u64, ts: u32, db: &str) -> &mut FileBuilder {
            self.gtid(seq, ts, false).table_map(ts, 7, db, "t").rows(ts, 7, true).xid(ts)
        }
    }

    /// Every step's kind and every commit, or the first error.
    pub fn walk_all(bytes: &[u8], from: usize, w: &mut Walker) -> Result<Vec<Commit>, WalkError> {
        let mut at = from;
        let mut commits = Vec::new();
        while let Next::Event(e) = next(bytes, at, at as u64)? {
            if let Step::End(c, _) = w.feed(&e)? {
                commits.push(c);
            }
            at += e.bytes.len();
        }
        Ok(commits)
    }

    #[test]
    fn finds_every_transaction_end() -> Result<(), WalkError> {
        let mut f = FileBuilder::new(&[Gtid { domain: 0, server: 1, seq: 4 }]);
        f.row_trx(5, 100, "appdb");
        f.gtid(6, 101, true).query(101, "appdb", "CREATE TABLE u (id int)");
        f.gtid(7, 102, false)
            .table_map(102, 8, "appdb", "m")
            .rows(102, 8, true)
            .query(102, "appdb", "COMMIT");
        let mut w = Walker::new(None);
        let commits = walk_all(&f.bytes, 4, &mut w)?;
        let seqs: Vec<(u64, u32)> = commits.iter().map(|c| (c.gtid.seq, c.timestamp)).collect();
        assert_eq!(seqs, [(5, 100), (6, 101), (7, 102)]);
        assert_eq!(commits.last().map(|c| c.end), Some(f.bytes.len() as u64));
        assert!(w.idle());
        assert_eq!(w.state().map(|s| s.to_string()), Some("0-1-7".into()));
        Ok(())
    }

    #[test]
    fn a_missing_transaction_is_a_gap() {
        let mut f = FileBuilder::new(&[Gtid { domain: 0, server: 1, seq: 4 }]);
        f.row_trx(5, 100, "appdb").row_trx(7, 100, "appdb");
        let out = walk_all(&f.bytes, 4, &mut Walker::new(None));
        assert!(matches!(out, Err(WalkError::Gap { .. })), "{out:?}");
    }

    #[test]
    fn statement_based_changes_and_a_wrong_gtid_list_are_refused() {
        let mut f = FileBuilder::new(&[Gtid { domain: 0, server: 1, seq: 4 }]);
        f.gtid(5, 1, false).query(1, "appdb", "BEGIN").query(1, "appdb", "insert into t values (1)");
        let out = walk_all(&f.bytes, 4, &mut Walker::new(None));
        assert!(matches!(out, Err(WalkError::Format(FormatError::Unsupported { .. }))), "{out:?}");

        let f = FileBuilder::new(&[Gtid { domain: 0, server: 1, seq: 4 }]);
        let expected = State::from_list(&[Gtid { domain: 0, server: 1, seq: 9 }]);
        let out = walk_all(&f.bytes, 4, &mut Walker::new(Some(expected)));
        assert!(matches!(out, Err(WalkError::ListMismatch { .. })), "{out:?}");
    }
}
