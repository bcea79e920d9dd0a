//! JSON objects in the state store: read with their entity tag, and changed in place with a
//! compare-and-swap loop that starts over from the winner's version when another writer wins.

use super::store::{Etag, StateStore, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use spotctl_core::handoff::{check_format, RecordFormat};

/// The object at `key` parsed as `T`, with its entity tag; `None` when absent.
pub async fn get_json<T: DeserializeOwned>(
    store: &dyn StateStore,
    key: &str,
) -> Result<Option<(T, Etag)>, StoreError> {
    let Some(v) = store.get(key).await? else { return Ok(None) };
    let parsed = serde_json::from_slice(&v.body)
        .map_err(|e| StoreError::Malformed { key: key.to_string(), message: e.to_string() })?;
    Ok(Some((parsed, v.etag)))
}

/// A protocol record at `key` with its entity tag; `None` when absent. A record in a format newer
/// than this build reads is refused before it is parsed ([`StoreError::Newer`]): nothing of it is
/// acted on, and nothing is written over it.
pub async fn get_record<T: DeserializeOwned + RecordFormat>(
    store: &dyn StateStore,
    key: &str,
) -> Result<Option<(T, Etag)>, StoreError> {
    let Some(v) = store.get(key).await? else { return Ok(None) };
    let malformed =
        |e: serde_json::Error| StoreError::Malformed { key: key.to_string(), message: e.to_string() };
    let value: serde_json::Value = serde_json::from_slice(&v.body).map_err(malformed)?;
    check_format(key, value.get("format").and_then(serde_json::Value::as_u64), T::READS)?;
    Ok(Some((serde_json::from_value(value).map_err(malformed)?, v.etag)))
}

pub fn json_body<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec_pretty(value)
        .map_err(|e| StoreError::Malformed { key: key.to_string(), message: e.to_string() })
}

/// How many times a compare-and-swap is retried before giving up to the caller.
pub const CAS_ATTEMPTS: usize = 8;

/// Reads `key`, lets `change` edit it, and writes it back only if nobody wrote in between;
/// otherwise starts over from what the winner wrote. `change` returns false when there is nothing
/// to write. Returns the value as stored (or as found, when unchanged); `None` when absent. A
/// record newer than this build reads is never rewritten.
pub async fn update_json<T, F>(
    store: &dyn StateStore,
    key: &str,
    mut change: F,
) -> Result<Option<T>, StoreError>
where
    T: Serialize + DeserializeOwned + RecordFormat,
    F: FnMut(&mut T) -> bool + Send,
{
    for _ in 0..CAS_ATTEMPTS {
        let Some((mut value, etag)) = get_record::<T>(store, key).await? else { return Ok(None) };
        if !change(&mut value) {
            return Ok(Some(value));
        }
        match store.put_if_match(key, &etag, json_body(key, &value)?).await {
            Ok(_) => return Ok(Some(value)),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Failed {
        op: "replacing",
        key: key.to_string(),
        message: format!("{CAS_ATTEMPTS} concurrent writers won in a row"),
        retryable: true,
    })
}
