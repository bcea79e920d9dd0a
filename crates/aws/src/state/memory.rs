//! The in-memory twin of the state bucket: the same conditional-write rules as S3 (create-only
//! fails on an existing key, compare-and-swap fails on a changed or missing one), every write a new
//! entity tag, and faults a test can inject — a call that fails, or a write that lands but whose
//! reply is lost (the caller sees an error although the object changed, as over a dropped
//! connection).

use super::store::{own_write, Etag, StateStore, StoreError, Versioned};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Which kind of call a fault hook is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    Put,
    PutIfAbsent,
    PutIfMatch,
    List,
    Delete,
}

/// What an injected fault does to one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The call fails before touching anything.
    Fail { retryable: bool },
    /// The write lands, then the caller gets an error (the SDK gave up).
    LoseReply,
    /// The write lands, its reply is lost and the SDK retries it: an unconditional write then
    /// succeeds again; a conditional one meets its own first attempt (`412`), which the store
    /// resolves by reading the key ([`super::store::own_write`], as on S3) — after any other
    /// writer had its turn, so a write that landed can still come back as a conflict.
    RetryAfterLostReply,
}

type Hook = dyn Fn(Op, &str) -> Option<Fault> + Send + Sync;

#[derive(Default)]
struct Inner {
    objects: BTreeMap<String, (Vec<u8>, u64)>,
    /// What each write replaced or deleted, oldest first: a versioned bucket's noncurrent versions.
    older: BTreeMap<String, Vec<(Vec<u8>, u64)>>,
    version: u64,
}

impl Inner {
    fn remove(&mut self, key: &str) {
        if let Some(old) = self.objects.remove(key) {
            self.older.entry(key.to_string()).or_default().push(old);
        }
    }
}

/// A state store in memory; clones share the same objects.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    hook: Option<Arc<Hook>>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// The same objects, seen through a fault hook asked before every call.
    pub fn with_faults(
        &self,
        hook: impl Fn(Op, &str) -> Option<Fault> + Send + Sync + 'static,
    ) -> MemoryStore {
        MemoryStore { inner: self.inner.clone(), hook: Some(Arc::new(hook)) }
    }

    /// Every key and body, for assertions.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.lock().objects.iter().map(|(k, (b, _))| (k.clone(), b.clone())).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock can only come from a test assertion; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fault(&self, op: Op, key: &str) -> Option<Fault> {
        self.hook.as_ref().and_then(|h| h(op, key))
    }

    fn failed(op: Op, key: &str, retryable: bool) -> StoreError {
        StoreError::Failed {
            op: match op {
                Op::Get => "getting",
                Op::Put => "writing",
                Op::PutIfAbsent => "creating",
                Op::PutIfMatch => "replacing",
                Op::List => "listing",
                Op::Delete => "deleting",
            },
            key: format!("memory://{key}"),
            message: "injected fault".into(),
            retryable,
        }
    }

    /// Runs a write under the fault hook: a failure touches nothing; a lost reply writes, then errs.
    fn write(
        &self,
        op: Op,
        key: &str,
        apply: impl FnOnce(&mut Inner) -> Result<Etag, StoreError>,
    ) -> Result<Etag, StoreError> {
        match self.fault(op, key) {
            Some(Fault::Fail { retryable }) => Err(Self::failed(op, key, retryable)),
            Some(Fault::LoseReply) => {
                let _ = apply(&mut self.lock());
                Err(Self::failed(op, key, true))
            }
            Some(Fault::RetryAfterLostReply) | None => apply(&mut self.lock()),
        }
    }

    /// A conditional write under the fault hook. After a lost reply the SDK's retry meets the
    /// first attempt's effect (`412`): resolved by reading, as [`S3Store`](super::S3Store) does.
    async fn write_conditional(
        &self,
        op: Op,
        key: &str,
        body: Vec<u8>,
        apply: impl FnOnce(&mut Inner, Vec<u8>) -> Result<Etag, StoreError>,
    ) -> Result<Etag, StoreError> {
        if self.fault(op, key) != Some(Fault::RetryAfterLostReply) {
            return self.write(op, key, |i| apply(i, body));
        }
        let landed = apply(&mut self.lock(), body.clone());
        crate::sdk::twin::interleave().await;
        match landed {
            Ok(_) => own_write(self, key, &body).await,
            Err(e) => Err(e),
        }
    }
}

