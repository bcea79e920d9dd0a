//! Mixed versions: a handler and agents of an older build beside newer ones, as after an `apply`
//! with a new version (agents take their binary at boot) or a rollback. The older build is the
//! one before kept primaries: it reads primary records up to format 3, and its health reports do
//! not say what it reads. It is the same code seen through [`OlderBuild`]: a primary record newer
//! than format 3 reaches it marked with a format no build knows, so the real format rule refuses
//! it exactly as the older build's would; its reports lose `reads`.

use async_trait::async_trait;
use spotctl_aws::state::{Etag, StateStore, StoreError, Versioned};
use spotctl_core::handoff::Reads;
use spotctl_layout::state as keys;

/// The newest primary record format the older build reads: what an agent reads that does not
/// say (`Reads::UNSAID`, its reports lose `reads`).
const OLDER_READS_PRIMARY: u64 = Reads::UNSAID.primary as u64;

/// The state bucket as an older build's code reaches it.
pub struct OlderBuild<S>(pub S);

fn json(body: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(body).ok()
}

/// A body as the older build reads it: a primary record newer than it reads is marked with a
/// format no build knows.
fn as_read(key: &str, body: Vec<u8>) -> Vec<u8> {
    if key != keys::PRIMARY {
        return body;
    }
    match json(&body) {
        Some(mut record) => {
            let format = record.get("format").and_then(serde_json::Value::as_u64).unwrap_or(1);
            if format <= OLDER_READS_PRIMARY {
                return body;
            }
            record["format"] = u64::from(u32::MAX).into();
            serde_json::to_vec(&record).unwrap_or(body)
        }
        None => body,
    }
}

#[async_trait]
impl<S: StateStore> StateStore for OlderBuild<S> {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let got = self.0.get(key).await?;
        Ok(got.map(|v| Versioned { body: as_read(key, v.body), ..v }))
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<Etag, StoreError> {
        let body = match json(&body) {
            Some(mut report) if key.starts_with(&spotctl_layout::backup::health_prefix()) => {
                if let Some(o) = report.as_object_mut() {
                    o.remove("reads");
                }
                serde_json::to_vec(&report).unwrap_or(body)
            }
            _ => body,
        };
        self.0.put(key, body).await
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Etag, StoreError> {
        self.0.put_if_absent(key, body).await
    }

    async fn put_if_match(&self, key: &str, etag: &str, body: Vec<u8>) -> Result<Etag, StoreError> {
        self.0.put_if_match(key, etag, body).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.0.list(prefix).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.delete(key).await
    }

    async fn delete_if_match(&self, key: &str, etag: &str) -> Result<(), StoreError> {
        self.0.delete_if_match(key, etag).await
    }

    async fn older_versions(&self, key: &str) -> Result<Vec<String>, StoreError> {
        self.0.older_versions(key).await
    }

    async fn get_version(&self, key: &str, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.get_version(key, version).await?.map(|b| as_read(key, b)))
    }

    fn location(&self) -> String {
        self.0.location()
    }
}
