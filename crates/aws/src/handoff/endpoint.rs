//! The agent's part of the endpoint. The recorded primary's agent points the name at its own
//! address: as the last step of a promotion, and while it serves, at most once a minute (so a
//! record that a lost change, a restore of the zone or a hand edit left wrong comes right). Every
//! change goes through `dns::point_endpoint`: an agent whose epoch was superseded never takes the
//! name back from a newer primary.

use super::error::{HandoffError, Result};
use crate::dns::{point_endpoint, zone_id, Dns, Pointed, Route53};
use crate::sdk::imds::MetadataError;
use crate::sdk::imds::{paths, Metadata};
use crate::sdk::Aws;
use crate::state::{StateStore, StoredEnv};
use serde::Serialize;
use spotctl_core::desired::endpoint::{EndpointInput, RecordTarget};
use spotctl_core::endpoint::EndpointRecord;
use std::sync::{Arc, Mutex};

/// What the agent did about the endpoint, for its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "endpoint", rename_all = "snake_case")]
pub enum EndpointStep {
    /// The name already named this instance for this epoch.
    Unchanged,
    /// The name was changed to name this instance.
    Pointed { name: String, address: String, epoch: u64 },
    /// A newer epoch holds the name: left alone.
    Refused { newer: u64 },
    /// Route 53 could not be read or changed; the next look tries again.
    Failed { error: String },
}

impl std::fmt::Display for EndpointStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointStep::Unchanged => f.write_str("the endpoint names this instance"),
            EndpointStep::Pointed { name, address, epoch } => {
                write!(f, "pointed {name} at {address} (epoch {epoch})")
            }
            EndpointStep::Refused { newer } => write!(f, "left the endpoint to epoch {newer}"),
            EndpointStep::Failed { error } => write!(f, "could not point the endpoint: {error}"),
        }
    }
}

/// How long a serving primary trusts that the record still names it before it reads it again.
pub const RECHECK_SECS: i64 = 60;

/// The name this agent points, and where it lives.
pub struct EndpointDuty {
    pub dns: Arc<dyn Dns>,
    pub zone: String,
    pub name: String,
    pub ttl: u32,
    /// The epoch the record was last seen naming this instance with, and when.
    last: Mutex<Option<(u64, i64)>>,
}

impl EndpointDuty {
    pub fn new(dns: Arc<dyn Dns>, zone: &str, name: &str, ttl: u32) -> EndpointDuty {
        EndpointDuty { dns, zone: zone.to_string(), name: name.to_string(), ttl, last: Mutex::new(None) }
    }

    /// Points the name at this instance for `epoch`; `force` (a promotion) reads the record even
    /// when it was seen right within the minute. `None`: not looked at (seen right recently).
    pub async fn point(&self, md: &dyn Metadata, epoch: u64, now: i64, force: bool) -> Option<EndpointStep> {
        let seen = self.last.lock().ok().and_then(|l| *l);
        if !force && seen.is_some_and(|(e, at)| e == epoch && now - at < RECHECK_SECS) {
            return None;
        }
        let tried = async {
            let record = EndpointRecord {
                address: address(md).await.map_err(|e| e.to_string())?,
                epoch,
                ttl: self.ttl,
            };
            let pointed = point_endpoint(self.dns.as_ref(), &self.zone, &self.name, &record)
                .await
                .map_err(|e| format!("{e:#}"))?;
            Ok::<_, String>((record, pointed))
        };
        Some(match tried.await {
            Ok((r, Pointed::Points { changed })) => {
                if let Ok(mut l) = self.last.lock() {
                    *l = Some((epoch, now));
                }
                match changed {
                    true => EndpointStep::Pointed { name: self.name.clone(), address: r.address, epoch },
                    false => EndpointStep::Unchanged,
                }
            }
            Ok((_, Pointed::Refused { newer })) => EndpointStep::Refused { newer },
            Err(error) => EndpointStep::Failed { error },
        })
    }
}

/// Where applications reach this instance: its public IPv4 address, else its private one.
pub async fn address(md: &dyn Metadata) -> Result<String, MetadataError> {
    match md.read(paths::PUBLIC_IPV4).await? {
        Some(a) if !a.is_empty() => Ok(a),
        _ => md.require(paths::LOCAL_IPV4).await,
    }
}

/// The env's endpoint as the stored env names it, with its zone found (a zone spotctl made is
/// looked up by name and the env's tag). `None` when the env has no stored env yet or the zone
/// is not there (yet): the agent serves without pointing and looks again on its next start.
pub async fn resolve(aws: &Aws, store: &dyn StateStore) -> Result<Option<EndpointDuty>> {
    let Some(stored) = StoredEnv::read(store).await? else { return Ok(None) };
    let env = stored.env_file()?;
    let e: EndpointInput = EndpointInput::for_env(&env, RecordTarget::Leave);
    let zone =
        zone_id(aws, &e.zone, &env.env.name).await.map_err(|e| HandoffError::Endpoint(format!("{e:#}")))?;
    Ok(zone.map(|z| EndpointDuty::new(Arc::new(Route53 { aws: aws.clone() }), &z, &e.name, env.endpoint.ttl)))
}
