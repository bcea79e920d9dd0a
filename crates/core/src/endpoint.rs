//! The endpoint record: one DNS name that follows the primary. Beside the address record sits a
//! TXT record carrying the epoch of the primary it names, so that a change is guarded by epochs:
//! whoever points the name (the new primary's agent as the last step of its promotion, apply for
//! the recorded primary) reads both, refuses to undo a newer epoch, and replaces exactly what it
//! read in one atomic change (Route 53 refuses a DELETE that does not match what it holds).
//!
//! May use: nothing else of this crate.

use serde::{Deserialize, Serialize};

/// What the endpoint holds: the primary's address and its epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub address: String,
    pub epoch: u64,
    pub ttl: u32,
}

impl EndpointRecord {
    /// The TXT record's value (with Route 53's quotes).
    pub fn epoch_txt(&self) -> String {
        format!("\"spotctl-epoch={}\"", self.epoch)
    }

    /// The epoch a TXT value carries.
    pub fn parse_epoch(txt: &str) -> Option<u64> {
        txt.trim_matches('"').strip_prefix("spotctl-epoch=")?.parse().ok()
    }
}

/// What to do about the endpoint, given what it holds now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "endpoint", rename_all = "snake_case")]
pub enum EndpointAction {
    /// It already names this primary.
    Leave,
    /// A newer epoch's primary holds it: changing it would send clients back to an old one.
    Refuse { newer: u64 },
    /// Replace what it holds (or create it) with `want`.
    Point,
}

pub fn decide(current: Option<&EndpointRecord>, want: &EndpointRecord) -> EndpointAction {
    match current {
        Some(c) if c.epoch > want.epoch => EndpointAction::Refuse { newer: c.epoch },
        Some(c) if c == want => EndpointAction::Leave,
        _ => EndpointAction::Point,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(address: &str, epoch: u64) -> EndpointRecord {
        EndpointRecord { address: address.into(), epoch, ttl: 10 }
    }

    #[test]
    fn an_older_epoch_never_takes_the_name_back() {
        assert_eq!(decide(None, &rec("10.0.0.1", 1)), EndpointAction::Point);
        assert_eq!(decide(Some(&rec("10.0.0.1", 1)), &rec("10.0.0.2", 2)), EndpointAction::Point);
        assert_eq!(decide(Some(&rec("10.0.0.2", 2)), &rec("10.0.0.2", 2)), EndpointAction::Leave);
        assert_eq!(
            decide(Some(&rec("10.0.0.2", 2)), &rec("10.0.0.1", 1)),
            EndpointAction::Refuse { newer: 2 }
        );
        // Same epoch, other address (a repair): point it.
        assert_eq!(decide(Some(&rec("10.0.0.9", 2)), &rec("10.0.0.2", 2)), EndpointAction::Point);
    }

    #[test]
    fn the_epoch_travels_in_a_txt_value() {
        let r = rec("10.0.0.1", 12);
        assert_eq!(r.epoch_txt(), "\"spotctl-epoch=12\"");
        assert_eq!(EndpointRecord::parse_epoch(&r.epoch_txt()), Some(12));
        assert_eq!(EndpointRecord::parse_epoch("\"v=spf1\""), None);
    }
}
