//! The handoff: moving the one primary to a new instance without losing a row or ever having two.
//!
//! Three actors share the state bucket and nothing else: the handler (Lambda), the old primary's
//! agent, and the standby's agent. Their decisions are pure functions here of what each observed;
//! the I/O loops that observe and act live outside `core`.
//!
//! The protocol, keyed by the primary record's epoch N:
//! 1. The handler takes the lease `state/handoffs/epoch-N.json` with a create-only write. A
//!    duplicate, late or out-of-order event for the same primary finds it taken and stops; an event
//!    for an instance that is not the epoch-N primary stops earlier.
//! 2. The handler launches a standby tagged with the handoff id (`epoch-N`) in the best placement.
//! 3. The old primary's agent drains when IMDS shows the interruption notice or its
//!    `spotctl:drain` tag names the handoff: it fences writes, dumps, uploads, writes the manifest last.
//! 4. The standby's agent waits for the manifest, restores, verifies every table, and only then
//!    promotes with a conditional write of the primary record (epoch N → N+1, If-Match the epoch-N
//!    entity tag). Of any number of standbys for epoch N, exactly one write can succeed.
//! 5. An agent that is not the recorded primary never accepts writes; an old primary that sees a
//!    newer epoch retires (terminates itself).
//!
//! May use: `primary`, `names`. No I/O: the rooms that read and write live in `spotctl-aws`.

mod apply;
mod decide;
mod fallback;
mod record;

pub use apply::*;
pub use decide::*;
pub use fallback::*;
pub use record::*;
