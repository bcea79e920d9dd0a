//! `[backup] retention` applied to the bucket: the one place backups are deleted, by the handler,
//! whose role may delete base objects and log pieces and nothing else under `backups/`. What to
//! keep is `spotctl_db::protect::retention`'s decision.

use super::blobs::StoreBlobs;
use super::error::BackupsError;
use crate::state::StateStore;
use std::sync::Arc;
use std::time::Duration;

pub use spotctl_db::protect::retention::RetentionReport;

/// Deletes what no recovery inside `keep` can need.
pub async fn apply(store: Arc<dyn StateStore>, keep: Duration) -> Result<RetentionReport, BackupsError> {
    let blobs = StoreBlobs { store, handle: tokio::runtime::Handle::current() };
    let report = tokio::task::spawn_blocking(move || {
        spotctl_db::protect::retention::apply(&blobs, spotctl_layout::BACKUPS, keep)
    })
    .await
    .map_err(BackupsError::joined("retention"))??;
    tracing::warn!(
        deleted_objects = report.deleted_objects,
        kept_bases = report.plan.keep_bases.len(),
        oldest_restorable = ?report.oldest_restorable,
        "retention applied"
    );
    Ok(report)
}
