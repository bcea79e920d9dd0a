//! The state bucket before the first apply creates it: it holds nothing, so a plan reads no
//! record (nothing was ever recorded), and any write is refused, since a plan writes nothing.

use super::store::{Etag, StateStore, StoreError, Versioned};
use async_trait::async_trait;

/// A bucket that does not exist yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnbornBucket;

impl UnbornBucket {
    fn refuse(op: &'static str, key: &str) -> StoreError {
        StoreError::Failed {
            op,
            key: key.to_string(),
            message: "the state bucket does not exist yet (apply creates it)".into(),
            retryable: false,
        }
    }
}

#[async_trait]
impl StateStore for UnbornBucket {
    async fn get(&self, _key: &str) -> Result<Option<Versioned>, StoreError> {
        Ok(None)
    }

    async fn put(&self, key: &str, _body: Vec<u8>) -> Result<Etag, StoreError> {
        Err(Self::refuse("put", key))
    }

    async fn put_if_absent(&self, key: &str, _body: Vec<u8>) -> Result<Etag, StoreError> {
        Err(Self::refuse("create", key))
    }

    async fn put_if_match(&self, key: &str, _etag: &str, _body: Vec<u8>) -> Result<Etag, StoreError> {
        Err(StoreError::NotFound { key: key.to_string() })
    }

    async fn list(&self, _prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    async fn delete(&self, _key: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn delete_if_match(&self, key: &str, _etag: &str) -> Result<(), StoreError> {
        Err(StoreError::NotFound { key: key.to_string() })
    }

    async fn older_versions(&self, _key: &str) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    async fn get_version(&self, _key: &str, _version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }

    fn location(&self) -> String {
        "(no state bucket yet)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn an_unborn_bucket_reads_empty_and_takes_no_write() {
        let b = UnbornBucket;
        assert!(block_on(b.get("state/primary.json")).expect("get").is_none());
        assert!(block_on(b.list("state/")).expect("list").is_empty());
        assert!(matches!(
            block_on(b.put_if_absent("state/lock.json", vec![])),
            Err(StoreError::Failed { .. })
        ));
        assert!(matches!(
            block_on(b.put_if_match("state/primary.json", "e", vec![])),
            Err(StoreError::NotFound { .. })
        ));
    }
}
