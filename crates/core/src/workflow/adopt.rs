//! `spotctl import`: what adopting resources an operator made by hand means, decided here.
//!
//! A resource with the env's name and no `spotctl:env` tag is adopted by tagging it (after
//! showing what will be tagged); one tagged for another env is never touched. An instance is
//! adopted as the primary by writing the primary record for it — only when the record names no
//! live instance and no handoff of its epoch is open (the record is the truth; a second truth
//! cannot be written beside it) — and tagging it primary.

use crate::handoff::primary::{PrimaryRecord, RECORD_FORMAT};
use crate::plan::Address;
use serde::Serialize;

/// Whose a resource found by name is, by its `spotctl:env` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    Untagged,
    Ours,
    OtherEnv(String),
}

pub fn ownership(env_tag: Option<&str>, env: &str) -> Ownership {
    match env_tag {
        None => Ownership::Untagged,
        Some(t) if t == env => Ownership::Ours,
        Some(t) => Ownership::OtherEnv(t.to_string()),
    }
}

/// One thing `import` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Adoption {
    /// Add the env's ownership tags to a resource made by hand with the env's name.
    Tag { address: Address, id: String },
    /// Record this instance as the primary (epoch `epoch`) and tag it so.
    Primary {
        instance_id: String,
        region: String,
        availability_zone: String,
        instance_type: String,
        epoch: u64,
    },
}

/// Whether an instance may become the primary now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryAdoption {
    /// Write the record at this epoch (1 for a first record, the next one over a lost primary).
    Adopt {
        epoch: u64,
    },
    Refuse(String),
}

/// `recorded_alive`: EC2 says the recorded instance runs; `handoff_open`: a handoff of the
/// recorded epoch is open.
pub fn primary_adoption(
    record: Option<&PrimaryRecord>,
    recorded_alive: bool,
    handoff_open: bool,
) -> PrimaryAdoption {
    let Some(r) = record else { return PrimaryAdoption::Adopt { epoch: 1 } };
    if handoff_open {
        return PrimaryAdoption::Refuse(format!(
            "handoff epoch-{} is open: the database instances are the handoff's until it ends",
            r.epoch
        ));
    }
    if let Some(token) = &r.launching {
        return PrimaryAdoption::Refuse(format!(
            "an apply is launching the primary (token {token}); run apply to finish it first"
        ));
    }
    if recorded_alive {
        return PrimaryAdoption::Refuse(format!(
            "the primary record names {} in {}, which runs: there is one primary already",
            r.instance_id, r.region
        ));
    }
    PrimaryAdoption::Adopt { epoch: r.epoch + 1 }
}

/// The record that adopts an instance as the primary.
pub fn adopted_record(a: &Adoption, now: i64) -> Option<PrimaryRecord> {
    let Adoption::Primary { instance_id, region, availability_zone, instance_type, epoch } = a else {
        return None;
    };
    Some(PrimaryRecord {
        format: RECORD_FORMAT,
        epoch: *epoch,
        instance_id: instance_id.clone(),
        region: region.clone(),
        availability_zone: availability_zone.clone(),
        instance_type: instance_type.clone(),
        since_unix: now,
        handoff: None,
        launching: None,
        recovered: None,
        kept: None,
    })
}

/// What `import` will do, for people.
pub fn render(adoptions: &[Adoption], env: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if adoptions.is_empty() {
        let _ = writeln!(out, "Nothing to import: no resource with env `{env}`'s names lacks its tags.");
        return out;
    }
    let _ = writeln!(out, "spotctl will adopt these resources into env `{env}`:\n");
    for a in adoptions {
        match a {
            Adoption::Tag { address, id } => {
                let _ = writeln!(out, "  tag   {address}  ({id})  with spotctl:env = {env}, spotctl:kind");
            }
            Adoption::Primary { instance_id, region, epoch, .. } => {
                let _ = writeln!(
                    out,
                    "  adopt instance {instance_id} in {region} as the primary: record it (epoch {epoch}) and \
                     tag it spotctl:role = primary"
                );
            }
        }
    }
    let _ = writeln!(out, "\nImport: {} to adopt.", adoptions.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Kind;

    fn record(epoch: u64) -> PrimaryRecord {
        let first = PrimaryRecord::launching("t", "r1", "r1a", "m5", 10);
        PrimaryRecord { epoch, instance_id: "i-old".into(), launching: None, ..first }
    }

    #[test]
    fn only_an_untagged_resource_is_adoptable() {
        assert_eq!(ownership(None, "dev"), Ownership::Untagged);
        assert_eq!(ownership(Some("dev"), "dev"), Ownership::Ours);
        assert_eq!(ownership(Some("prod"), "dev"), Ownership::OtherEnv("prod".into()));
    }

    #[test]
    fn a_primary_is_adopted_only_where_the_record_names_no_live_instance() {
        assert_eq!(primary_adoption(None, false, false), PrimaryAdoption::Adopt { epoch: 1 });
        // Lost: the next epoch, so every agent of the old one is fenced by the record.
        assert_eq!(primary_adoption(Some(&record(4)), false, false), PrimaryAdoption::Adopt { epoch: 5 });
        let Refuse(why) = primary_adoption(Some(&record(4)), true, false) else {
            panic!("adopted beside a live primary")
        };
        assert!(why.contains("names i-old in r1, which runs"), "{why}");
        assert!(
            matches!(primary_adoption(Some(&record(4)), false, true), PrimaryAdoption::Refuse(w) if w.contains("epoch-4 is open"))
        );
        let launching = PrimaryRecord::launching("tok", "r1", "r1a", "m5", 10);
        assert!(
            matches!(primary_adoption(Some(&launching), false, false), PrimaryAdoption::Refuse(w) if w.contains("tok"))
        );
    }

    use PrimaryAdoption::Refuse;

    #[test]
    fn the_adopted_record_names_the_instance_and_the_plan_reads_for_people() {
        let a = Adoption::Primary {
            instance_id: "i-new".into(),
            region: "r1".into(),
            availability_zone: "r1b".into(),
            instance_type: "r5.large".into(),
            epoch: 5,
        };
        let r = adopted_record(&a, 99).expect("a record");
        assert_eq!((r.epoch, r.instance_id.as_str(), r.launching.clone()), (5, "i-new", None));
        assert!(r.has_instance());
        let sg = Adoption::Tag {
            address: Address::new(Kind::SecurityGroup, "r1", "spotctl-dev-db"),
            id: "sg-1".into(),
        };
        assert_eq!(adopted_record(&sg, 99), None);
        let text = render(&[sg, a], "dev");
        assert!(text.contains("  tag   security_group.spotctl-dev-db[r1]  (sg-1)"), "{text}");
        assert!(text.contains("adopt instance i-new in r1 as the primary: record it (epoch 5)"), "{text}");
        assert!(render(&[], "dev").starts_with("Nothing to import"));
    }
}
