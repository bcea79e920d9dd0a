//! [`StateStore`] on S3. Conditional writes are S3's own: `If-None-Match: *` to create,
//! `If-Match: <etag>` to replace. AWS answers a lost race with `412 PreconditionFailed` (or `409
//! ConditionalRequestConflict` while a concurrent write is in flight); both are a conflict here.

use super::store::{Etag, StateStore, StoreError, Versioned};
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
        let sent = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .set_if_none_match(if_none_match.then(|| "*".to_string()))
            .set_if_match(if_match.map(String::from))
            .body(ByteStream::from(body))
            .send()
            .await;
        match sent {
            Ok(out) => Ok(out.e_tag().unwrap_or_default().to_string()),
            Err(e) if (if_none_match || if_match.is_some()) && is_precondition_failure(&e) => {
                Err(StoreError::Conflict { key: key.to_string() })
            }
            Err(e) if if_match.is_some() && is_not_found(&e) => {
                Err(StoreError::NotFound { key: key.to_string() })
            }
            Err(e) => Err(self.failed(op, key, e)),
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

    fn location(&self) -> String {
        format!("s3://{}", self.bucket)
    }
}
