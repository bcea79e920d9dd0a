//! The one-shot drain and restore a person runs (`spotctl agent drain`, `spotctl agent restore`):
//! the same library calls the agent makes, against any prefix of any bucket, reported as JSON.

use super::blobs::StoreBlobs;
use super::error::BackupsError;
use serde_json::{json, Value};
use spotctl_db::backup::{DrainOptions, Method, RestoreOptions};
use spotctl_layout::BackupRoot;

/// What one drain or restore is: the server, where the backup lives, which database.
#[derive(Debug, Clone)]
pub struct Once {
    pub dsn: String,
    pub prefix: String,
    pub handoff: String,
    pub database: String,
}

/// Drains `o.database` (every table as rows when `logical`), sealed instead when `seal` and the log
/// shipped under the same prefix holds everything; the JSON says which, and why not sealed.
pub async fn drain(blobs: StoreBlobs, o: Once, logical: bool, seal: bool) -> Result<Value, BackupsError> {
    tokio::task::spawn_blocking(move || -> Result<Value, BackupsError> {
        let mut unsealed = None;
        if seal {
            let key = BackupRoot::new(&o.prefix, &o.handoff)?.seal_key();
            let opts = spotctl_db::protect::SealOptions::for_epoch(None);
            match spotctl_db::protect::seal(&o.dsn, &blobs, &o.prefix, &key, &opts) {
                Ok(s) => return Ok(json!({ "sealed": s, "key": key })),
                Err(e) => unsealed = Some(e.to_string()),
            }
        }
        let method = if logical { Method::Rows } else { Method::Auto };
        let opts = DrainOptions { databases: vec![o.database], method, ..Default::default() };
        let m = spotctl_db::backup::drain(&o.dsn, &blobs, &o.prefix, &o.handoff, &opts)?;
        let m = serde_json::to_value(m).unwrap_or_default();
        Ok(match unsealed {
            Some(why) => json!({ "drained": m, "unsealed": why }),
            None => m,
        })
    })
    .await
    .map_err(BackupsError::joined("the drain"))?
}

/// Restores `o.database` only, whatever the manifest names, and verifies it; a server that already
/// holds rows of it is refused unless `replace_existing`.
pub async fn restore(blobs: StoreBlobs, o: Once, replace_existing: bool) -> Result<Value, BackupsError> {
    tokio::task::spawn_blocking(move || -> Result<Value, BackupsError> {
        let opts =
            RestoreOptions { databases: Some(vec![o.database]), replace_existing, ..Default::default() };
        let v = spotctl_db::backup::restore(&o.dsn, &blobs, &o.prefix, &o.handoff, &opts)?;
        Ok(serde_json::to_value(v).unwrap_or_default())
    })
    .await
    .map_err(BackupsError::joined("the restore"))?
}
