//! Typed readers of the protocol's records: the primary record and the handoff leases, each
//! refused when a newer spotctl wrote it (`spotctl_core::handoff::format`). The primary record is
//! the newest version the control plane opened (`spotctl_core::handoff::opening`): a version an
//! instance forged is passed over and reported.

use super::json::{get_json, get_record, json_body};
use super::store::{Etag, StateStore, StoreError};
use spotctl_core::handoff::primary::PrimaryRecord;
use spotctl_core::handoff::{check_format, Handoff, HealthReport, Opening, RecordFormat};
use spotctl_layout::state as keys;
use spotctl_layout::state::handoff_key;

/// `state/primary.json` and its entity tag: the record the control plane opened (the newest
/// such version), and the entity tag of what is stored now, which any compare-and-swap names.
pub async fn read_primary(store: &dyn StateStore) -> Result<Option<(PrimaryRecord, Etag)>, StoreError> {
    Ok(read_primary_checked(store).await?.map(|r| (r.record, r.etag)))
}

/// The health report instance `instance_id`'s own agent wrote: of the reports listed under
/// [`spotctl_layout::health_dir`], the one whose writer is that instance's own session
/// ([`spotctl_layout::own_health_report`]; the newest, should the role have been made anew). A
/// report any other writer left there (another instance's, in a key its role may write) is not
/// read.
pub async fn read_health(
    store: &dyn StateStore,
    instance_id: &str,
) -> Result<Option<(HealthReport, Etag)>, StoreError> {
    let mut newest: Option<(HealthReport, Etag)> = None;
    let listed = store.list(&spotctl_layout::health_dir(instance_id)).await?;
    for key in listed.iter().filter(|k| spotctl_layout::own_health_report(instance_id, k)) {
        if let Some((r, etag)) = get_record::<HealthReport>(store, key).await? {
            if newest.as_ref().is_none_or(|(n, _)| n.written_at_ms < r.written_at_ms) {
                newest = Some((r, etag));
            }
        }
    }
    Ok(newest)
}

/// What [`read_primary_checked`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryRead {
    /// The newest version of the record that has its opening.
    pub record: PrimaryRecord,
    /// The entity tag of the stored version (a forged one, when `forged` says so).
    pub etag: Etag,
    /// The stored version, when it has no opening: what it claimed (epoch and instance), as far
    /// as it could be read.
    pub forged: Option<Forged>,
}

/// A version of the primary record that no opening allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forged {
    pub epoch: Option<u64>,
    pub instance_id: Option<String>,
}

impl std::fmt::Display for Forged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let epoch = self.epoch.map_or("?".to_string(), |e| e.to_string());
        let who = self.instance_id.as_deref().unwrap_or("?");
        write!(f, "{} holds a record no opening allows (epoch {epoch}, instance {who})", keys::PRIMARY)
    }
}

