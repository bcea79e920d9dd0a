//! Replaying verified log into the target: row events as `BINLOG '<base64>'` statements (the
//! server's own row applier, the fastest way in: about 55 times the rate an OLTP log was written
//! at, against 5-10 times for `mariadb-binlog | mariadb`), a hundred source transactions per
//! statement and per target commit (round trips, not rows, bound an OLTP replay), with
//! `sql_log_bin = 0` (the target's log restarts at the end, see [`super::recover`]).
//!
//! Only the env's database is replayed: a transaction's table maps and row events of other
//! databases are dropped (the last kept row event of a statement is marked as its end). A DDL
//! statement is replayed when its default database is the env's, with the session context it
//! ran in; one from another default database that names the env's database is ambiguous and
//! stops the recovery; accounts, grants and administration statements are never replayed.

use super::chain::Segment;
use super::error::{ProtectError, Result};
use super::piece;
use super::statement::{decide, Decision};
use crate::backup::reads::ident;
use crate::binlog::event::{next, u16_at, with_flags, Next, HEADER_LEN, STMT_END_FLAG};
use crate::binlog::query::Query;
use crate::binlog::walk::{Outcome, Step, Walker};
use crate::binlog::{Gtid, State};
use base64::Engine;
use mysql::prelude::Queryable;
use mysql::Conn;
use serde::Serialize;
use std::collections::BTreeMap;

/// Source transactions per target commit: one commit's flush serves a hundred.
pub const GROUP: usize = 100;
/// Row-event bytes per `BINLOG` statement, well under the default `max_allowed_packet` (16 MiB)
/// once base64 has grown them by a third.
const STATEMENT_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Transactions with rows or DDL of the env's database, replayed.
    pub transactions: u64,
    /// Transactions of other databases, accounts or administration, skipped.
    pub skipped: u64,
    pub ddl: u64,
    pub binlog_statements: u64,
}

/// A statement's kept events, until its end.
#[derive(Default)]
struct Pending {
    maps: Vec<Vec<u8>>,
    rows: Vec<Vec<u8>>,
    bytes: usize,
}

pub struct Applier {
    conn: Conn,
    database: String,
    /// The timeline and file whose format description the session last read (a new timeline's
    /// server reuses file names).
    format_of: Option<(u32, String)>,
    open: bool,
    in_group: usize,
    /// The current transaction's kept events, and per table id whether it is kept.
    events: Vec<Vec<u8>>,
    tables: BTreeMap<u64, bool>,
    /// The current statement's kept table maps and row events.
    stmt: Pending,
    /// Whether the current transaction has kept any row event.
    trx_rows: bool,
    /// Where the current transaction's events begin in `events`, and whether some were sent.
    trx_start: usize,
    trx_sent: bool,
    pub applied: Applied,
}

/// Where a failure happened, for the error.
struct At<'a> {
    key: &'a str,
    offset: u64,
    gtid: Option<Gtid>,
}

