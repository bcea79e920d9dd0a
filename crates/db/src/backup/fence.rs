//! Fencing the old primary: from the moment drain starts, no write commits there again.
//!
//! `FLUSH TABLES WITH READ LOCK` waits for running writes to finish (at most the fence timeout),
//! then blocks every writer, administrators included, for as long as the fence's connection holds
//! it: drain holds it until the manifest is stored, which also makes the parallel snapshots agree.
//! `read_only = ON` outlives the drain, so ordinary accounts are refused for good; accounts with
//! `READ_ONLY ADMIN` (MariaDB) or `SUPER` (MySQL) are not, which is why applications must not
//! use them. The new primary lifts nothing here: it is a different server.

use super::manifest::{BinlogPosition, FenceRecord};
use crate::error::{DbError, Result, SqlContext};
use crate::session::connect;
use mysql::prelude::Queryable;
use mysql::Conn;
use std::time::Duration;

pub const LOCK: &str = "FLUSH TABLES WITH READ LOCK";
pub const READ_ONLY: &str = "SET GLOBAL read_only = ON";

/// Writes are fenced while this lives; dropping it releases the global read lock only.
pub struct Fence {
    conn: Conn,
    record: FenceRecord,
}

impl Fence {
    /// Takes the global read lock, waiting at most `timeout` for running statements, then sets
    /// `read_only`.
    pub fn raise(dsn: &str, timeout: Duration) -> Result<Fence> {
        let mut conn = connect(dsn)?;
        let secs = timeout.as_secs().max(1);
        conn.query_drop(format!("SET SESSION lock_wait_timeout = {secs}"))
            .map_err(|source| DbError::Fence { step: "SET SESSION lock_wait_timeout", source })?;
        conn.query_drop(LOCK).map_err(|source| DbError::Fence { step: LOCK, source })?;
        conn.query_drop(READ_ONLY).map_err(|source| DbError::Fence { step: READ_ONLY, source })?;
        let record = FenceRecord {
            statements: vec![LOCK.to_string(), READ_ONLY.to_string()],
            read_only_left_on: true,
        };
        Ok(Fence { conn, record })
    }

    pub fn record(&self) -> &FenceRecord {
        &self.record
    }

    /// The fence's own connection, for reading the schema while nothing can change it.
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// Where the binary log stands (nothing moves it while the lock is held), or `None` when
    /// binary logging is off.
    pub fn binlog_position(&mut self) -> Result<Option<BinlogPosition>> {
        let c = &mut self.conn;
        let on: Option<i64> = c.query_first("SELECT @@GLOBAL.log_bin").sql(|| "reading log_bin".into())?;
        if on != Some(1) {
            return Ok(None);
        }
        let status: Option<mysql::Row> =
            c.query_first("SHOW MASTER STATUS").sql(|| "reading the binlog position".into())?;
        let Some(row) = status else { return Ok(None) };
        let file: Option<String> = row.get(0);
        let position: Option<u64> = row.get(1);
        // MariaDB names its GTID position one way, MySQL another; ask for each in turn.
        let gtid = c
            .query_first::<String, _>("SELECT @@GLOBAL.gtid_binlog_pos")
            .or_else(|_| c.query_first::<String, _>("SELECT @@GLOBAL.gtid_executed"))
            .ok()
            .flatten()
            .filter(|g| !g.is_empty());
        Ok(Some(BinlogPosition { file: file.unwrap_or_default(), position: position.unwrap_or(0), gtid }))
    }

    /// Releases the global read lock (the connection closing would too); `read_only` stays on.
    pub fn release(mut self) -> Result<()> {
        self.conn.query_drop("UNLOCK TABLES").sql(|| "releasing the global read lock".into())
    }
}

/// Lets writes in again on a server a drain fenced: for a drain that was abandoned (a planned move
/// that failed) and the server stays primary. Never run it on a server that was handed off.
pub fn lift(dsn: &str) -> Result<()> {
    connect(dsn)?.query_drop("SET GLOBAL read_only = OFF").sql(|| "setting read_only = OFF".into())
}

/// Whether the server takes ordinary writes (`read_only` is off).
pub fn is_writable(dsn: &str) -> Result<bool> {
    let on: Option<u8> =
        connect(dsn)?.query_first("SELECT @@GLOBAL.read_only").sql(|| "reading read_only".into())?;
    Ok(on == Some(0))
}

/// Refuses ordinary writes from now on, without waiting for running ones (a server that is not
/// the recorded primary: it never took writes, or must not any more).
pub fn refuse_writes(dsn: &str) -> Result<()> {
    connect(dsn)?.query_drop(READ_ONLY).sql(|| "setting read_only = ON".into())
}
