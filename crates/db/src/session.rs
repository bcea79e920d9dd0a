//! Connections and the session settings that make dumped text mean the same thing on both servers.
//!
//! Every data session reads and loads in UTC (TIMESTAMP text depends on the session time zone),
//! receives values unconverted (`character_set_results = binary`: a latin1 column's bytes stay
//! latin1 bytes) and runs under one fixed `sql_mode`. DSNs may carry a password: no error or
//! message made here repeats one.
//!
//! May use: `error`.

use crate::error::{DbError, Result, SqlContext};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts};

/// `NO_AUTO_VALUE_ON_ZERO` keeps a stored 0 in an AUTO_INCREMENT column from becoming a new value;
/// no strict mode, so old zero dates load (verification catches any value that changed).
pub const DATA_SQL_MODE: &str = "NO_AUTO_VALUE_ON_ZERO";

/// Connects to `dsn` (`mysql://user:password@host:port/` or `…?socket=/path`).
pub fn connect(dsn: &str) -> Result<Conn> {
    let opts = Opts::from_url(dsn).map_err(DbError::Url)?;
    let (user, host) = (opts.get_user().unwrap_or("").to_string(), opts.get_ip_or_hostname().to_string());
    Conn::new(opts).sql(|| format!("connecting to the server at {host} as `{user}`"))
}

/// A connection for reading or loading rows, with the settings described above.
pub fn data_session(dsn: &str) -> Result<Conn> {
    let mut c = connect(dsn)?;
    c.query_drop(format!(
        "SET SESSION time_zone = '+00:00', character_set_results = 'binary', sql_mode = '{DATA_SQL_MODE}', \
         net_write_timeout = 600, net_read_timeout = 600"
    ))
    .sql(|| "setting up a data session".into())?;
    Ok(c)
}

/// Makes `SHOW CREATE …` print what a restore session reads back the same way: backquoted names
/// whatever the server's `sql_mode` (no `ANSI_QUOTES`), TIMESTAMP defaults in UTC.
pub fn schema_settings(c: &mut Conn) -> Result<()> {
    c.query_drop(format!(
        "SET SESSION time_zone = '+00:00', sql_mode = '{DATA_SQL_MODE}', sql_quote_show_create = 1"
    ))
    .sql(|| "setting up the schema session".into())
}

/// A data session inside a consistent snapshot: every read sees the database as it was at the
/// `START TRANSACTION`, so sessions opened while writes are fenced all see the same rows.
pub fn snapshot_session(dsn: &str) -> Result<Conn> {
    let mut c = data_session(dsn)?;
    c.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .and_then(|_| c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"))
        .sql(|| "opening a consistent snapshot".into())?;
    Ok(c)
}

/// The DSN without its database (`mysql://u@h:p/db?x` → `mysql://u@h:p/?x`): a connection to the
/// server, which works before the database exists.
pub fn server_dsn(dsn: &str) -> String {
    let Some((scheme, rest)) = dsn.split_once("://") else { return dsn.to_string() };
    let (authority_path, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let authority = authority_path.split_once('/').map(|(a, _)| a).unwrap_or(authority_path);
    match query {
        Some(q) => format!("{scheme}://{authority}/?{q}"),
        None => format!("{scheme}://{authority}/"),
    }
}

/// The DSN with its password replaced by `***`, for messages that must name the server.
pub fn redact(dsn: &str) -> String {
    let Some((scheme, rest)) = dsn.split_once("://") else { return dsn.to_string() };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => dsn.to_string(),
        },
        None => dsn.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password_only() {
        assert_eq!(redact("mysql://app:s3cr:et@db:3306/appdb"), "mysql://app:***@db:3306/appdb");
        assert_eq!(redact("mysql://root@localhost/?socket=/x"), "mysql://root@localhost/?socket=/x");
        assert_eq!(redact("mysql://u:p@h?socket=/a@b"), "mysql://u:***@h?socket=/a@b");
    }

    #[test]
    fn the_server_dsn_leaves_the_database_out() {
        assert_eq!(server_dsn("mysql://root@localhost/appdb?socket=/s"), "mysql://root@localhost/?socket=/s");
        assert_eq!(server_dsn("mysql://u:p@h:3306/appdb"), "mysql://u:p@h:3306/");
        assert_eq!(server_dsn("mysql://u@h:3306"), "mysql://u@h:3306/");
        assert_eq!(server_dsn("mysql://u@h/?socket=/a/b"), "mysql://u@h/?socket=/a/b");
    }

    #[test]
    fn a_bad_dsn_error_does_not_repeat_the_password() {
        let err = connect("mysql://app:hunter2@db:notaport/").err().map(|e| format!("{e} {e:?}"));
        assert!(err.as_deref().is_some_and(|e| !e.contains("hunter2")), "{err:?}");
    }
}
