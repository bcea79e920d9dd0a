//! Where a dump goes: a narrow store of named blobs. The S3 implementation lives in the AWS crate;
//! a directory serves tests and local use.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, thiserror::Error)]
#[error("{op} {key}: {message}")]
pub struct BlobError {
    pub op: &'static str,
    pub key: String,
    pub message: String,
}

pub trait BlobStore: Send + Sync {
    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError>;
    /// `None` when there is no such blob.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;
}

/// Blobs as files under a directory (keys may contain `/`).
pub struct FsBlobStore {
    pub root: PathBuf,
}

impl BlobStore for FsBlobStore {
    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError> {
        let path = self.root.join(key);
        let err = |e: std::io::Error| BlobError { op: "put", key: key.to_string(), message: e.to_string() };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        // Write then rename: a reader never sees half a blob.
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, body).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        match std::fs::read(self.root.join(key)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BlobError { op: "get", key: key.to_string(), message: e.to_string() }),
        }
    }
}

/// Fails the `n`th put and every one after it, as a connection lost mid-upload would.
pub struct FailAfter<S> {
    pub inner: S,
    pub n: usize,
    puts: AtomicUsize,
}

impl<S> FailAfter<S> {
    pub fn new(inner: S, n: usize) -> Self {
        FailAfter { inner, n, puts: AtomicUsize::new(0) }
    }
}

impl<S: BlobStore> BlobStore for FailAfter<S> {
    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError> {
        if self.puts.fetch_add(1, Ordering::SeqCst) + 1 >= self.n {
            return Err(BlobError {
                op: "put",
                key: key.to_string(),
                message: "injected failure: upload cut".into(),
            });
        }
        self.inner.put(key, body)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        self.inner.get(key)
    }
}
