//! The manifest: what a complete backup holds. Written last; its presence means the backup is whole.

use serde::{Deserialize, Serialize};

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub database: String,
    pub server_version: String,
    /// `SHOW MASTER STATUS` file:position, when binary logging is on.
    pub binlog: Option<String>,
    pub gtid: Option<String>,
    pub fenced: String,
    pub tables: Vec<TableEntry>,
    /// CREATE statements for views, triggers and routines, in an order that restores.
    pub views: Vec<String>,
    pub triggers: Vec<String>,
    pub routines: Vec<String>,
    pub timings_ms: Timings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    pub name: String,
    pub create: String,
    /// The columns dumped, in order, and those loaded through a variable (BIT).
    pub columns: Vec<String>,
    pub bit_columns: Vec<String>,
    pub rows: u64,
    /// Order-independent checksum of the dumped rows (hex).
    pub checksum: String,
    pub chunks: Vec<Chunk>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub key: String,
    pub rows: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    pub fence: u64,
    pub schema: u64,
    pub data: u64,
    pub total: u64,
}

pub fn manifest_key(prefix: &str) -> String {
    format!("{}/manifest.json", prefix.trim_end_matches('/'))
}
