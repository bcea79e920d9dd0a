//! Copying InnoDB tables as their files: the fast path of drain and restore.
//!
//! Loading rows is bounded by the server inserting them one by one (about a second per million
//! narrow rows on two cores, whatever the client does). A table's `.ibd` file, taken while
//! `FLUSH TABLES … FOR EXPORT` holds it still, imports on another server of the same series with
//! `ALTER TABLE … IMPORT TABLESPACE` in a fraction of that. So drain copies the file of every
//! table that can travel this way, in compressed parts stored as they are read, and restore writes
//! the parts back into its own data directory and imports them. Rows are still counted and
//! checksummed on the old server and verified on the new one exactly as for tables sent as rows.
//!
//! A table travels as its file only when all of these hold, and as rows otherwise: it is InnoDB,
//! not partitioned, without a FULLTEXT index now or once (`FTS_DOC_ID`); its database and table names are plain
//! (`[A-Za-z0-9_]`, so the file name is the table name); its file is in the server's data directory
//! and readable here (the agent runs on the database host); and the server wrote its `.cfg` when
//! exported within [`EXPORT_WAIT_SECS`]. Restore needs the backup's server series (`10.11` of
//! MariaDB), a well-formed manifest, and the server's data directory on this machine (proven with a
//! probe table); it refuses clearly otherwise, and `--logical` drains rows only.

use super::dump::compressor;
use super::manifest::{FilePart, Manifest, TableEntry, Tablespace};
use super::progress::{step, Progress};
use super::reads::ident;
use super::rows::sha256_hex;
use super::schema::TableSchema;
use crate::error::{DbError, Result, SqlContext};
use crate::pool;
use crate::session::connect;
use crate::store::BlobStore;
use mysql::prelude::Queryable;
use mysql::Conn;
use spotctl_layout::BackupRoot;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Bytes of the file in each stored part.
pub const PART_BYTES: u64 = 8 << 20;

/// How long `FLUSH TABLES … FOR EXPORT` may wait for its locks before drain sends rows instead.
const EXPORT_WAIT_SECS: u64 = 2;

