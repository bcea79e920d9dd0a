//! The endpoint's resources: the private hosted zone spotctl makes when the env names none
//! (associated with the default VPC of every candidate region), and the record that names the
//! recorded primary. Apply points the record at the primary it keeps or launches (the address of
//! a launched one is known only once it runs); while a handoff is open the record is the
//! handoff's (the promoted standby points it as the last step of its promotion), and a plan
//! leaves it alone.

use crate::config::{EndpointSection, EnvFile};
use crate::endpoint::EndpointRecord;
use crate::plan::{Kind, Resource};
use std::collections::BTreeMap;

/// Where the record lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointZone {
    /// A hosted zone the env names (by id): spotctl never creates or deletes it.
    Existing { id: String },
    /// The private zone spotctl makes and owns (tagged with the env).
    Managed { name: String },
}

impl EndpointZone {
    /// How the record names its zone in a plan: the id, or `managed:<zone name>`.
    pub fn reference(&self) -> String {
        match self {
            EndpointZone::Existing { id } => id.clone(),
            EndpointZone::Managed { name } => format!("managed:{name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointInput {
    pub name: String,
    pub zone: EndpointZone,
    pub record: RecordTarget,
}

/// What the record should name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordTarget {
    /// The recorded primary, running at this address.
    Primary(EndpointRecord),
    /// The primary this plan launches: its address and epoch are known once it runs.
    Launched { ttl: u32 },
    /// Not the plan's to change (a handoff or a recovery is under way, or the primary is lost).
    Leave,
}

/// What a plan shows for a value only the launch will tell.
pub const AFTER_LAUNCH: &str = "(known after launch)";

impl EndpointInput {
    /// Where env `env`'s endpoint lives, from its `[endpoint]` section.
    pub fn for_env(env: &EnvFile, record: RecordTarget) -> EndpointInput {
        let name = env.endpoint.name_for(&env.env.name);
        let zone = match &env.endpoint.zone_id {
            Some(id) => EndpointZone::Existing { id: id.clone() },
            None => EndpointZone::Managed { name: EndpointSection::zone_name_for(&name) },
        };
        EndpointInput { name, zone, record }
    }
}

/// `region:vpc` pairs, sorted: what a managed zone is associated with.
pub fn vpc_list(vpcs: &BTreeMap<String, String>) -> String {
    vpcs.iter().map(|(r, v)| format!("{r}:{v}")).collect::<Vec<_>>().join(",")
}

pub fn resources(e: &EndpointInput, vpcs: &BTreeMap<String, String>) -> Vec<Resource> {
    let mut out = Vec::new();
    if let EndpointZone::Managed { name } = &e.zone {
        out.push(
            Resource::new(Kind::HostedZone, "global", name)
                .forces("private", "true")
                .with("vpcs", vpc_list(vpcs)),
        );
    }
    let (address, epoch, ttl) = match &e.record {
        RecordTarget::Primary(r) => (r.address.clone(), r.epoch.to_string(), r.ttl),
        RecordTarget::Launched { ttl } => (AFTER_LAUNCH.to_string(), AFTER_LAUNCH.to_string(), *ttl),
        RecordTarget::Leave => return out,
    };
    out.push(
        Resource::new(Kind::DnsRecord, "global", &e.name)
            .with("address", address)
            .with("epoch", epoch)
            .with("ttl", ttl.to_string())
            .create_only("zone", e.zone.reference()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_managed_zone_and_the_record_of_a_running_primary() {
        let vpcs: BTreeMap<String, String> =
            [("r-1".to_string(), "vpc-1".to_string()), ("r-2".to_string(), "vpc-2".to_string())].into();
        let mut e = EndpointInput {
            name: "db.dev.spotctl.internal".into(),
            zone: EndpointZone::Managed { name: "dev.spotctl.internal".into() },
            record: RecordTarget::Leave,
        };
        let only_zone = resources(&e, &vpcs);
        assert_eq!(only_zone.len(), 1, "the record is left to the handoff");
        assert_eq!(only_zone[0].value("vpcs"), Some("r-1:vpc-1,r-2:vpc-2"));
        e.record = RecordTarget::Launched { ttl: 5 };
        let launched = resources(&e, &vpcs);
        assert_eq!((launched[1].value("address"), launched[1].value("ttl")), (Some(AFTER_LAUNCH), Some("5")));
        e.record = RecordTarget::Primary(EndpointRecord { address: "203.0.113.9".into(), epoch: 3, ttl: 10 });
        e.zone = EndpointZone::Existing { id: "Z123".into() };
        let both = resources(&e, &vpcs);
        assert_eq!(both.len(), 1, "a zone the env names is never the plan's");
        assert_eq!(
            (both[0].value("address"), both[0].value("epoch"), both[0].value("zone")),
            (Some("203.0.113.9"), Some("3"), Some("Z123"))
        );
    }
}
