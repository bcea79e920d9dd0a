//! Which logged statements a recovery replays, decided once for the check before anything is
//! written and again, identically, while replaying.
//!
//! A statement of the env's database (its session's default database) is replayed; accounts,
//! grants and administration never are. A DDL statement's database is its session's default:
//! the log records nothing else, and the text may name any database. So one that ran under
//! another default but names the env's database cannot be placed safely and stops the recovery
//! (`mariadb-binlog --database` gets both cases wrong: it drops `CREATE TABLE app.t` run with no
//! default and keeps `CREATE TABLE other.t` run under `USE app`). `CREATE/ALTER/DROP DATABASE`
//! under the env's default is about another database (skipped) or the env's own (refused).

use crate::binlog::query::{database_statement, mentions, Class, Query};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Replay the statement (with its session context).
    Replay,
    /// Not the env's: leave it out.
    Skip,
    /// A savepoint inside a transaction: replay it there.
    Savepoint,
}

/// What to do with `q`, or why it cannot be replayed.
pub fn decide(q: &Query<'_>, database: &str) -> Result<Decision, String> {
    match q.class() {
        Class::Account | Class::Admin | Class::Begin | Class::Commit => return Ok(Decision::Skip),
        Class::Savepoint if q.db == database || q.db.is_empty() => return Ok(Decision::Savepoint),
        Class::Savepoint => return Ok(Decision::Skip),
        Class::Ddl => {}
        other => return Err(format!("a {other:?} statement `{}` cannot be replayed", q.summary())),
    }
    if q.db != database {
        if mentions(q.text, database) {
            return Err(format!(
                "the DDL `{}` ran with default database `{}` and names `{database}`: which database it changes \
                 cannot be told safely (run DDL of the env's database with it as the default)",
                q.summary(),
                q.db
            ));
        }
        return Ok(Decision::Skip);
    }
    match database_statement(q.text) {
        Some(name) if name == database.to_lowercase() => {
            return Err(format!("`{}` changes the env's database itself; it is not replayed", q.summary()))
        }
        Some(_) => return Ok(Decision::Skip),
        None => {}
    }
    if q.error_code != 0 {
        return Err(format!("`{}` was logged with error {} on the source", q.summary(), q.error_code));
    }
    if std::str::from_utf8(q.text).is_err() {
        return Err(format!("the statement `{}` is not valid UTF-8 and cannot be sent", q.summary()));
    }
    Ok(Decision::Replay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::query::Context;

    fn q<'a>(db: &str, text: &'a str) -> Query<'a> {
        Query { db: db.into(), text: text.as_bytes(), context: Context::default(), error_code: 0 }
    }

    #[test]
    fn the_default_database_decides_and_ambiguity_is_refused() {
        let cases: [(&str, &str, Result<Decision, ()>); 9] = [
            ("appdb", "CREATE TABLE t (id INT)", Ok(Decision::Replay)),
            ("appdb", "ALTER TABLE appdb.t ADD c INT", Ok(Decision::Replay)),
            ("other", "CREATE TABLE x (id INT)", Ok(Decision::Skip)),
            ("", "CREATE TABLE other.x (id INT)", Ok(Decision::Skip)),
            ("", "CREATE TABLE appdb.a2 (id INT)", Err(())),
            ("other", "CREATE TABLE appdb.y (id INT)", Err(())),
            ("appdb", "CREATE DATABASE otherdb", Ok(Decision::Skip)),
            ("appdb", "DROP DATABASE appdb", Err(())),
            ("appdb", "GRANT ALL ON appdb.* TO 'x'@'%'", Ok(Decision::Skip)),
        ];
        for (db, text, want) in cases {
            assert_eq!(decide(&q(db, text), "appdb").map_err(drop), want, "{db}: {text}");
        }
        assert!(decide(&q("appdb", "INSERT INTO t VALUES (1)"), "appdb").is_err(), "statement-based rows");
    }
}
