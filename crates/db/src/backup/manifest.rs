//! The manifest: what a complete backup holds, and the proof that it is complete. Drain writes it
//! last, only once every chunk is stored; restore reads nothing without it. Versioned by `format`.

use crate::error::{DbError, Result};
use crate::store::BlobStore;
use serde::{Deserialize, Serialize};
use spotctl_layout::BackupRoot;

/// The manifest format this build writes when a table travels as its file ([`Tablespace`]); a
/// rows-only backup is written as format 1, which older builds read too. Both are read. A build that reads only format 1 refuses a format 2 manifest rather than restoring
/// tables without their files.
pub const FORMAT: u32 = 2;
/// The format of a backup whose tables all travel as rows.
pub const ROWS_FORMAT: u32 = 1;
const READABLE: [u32; 2] = [ROWS_FORMAT, FORMAT];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub handoff_id: String,
    /// `SELECT VERSION()` of the drained server.
    pub server_version: String,
    pub fence: FenceRecord,
    /// Where the binary log stood at the fence; `None` when binary logging is off.
    pub binlog: Option<BinlogPosition>,
    /// How rows are encoded in chunks (see [`super::rows`]).
    pub encoding: String,
    pub databases: Vec<DatabaseEntry>,
    pub timings_ms: DrainTimings,
    /// When the drain completed (unix seconds): how old the backup is, for a data-loss window.
    /// Manifests written before it was recorded have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_unix: Option<i64>,
}

/// What drain did to stop writes, in order, so an operator knows what to undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceRecord {
    pub statements: Vec<String>,
    /// `read_only` is left ON when drain returns; only the global read lock is released.
    pub read_only_left_on: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinlogPosition {
    pub file: String,
    pub position: u64,
    /// MariaDB's `gtid_binlog_pos` or MySQL's `gtid_executed`, when not empty.
    pub gtid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseEntry {
    pub name: String,
    pub charset: String,
    pub collation: String,
    pub tables: Vec<TableEntry>,
    /// Restored in this order after the data: routines, views, then triggers.
    pub routines: Vec<SchemaObject>,
    pub views: Vec<SchemaObject>,
    pub triggers: Vec<SchemaObject>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    pub name: String,
    /// `SHOW CREATE TABLE` without its `AUTO_INCREMENT=` option, run with the table's database as
    /// the current one.
    pub create: String,
    /// The AUTO_INCREMENT counter, set after the rows are loaded.
    pub auto_increment: Option<u64>,
    /// The stored (non-generated) columns, in the order they are dumped.
    pub columns: Vec<Column>,
    /// The integer first column of the primary key, which reads are split on; `None` streams
    /// the whole table in one read.
    pub split_key: Option<String>,
    pub rows: u64,
    /// [`super::rows::Checksum`] of every row, in hex.
    pub checksum: String,
    /// The rows, as `LOAD DATA` text; empty when the table travels as its tablespace.
    pub chunks: Vec<Chunk>,
    /// The table's InnoDB file, copied as it is (see [`super::tablespace`]); `None` for rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tablespace: Option<Tablespace>,
}

/// An InnoDB tablespace as `FLUSH TABLES … FOR EXPORT` left it: the `.ibd` file in parts stored as
/// they are read, and the `.cfg` metadata the server wrote beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tablespace {
    /// Size of the `.ibd` file.
    pub file_bytes: u64,
    pub parts: Vec<FilePart>,
    pub cfg: FilePart,
}

/// A piece of a file: `raw_bytes` from `offset`, zstd-compressed into the object at `key`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePart {
    pub key: String,
    pub offset: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    /// SHA-256 of the stored object, hex: restore refuses a part that differs.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub codec: Codec,
}

