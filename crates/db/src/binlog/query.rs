//! Query events: a statement as text with its default database and the session context it ran
//! in, and what kind of statement it is.
//!
//! In a row-based log, statements appear only for DDL, account and administration statements and
//! a transaction's BEGIN/COMMIT/ROLLBACK. A data change written as a statement means someone ran
//! `SET SESSION binlog_format = STATEMENT`; it cannot be filtered to one database safely and is
//! refused ([`Class::RowChange`]).

use super::event::{u16_at, u32_at, u64_at, Event, FormatError};

/// The session context a statement was logged with (the status variables spotctl replays).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// `OPTION_*` bits: foreign-key and unique checks, autocommit.
    pub flags2: Option<u32>,
    pub sql_mode: Option<u64>,
    /// `character_set_client`, `collation_connection`, `collation_server` ids.
    pub charset: Option<(u16, u16, u16)>,
    pub time_zone: Option<String>,
    pub lc_time_names: Option<u16>,
    pub collation_database: Option<u16>,
    pub microseconds: Option<u32>,
}

/// A query event, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query<'a> {
    /// The session's default database (`USE`), empty when none.
    pub db: String,
    pub text: &'a [u8],
    pub context: Context,
    /// Error code the statement had on the source (non-zero for statements logged though they
    /// failed part-way on a non-transactional table).
    pub error_code: u16,
}

/// What a statement is, for replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Begin,
    Commit,
    Rollback,
    /// `SAVEPOINT`, `ROLLBACK TO`, `RELEASE SAVEPOINT`: replayed inside the transaction.
    Savepoint,
    Xa,
    /// A data change logged as a statement (statement-based logging).
    RowChange,
    /// Users, roles and grants: never carried (user-data makes the application's user).
    Account,
    /// `FLUSH`, `ANALYZE`, `OPTIMIZE`, `REPAIR`, plugins: no data of the database.
    Admin,
    /// Schema changes: `CREATE`, `ALTER`, `DROP`, `RENAME`, `TRUNCATE`.
    Ddl,
    Other,
}

impl<'a> Query<'a> {
    /// Decodes a query event's body.
    pub fn read(e: &Event<'a>) -> Result<Query<'a>, FormatError> {
        let b = e.body();
        let short =
            || FormatError::Malformed { offset: e.offset, message: "query event body is too short".into() };
        let db_len = *b.get(8).ok_or_else(short)? as usize;
        let error_code = u16_at(b, 9).ok_or_else(short)?;
        let vars_len = u16_at(b, 11).ok_or_else(short)? as usize;
        let vars = b.get(13..13 + vars_len).ok_or_else(short)?;
        let db_at = 13 + vars_len;
        let db = b.get(db_at..db_at + db_len).ok_or_else(short)?;
        let text = b.get(db_at + db_len + 1..).ok_or_else(short)?;
        Ok(Query {
            db: String::from_utf8_lossy(db).into_owned(),
            text,
            context: context(vars, e.offset)?,
            error_code,
        })
    }

    pub fn class(&self) -> Class {
        classify(self.text)
    }

    /// The statement's first words, for messages.
    pub fn summary(&self) -> String {
        let t = String::from_utf8_lossy(self.text);
        let words: Vec<&str> = t.split_whitespace().take(6).collect();
        words.join(" ")
    }
}

/// Reads the status variables MariaDB 10.x writes; an unknown one stops the read with an error
/// rather than a guess at its length.
fn context(vars: &[u8], offset: u64) -> Result<Context, FormatError> {
    let mut c = Context::default();
    let mut at = 0usize;
    let short = |code: u8| FormatError::Malformed {
        offset,
        message: format!("status variable {code} of a query event is cut short"),
    };
    while at < vars.len() {
        let code = vars[at];
        at += 1;
        let len_at = |at: usize| vars.get(at).map(|&n| n as usize).ok_or_else(|| short(code));
        let skip = match code {
            0 => {
                c.flags2 = Some(u32_at(vars, at).ok_or_else(|| short(code))?);
                4
            }
            1 => {
                c.sql_mode = Some(u64_at(vars, at).ok_or_else(|| short(code))?);
                8
            }
            2 => len_at(at)? + 2,
            3 => 4,
            4 => {
                let v = |i| u16_at(vars, at + i).ok_or_else(|| short(code));
                c.charset = Some((v(0)?, v(2)?, v(4)?));
                6
            }
            5 => {
                let n = len_at(at)?;
                let tz = vars.get(at + 1..at + 1 + n).ok_or_else(|| short(code))?;
                c.time_zone = Some(String::from_utf8_lossy(tz).into_owned());
                n + 1
            }
            6 => len_at(at)? + 1,
            7 => {
                c.lc_time_names = Some(u16_at(vars, at).ok_or_else(|| short(code))?);
                2
            }
            8 => {
                c.collation_database = Some(u16_at(vars, at).ok_or_else(|| short(code))?);
                2
            }
            9 => 8,
            10 => 4,
            11 => {
                let user = len_at(at)?;
                let host = len_at(at + 1 + user)?;
                user + host + 2
            }
            12 => {
                let n = len_at(at)?;
                let mut end = at + 1;
                if n != 254 {
                    for _ in 0..n {
                        let nul = vars.get(end..).and_then(|r| r.iter().position(|&b| b == 0));
                        end += nul.ok_or_else(|| short(code))? + 1;
                    }
                }
                end - at
            }
            13 => {
                let b = vars.get(at..at + 3).ok_or_else(|| short(code))?;
                c.microseconds = Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16);
                3
            }
            128 => 3,
            129 => 8,
            130 => 1,
            other => {
                return Err(FormatError::Unsupported {
                    offset,
                    what: format!("a query event with status variable {other}"),
                    why: "this build does not know its length",
                })
            }
        };
        at += skip;
        if at > vars.len() {
            return Err(short(code));
        }
    }
    Ok(c)
}

