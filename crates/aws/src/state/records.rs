//! Typed readers of the protocol's records: the primary record and the handoff leases, each
//! refused when a newer spotctl wrote it (`spotctl_core::handoff::format`).

use super::json::get_record;
use super::store::{Etag, StateStore, StoreError};
use spotctl_core::handoff::primary::PrimaryRecord;
use spotctl_core::handoff::Handoff;
use spotctl_layout::state as keys;
use spotctl_layout::state::handoff_key;

/// `state/primary.json` and its entity tag.
pub async fn read_primary(store: &dyn StateStore) -> Result<Option<(PrimaryRecord, Etag)>, StoreError> {
    get_record(store, keys::PRIMARY).await
}

/// The lease of handoff `id` and its entity tag.
pub async fn read_handoff(store: &dyn StateStore, id: &str) -> Result<Option<(Handoff, Etag)>, StoreError> {
    get_record(store, &handoff_key(id)).await
}

/// Every handoff record, oldest epoch first.
pub async fn list_handoffs(store: &dyn StateStore) -> Result<Vec<Handoff>, StoreError> {
    let mut all = Vec::new();
    for key in store.list(keys::HANDOFFS).await? {
        if let Some((h, _)) = get_record::<Handoff>(store, &key).await? {
            all.push(h);
        }
    }
    all.sort_by_key(|h| h.from_epoch);
    Ok(all)
}
