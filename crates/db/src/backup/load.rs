//! Loading one chunk: fetch it, check its digest against the manifest, and stream it, decompressed,
//! into `LOAD DATA LOCAL INFILE` (the fastest way in short of copying InnoDB files).

use super::manifest::{Chunk, TableEntry};
use super::reads::ident;
use super::rows::sha256_hex;
use crate::error::{DbError, Result, SqlContext};
use crate::session::data_session;
use crate::store::BlobStore;
use mysql::prelude::Queryable;
use mysql::{Conn, LocalInfileHandler};
use std::sync::Arc;
use std::time::Duration;

/// Deadlock and lock wait timeout.
const RETRYABLE: [u16; 2] = [1213, 1205];
const ATTEMPTS: u64 = 5;

/// A session for loading: the data session's settings, with foreign-key checks off (tables load
/// in any order; the rows were consistent on the old primary and are verified after) and, unless
/// asked, no binary logging (the new primary's binlog starts after the restore).
///
/// `unique_checks` stays on: on MariaDB 10.6+ turning both it and foreign-key checks off makes a
/// load into an empty table take InnoDB's bulk-insert path with a table lock, and parallel loads
/// into that table then deadlock (seen here: ERROR 1213); with it on they run side by side, at
/// the same speed in our measurements.
pub fn load_session(dsn: &str, write_binlog: bool) -> Result<Conn> {
    let mut c = data_session(dsn)?;
    c.query_drop("SET SESSION foreign_key_checks = 0").sql(|| "turning foreign-key checks off".into())?;
    if !write_binlog {
        c.query_drop("SET SESSION sql_log_bin = 0")
            .sql(|| "turning binary logging off for the load".into())?;
    }
    Ok(c)
}

/// The `LOAD DATA` statement for `t`: every column straight from the file, never through a `SET`
/// clause (see [`super::manifest::Codec::Text`]).
pub fn load_sql(db: &str, t: &TableEntry) -> String {
    let targets: Vec<String> = t.columns.iter().map(|c| ident(&c.name)).collect();
    format!(
        "LOAD DATA LOCAL INFILE 'chunk' INTO TABLE {}.{} CHARACTER SET binary \
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({})",
        ident(db),
        ident(&t.name),
        targets.join(", ")
    )
}

/// Loads one chunk and checks that the server took every row (`LOAD DATA LOCAL` turns duplicate
/// keys into warnings; a short count catches them here rather than at verification).
pub fn load_chunk(
    conn: &mut Conn,
    store: &dyn BlobStore,
    db: &str,
    t: &TableEntry,
    chunk: &Chunk,
) -> Result<()> {
    let stored = store.get(&chunk.key)?.ok_or_else(|| DbError::MissingChunk { key: chunk.key.clone() })?;
    let actual = sha256_hex(&stored);
    if actual != chunk.sha256 {
        return Err(DbError::CorruptChunk { key: chunk.key.clone(), expected: chunk.sha256.clone(), actual });
    }
    let stored = Arc::new(stored);
    let sql = load_sql(db, t);
    let mut attempt = 1;
    let loaded = loop {
        let body = Arc::clone(&stored);
        conn.set_local_infile_handler(Some(LocalInfileHandler::new(move |_, sink| {
            let mut rows = zstd::stream::read::Decoder::new(&body[..])?;
            std::io::copy(&mut rows, sink)?;
            Ok(())
        })));
        let loaded = conn.query_drop(&sql);
        conn.set_local_infile_handler(None);
        match loaded {
            // A deadlock or lock wait rolls the whole (autocommit) statement back: load it again.
            Err(mysql::Error::MySqlError(e)) if RETRYABLE.contains(&e.code) && attempt < ATTEMPTS => {
                std::thread::sleep(Duration::from_millis(50 * attempt));
                attempt += 1;
            }
            other => break other,
        }
    };
    match loaded {
        // MariaDB's "local infile capability disabled" (older: "command not allowed"), MySQL's
        // "loading local data is disabled".
        Err(mysql::Error::MySqlError(e)) if [4166, 1148, 3948].contains(&e.code) => {
            return Err(DbError::LocalInfileRefused(mysql::Error::MySqlError(e)))
        }
        other => other.sql(|| format!("loading {}", chunk.key))?,
    }
    let rows = conn.affected_rows();
    if rows != chunk.rows {
        return Err(DbError::ChunkRows { key: chunk.key.clone(), loaded: rows, expected: chunk.rows });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::{Codec, Column};

    #[test]
    fn every_column_loads_straight_from_the_file() {
        let t = TableEntry {
            name: "t".into(),
            create: String::new(),
            auto_increment: None,
            columns: vec![
                Column { name: "id".into(), codec: Codec::Text },
                Column { name: "b".into(), codec: Codec::Text },
                Column { name: "f".into(), codec: Codec::Float },
            ],
            split_key: None,
            rows: 0,
            checksum: String::new(),
            chunks: vec![],
            tablespace: None,
        };
        assert_eq!(
            load_sql("d", &t),
            "LOAD DATA LOCAL INFILE 'chunk' INTO TABLE `d`.`t` CHARACTER SET binary FIELDS TERMINATED BY '\\t' \
             ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (`id`, `b`, `f`)"
        );
    }
}
