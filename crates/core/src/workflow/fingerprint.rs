//! The live-state fingerprint a plan was made from: one hash per thing the plan was decided from,
//! so that a saved plan applied later can say exactly what moved since.
//!
//! What it covers: every resource the plan looked at (its id and the attributes the plan compares),
//! the primary record, and the handoff of the recorded epoch (whether one is open, its cause and its
//! standby). What it leaves out is what moves on its own and never changes a plan: attributes that
//! only matter at creation (a fleet group's desired, min and max counts, which the handler moves),
//! a handoff's step stamps, leases and attempts (its heartbeat), and event records, which no plan
//! reads. The planner compares no more than this, so a state that fingerprints the same plans the
//! same.

use crate::handoff::primary::PrimaryRecord;
use crate::handoff::Handoff;
use crate::plan::{Address, LiveResource, OnChange, Resource};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The component that holds the primary record.
pub const PRIMARY: &str = "state:primary_record";
/// The component that holds the recorded epoch's handoff.
pub const HANDOFF: &str = "state:handoff";

/// Component name → what it was, as a short hash (or a plain word for the state components a
/// person reads: `absent`, `none`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub BTreeMap<String, String>);

/// What the fingerprint is taken of.
pub struct FingerprintInput<'a> {
    pub desired: &'a [Resource],
    pub live: &'a [LiveResource],
    pub record: Option<&'a PrimaryRecord>,
    /// The handoff of the recorded epoch, when one was ever opened.
    pub handoff: Option<&'a Handoff>,
}

/// One component that differs between two fingerprints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub component: String,
    pub was: Option<String>,
    pub now: Option<String>,
}

impl std::fmt::Display for Moved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "not looked at".into());
        match self.component.as_str() {
            PRIMARY => write!(f, "the primary record changed ({} -> {})", side(&self.was), side(&self.now)),
            HANDOFF => write!(
                f,
                "the handoff of the recorded epoch changed ({} -> {})",
                side(&self.was),
                side(&self.now)
            ),
            c => match (self.was.as_deref(), self.now.as_deref()) {
                (Some("absent"), _) => write!(f, "{c} appeared"),
                (_, Some("absent")) => write!(f, "{c} is gone"),
                (None, _) | (_, None) => write!(f, "{c} is looked at now and was not then"),
                _ => write!(f, "{c} changed"),
            },
        }
    }
}

pub fn fingerprint(input: &FingerprintInput<'_>) -> Fingerprint {
    let mut out = BTreeMap::new();
    let wanted: BTreeMap<&Address, &Resource> = input.desired.iter().map(|r| (&r.address, r)).collect();
    let found: BTreeMap<&Address, &LiveResource> = input.live.iter().map(|r| (&r.address, r)).collect();
    let addresses: BTreeSet<&Address> = wanted.keys().chain(found.keys()).copied().collect();
    for addr in addresses {
        let value = match (wanted.get(addr), found.get(addr)) {
            (_, None) => "absent".to_string(),
            (None, Some(l)) => short_hash(&[&l.id]),
            (Some(w), Some(l)) => {
                let mut parts: Vec<String> = vec![l.id.clone()];
                for (k, a) in &w.attrs {
                    if a.on_change != OnChange::CreateOnly {
                        parts.push(format!("{k}={}", l.value(k).unwrap_or("\u{0}none")));
                    }
                }
                short_hash(&parts.iter().map(String::as_str).collect::<Vec<_>>())
            }
        };
        out.insert(addr.to_string(), value);
    }
    let record = match input.record {
        None => "none".to_string(),
        Some(r) => {
            let launching = r.launching.as_deref().map(|t| format!(", launching {t}")).unwrap_or_default();
            let id = if r.has_instance() { r.instance_id.as_str() } else { "(none yet)" };
            let json = serde_json::to_string(r).unwrap_or_default();
            format!("epoch {} {id}{launching} #{}", r.epoch, short_hash(&[&json]))
        }
    };
    out.insert(PRIMARY.to_string(), record);
    let handoff = match input.handoff.filter(|h| input.record.is_some_and(|r| h.from_epoch == r.epoch)) {
        Some(h) if h.is_open() => {
            let standby = h.standby.as_ref().map(|s| s.instance_id.as_str()).unwrap_or("no standby");
            format!("{} open ({:?}, {standby})", h.id, h.cause).to_lowercase()
        }
        Some(h) => format!("{} closed", h.id),
        None => "none".to_string(),
    };
    out.insert(HANDOFF.to_string(), handoff);
    Fingerprint(out)
}

