//! What continuous protection requires of the primary, checked when the shipper or a base backup
//! starts and whenever the server opens a new log file (it may have restarted with other
//! settings): a refusal names the setting, what it is and what it must be.
//!
//! The variables exist on MariaDB 10.5 and 10.11 alike (checked on 10.11; 10.5 from its
//! documentation). A session can still change `binlog_format` or `sql_log_bin` for itself; the
//! first shows in the log and the walker refuses it, the second cannot be seen, which is why
//! application accounts must not hold SUPER or BINLOG ADMIN.

use super::error::{ProtectError, Result};
use crate::error::SqlContext;
use mysql::prelude::Queryable;
use mysql::{Conn, Value};
use std::path::PathBuf;

/// Where the server keeps its binary log, and who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLog {
    /// `@@log_bin_basename`: files are `<basename>.NNNNNN`.
    pub basename: PathBuf,
    /// `@@log_bin_index`: the list of the files, oldest first.
    pub index: PathBuf,
    pub server_id: u32,
    pub version: String,
}

impl ServerLog {
    pub fn dir(&self) -> PathBuf {
        self.basename.parent().map(PathBuf::from).unwrap_or_default()
    }
}

/// One requirement: the variable, the values that satisfy it, and how to say what is needed.
struct Needs {
    setting: &'static str,
    ok: &'static [&'static str],
    required: &'static str,
}

const REQUIRED: &[Needs] = &[
    Needs { setting: "log_bin", ok: &["1", "ON"], required: "ON (log-bin = <path>)" },
    Needs { setting: "binlog_format", ok: &["ROW"], required: "ROW" },
    Needs { setting: "binlog_row_image", ok: &["FULL"], required: "FULL" },
    Needs { setting: "binlog_checksum", ok: &["CRC32"], required: "CRC32" },
    Needs { setting: "sync_binlog", ok: &["1"], required: "1" },
    Needs { setting: "innodb_flush_log_at_trx_commit", ok: &["1"], required: "1" },
    Needs { setting: "gtid_strict_mode", ok: &["1", "ON"], required: "ON" },
    Needs { setting: "encrypt_binlog", ok: &["0", "OFF"], required: "OFF" },
    Needs { setting: "log_bin_compress", ok: &["0", "OFF"], required: "OFF" },
];

fn text(v: Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        other => format!("{other:?}"),
    }
}

fn global(c: &mut Conn, name: &str) -> Result<String> {
    let v: Option<Value> =
        c.query_first(format!("SELECT @@GLOBAL.{name}")).sql(|| format!("reading @@GLOBAL.{name}"))?;
    Ok(v.map(text).unwrap_or_default())
}

/// Checks every requirement and returns where the log is.
pub fn check(c: &mut Conn) -> Result<ServerLog> {
    for n in REQUIRED {
        let found = global(c, n.setting)?;
        if !n.ok.iter().any(|ok| found.eq_ignore_ascii_case(ok)) {
            return Err(ProtectError::ServerConfig { setting: n.setting, found, required: n.required });
        }
    }
    let server_id: u32 = global(c, "server_id")?.parse().unwrap_or(0);
    if server_id == 0 {
        return Err(ProtectError::ServerConfig {
            setting: "server_id",
            found: "0".into(),
            required: "a non-zero id",
        });
    }
    Ok(ServerLog {
        basename: PathBuf::from(global(c, "log_bin_basename")?),
        index: PathBuf::from(global(c, "log_bin_index")?),
        server_id,
        version: global(c, "version")?,
    })
}

/// Only that the server writes a binary log at all: what a recovery target needs, so that the
/// log it writes from then on can be shipped as the new timeline.
pub fn require_log_bin(c: &mut Conn) -> Result<()> {
    let found = global(c, "log_bin")?;
    match found.as_str() {
        "1" | "ON" => Ok(()),
        _ => Err(ProtectError::ServerConfig { setting: "log_bin", found, required: "ON (log-bin = <path>)" }),
    }
}