impl At<'_> {
    fn fail(&self, what: String, source: Option<mysql::Error>) -> ProtectError {
        let gtid = self.gtid.map(|g| g.to_string()).unwrap_or_else(|| "-".into());
        ProtectError::Replay {
            key: self.key.to_string(),
            offset: self.offset,
            gtid,
            what,
            source: source.map(Box::new),
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Applier {
    /// A replay session on `conn`: binary logging off (BINLOG ADMIN), and the first segment's
    /// format description read, which needs BINLOG REPLAY — both refused before anything is written.
    pub fn open(mut conn: Conn, database: &str, first: Option<&Segment>) -> Result<Applier> {
        conn.query_drop("SET SESSION sql_log_bin = 0").map_err(|source| ProtectError::Privilege {
            what: "SET SESSION sql_log_bin = 0",
            privilege: "BINLOG ADMIN (or SUPER)",
            source: Box::new(source),
        })?;
        let mut a = Applier {
            conn,
            database: database.to_string(),
            format_of: None,
            open: false,
            in_group: 0,
            events: Vec::new(),
            tables: BTreeMap::new(),
            stmt: Pending::default(),
            trx_rows: false,
            trx_start: 0,
            trx_sent: false,
            applied: Applied::default(),
        };
        if let Some(s) = first {
            a.conn.query_drop(format!("BINLOG '{}'", b64(&s.fde))).map_err(|source| {
                ProtectError::Privilege {
                    what: "BINLOG statements",
                    privilege: "BINLOG REPLAY (or SUPER)",
                    source: Box::new(source),
                }
            })?;
            a.format_of = Some((s.header.timeline, s.header.file.clone()));
        }
        Ok(a)
    }

    fn run(&mut self, sql: &str, at: &At<'_>) -> Result<()> {
        self.conn
            .query_drop(sql)
            .map_err(|e| at.fail(format!("the target refused `{}`", short(sql)), Some(e)))
    }

    /// Replays one verified segment; `walker` carries the GTID state across segments.
    pub fn segment(&mut self, s: &Segment, walker: &mut Walker) -> Result<()> {
        let (header, body) = (&s.header, s.compressed.as_slice());
        let raw = piece::unpack(&s.key, header, body)?;
        let format_of = (header.timeline, header.file.clone());
        if self.format_of.as_ref() != Some(&format_of) {
            self.commit(&At { key: &s.key, offset: s.from, gtid: None })?;
            self.run(&format!("BINLOG '{}'", b64(&s.fde)), &At { key: &s.key, offset: 4, gtid: None })?;
            self.format_of = Some(format_of);
        }
        let slice = &raw[..(s.to - header.offset) as usize];
        let mut pos = (s.from - header.offset) as usize;
        let mut gtid = None;
        loop {
            let offset = header.offset + pos as u64;
            let e = match next(slice, pos, offset) {
                Ok(Next::Event(e)) => e,
                _ => break,
            };
            pos += e.bytes.len();
            let at = At { key: &s.key, offset, gtid };
            let step = walker.feed(&e).map_err(|err| at.fail(err.to_string(), None))?;
            match step {
                Step::Begin(g) => {
                    gtid = Some(g.gtid);
                    self.trx_start = self.events.len();
                    self.trx_sent = false;
                    self.tables.clear();
                    self.stmt = Pending::default();
                    self.trx_rows = false;
                }
                Step::TableMap(tm) => {
                    let keep = tm.db == self.database;
                    self.tables.insert(tm.id, keep);
                    if keep {
                        self.stmt.maps.push(e.bytes.to_vec());
                    }
                }
                Step::Rows(r) => {
                    let end = r.flags & STMT_END_FLAG != 0;
                    if self.tables.get(&r.table_id).copied().unwrap_or(false) {
                        self.stmt.bytes += e.bytes.len();
                        self.stmt.rows.push(e.bytes.to_vec());
                        self.trx_rows = true;
                    }
                    if end {
                        // The statement's end may have been in a dropped event: its last kept one
                        // becomes the end.
                        self.end_statement();
                        if self.events.iter().map(Vec::len).sum::<usize>() >= STATEMENT_BYTES {
                            self.send_rows(&at)?;
                        }
                    } else if self.stmt.bytes >= STATEMENT_BYTES {
                        // Too large for one BINLOG statement: send this part as a statement of its
                        // own (its table maps go again with the next part).
                        let maps = self.stmt.maps.clone();
                        self.end_statement();
                        self.send_rows(&at)?;
                        self.stmt.maps = maps;
                    }
                }
                Step::Statement(q) => self.statement(&q, &at)?,
                Step::End(c, q) => {
                    let at = At { gtid: Some(c.gtid), ..at };
                    match q {
                        Some(q) => self.standalone(&q, &at)?,
                        None => self.end(c.outcome, &at)?,
                    }
                    gtid = None;
                }
                Step::Format(_) | Step::GtidList | Step::Skip | Step::FileEnd => {}
            }
        }
        Ok(())
    }

    /// Moves the current statement's events to the transaction's, its last row event marked as
    /// the statement's end.
    fn end_statement(&mut self) {
        let mut stmt = std::mem::take(&mut self.stmt);
        if let Some(last) = stmt.rows.last_mut() {
            let flags = u16_at(last, HEADER_LEN + 6).unwrap_or(0);
            if flags & STMT_END_FLAG == 0 {
                *last = with_flags(last, flags | STMT_END_FLAG);
            }
            self.events.append(&mut stmt.maps);
            self.events.append(&mut stmt.rows);
        }
    }

    /// Sends the kept row events so far as one `BINLOG` statement, inside the target transaction.
    fn send_rows(&mut self, at: &At<'_>) -> Result<()> {
        if self.events.is_empty() {
            return Ok(());
        }
        if !self.open {
            self.run("BEGIN", at)?;
            self.open = true;
        }
        let bytes: Vec<u8> = self.events.concat();
        self.events.clear();
        self.trx_start = 0;
        self.trx_sent = self.trx_rows;
        self.applied.binlog_statements += 1;
        self.conn.query_drop(format!("BINLOG '{}'", b64(&bytes))).map_err(|e| {
            at.fail("the target refused a row event (a row it should hold differs?)".into(), Some(e))
        })
    }

    fn end(&mut self, outcome: Outcome, at: &At<'_>) -> Result<()> {
        if !self.trx_rows {
            self.applied.skipped += 1;
            return Ok(());
        }
        self.end_statement();
        self.applied.transactions += 1;
        match outcome {
            // Kept until the group commits: one BINLOG statement carries a hundred transactions.
            Outcome::Commit => {
                self.in_group += 1;
                if self.in_group >= GROUP {
                    self.commit(at)?;
                } else if self.events.iter().map(Vec::len).sum::<usize>() >= STATEMENT_BYTES {
                    self.send_rows(at)?;
                }
                Ok(())
            }
            Outcome::Rollback => {
                // Its own transaction, rolled back as on the source (non-transactional tables keep
                // their changes there and here).
                if self.trx_sent {
                    return Err(
                        at.fail("a rolled-back transaction too large to replay on its own".into(), None)
                    );
                }
                let this = self.events.split_off(self.trx_start.min(self.events.len()));
                self.commit(at)?;
                self.events = this;
                self.send_rows(at)?;
                self.run("ROLLBACK", at)?;
                self.open = false;
                Ok(())
            }
        }
    }

    /// Sends what is pending and commits the target transaction, if one is open.
    fn commit(&mut self, at: &At<'_>) -> Result<()> {
        self.send_rows(at)?;
        if self.open {
            self.run("COMMIT", at)?;
            self.open = false;
        }
        self.in_group = 0;
        Ok(())
    }

    /// Commits what is open at the end of the replay.
    pub fn finish(&mut self) -> Result<()> {
        self.commit(&At { key: "(end of log)", offset: 0, gtid: None })
    }

    /// A statement inside a transaction: a savepoint, or the DDL half of `CREATE … SELECT`.
    fn statement(&mut self, q: &Query<'_>, at: &At<'_>) -> Result<()> {
        match decide(q, &self.database).map_err(|what| at.fail(what, None))? {
            Decision::Savepoint => {
                self.send_rows(at)?;
                let sql = utf8(q, at)?;
                self.run(&sql, at)
            }
            Decision::Replay => self.ddl(q, at),
            Decision::Skip => Ok(()),
        }
    }

    /// A standalone group's one statement.
    fn standalone(&mut self, q: &Query<'_>, at: &At<'_>) -> Result<()> {
        match decide(q, &self.database).map_err(|what| at.fail(what, None))? {
            Decision::Replay => {
                self.ddl(q, at)?;
                self.applied.transactions += 1;
                self.applied.ddl += 1;
            }
            Decision::Skip | Decision::Savepoint => self.applied.skipped += 1,
        }
        Ok(())
    }

    /// Replays a schema statement with the session context it ran in. DDL commits implicitly,
    /// so the target transaction is committed first.
    fn ddl(&mut self, q: &Query<'_>, at: &At<'_>) -> Result<()> {
        let sql = utf8(q, at)?;
        self.send_rows(at)?;
        self.commit(at)?;
        for set in context_sql(q) {
            self.run(&set, at)?;
        }
        self.run(&format!("USE {}", ident(&q.db)), at)?;
        self.run(&sql, at)?;
        self.run("SET TIMESTAMP = DEFAULT", at)
    }
}

fn utf8(q: &Query<'_>, at: &At<'_>) -> Result<String> {
    String::from_utf8(q.text.to_vec()).map_err(|_| {
        at.fail(format!("the statement `{}` is not valid UTF-8 and cannot be sent", q.summary()), None)
    })
}

/// The session settings a statement ran under, as statements.
fn context_sql(q: &Query<'_>) -> Vec<String> {
    let c = &q.context;
    let mut out = Vec::new();
    if let Some(mode) = c.sql_mode {
        out.push(format!("SET SESSION sql_mode = {mode}"));
    }
    if let Some(f) = c.flags2 {
        let on = |bit: u32| if f & bit != 0 { 0 } else { 1 };
        out.push(format!(
            "SET SESSION foreign_key_checks = {}, unique_checks = {}",
            on(1 << 26),
            on(1 << 27)
        ));
    }
    if let Some((client, connection, server)) = c.charset {
        out.push(format!(
            "SET SESSION character_set_client = {client}, collation_connection = {connection}, collation_server = {server}"
        ));
    }
    if let Some(db) = c.collation_database {
        out.push(format!("SET SESSION collation_database = {db}"));
    }
    if let Some(tz) = &c.time_zone {
        out.push(format!("SET SESSION time_zone = '{}'", tz.replace('\\', "\\\\").replace('\'', "''")));
    }
    if let Some(lc) = c.lc_time_names {
        out.push(format!("SET SESSION lc_time_names = {lc}"));
    }
    out
}

fn short(sql: &str) -> String {
    let s: String = sql.chars().take(80).collect();
    if s.len() < sql.len() {
        format!("{s}…")
    } else {
        s
    }
}

/// The log state as `SET GLOBAL gtid_binlog_state` takes it.
pub fn state_sql(state: &State) -> String {
    format!("SET GLOBAL gtid_binlog_state = '{state}'")
}
