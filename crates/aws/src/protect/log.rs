//! What the handler and the twin read of continuous protection, straight from the state store:
//! the log's timelines, whether a base lies on the newest one's chain (so a standby can recover
//! the shipped log), and how much the log may lack now (its data-loss window).
//!
//! The layout is `spotctl_layout`'s and the rules `spotctl_db::protect`'s; this is the async
//! reading of them for the handler (which has no database) and for the database twin, which
//! follows the same timeline rules in memory.

use crate::state::{get_json, StateStore, StoreError};
use spotctl_core::handoff::LogView;
use spotctl_db::protect::base::BaseRecord;
use spotctl_db::protect::heartbeat::Heartbeat;
use spotctl_db::protect::timeline::{chain_at, heartbeat_believed, Reason, Timeline, TimelineRecord};
use spotctl_db::protect::{loss_window, loss_window_of_lost, ShipOptions};
use spotctl_layout::log::{bases, heartbeat_key, timeline_of, timelines};
use spotctl_layout::BACKUPS;

/// The opening that allows the writer `session` on a timeline of `epoch`
/// (`state/openings/<epoch>-<instance>`): what a timeline's writer is held to. `None`: nothing
/// could allow it (a timeline naming no epoch).
pub fn writer_opening(epoch: Option<u64>, session: &str) -> Option<String> {
    epoch.map(|e| spotctl_layout::state::opening_key(e, session))
}

/// Whether timeline `r`'s heartbeat is believed ([`heartbeat_believed`] among `all`), the writer's
/// opening read from `store`.
async fn believed(store: &dyn StateStore, all: &[Timeline], r: &TimelineRecord) -> Result<bool, StoreError> {
    let opening =
        r.writer.as_deref().and_then(spotctl_layout::writer_session).and_then(|s| writer_opening(r.epoch, s));
    let opened = match opening {
        Some(key) => store.get(&key).await?.is_some(),
        None => false,
    };
    Ok(heartbeat_believed(all, r, &|_, _| opened))
}

/// Every timeline, in order.
pub async fn read_timelines(store: &dyn StateStore) -> Result<Vec<Timeline>, StoreError> {
    let mut all = Vec::new();
    for key in store.list(&timelines(BACKUPS)).await? {
        if timeline_of(BACKUPS, &key).is_none() {
            continue;
        }
        let Some(v) = store.get(&key).await? else { continue };
        let record: TimelineRecord = serde_json::from_slice(&v.body)
            .map_err(|e| StoreError::Malformed { key: key.clone(), message: e.to_string() })?;
        all.push(Timeline { record, bytes: v.body });
    }
    all.sort_by_key(|t| t.record.timeline);
    Ok(all)
}

/// Whether the shipped log can bring back the epoch-`epoch` primary's data now, and its window at
/// `now` (seconds since 1970): what losing it now would cost (`lost` false: its shipper's bound
/// while it is caught up), or what losing it did cost (`lost`: from the safe instant to `now`,
/// which is when it stopped taking commits or later). `None` when the newest timeline is not that primary's (it never
/// began one: lost before its first look as the primary, or an older primary's log is all there
/// is — which lacks what came after that primary's drain), or no base lies on its chain (a
/// primary a handoff made, before its first base).
pub async fn log_view(
    store: &dyn StateStore,
    epoch: u64,
    now: i64,
    lost: bool,
) -> Result<Option<LogView>, StoreError> {
    let all = read_timelines(store).await?;
    let chain = chain_at(&all, None);
    let Some(newest) = chain.last() else { return Ok(None) };
    // The primary's own timeline, or the one a recovery of it began and did not finish (a
    // standby cut short before it promoted): replaying that chain gives the same rows.
    let r = &newest.record;
    let own = r.epoch == Some(epoch)
        || (r.epoch == Some(epoch + 1) && r.reason == Reason::Recovery)
        || (r.epoch.is_some_and(|e| e < epoch) && made_from_the_log(store, epoch).await?);
    if !own {
        return Ok(None);
    }
    if !base_on_chain(store, &chain).await? {
        return Ok(None);
    }
    let hb = match believed(store, &all, r).await? {
        true => get_json::<Heartbeat>(store, &heartbeat_key(BACKUPS, r.timeline, r.writer.as_deref()))
            .await?
            .map(|(h, _)| h),
        // A timeline whose writer the control plane never opened: no heartbeat of it is believed.
        false => None,
    };
    // What its shipper last reported of the server's position against the stored one (the same
    // rule as `status`): the window an unwarned loss now would open.
    let now_ms = u64::try_from(now).unwrap_or(0) * 1000;
    let created = newest.record.created_at_ms;
    let window = if lost { loss_window_of_lost } else { loss_window };
    let window = window(hb.as_ref(), created, now_ms, &ShipOptions::default());
    let window_ms = window.ms().unwrap_or_else(|| now_ms.saturating_sub(created));
    let window_s = i64::try_from(window_ms.div_ceil(1000)).unwrap_or(i64::MAX);
    Ok(Some(LogView { window_s }))
}

/// Whether the epoch-`epoch` primary was made from the shipped log (a recovery, or a handoff whose
/// drain was sealed): lost between its promotion and beginning its own timeline (it begins it
/// before it takes a write), it holds what the newest chain holds, and recovering that chain
/// brings it back.
async fn made_from_the_log(store: &dyn StateStore, epoch: u64) -> Result<bool, StoreError> {
    let Some(id) = epoch.checked_sub(1).map(spotctl_layout::handoff_id) else { return Ok(false) };
    if crate::state::read_handoff(store, &id).await?.is_some_and(|(h, _)| h.from_log) {
        return Ok(true);
    }
    let Ok(root) = spotctl_layout::BackupRoot::handoff(&id) else { return Ok(false) };
    Ok(store.get(&root.seal_key()).await?.is_some())
}

/// Whether a base lies on the newest timeline's chain: a recovery of the log can start.
pub async fn log_restorable(store: &dyn StateStore) -> Result<bool, StoreError> {
    let all = read_timelines(store).await?;
    base_on_chain(store, &chain_at(&all, None)).await
}

/// Whether a base was taken on one of `chain`'s timelines.
async fn base_on_chain(store: &dyn StateStore, chain: &[&Timeline]) -> Result<bool, StoreError> {
    for key in store.list(&format!("{}/", bases(BACKUPS))).await? {
        if !key.ends_with("/base.json") {
            continue;
        }
        if let Some((b, _)) = get_json::<BaseRecord>(store, &key).await? {
            if chain.iter().any(|t| t.record.timeline == b.timeline) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
