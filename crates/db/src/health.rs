//! Whether the server can serve, as the agent of the primary checks it every few seconds: it
//! answers, it commits a write, and its data directory's disk has room. What was found goes into
//! the agent's health report, and the watchdog replaces a primary that stays unhealthy (ARD.md,
//! *A primary that cannot serve*).
//!
//! The write goes to a table of its own database, `spotctl_health.beat`, which no backup holds
//! and every recovery skips (only the env's database is restored or replayed). It is made the
//! first time a write finds it missing, so the log does not carry a `CREATE` on every check.
//!
//! May use: `session`, `error`.

use crate::error::SqlContext;
use crate::session::connect;
use mysql::prelude::Queryable;

/// The disk has room while at least this much of it is free...
pub const DISK_FLOOR_BYTES: u64 = 256 << 20;
/// ...and at least this fraction (per mille).
pub const DISK_FLOOR_PER_MILLE: u64 = 20;

/// What one check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHealth {
    pub answers: bool,
    pub writes: bool,
    pub disk_free_bytes: Option<u64>,
    pub disk_room: bool,
    /// Why a check failed, in words.
    pub problem: Option<String>,
}

const WRITE: &str = "REPLACE INTO spotctl_health.beat (id, at) VALUES (1, UNIX_TIMESTAMP())";

/// Checks the server at `dsn`, an account that may write anywhere (the agent's, over the socket).
/// Never fails: what did not work is in the result.
pub fn check(dsn: &str) -> ServerHealth {
    let mut h = ServerHealth::default();
    let mut c = match connect(dsn) {
        Ok(c) => c,
        Err(e) => return ServerHealth { problem: Some(format!("the server does not answer: {e}")), ..h },
    };
    let datadir: Option<String> = match c.query_first("SELECT @@datadir").sql(|| "reading @@datadir".into()) {
        Ok(d) => d,
        Err(e) => {
            return ServerHealth { problem: Some(format!("the server does not answer queries: {e}")), ..h }
        }
    };
    h.answers = true;
    // A write waits on locks at most a few seconds (a base backup blocks commits for moments).
    let bounded = c.query_drop("SET SESSION lock_wait_timeout = 5, innodb_lock_wait_timeout = 5");
    let written = bounded.and_then(|_| c.query_drop(WRITE)).or_else(|e| match &e {
        mysql::Error::MySqlError(m) if m.code == 1049 || m.code == 1146 => c
            .query_drop("CREATE DATABASE IF NOT EXISTS spotctl_health")
            .and_then(|_| {
                c.query_drop(
                    "CREATE TABLE IF NOT EXISTS spotctl_health.beat (id TINYINT PRIMARY KEY, at BIGINT NOT NULL) \
                     ENGINE=InnoDB",
                )
            })
            .and_then(|_| c.query_drop(WRITE)),
        _ => Err(e),
    });
    match written {
        Ok(()) => h.writes = true,
        Err(e) => h.problem = Some(format!("the server does not commit a write: {e}")),
    }
    match datadir.as_deref().map(disk_free) {
        Some(Ok((free, total))) => {
            h.disk_free_bytes = Some(free);
            h.disk_room =
                free >= DISK_FLOOR_BYTES && free.saturating_mul(1000) >= total * DISK_FLOOR_PER_MILLE;
            if !h.disk_room && h.problem.is_none() {
                h.problem = Some(format!("the data directory's disk has {} MiB free", free >> 20));
            }
        }
        Some(Err(e)) => {
            h.problem.get_or_insert(format!("reading the free space of the data directory: {e}"));
        }
        None => {
            h.problem.get_or_insert("the server names no data directory".into());
        }
    }
    h
}

/// Free bytes (for an unprivileged writer) and total bytes of the filesystem holding `path`.
fn disk_free(path: &str) -> std::io::Result<(u64, u64)> {
    let s = rustix::fs::statvfs(path).map_err(std::io::Error::from)?;
    Ok((s.f_bavail.saturating_mul(s.f_frsize), s.f_blocks.saturating_mul(s.f_frsize)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_does_not_answer_says_so() {
        let h = check("mysql://root@127.0.0.1:1/");
        assert!(!h.answers && !h.writes && !h.disk_room);
        assert!(h.problem.as_deref().is_some_and(|p| p.starts_with("the server does not answer")), "{h:?}");
    }

    #[test]
    fn the_free_space_of_a_real_filesystem_is_read() {
        let (free, total) = disk_free("/").expect("statvfs /");
        assert!(total > 0 && free <= total);
    }
}
