//! Test doubles for drain and restore, here (behind the `testing` feature) so that other crates'
//! tests can cut an upload the same way this crate's tests do.

use crate::store::{BlobError, BlobStore, Creation};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Passes everything to `inner` except the `n`th `put` (counting from 1), which fails as a dropped
/// connection would. Later puts succeed again: a drain must not paper over one lost chunk.
pub struct FailingPut<S> {
    inner: S,
    n: usize,
    puts: AtomicUsize,
}

impl<S> FailingPut<S> {
    pub fn new(inner: S, n: usize) -> Self {
        FailingPut { inner, n, puts: AtomicUsize::new(0) }
    }

    /// How many puts were attempted, the failed one included.
    pub fn attempts(&self) -> usize {
        self.puts.load(Ordering::SeqCst)
    }
}

impl<S: BlobStore> BlobStore for FailingPut<S> {
    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError> {
        if self.puts.fetch_add(1, Ordering::SeqCst) + 1 == self.n {
            return Err(BlobError {
                op: "put",
                key: key.to_string(),
                message: "injected failure".into(),
                retryable: true,
            });
        }
        self.inner.put(key, body)
    }

    fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Creation, BlobError> {
        if self.puts.fetch_add(1, Ordering::SeqCst) + 1 == self.n {
            return Err(BlobError {
                op: "create",
                key: key.to_string(),
                message: "injected failure".into(),
                retryable: true,
            });
        }
        self.inner.put_if_absent(key, body)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        self.inner.get(key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.inner.list(prefix)
    }

    fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.inner.delete(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Mem(Mutex<BTreeMap<String, Vec<u8>>>);

    impl BlobStore for Mem {
        fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError> {
            let mut m = self.0.lock().map_err(|_| BlobError {
                op: "put",
                key: key.into(),
                message: "poisoned".into(),
                retryable: false,
            })?;
            m.insert(key.into(), body);
            Ok(())
        }
        fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Creation, BlobError> {
            let mut m = self.0.lock().map_err(|_| BlobError {
                op: "create",
                key: key.into(),
                message: "poisoned".into(),
                retryable: false,
            })?;
            if m.contains_key(key) {
                return Ok(Creation::Existed);
            }
            m.insert(key.into(), body);
            Ok(Creation::Created)
        }
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
            Ok(self.0.lock().ok().and_then(|m| m.get(key).cloned()))
        }
        fn delete(&self, key: &str) -> Result<(), BlobError> {
            if let Ok(mut m) = self.0.lock() {
                m.remove(key);
            }
            Ok(())
        }
        fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
            Ok(self
                .0
                .lock()
                .map(|m| m.keys().filter(|k| k.starts_with(prefix)).cloned().collect())
                .unwrap_or_default())
        }
    }

    #[test]
    fn fails_only_the_nth_put() {
        let s = FailingPut::new(Mem::default(), 2);
        assert!(s.put("a", vec![]).is_ok());
        assert!(s.put("b", vec![]).is_err());
        assert!(s.put("c", vec![]).is_ok());
        assert_eq!(s.list("").ok(), Some(vec!["a".to_string(), "c".to_string()]));
        assert_eq!(s.attempts(), 3);
    }
}
