//! The state bucket as a key-value store with compare-and-swap.
//!
//! S3 conditional writes (`If-None-Match: *` to create, `If-Match: <etag>` to replace) are what the
//! lock, the handoff lease and the primary record stand on: two writers racing for the same key
//! cannot both win.

use crate::error::is_not_found;
use anyhow::{Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Clone, Debug)]
pub struct S3Store {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
}

/// An object and the entity tag to pass to `put_if_match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub body: Vec<u8>,
    pub etag: String,
}

/// Outcome of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cas {
    Written,
    /// Somebody else's write won (or the object was not what we read).
    Conflict,
}

fn is_precondition_failure<E: ProvideErrorMetadata>(e: &E) -> bool {
    matches!(e.code(), Some("PreconditionFailed" | "ConditionalRequestConflict"))
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3Store { client, bucket: bucket.into() }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_string();
                let body = out
                    .body
                    .collect()
                    .await
                    .with_context(|| format!("reading s3://{}/{key}", self.bucket))?
                    .into_bytes()
                    .to_vec();
                Ok(Some(Versioned { body, etag }))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("getting s3://{}/{key}", self.bucket)),
        }
    }

    pub async fn put(&self, key: &str, body: Vec<u8>) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .with_context(|| format!("writing s3://{}/{key}", self.bucket))?;
        Ok(())
    }

    /// Creates `key` only if it does not exist.
    pub async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Cas> {
        let sent = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Cas::Written),
            Err(e) if is_precondition_failure(&e) => Ok(Cas::Conflict),
            Err(e) => Err(e).with_context(|| format!("creating s3://{}/{key}", self.bucket)),
        }
    }

    /// Replaces `key` only if it still has entity tag `etag`.
    pub async fn put_if_match(&self, key: &str, etag: &str, body: Vec<u8>) -> Result<Cas> {
        let sent = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_match(etag)
            .body(ByteStream::from(body))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Cas::Written),
            Err(e) if is_precondition_failure(&e) || is_not_found(&e) => Ok(Cas::Conflict),
            Err(e) => Err(e).with_context(|| format!("replacing s3://{}/{key}", self.bucket)),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("deleting s3://{}/{key}", self.bucket))?;
        Ok(())
    }

    /// Keys under `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages =
            self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.with_context(|| format!("listing s3://{}/{prefix}", self.bucket))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(String::from)));
        }
        keys.sort();
        Ok(keys)
    }

    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<(T, String)>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(v) => {
                let parsed = serde_json::from_slice(&v.body).with_context(|| {
                    format!("s3://{}/{key} is not valid JSON of the expected shape", self.bucket)
                })?;
                Ok(Some((parsed, v.etag)))
            }
        }
    }
}
