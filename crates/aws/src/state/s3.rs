//! [`StateStore`] on S3. Conditional writes are S3's own: `If-None-Match: *` to create,
//! `If-Match: <etag>` to replace. AWS answers a lost race with `412 PreconditionFailed`, which may
//! also be our own write met by the SDK's retry after a lost reply ([`own_write`] tells them
//! apart), and `409 ConditionalRequestConflict` while a concurrent write to the key is in flight,
//! which AWS says to retry: it is retried here, with a growing pause, before anything is decided.

use super::store::{own_write, Etag, StateStore, StoreError, Versioned};
use crate::sdk::error::{is_not_found, is_retryable};
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Clone, Debug)]
pub struct S3Store {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
}

fn is_precondition_failure<E: ProvideErrorMetadata>(e: &E) -> bool {
    matches!(e.code(), Some("PreconditionFailed" | "ConditionalRequestConflict"))
}

/// `409 ConditionalRequestConflict`: another conditional write to the key is in flight; AWS says
/// to retry.
fn is_in_flight_conflict<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalRequestConflict")
}

/// Attempts of a conditional write that meets `409`, and the first pause between them (doubled
/// each time: 0.1 + 0.2 + 0.4 + 0.8 s at most).
const IN_FLIGHT_ATTEMPTS: u32 = 5;
const IN_FLIGHT_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3Store { client, bucket: bucket.into() }
    }

    fn failed<E>(&self, op: &'static str, key: &str, e: aws_sdk_s3::error::SdkError<E>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        StoreError::Failed {
            op,
            key: format!("s3://{}/{key}", self.bucket),
            retryable: is_retryable(&e),
            message: crate::sdk::error::describe(&e),
        }
    }

    /// A conditional put: `None` condition is unconditional.
    async fn put_with(
        &self,
        op: &'static str,
        key: &str,
        body: Vec<u8>,
        if_none_match: bool,
        if_match: Option<&str>,
    ) -> Result<Etag, StoreError> {
        let conditional = if_none_match || if_match.is_some();
        let mut pause = IN_FLIGHT_PAUSE;
        let mut attempt = 1;
        loop {
            let sent = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .set_if_none_match(if_none_match.then(|| "*".to_string()))
                .set_if_match(if_match.map(String::from))
                .body(ByteStream::from(body.clone()))
                .send()
                .await;
            return match sent {
                Ok(out) => Ok(out.e_tag().unwrap_or_default().to_string()),
                Err(e) if conditional && is_in_flight_conflict(&e) && attempt < IN_FLIGHT_ATTEMPTS => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                    continue;
                }
                Err(e) if conditional && is_in_flight_conflict(&e) => Err(StoreError::Failed {
                    op,
                    key: format!("s3://{}/{key}", self.bucket),
                    message: format!("another write to it stayed in flight through {IN_FLIGHT_ATTEMPTS} attempts (409 ConditionalRequestConflict)"),
                    retryable: true,
                }),
                Err(e) if conditional && is_precondition_failure(&e) => own_write(self, key, &body).await,
                Err(e) if if_match.is_some() && is_not_found(&e) => {
                    Err(StoreError::NotFound { key: key.to_string() })
                }
                Err(e) => Err(self.failed(op, key, e)),
            };
        }
    }
}

#[async_trait]
impl StateStore for S3Store {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_string();
                let body = out.body.collect().await.map_err(|e| StoreError::Failed {
                    op: "reading",
                    key: format!("s3://{}/{key}", self.bucket),
                    message: e.to_string(),
                    retryable: true,
                })?;
                Ok(Some(Versioned { body: body.into_bytes().to_vec(), etag }))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.failed("getting", key, e)),
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<Etag, StoreError> {
        self.put_with("writing", key, body, false, None).await
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Etag, StoreError> {
        self.put_with("creating", key, body, true, None).await
    }

    async fn put_if_match(&self, key: &str, etag: &str, body: Vec<u8>) -> Result<Etag, StoreError> {
        self.put_with("replacing", key, body, false, Some(etag)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut pages =
            self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.failed("listing", prefix, e))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(String::from)));
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.client.delete_object().bucket(&self.bucket).key(key).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.failed("deleting", key, e)),
        }
    }

    async fn delete_if_match(&self, key: &str, etag: &str) -> Result<(), StoreError> {
        match self.client.delete_object().bucket(&self.bucket).key(key).if_match(etag).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_precondition_failure(&e) => Err(StoreError::Conflict { key: key.to_string() }),
            Err(e) if is_not_found(&e) => Err(StoreError::NotFound { key: key.to_string() }),
            Err(e) => Err(self.failed("deleting", key, e)),
        }
    }

    async fn older_versions(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut versions = Vec::new();
        let mut markers: (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(key)
                .set_key_marker(markers.0.take())
                .set_version_id_marker(markers.1.take())
                .send()
                .await
                .map_err(|e| self.failed("listing the versions of", key, e))?;
            // S3 lists a key's versions newest first; delete markers are listed apart (no body).
            versions.extend(
                page.versions()
                    .iter()
                    .filter(|v| v.key() == Some(key) && v.is_latest() != Some(true))
                    .filter_map(|v| v.version_id().filter(|id| *id != "null").map(String::from)),
            );
            if page.is_truncated() != Some(true) {
                return Ok(versions);
            }
            markers =
                (page.next_key_marker().map(String::from), page.next_version_id_marker().map(String::from));
        }
    }

    async fn get_version(&self, key: &str, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.client.get_object().bucket(&self.bucket).key(key).version_id(version).send().await {
            Ok(out) => {
                let body = out.body.collect().await.map_err(|e| StoreError::Failed {
                    op: "reading",
                    key: format!("s3://{}/{key}?versionId={version}", self.bucket),
                    message: e.to_string(),
                    retryable: true,
                })?;
                Ok(Some(body.into_bytes().to_vec()))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.failed("getting a version of", key, e)),
        }
    }

    fn location(&self) -> String {
        format!("s3://{}", self.bucket)
    }
}
