//! The endpoint's DNS records as a seam: read the address and epoch a name holds, and replace
//! exactly what was read in one atomic change. [`Route53`] is the real one; [`MemoryDns`] is its
//! twin with Route 53's rules (a DELETE must match the record it deletes, a CREATE of an existing
//! name is refused, a change batch is all or nothing), which moto only partly keeps.
//! [`point_endpoint`] is the epoch-guarded change every writer of the name goes through.
//!
//! May use: `sdk`, `spotctl_core`.

#[cfg(any(test, feature = "testing"))]
mod memory;
mod point;
mod route53;
mod seam;

#[cfg(any(test, feature = "testing"))]
pub use memory::MemoryDns;
pub use point::{point_endpoint, Pointed};
pub use route53::{find_zone, zone_id, Route53};
pub use seam::{Dns, DnsError};