fn etag(version: u64) -> Etag {
    format!("\"v{version}\"")
}

fn store(inner: &mut Inner, key: &str, body: Vec<u8>) -> Etag {
    inner.version += 1;
    let v = inner.version;
    if let Some(old) = inner.objects.insert(key.to_string(), (body, v)) {
        inner.older.entry(key.to_string()).or_default().push(old);
    }
    etag(v)
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        crate::sdk::twin::interleave().await;
        // A read has no reply to lose: any fault is a failed read.
        match self.fault(Op::Get, key) {
            Some(Fault::Fail { retryable }) => return Err(Self::failed(Op::Get, key, retryable)),
            Some(Fault::LoseReply) => return Err(Self::failed(Op::Get, key, true)),
            // The retry reads again.
            Some(Fault::RetryAfterLostReply) | None => {}
        }
        Ok(self.lock().objects.get(key).map(|(b, v)| Versioned { body: b.clone(), etag: etag(*v) }))
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<Etag, StoreError> {
        crate::sdk::twin::interleave().await;
        self.write(Op::Put, key, |i| Ok(store(i, key, body)))
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Etag, StoreError> {
        crate::sdk::twin::interleave().await;
        self.write_conditional(Op::PutIfAbsent, key, body, |i, body| {
            if i.objects.contains_key(key) {
                return Err(StoreError::Conflict { key: key.to_string() });
            }
            Ok(store(i, key, body))
        })
        .await
    }

    async fn put_if_match(&self, key: &str, expected: &str, body: Vec<u8>) -> Result<Etag, StoreError> {
        crate::sdk::twin::interleave().await;
        self.write_conditional(Op::PutIfMatch, key, body, |i, body| match i.objects.get(key) {
            None => Err(StoreError::NotFound { key: key.to_string() }),
            Some((_, v)) if etag(*v) != expected => Err(StoreError::Conflict { key: key.to_string() }),
            Some(_) => Ok(store(i, key, body)),
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        crate::sdk::twin::interleave().await;
        if let Some(Fault::Fail { retryable }) = self.fault(Op::List, prefix) {
            return Err(Self::failed(Op::List, prefix, retryable));
        }
        Ok(self.lock().objects.keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        crate::sdk::twin::interleave().await;
        self.write(Op::Delete, key, |i| {
            i.remove(key);
            Ok(String::new())
        })
        .map(drop)
    }

    async fn delete_if_match(&self, key: &str, expected: &str) -> Result<(), StoreError> {
        crate::sdk::twin::interleave().await;
        self.write(Op::Delete, key, |i| match i.objects.get(key) {
            None => Err(StoreError::NotFound { key: key.to_string() }),
            Some((_, v)) if etag(*v) != expected => Err(StoreError::Conflict { key: key.to_string() }),
            Some(_) => {
                i.remove(key);
                Ok(String::new())
            }
        })
        .map(drop)
    }

    async fn older_versions(&self, key: &str) -> Result<Vec<String>, StoreError> {
        crate::sdk::twin::interleave().await;
        if let Some(Fault::Fail { retryable }) = self.fault(Op::List, key) {
            return Err(Self::failed(Op::List, key, retryable));
        }
        let inner = self.lock();
        Ok(inner
            .older
            .get(key)
            .map_or_else(Vec::new, |o| o.iter().rev().map(|(_, v)| v.to_string()).collect()))
    }

    async fn get_version(&self, key: &str, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        crate::sdk::twin::interleave().await;
        if let Some(Fault::Fail { retryable }) = self.fault(Op::Get, key) {
            return Err(Self::failed(Op::Get, key, retryable));
        }
        let inner = self.lock();
        let current = inner.objects.get(key).filter(|(_, v)| v.to_string() == version);
        let older = inner.older.get(key).and_then(|o| o.iter().find(|(_, v)| v.to_string() == version));
        Ok(current.or(older).map(|(b, _)| b.clone()))
    }

    fn location(&self) -> String {
        "memory://".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn create_only_and_compare_and_swap_follow_s3s_rules() {
        let s = MemoryStore::new();
        block_on(async {
            let e1 = s.put_if_absent("k", b"1".to_vec()).await.expect("created");
            assert!(matches!(s.put_if_absent("k", b"2".to_vec()).await, Err(StoreError::Conflict { .. })));
            let e2 = s.put_if_match("k", &e1, b"2".to_vec()).await.expect("swapped");
            assert_ne!(e1, e2);
            assert!(matches!(
                s.put_if_match("k", &e1, b"3".to_vec()).await,
                Err(StoreError::Conflict { .. })
            ));
            assert!(matches!(
                s.put_if_match("gone", &e2, b"3".to_vec()).await,
                Err(StoreError::NotFound { .. })
            ));
            let got = s.get("k").await.expect("get").expect("present");
            assert_eq!((got.body.as_slice(), got.etag.as_str()), (&b"2"[..], e2.as_str()));
            s.delete("k").await.expect("delete");
            s.delete("k").await.expect("deleting a missing key succeeds");
            assert_eq!(s.get("k").await.expect("get"), None);
        });
    }

    #[test]
    fn of_two_creators_and_of_two_swappers_exactly_one_wins() {
        let s = MemoryStore::new();
        block_on(async {
            let (a, b) = futures::join!(
                s.put_if_absent("lease", b"a".to_vec()),
                s.put_if_absent("lease", b"b".to_vec())
            );
            assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1);
            let etag = s.get("lease").await.expect("get").expect("present").etag;
            let (a, b) = futures::join!(
                s.put_if_match("lease", &etag, b"a2".to_vec()),
                s.put_if_match("lease", &etag, b"b2".to_vec())
            );
            assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1);
        });
    }

    #[test]
    fn injected_faults_fail_before_or_lose_the_reply_after_the_write() {
        let s = MemoryStore::new();
        let failing =
            s.with_faults(|op, _| (op == Op::PutIfAbsent).then_some(Fault::Fail { retryable: true }));
        let lossy = s.with_faults(|op, _| (op == Op::PutIfAbsent).then_some(Fault::LoseReply));
        block_on(async {
            let e = failing.put_if_absent("a", b"x".to_vec()).await.expect_err("fails");
            assert!(e.retryable() && !e.is_conflict());
            assert_eq!(s.get("a").await.expect("get"), None, "a failed call touches nothing");
            lossy.put_if_absent("b", b"x".to_vec()).await.expect_err("reply lost");
            assert!(s.get("b").await.expect("get").is_some(), "the write landed");
        });
        assert_eq!(block_on(s.list("")).expect("list"), vec!["b".to_string()]);
    }

    #[test]
    fn a_retried_conditional_write_is_recognised_as_ours_unless_another_writer_moved_it_since() {
        let s = MemoryStore::new();
        let retried = s.with_faults(|op, _| {
            matches!(op, Op::PutIfAbsent | Op::PutIfMatch).then_some(Fault::RetryAfterLostReply)
        });
        block_on(async {
            // The retry meets our own first attempt: the store reads the key and finds our bytes.
            let e1 = retried.put_if_absent("lease", b"ours".to_vec()).await.expect("our own create");
            let e2 = retried.put_if_match("lease", &e1, b"ours 2".to_vec()).await.expect("our own swap");
            assert_eq!(s.get("lease").await.expect("get").expect("present").etag, e2);
            // A real conflict stays one.
            let lost = retried.put_if_absent("lease", b"theirs".to_vec()).await;
            assert!(matches!(lost, Err(StoreError::Conflict { .. })), "{lost:?}");
            // Another writer moves the key between our landed write and the read: a conflict,
            // although ours landed first (the caller re-reads and decides, as after any race).
            let (ours, theirs) =
                futures::join!(retried.put_if_match("lease", &e2, b"mine".to_vec()), async {
                    let now = s.get("lease").await.expect("get").expect("present");
                    s.put_if_match("lease", &now.etag, b"theirs".to_vec()).await
                });
            assert!(
                theirs.is_ok() && matches!(ours, Err(StoreError::Conflict { .. })),
                "{ours:?} {theirs:?}"
            );
        });
    }
}