/// True when the name is its own file name (the server encodes any other byte in file names).
fn plain(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether a table's schema lets it travel as its file (the file itself is checked at drain).
pub fn eligible(db: &str, t: &TableSchema) -> bool {
    t.engine.eq_ignore_ascii_case("InnoDB") && !t.rows_only && plain(db) && plain(&t.name)
}

/// `DATADIR/DB/TABLE.EXT`.
fn table_file(datadir: &Path, db: &str, table: &str, ext: &str) -> PathBuf {
    datadir.join(db).join(format!("{table}.{ext}"))
}

/// The server's `@@datadir`.
pub fn datadir(conn: &mut Conn) -> Result<PathBuf> {
    let dir: Option<String> =
        conn.query_first("SELECT @@datadir").sql(|| "reading the data directory".into())?;
    Ok(PathBuf::from(dir.unwrap_or_default()))
}

/// Whether two `VERSION()` strings are of one server series (MariaDB 10.11, MySQL 8.0, …): the
/// only servers between which a tablespace is known to import.
pub fn same_series(a: &str, b: &str) -> bool {
    let series = |v: &str| {
        let mut nums = v.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
        let major_minor = (nums.next().map(str::to_string), nums.next().map(str::to_string));
        (v.to_ascii_lowercase().contains("mariadb"), major_minor)
    };
    let (sa, sb) = (series(a), series(b));
    sa.1 .0.is_some() && sa == sb
}

/// `FLUSH TABLES … FOR EXPORT` held on a connection of its own: the tables' files are complete
/// and unchanging until [`Export::release`] (or the connection closing).
pub struct Export {
    conn: Conn,
    pub datadir: PathBuf,
    /// Indices, into the list given to [`Export::take`], of the tables whose files are to be copied.
    pub tables: Vec<usize>,
}

impl Export {
    /// Exports the tables of `tables` that can travel as files. `None` when there is none, or the
    /// server would not export them, or its files are not on this machine: drain then sends rows.
    pub fn take(dsn: &str, tables: &[(&str, &TableSchema)], timeout: Duration) -> Result<Option<Export>> {
        let mut conn = connect(dsn)?;
        let datadir = datadir(&mut conn)?;
        let readable = |db: &str, t: &str| File::open(table_file(&datadir, db, t, "ibd")).is_ok();
        let candidates: Vec<usize> = (0..tables.len())
            .filter(|&i| eligible(tables[i].0, tables[i].1) && readable(tables[i].0, &tables[i].1.name))
            .collect();
        if candidates.is_empty() {
            return Ok(None);
        }
        let list: Vec<String> = candidates
            .iter()
            .map(|&i| format!("{}.{}", ident(tables[i].0), ident(&tables[i].1.name)))
            .collect();
        // Short: the fence already waited for running statements, and a transaction caught by it
        // before its commit holds its tables until it ends (it never can while fenced). Rather
        // than wait for it, send rows.
        let secs = timeout.as_secs().clamp(1, EXPORT_WAIT_SECS);
        let locked = conn
            .query_drop(format!("SET SESSION lock_wait_timeout = {secs}"))
            .and_then(|_| conn.query_drop(format!("FLUSH TABLES {} FOR EXPORT", list.join(", "))));
        if locked.is_err() {
            // An older server, or a lock that would not come: the rows path needs neither.
            return Ok(None);
        }
        // The server writes a `.cfg` beside each exported file: seeing it proves the directory we
        // read is that server's.
        let tables: Vec<usize> = candidates
            .into_iter()
            .filter(|&i| table_file(&datadir, tables[i].0, &tables[i].1.name, "cfg").is_file())
            .collect();
        let export = Export { conn, datadir, tables };
        if export.tables.is_empty() {
            export.release()?;
            return Ok(None);
        }
        Ok(Some(export))
    }

    pub fn release(mut self) -> Result<()> {
        self.conn.query_drop("UNLOCK TABLES").sql(|| "releasing the exported tables".into())
    }
}

/// What one stored piece is: a part of a table's `.ibd`, or its `.cfg` (`part` = `None`).
struct Piece {
    table: usize,
    part: Option<usize>,
}

/// Stores the `.ibd` (in [`PART_BYTES`] parts) and `.cfg` of each `(db, table)` under `root`, with
/// `uploaders` threads; returns each table's [`Tablespace`], in order.
pub fn store_files(
    store: &dyn BlobStore,
    root: &BackupRoot,
    datadir: &Path,
    tables: &[(&str, &str)],
    uploaders: usize,
    zstd_level: i32,
) -> Result<Vec<Tablespace>> {
    let mut sizes = Vec::with_capacity(tables.len());
    let mut pieces = Vec::new();
    for (i, (db, t)) in tables.iter().enumerate() {
        let path = table_file(datadir, db, t, "ibd");
        let size = std::fs::metadata(&path).map_err(file_error("reading the size of", &path))?.len();
        sizes.push(size);
        pieces.extend((0..size.div_ceil(PART_BYTES) as usize).map(|p| Piece { table: i, part: Some(p) }));
        pieces.push(Piece { table: i, part: None });
    }
    let abort = AtomicBool::new(false);
    let stored = pool::run(
        uploaders,
        &pieces,
        &abort,
        || compressor(zstd_level),
        |zstd, piece| {
            let (db, t) = tables[piece.table];
            let (path, offset, len) = match piece.part {
                Some(p) => {
                    let offset = p as u64 * PART_BYTES;
                    (table_file(datadir, db, t, "ibd"), offset, PART_BYTES.min(sizes[piece.table] - offset))
                }
                None => {
                    let path = table_file(datadir, db, t, "cfg");
                    let len =
                        std::fs::metadata(&path).map_err(file_error("reading the size of", &path))?.len();
                    (path, 0, len)
                }
            };
            let mut raw = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
            File::open(&path)
                .and_then(|f| f.read_exact_at(&mut raw, offset))
                .map_err(file_error("reading", &path))?;
            let key = root.file_key(db, t, piece.part);
            let body = zstd.compress(&raw).map_err(|source| DbError::Codec { key: key.clone(), source })?;
            let part = FilePart {
                key: key.clone(),
                offset,
                raw_bytes: len,
                stored_bytes: body.len() as u64,
                sha256: sha256_hex(&body),
            };
            store.put(&key, body)?;
            Ok(part)
        },
    )?;
    let mut out: Vec<Tablespace> = sizes
        .iter()
        .map(|&file_bytes| Tablespace { file_bytes, parts: Vec::new(), cfg: FilePart::default() })
        .collect();
    for (piece, part) in pieces.iter().zip(stored) {
        match piece.part {
            Some(_) => out[piece.table].parts.push(part),
            None => out[piece.table].cfg = part,
        }
    }
    Ok(out)
}

/// The restoring side: a backup drained from a server of the same series, whose tablespace
/// entries are well-formed, and a server whose data directory is on this machine — proven by a
/// probe table whose file must appear here and go again, so that no file of another server (the
/// old primary's own, were restore run there with the new server's DSN) is ever touched.
pub fn target(conn: &mut Conn, m: &Manifest) -> Result<PathBuf> {
    check_entries(m)?;
    let files = m.tables().find(|(_, t)| t.tablespace.is_some()).map(|(d, _)| d);
    if files.is_some() {
        let version: String = conn
            .query_first("SELECT VERSION()")
            .sql(|| "reading the server version".into())?
            .unwrap_or_default();
        if !same_series(&m.server_version, &version) {
            return Err(DbError::Incompatible { drained: m.server_version.clone(), here: version });
        }
    }
    let dir = datadir(conn)?;
    // The database of a table sent as its file, else the first one: a rows-only restore drops
    // and creates tables too, so it must be as sure of the host.
    let Some(d) = files.or(m.databases.iter().find(|d| plain(&d.name))).or(m.databases.first()) else {
        return Ok(dir);
    };
    let db = d.name.as_str();
    let probe = format!("spotctl_probe_{}", std::process::id());
    let table = format!("{}.{}", ident(db), ident(&probe));
    let file = table_file(&dir, db, &probe, "ibd");
    // Charset and collation were checked against the server's lists (super::trust) before this.
    let create_db = format!(
        "CREATE DATABASE IF NOT EXISTS {} CHARACTER SET {} COLLATE {}",
        ident(db),
        d.charset,
        d.collation
    );
    conn.query_drop(create_db)
        .and_then(|_| conn.query_drop(format!("DROP TABLE IF EXISTS {table}")))
        .and_then(|_| conn.query_drop(format!("CREATE TABLE {table} (id INT PRIMARY KEY) ENGINE=InnoDB")))
        .sql(|| format!("creating the probe table {table}"))?;
    let appeared = file.is_file();
    conn.query_drop(format!("DROP TABLE {table}")).sql(|| format!("dropping the probe table {table}"))?;
    if !appeared || file.exists() {
        return Err(DbError::NotOnHost { datadir: dir.display().to_string() });
    }
    Ok(dir)
}

/// A manifest is data from a bucket: before any file is written from it, its tablespace entries
/// must name plain files and their parts must tile the file exactly.
fn check_entries(m: &Manifest) -> Result<()> {
    for (d, t) in m.tables() {
        let Some(ts) = &t.tablespace else { continue };
        let bad = |message: String| DbError::BadManifest { key: format!("{}.{}", d.name, t.name), message };
        if !plain(&d.name) || !plain(&t.name) {
            return Err(bad("a table sent as its file must have a plain name ([A-Za-z0-9_])".into()));
        }
        let mut next = 0u64;
        for p in &ts.parts {
            if p.offset != next || p.raw_bytes == 0 || p.raw_bytes > PART_BYTES {
                return Err(bad(format!("part {} does not follow on at byte {next}", p.key)));
            }
            next += p.raw_bytes;
        }
        if next != ts.file_bytes || ts.cfg.offset != 0 || ts.cfg.raw_bytes > PART_BYTES {
            return Err(bad(format!("its parts cover {next} bytes of a {}-byte file", ts.file_bytes)));
        }
    }
    Ok(())
}

/// After `DROP TABLE`: a file of the same name left by an earlier, interrupted restore would make
/// `CREATE TABLE` fail, and belongs to no table now.
pub fn remove_leftovers(datadir: &Path, db: &str, table: &str) -> Result<()> {
    for ext in ["ibd", "cfg"] {
        let path = table_file(datadir, db, table, ext);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(file_error("removing the leftover", &path)(e))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Writes the parts of every table that travelled as its file into the data directory, then
/// imports them, with `workers` threads. The tables exist, their own tablespaces discarded.
pub fn restore_files(
    store: &dyn BlobStore,
    datadir: &Path,
    m: &Manifest,
    workers: usize,
    open: impl Fn() -> Result<Conn> + Sync,
    progress: Option<&Progress>,
) -> Result<()> {
    let tables: Vec<(&str, &TableEntry, &Tablespace)> =
        m.tables().filter_map(|(d, t)| t.tablespace.as_ref().map(|ts| (d.name.as_str(), t, ts))).collect();
    if tables.is_empty() {
        return Ok(());
    }
    let mut files = Vec::with_capacity(tables.len());
    for (db, t, ts) in &tables {
        let dir = datadir.join(db);
        let ibd = create_owned(&table_file(datadir, db, &t.name, "ibd"), &dir, ts.file_bytes)?;
        let cfg = create_owned(&table_file(datadir, db, &t.name, "cfg"), &dir, ts.cfg.raw_bytes)?;
        files.push((ibd, cfg, *ts));
    }
    let pieces: Vec<(&Written, &FilePart)> = files
        .iter()
        .flat_map(|(ibd, cfg, ts)| {
            ts.parts.iter().map(move |p| (ibd, p)).chain(std::iter::once((cfg, &ts.cfg)))
        })
        .collect();
    let abort = AtomicBool::new(false);
    pool::run(
        workers,
        &pieces,
        &abort,
        || Ok(()),
        |_, (file, part)| {
            write_part(store, file, part)?;
            step(progress, part.stored_bytes);
            Ok(())
        },
    )?;
    drop(pieces);
    drop(files);
    pool::run(workers, &tables, &abort, &open, |c, (db, t, _)| {
        let table = format!("{}.{}", ident(db), ident(&t.name));
        c.query_drop(format!("ALTER TABLE {table} IMPORT TABLESPACE"))
            .sql(|| format!("importing the tablespace of {table}"))?;
        let cfg = table_file(datadir, db, &t.name, "cfg");
        std::fs::remove_file(&cfg).map_err(file_error("removing", &cfg))?;
        step(progress, 0);
        Ok(())
    })?;
    Ok(())
}

/// Names the file an I/O error is about.
fn file_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DbError {
    let path = path.display().to_string();
    move |source| DbError::File { what, path, source }
}

/// A file restore created, open for writing its parts.
struct Written {
    file: File,
    path: PathBuf,
}

/// Creates `path` (it must not exist: `DISCARD TABLESPACE` removed the table's own file, and an
/// exclusive create never follows a link planted there) at `len` bytes, owned like `dir` (the
/// server's user) and readable and writable by that user and its group only.
fn create_owned(path: &Path, dir: &Path, len: u64) -> Result<Written> {
    let owner = std::fs::metadata(dir).map_err(file_error("reading the owner of the directory of", path))?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o660)
        .open(path)
        .map_err(file_error("creating", path))?;
    file.set_len(len).map_err(file_error("sizing", path))?;
    let mine = file.metadata().map_err(file_error("reading", path))?;
    if (mine.uid(), mine.gid()) != (owner.uid(), owner.gid()) {
        std::os::unix::fs::fchown(&file, Some(owner.uid()), Some(owner.gid()))
            .map_err(file_error("handing to the server's user", path))?;
    }
    Ok(Written { file, path: path.to_path_buf() })
}

/// Fetches one part, checks its digest and length, and writes it at its offset.
fn write_part(store: &dyn BlobStore, to: &Written, part: &FilePart) -> Result<()> {
    let stored = store.get(&part.key)?.ok_or_else(|| DbError::MissingChunk { key: part.key.clone() })?;
    let actual = sha256_hex(&stored);
    if actual != part.sha256 {
        return Err(DbError::CorruptChunk { key: part.key.clone(), expected: part.sha256.clone(), actual });
    }
    // At most PART_BYTES (checked with the manifest).
    let cap = usize::try_from(part.raw_bytes).unwrap_or(usize::MAX);
    let raw = zstd::bulk::decompress(&stored, cap)
        .map_err(|source| DbError::Codec { key: part.key.clone(), source })?;
    if raw.len() as u64 != part.raw_bytes {
        let source =
            std::io::Error::new(std::io::ErrorKind::InvalidData, "decompressed to a different length");
        return Err(DbError::Codec { key: part.key.clone(), source });
    }
    to.file.write_all_at(&raw, part.offset).map_err(file_error("writing", &to.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_of_one_series_only() {
        let here = "10.11.19-MariaDB-0+deb12u1-log";
        assert!(same_series(here, "10.11.6-MariaDB"));
        assert!(!same_series(here, "10.6.12-MariaDB"));
        assert!(!same_series(here, "11.4.2-MariaDB"));
        assert!(!same_series("10.11.2", here), "MySQL and MariaDB files differ");
        assert!(same_series("8.0.36", "8.0.40-0ubuntu0.22.04.1"));
        assert!(!same_series("", ""), "an unknown version is no series");
    }

    #[test]
    fn only_plain_names_are_file_names() {
        assert!(plain("employees") && plain("t_2"));
        assert!(!plain("odd name.x/y") && !plain("café") && !plain("a-b") && !plain(""));
    }
}