impl Fingerprint {
    /// What differs from `now`, in component order. Components in `ignore` (the bucket an apply
    /// just created, say) are left out.
    pub fn moved(&self, now: &Fingerprint, ignore: &dyn Fn(&str) -> bool) -> Vec<Moved> {
        let keys: BTreeSet<&String> = self.0.keys().chain(now.0.keys()).collect();
        keys.into_iter()
            .filter(|k| !ignore(k))
            .filter_map(|k| {
                let (was, now) = (self.0.get(k), now.0.get(k));
                (was != now).then(|| Moved { component: k.clone(), was: was.cloned(), now: now.cloned() })
            })
            .collect()
    }

    /// Whether a handoff of the recorded epoch is open in this state (the guard apply re-checks).
    pub fn handoff_open(&self) -> bool {
        self.0.get(HANDOFF).is_some_and(|h| h.contains(" open "))
    }
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::{Cause, Step};
    use crate::plan::Kind;

    fn sg(ingress: &str) -> Resource {
        Resource::new(Kind::SecurityGroup, "r1", "db").with("ingress", ingress).create_only("vpc", "v")
    }

    fn live_sg(id: &str, ingress: &str, vpc: &str) -> LiveResource {
        LiveResource::new(Address::new(Kind::SecurityGroup, "r1", "db"), id)
            .with("ingress", ingress)
            .with("vpc", vpc)
    }

    fn record(epoch: u64, id: &str) -> PrimaryRecord {
        let first = PrimaryRecord::launching("t", "r1", "r1a", "m5", 10);
        PrimaryRecord { epoch, instance_id: id.into(), launching: None, ..first }
    }

    fn fp(live: &[LiveResource], record: Option<&PrimaryRecord>, handoff: Option<&Handoff>) -> Fingerprint {
        fingerprint(&FingerprintInput { desired: &[sg("[]")], live, record, handoff })
    }

    #[test]
    fn the_same_state_fingerprints_the_same_and_compared_attributes_move_it() {
        let r = record(2, "i-p");
        let a = fp(&[live_sg("sg-1", "[]", "v")], Some(&r), None);
        assert_eq!(a, fp(&[live_sg("sg-1", "[]", "v")], Some(&r), None));
        assert!(a.moved(&a, &|_| false).is_empty());
        // A create-only attribute (where it was made) is not compared by the plan: not covered.
        assert_eq!(a, fp(&[live_sg("sg-1", "[]", "other")], Some(&r), None));
        // A compared attribute, or another id behind the same address, is.
        let b = fp(&[live_sg("sg-1", "[\"10.0.0.0/8\"]", "v")], Some(&r), None);
        let moved = a.moved(&b, &|_| false);
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].component, "security_group.db[r1]");
        assert_eq!(moved[0].to_string(), "security_group.db[r1] changed");
        assert_ne!(a, fp(&[live_sg("sg-2", "[]", "v")], Some(&r), None));
        // Gone, and ignored on request.
        let gone = fp(&[], Some(&r), None);
        assert_eq!(a.moved(&gone, &|_| false)[0].to_string(), "security_group.db[r1] is gone");
        assert!(a.moved(&gone, &|c| c.starts_with("security_group")).is_empty());
    }

    #[test]
    fn the_primary_record_and_an_open_handoff_are_covered_but_not_the_handoffs_heartbeat() {
        let r = record(2, "i-p");
        let before = fp(&[], Some(&r), None);
        let moved = before.moved(&fp(&[], Some(&record(3, "i-q")), None), &|_| false);
        assert_eq!(moved.len(), 1);
        assert!(moved[0].to_string().starts_with("the primary record changed (epoch 2 i-p"), "{}", moved[0]);

        let mut h = Handoff::new(Cause::Interruption, &r, 100);
        let open = fp(&[], Some(&r), Some(&h));
        assert!(open.handoff_open() && !before.handoff_open());
        let moved = before.moved(&open, &|_| false);
        assert_eq!(
            moved[0].to_string(),
            "the handoff of the recorded epoch changed (none -> epoch-2 open (interruption, no standby))"
        );
        // Steps, attempts and errors move on their own: the same fingerprint.
        h.reach(Step::DrainStarted, 120);
        h.attempts = 1;
        h.last_error = Some("capacity".into());
        assert_eq!(open, fp(&[], Some(&r), Some(&h)));
        // A handoff of an older epoch is not the recorded epoch's.
        assert_eq!(before, fp(&[], Some(&record(3, "i-p")), Some(&h)).with(PRIMARY, &before));
    }

    impl Fingerprint {
        fn with(mut self, key: &str, from: &Fingerprint) -> Fingerprint {
            self.0.insert(key.to_string(), from.0[key].clone());
            self
        }
    }
}
