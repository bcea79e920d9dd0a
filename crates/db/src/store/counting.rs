//! A blob store that counts its requests by kind: the shipper reports them (what continuous
//! protection costs in S3 requests), and tests hold them to a budget.

use crate::store::{BlobError, BlobStore, Creation};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Requests {
    pub put: u64,
    pub get: u64,
    pub list: u64,
    pub delete: u64,
}

pub struct CountingStore<'a> {
    inner: &'a dyn BlobStore,
    put: AtomicU64,
    get: AtomicU64,
    list: AtomicU64,
    delete: AtomicU64,
}

impl<'a> CountingStore<'a> {
    pub fn new(inner: &'a dyn BlobStore) -> Self {
        CountingStore {
            inner,
            put: AtomicU64::new(0),
            get: AtomicU64::new(0),
            list: AtomicU64::new(0),
            delete: AtomicU64::new(0),
        }
    }

    pub fn requests(&self) -> Requests {
        Requests {
            put: self.put.load(Ordering::Relaxed),
            get: self.get.load(Ordering::Relaxed),
            list: self.list.load(Ordering::Relaxed),
            delete: self.delete.load(Ordering::Relaxed),
        }
    }
}

impl BlobStore for CountingStore<'_> {
    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError> {
        self.put.fetch_add(1, Ordering::Relaxed);
        self.inner.put(key, body)
    }
    fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Creation, BlobError> {
        self.put.fetch_add(1, Ordering::Relaxed);
        self.inner.put_if_absent(key, body)
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        self.get.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        // One list request returns at most 1000 keys: count what S3 would bill.
        let keys = self.inner.list(prefix)?;
        self.list.fetch_add(1 + keys.len().saturating_sub(1) as u64 / 1000, Ordering::Relaxed);
        Ok(keys)
    }
    fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.delete.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(key)
    }
}