/// The primary record as the control plane allowed it, with the stored version reported when it
/// was forged. `None` when there is no record at all; an error when no version has an opening.
pub async fn read_primary_checked(store: &dyn StateStore) -> Result<Option<PrimaryRead>, StoreError> {
    let Some(current) = store.get(keys::PRIMARY).await? else { return Ok(None) };
    if let Some(record) = opened(store, &current.body).await? {
        return Ok(Some(PrimaryRead { record, etag: current.etag, forged: None }));
    }
    // An env from before openings has none at all: its record stands as it did then, until the
    // next apply opens it ([`open_legacy`]).
    if store.list(keys::OPENINGS).await?.is_empty() {
        if let Some((record, etag)) = get_record::<PrimaryRecord>(store, keys::PRIMARY).await? {
            return Ok(Some(PrimaryRead { record, etag, forged: None }));
        }
    }
    let claimed = serde_json::from_slice::<serde_json::Value>(&current.body).ok();
    let forged = Forged {
        epoch: claimed.as_ref().and_then(|v| v.get("epoch")).and_then(serde_json::Value::as_u64),
        instance_id: claimed
            .as_ref()
            .and_then(|v| v.get("instance_id"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string),
    };
    for version in store.older_versions(keys::PRIMARY).await? {
        let Some(body) = store.get_version(keys::PRIMARY, &version).await? else { continue };
        if let Some(record) = opened(store, &body).await? {
            return Ok(Some(PrimaryRead { record, etag: current.etag, forged: Some(forged) }));
        }
    }
    Err(StoreError::Forged { key: keys::PRIMARY.to_string(), claimed: forged.to_string() })
}

/// The record in `body` when its opening exists (checked before its format: a format no build
/// knows, written by a forger, is passed over like any other forgery); `None` when it has none
/// or is not a record at all.
async fn opened(store: &dyn StateStore, body: &[u8]) -> Result<Option<PrimaryRecord>, StoreError> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else { return Ok(None) };
    let field = |name: &str| value.get(name).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty());
    let Some(epoch) = value.get("epoch").and_then(serde_json::Value::as_u64) else { return Ok(None) };
    let Some(who) = field("instance_id").or_else(|| field("launching")) else { return Ok(None) };
    let key = keys::opening_key(epoch, who);
    if !matches!(spotctl_layout::Key::parse(&key), Some(spotctl_layout::Key::Opening(..))) {
        return Ok(None);
    }
    let Some((opening, _)) = get_json::<Opening>(store, &key).await? else {
        return Ok(None);
    };
    check_format(
        keys::PRIMARY,
        value.get("format").and_then(serde_json::Value::as_u64),
        <PrimaryRecord as RecordFormat>::READS,
    )?;
    let record: PrimaryRecord = serde_json::from_value(value)
        .map_err(|e| StoreError::Malformed { key: keys::PRIMARY.to_string(), message: e.to_string() })?;
    Ok(opening.allows(&record).then_some(record))
}

/// An env made before openings has none: `apply` (a person, holding the lock) opens what its
/// records name — the primary, and the standby each open handoff recorded — so the strict rule
/// applies from then on. Returns how many it opened; nothing once any opening exists.
pub async fn open_legacy(store: &dyn StateStore, now: i64) -> Result<usize, StoreError> {
    use spotctl_core::handoff::OpenedBy;
    if !store.list(keys::OPENINGS).await?.is_empty() {
        return Ok(0);
    }
    let Some((record, _)) = get_record::<PrimaryRecord>(store, keys::PRIMARY).await? else { return Ok(0) };
    let mut openings = Vec::new();
    let who = if record.has_instance() { Some(record.instance_id.clone()) } else { record.launching.clone() };
    if let Some(who) = who {
        openings.push(Opening::new(record.epoch, &who, None, OpenedBy::Apply, now));
    }
    for h in list_handoffs(store).await? {
        if let Some(s) = h.standby.as_ref().filter(|_| h.from_epoch >= record.epoch) {
            openings.push(Opening::new(h.from_epoch + 1, &s.instance_id, Some(&h.id), OpenedBy::Launch, now));
        }
    }
    for o in &openings {
        open(store, o).await?;
    }
    Ok(openings.len())
}