/// Upper-cased words of `text`, skipping leading comments and `OR REPLACE` / `IF [NOT] EXISTS`.
fn leading_words(text: &[u8], n: usize) -> Vec<String> {
    let s = String::from_utf8_lossy(text);
    let mut rest = s.trim_start();
    // Plain leading comments only; an executable `/*!…*/` comment is read as text (and so is
    // not recognised, which makes the statement `Other`: refused, never guessed).
    while rest.starts_with("/*") && !rest.starts_with("/*!") {
        match rest.find("*/") {
            Some(end) => rest = rest[end + 2..].trim_start(),
            None => break,
        }
    }
    let words = rest
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .filter(|w| !["OR", "REPLACE", "IF", "NOT", "EXISTS"].contains(&w.as_str()))
        .filter(|w| !w.starts_with("DEFINER=") && !w.starts_with("ALGORITHM="));
    words.take(n).collect()
}

pub fn classify(text: &[u8]) -> Class {
    let w = leading_words(text, 2);
    let first = w.first().map(String::as_str).unwrap_or("");
    let second = w.get(1).map(String::as_str).unwrap_or("");
    match first {
        "BEGIN" | "START" => Class::Begin,
        "COMMIT" => Class::Commit,
        "ROLLBACK" if second == "TO" => Class::Savepoint,
        "ROLLBACK" => Class::Rollback,
        "SAVEPOINT" | "RELEASE" => Class::Savepoint,
        "XA" => Class::Xa,
        "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD" | "CALL" | "DO" => Class::RowChange,
        "GRANT" | "REVOKE" => Class::Account,
        "SET" if second == "PASSWORD" || second == "DEFAULT" => Class::Account,
        "CREATE" | "DROP" | "ALTER" | "RENAME" if second == "USER" || second == "ROLE" => Class::Account,
        "FLUSH" | "ANALYZE" | "OPTIMIZE" | "REPAIR" | "INSTALL" | "UNINSTALL" => Class::Admin,
        "CREATE" | "DROP" | "ALTER" | "RENAME" | "TRUNCATE" => Class::Ddl,
        _ => Class::Other,
    }
}

/// The database a `CREATE`/`ALTER`/`DROP DATABASE` (or `SCHEMA`) statement is about, lower-cased;
/// `None` for any other statement.
pub fn database_statement(text: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(text);
    let words: Vec<&str> = s
        .split_whitespace()
        .filter(|w| !["OR", "REPLACE", "IF", "NOT", "EXISTS"].contains(&w.to_ascii_uppercase().as_str()))
        .take(3)
        .collect();
    let verb = words.first()?.to_ascii_uppercase();
    let kind = words.get(1)?.to_ascii_uppercase();
    if !["CREATE", "ALTER", "DROP"].contains(&verb.as_str())
        || !["DATABASE", "SCHEMA"].contains(&kind.as_str())
    {
        return None;
    }
    let name = words.get(2)?.trim_end_matches(';').trim_matches('`');
    Some(name.to_lowercase())
}

/// Whether `text` names the database `db` as an identifier (plain or backquoted, any case).
pub fn mentions(text: &[u8], db: &str) -> bool {
    let s = String::from_utf8_lossy(text).to_lowercase();
    let db = db.to_lowercase();
    s.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).any(|token| token == db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_told_apart_by_their_leading_words() {
        let cases: [(&str, Class); 16] = [
            ("BEGIN", Class::Begin),
            ("COMMIT", Class::Commit),
            ("ROLLBACK", Class::Rollback),
            ("ROLLBACK TO SAVEPOINT a", Class::Savepoint),
            ("savepoint a", Class::Savepoint),
            ("insert into t values (1)", Class::RowChange),
            ("  /* app */ UPDATE t SET v = 1", Class::RowChange),
            ("CREATE TABLE t (id int)", Class::Ddl),
            ("create or replace table t (id int)", Class::Ddl),
            (
                "CREATE DEFINER=`root`@`localhost` TRIGGER x AFTER INSERT ON t FOR EACH ROW SET @a = 1",
                Class::Ddl,
            ),
            ("DROP TABLE IF EXISTS `t` /* generated by server */", Class::Ddl),
            ("CREATE USER 'app'@'%' IDENTIFIED BY PASSWORD '*x'", Class::Account),
            ("drop user if exists app", Class::Account),
            ("GRANT ALL ON appdb.* TO 'app'@'%'", Class::Account),
            ("flush privileges", Class::Admin),
            ("/*!40000 ALTER TABLE t DISABLE KEYS */", Class::Other),
        ];
        for (text, class) in cases {
            assert_eq!(classify(text.as_bytes()), class, "{text}");
        }
    }

    #[test]
    fn database_statements_name_their_database() {
        assert_eq!(database_statement(b"CREATE DATABASE otherdb"), Some("otherdb".into()));
        assert_eq!(database_statement(b"drop schema if exists `AppDb`"), Some("appdb".into()));
        assert_eq!(database_statement(b"CREATE TABLE appdb.t (id int)"), None);
    }

    #[test]
    fn mentions_match_whole_identifiers_only() {
        assert!(mentions(b"create table appdb.a2 (id int)", "appdb"));
        assert!(mentions(b"CREATE TABLE `AppDb`.`x` (id int)", "appdb"));
        assert!(mentions(b"DROP DATABASE appdb", "appdb"));
        assert!(!mentions(b"create table other.appdb2 (id int)", "appdb"));
        assert!(!mentions(b"create table other.x (appdbx int)", "appdb"));
    }
}