/// How a column's value is read and loaded, where the plain text form would not round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// The server's text form, loaded as is. BIT values travel as their raw bytes, which
    /// `LOAD DATA` stores back bit for bit (a `SET col = …` clause instead would make MariaDB
    /// ignore `NO_AUTO_VALUE_ON_ZERO` and renumber a row whose key is 0).
    Text,
    /// `FLOAT`: read as `CAST(col AS DOUBLE)`, because the server prints a FLOAT with 6 digits
    /// (16777217 comes out as 16777200); the double's shortest form loads back to the same float.
    Float,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub key: String,
    pub rows: u64,
    /// Encoded rows before compression.
    pub raw_bytes: u64,
    /// The stored (compressed) object.
    pub stored_bytes: u64,
    /// SHA-256 of the stored object, hex: restore refuses a chunk that differs.
    pub sha256: String,
}

/// A view, trigger or routine, with the session settings it was created under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaObject {
    /// `VIEW`, `TRIGGER`, `PROCEDURE` or `FUNCTION`.
    pub kind: String,
    pub name: String,
    pub create: String,
    /// Views record none.
    pub sql_mode: Option<String>,
    pub collation_connection: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainTimings {
    /// Taking the global read lock and setting `read_only`.
    pub fence: u64,
    /// Reading the schema and the binlog position, and planning the reads.
    pub schema: u64,
    /// Reading, compressing and storing every chunk.
    pub data: u64,
    /// Until the manifest was ready to store.
    pub total: u64,
}

impl Manifest {
    pub fn tables(&self) -> impl Iterator<Item = (&DatabaseEntry, &TableEntry)> {
        self.databases.iter().flat_map(|d| d.tables.iter().map(move |t| (d, t)))
    }

    /// How many tables travel as their files.
    pub fn tables_as_files(&self) -> usize {
        self.tables().filter(|(_, t)| t.tablespace.is_some()).count()
    }

    pub fn rows(&self) -> u64 {
        self.tables().map(|(_, t)| t.rows).sum()
    }

    /// Bytes of row text and of tablespace files, before compression.
    pub fn raw_bytes(&self) -> u64 {
        let rows: u64 = self.tables().flat_map(|(_, t)| &t.chunks).map(|c| c.raw_bytes).sum();
        rows + self.file_parts().map(|p| p.raw_bytes).sum::<u64>()
    }

    pub fn stored_bytes(&self) -> u64 {
        let rows: u64 = self.tables().flat_map(|(_, t)| &t.chunks).map(|c| c.stored_bytes).sum();
        rows + self.file_parts().map(|p| p.stored_bytes).sum::<u64>()
    }

    fn file_parts(&self) -> impl Iterator<Item = &FilePart> {
        self.tables()
            .filter_map(|(_, t)| t.tablespace.as_ref())
            .flat_map(|ts| ts.parts.iter().chain(std::iter::once(&ts.cfg)))
    }
}

/// Reads the manifest of `PREFIX/HANDOFF_ID`. Without one there is no backup: the error says how
/// many objects an incomplete drain left there.
pub fn read_manifest(store: &dyn BlobStore, prefix: &str, handoff_id: &str) -> Result<Manifest> {
    let root = BackupRoot::new(prefix, handoff_id)?;
    let key = root.manifest_key();
    let Some(body) = store.get(&key)? else {
        let orphans = store.list(&format!("{root}/"))?.len();
        return Err(DbError::NoBackup { key, orphans });
    };
    let m: Manifest = serde_json::from_slice(&body)
        .map_err(|e| DbError::BadManifest { key: key.clone(), message: e.to_string() })?;
    if !READABLE.contains(&m.format) {
        return Err(DbError::BadManifest {
            key,
            message: format!("format {} is not a format this build reads ({READABLE:?})", m.format),
        });
    }
    if m.handoff_id != handoff_id {
        return Err(DbError::BadManifest {
            key,
            message: format!("it belongs to handoff `{}`, not `{handoff_id}`", m.handoff_id),
        });
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_serialise_in_snake_case() -> serde_json::Result<()> {
        let c = Column { name: "f".into(), codec: Codec::Float };
        assert_eq!(serde_json::to_string(&c)?, r#"{"name":"f","codec":"float"}"#);
        Ok(())
    }
}