/// Creates `opening` (create-only). One already there for the same epoch and instance is the
/// same decision taken before (a retry, or a run that died after writing it): it stands.
pub async fn open(store: &dyn StateStore, opening: &Opening) -> Result<(), StoreError> {
    let key = opening.key();
    match store.put_if_absent(&key, json_body(&key, opening)?).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() => match get_json::<Opening>(store, &key).await? {
            Some((o, _)) if o.epoch == opening.epoch && o.who == opening.who => Ok(()),
            _ => Err(e),
        },
        Err(e) => Err(e),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemoryStore;
    use futures::executor::block_on;
    use spotctl_core::handoff::OpenedBy;

    fn record(epoch: u64, id: &str) -> PrimaryRecord {
        PrimaryRecord {
            epoch,
            instance_id: id.into(),
            launching: None,
            ..PrimaryRecord::launching("t", "r", "r-a", "m5.large", 0)
        }
    }

    fn put(s: &MemoryStore, r: &PrimaryRecord) {
        block_on(s.put(keys::PRIMARY, json_body(keys::PRIMARY, r).expect("json"))).expect("put");
    }

    #[test]
    fn a_record_no_opening_allows_is_passed_over_for_the_newest_one_that_has_one() {
        let s = MemoryStore::new();
        block_on(open(&s, &Opening::new(1, "i-p", None, OpenedBy::Apply, 0))).expect("opened");
        put(&s, &record(1, "i-p"));
        let read = block_on(read_primary_checked(&s)).expect("read").expect("a record");
        assert_eq!((read.record.instance_id.as_str(), read.forged), ("i-p", None));
        // A compromised instance names itself at the next epoch, then writes garbage over that.
        put(&s, &record(2, "i-evil"));
        let read = block_on(read_primary_checked(&s)).expect("read").expect("a record");
        assert_eq!(read.record, record(1, "i-p"), "the opened version stands");
        let forged = read.forged.expect("reported");
        assert_eq!((forged.epoch, forged.instance_id.as_deref()), (Some(2), Some("i-evil")));
        block_on(s.put(keys::PRIMARY, b"{\"epoch\": 9".to_vec())).expect("put");
        let (r, etag) = block_on(read_primary(&s)).expect("read").expect("a record");
        assert_eq!(r.instance_id, "i-p");
        // The entity tag is the stored version's: a compare-and-swap replaces the forgery.
        assert_eq!(etag, block_on(s.get(keys::PRIMARY)).expect("get").expect("stored").etag);
        // An opened successor (a standby the handler launched for epoch-1) stands.
        block_on(open(&s, &Opening::new(2, "i-s", Some("epoch-1"), OpenedBy::Launch, 0))).expect("opened");
        let next = PrimaryRecord { handoff: Some("epoch-1".into()), ..record(2, "i-s") };
        put(&s, &next);
        assert_eq!(block_on(read_primary(&s)).expect("read").map(|(r, _)| r), Some(next.clone()));
        // ...but not the same instance at that epoch under another handoff, nor with none.
        put(&s, &record(2, "i-s"));
        assert_eq!(block_on(read_primary(&s)).expect("read").map(|(r, _)| r), Some(next));
    }

    #[test]
    fn with_no_opened_version_at_all_nothing_is_obeyed_and_the_error_says_why() {
        let s = MemoryStore::new();
        block_on(open(&s, &Opening::new(1, "i-p", None, OpenedBy::Apply, 0))).expect("opened");
        put(&s, &record(5, "i-evil"));
        let err = block_on(read_primary(&s)).expect_err("forged");
        let said = err.to_string();
        assert!(matches!(err, StoreError::Forged { .. }) && !err.retryable(), "{said}");
        assert!(
            said.contains("epoch 5, instance i-evil") && said.contains("A forged primary record"),
            "{said}"
        );
    }

    #[test]
    fn an_env_from_before_openings_keeps_its_record_until_apply_opens_it() {
        let s = MemoryStore::new();
        put(&s, &record(3, "i-p"));
        assert_eq!(block_on(read_primary(&s)).expect("read").map(|(r, _)| r.instance_id), Some("i-p".into()));
        assert_eq!(block_on(open_legacy(&s, 100)).expect("opened"), 1);
        assert_eq!(block_on(open_legacy(&s, 100)).expect("nothing more"), 0, "once only");
        assert!(block_on(s.get(&keys::opening_key(3, "i-p"))).expect("get").is_some());
        // From then on the strict rule holds.
        put(&s, &record(4, "i-evil"));
        assert_eq!(block_on(read_primary(&s)).expect("read").map(|(r, _)| r.epoch), Some(3));
    }

    #[test]
    fn opening_twice_is_the_same_decision_and_stands() {
        let s = MemoryStore::new();
        let o = Opening::new(2, "i-s", Some("epoch-1"), OpenedBy::Launch, 0);
        block_on(open(&s, &o)).expect("opened");
        block_on(open(&s, &Opening { at_unix: 5, ..o })).expect("the same opening, again");
    }
}
