//! Blobs as files under a directory: for tests, for local drains, and for benchmarks that should
//! measure the database rather than the network.

use crate::store::{BlobError, BlobStore, Creation};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Files under `root`, one per key. Writes go to `root/.tmp` first and are renamed into place, so
/// a reader never sees half a blob; `.tmp` is never listed.
#[derive(Debug)]
pub struct FsBlobStore {
    root: PathBuf,
    next_tmp: AtomicU64,
}

const TMP_DIR: &str = ".tmp";

impl FsBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsBlobStore { root: root.into(), next_tmp: AtomicU64::new(0) }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key`, refusing keys that would escape the root.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        let bad = key.is_empty()
            || key.starts_with('/')
            || key.split('/').any(|s| s.is_empty() || s == "." || s == ".." || s == TMP_DIR);
        if bad {
            return Err(BlobError {
                op: "check",
                key: key.to_string(),
                message: "a key is non-empty `/`-separated segments, none empty, `.`, `..` or `.tmp`".into(),
                retryable: false,
            });
        }
        Ok(self.root.join(key))
    }
}

fn io_err<'a>(op: &'static str, key: &'a str) -> impl Fn(std::io::Error) -> BlobError + 'a {
    move |e| BlobError { op, key: key.to_string(), message: e.to_string(), retryable: false }
}

impl FsBlobStore {
    /// Writes `body` to a new file under `.tmp` and returns it with the key's final path.
    fn stage(&self, op: &'static str, key: &str, body: Vec<u8>) -> Result<(PathBuf, PathBuf), BlobError> {
        let path = self.path_of(key)?;
        let err = io_err(op, key);
        let tmp_dir = self.root.join(TMP_DIR);
        std::fs::create_dir_all(&tmp_dir).map_err(&err)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(&err)?;
        }
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        let tmp = tmp_dir.join(format!("{}-{n}", std::process::id()));
        std::fs::write(&tmp, body).map_err(&err)?;
        Ok((tmp, path))
    }
}

impl BlobStore for FsBlobStore {
    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError> {
        let (tmp, path) = self.stage("put", key, body)?;
        std::fs::rename(&tmp, &path).map_err(io_err("put", key))
    }

    fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Creation, BlobError> {
        let (tmp, path) = self.stage("create", key, body)?;
        // A hard link never replaces its target: of two racing writers exactly one links.
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Creation::Created),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Creation::Existed),
            Err(e) => Err(io_err("create", key)(e)),
        }
    }

    fn delete(&self, key: &str) -> Result<(), BlobError> {
        match std::fs::remove_file(self.path_of(key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("delete", key)(e)),
        }
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        match std::fs::read(self.path_of(key)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("get", key)(e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        // Walk only the deepest directory the prefix names in full.
        let dir_part = prefix.rfind('/').map(|i| &prefix[..i]).unwrap_or("");
        let start = if dir_part.is_empty() { self.root.clone() } else { self.root.join(dir_part) };
        let mut keys = Vec::new();
        let mut stack = vec![(start, dir_part.to_string())];
        while let Some((dir, key_dir)) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("list", prefix)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(io_err("list", prefix))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if key_dir.is_empty() && name == TMP_DIR {
                    continue;
                }
                let key = if key_dir.is_empty() { name } else { format!("{key_dir}/{name}") };
                let kind = entry.file_type().map_err(io_err("list", prefix))?;
                if kind.is_dir() {
                    stack.push((entry.path(), key));
                } else if key.starts_with(prefix) {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(tag: &str) -> FsBlobStore {
        let d = std::env::temp_dir().join(format!("spotctl-fsblob-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        FsBlobStore::new(d)
    }

    #[test]
    fn put_get_and_list_by_string_prefix() -> Result<(), BlobError> {
        let s = store("pgl");
        s.put("b/epoch-1/data/x.zst", b"one".to_vec())?;
        s.put("b/epoch-1/manifest.json", b"{}".to_vec())?;
        s.put("b/epoch-10/manifest.json", b"{}".to_vec())?;
        assert_eq!(s.get("b/epoch-1/data/x.zst")?, Some(b"one".to_vec()));
        assert_eq!(s.get("b/epoch-2/manifest.json")?, None);
        assert_eq!(s.list("b/epoch-1/")?, vec!["b/epoch-1/data/x.zst", "b/epoch-1/manifest.json"]);
        assert_eq!(s.list("b/epoch-1")?.len(), 3, "a string prefix, as S3's, also matches epoch-10");
        assert_eq!(s.list("")?.len(), 3, "the temporary directory is never listed");
        assert!(s.list("nothing/here/")?.is_empty());
        let _ = std::fs::remove_dir_all(s.root());
        Ok(())
    }

    #[test]
    fn create_only_writes_keep_the_first_body() -> Result<(), BlobError> {
        let s = store("create");
        assert_eq!(s.put_if_absent("t/1.json", b"first".to_vec())?, Creation::Created);
        assert_eq!(s.put_if_absent("t/1.json", b"second".to_vec())?, Creation::Existed);
        assert_eq!(s.get("t/1.json")?, Some(b"first".to_vec()));
        s.delete("t/1.json")?;
        s.delete("t/1.json")?;
        assert_eq!(s.get("t/1.json")?, None, "deleted, and deleting again is no error");
        assert!(s.list("")?.is_empty(), "no staged file is left behind");
        let _ = std::fs::remove_dir_all(s.root());
        Ok(())
    }

    #[test]
    fn keys_cannot_escape_the_root() {
        let s = store("escape");
        for key in ["../x", "/etc/passwd", "a//b", "a/./b", "", ".tmp/x"] {
            assert!(s.put(key, vec![]).is_err(), "{key:?} must be refused");
        }
    }
}
