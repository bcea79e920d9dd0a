//! The one way the endpoint changes: read, decide with `spotctl_core::endpoint::decide` (never
//! undo a newer epoch), and replace exactly what was read; a concurrent writer makes it read and
//! decide again.

use super::seam::{Dns, DnsError};
use anyhow::{bail, Result};
use serde::Serialize;
use spotctl_core::endpoint::{decide, EndpointAction, EndpointRecord};

/// How pointing the endpoint ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "endpoint", rename_all = "snake_case")]
pub enum Pointed {
    /// The name now holds `want` (it was changed, or already held it).
    Points { changed: bool },
    /// A newer epoch holds the name; it was left alone.
    Refused { newer: u64 },
}

const ATTEMPTS: usize = 5;

/// Points `name` in `zone` at `want`, unless a newer epoch holds it.
pub async fn point_endpoint(dns: &dyn Dns, zone: &str, name: &str, want: &EndpointRecord) -> Result<Pointed> {
    for _ in 0..ATTEMPTS {
        let current = dns.read(zone, name).await?;
        match decide(current.as_ref(), want) {
            EndpointAction::Leave => return Ok(Pointed::Points { changed: false }),
            EndpointAction::Refuse { newer } => return Ok(Pointed::Refused { newer }),
            EndpointAction::Point => match dns.swap(zone, name, current.as_ref(), want).await {
                Ok(()) => return Ok(Pointed::Points { changed: true }),
                Err(DnsError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            },
        }
    }
    bail!("the records of {name} kept changing under {ATTEMPTS} attempts; the next look tries again")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::MemoryDns;
    use futures::executor::block_on;

    fn rec(address: &str, epoch: u64) -> EndpointRecord {
        EndpointRecord { address: address.into(), epoch, ttl: 10 }
    }

    #[test]
    fn racing_writers_end_with_the_newest_epoch() {
        let dns = MemoryDns::default();
        block_on(async {
            point_endpoint(&dns, "z", "db.x.y", &rec("10.0.0.1", 1)).await.expect("first");
            // An old primary's repair and the new primary's promotion, at once, in both orders.
            let (one, two) = (rec("10.0.0.1", 1), rec("10.0.0.2", 2));
            let (old, new) = futures::join!(
                point_endpoint(&dns, "z", "db.x.y", &one),
                point_endpoint(&dns, "z", "db.x.y", &two)
            );
            assert!(old.is_ok() && new.is_ok());
            assert_eq!(dns.read("z", "db.x.y").await.expect("read"), Some(rec("10.0.0.2", 2)));
            let late = point_endpoint(&dns, "z", "db.x.y", &rec("10.0.0.1", 1)).await.expect("late");
            assert_eq!(late, Pointed::Refused { newer: 2 });
            assert_eq!(dns.read("z", "db.x.y").await.expect("read"), Some(rec("10.0.0.2", 2)));
        });
    }
}
