//! The handoff: moving the one primary to a new instance without losing a row or ever having two.
//!
//! Four actors share the state bucket and nothing else: the handler (Lambda), the old primary's
//! agent, the standby's agent, and the operator's `apply`. Their decisions are pure functions here of what each observed;
//! the I/O loops that observe and act live outside `core`.
//!
//! The protocol, keyed by the primary record's epoch N (ARD.md, "The handoff"):
//! 1. The handler (on a warning, a relocation, or the watchdog's tick) creates the handoff record
//!    `state/handoffs/epoch-N.json` create-only, holding it (an owner and a deadline) while it
//!    launches a standby tagged with the handoff id in the best placement with capacity; it records
//!    the standby and lets go. A launch that fails lets go with the error (the next trigger retries
//!    at once); an attempt that dies is taken over after its deadline.
//! 2. The old primary's agent drains when IMDS shows the interruption notice or its `spotctl:drain`
//!    tag names the handoff: it fences writes and seals (the shipped log holds everything it
//!    committed: the drain's seal, create-only), or else dumps, uploads and writes the manifest last
//!    (create-only); either way it never takes a write again.
//! 3. The recorded standby's agent waits for the manifest or the seal, restores (a seal: the
//!    shipped log, which must reach it), verifies every table, and only then promotes with a
//!    conditional write of the primary record (epoch N → N+1, If-Match the epoch-N entity tag). Of any number of standbys for epoch N exactly one write can succeed; a
//!    standby the handoff does not name, or of a failed handoff, never promotes and leaves.
//! 4. Every database instance boots fenced; an agent turns writes on only when the record names
//!    its instance, and re-asserts that on every look. An old primary a handoff replaced retires.
//! 5. The watchdog resumes a handoff that stalled (no standby, one dead, or one whose restore has
//!    not moved for `STANDBY_STALL_SECS`: progress, not age), falls back to the shipped log (or
//!    else an older backup) when the old primary died before its drain completed, and gives up
//!    (`Failed`, with the fallback and its data-loss window) after `MAX_ATTEMPTS`. A primary gone
//!    with no handoff open (EC2's state change, or the watchdog's look) is recovered from its own
//!    drain, else from the shipped log; so is one alive that has not served for `[health]
//!    unhealthy_after` (`HandlerDecision::Replace`, judged by [`health`]).
//!    The fencing rule: a standby that restores anything but the old primary's own drain waits for
//!    [`Step::OldFenced`], which only the control plane records, once EC2 says the old instance it
//!    terminated is `terminated` ([`fence_step`]).
//! 6. A person may keep the old primary instead (`keep-primary`): the record moves from epoch N to
//!    N+1 naming the same instance ([`primary::Kept`]), so nothing of handoff `epoch-N` can win it.
//!    Records carry formats; a build refuses one newer than it reads ([`format`]).
//! 7. `apply` reads the record: it holds every database instance while a handoff is open, and
//!    replaces a lost primary only through a recovery handoff: its own drain, the shipped log, or
//!    an older complete backup, in that order.
//!
//! The primary record ([`primary`]) is the handoff's too: which instance is the one primary.
//!
//! May use: the bucket's layout (`spotctl_layout`). No I/O: the rooms that read and write live in
//! `spotctl-aws`.

mod apply;
mod decide;
mod fallback;
pub mod format;
pub mod health;
pub mod opening;
pub mod primary;
mod record;

pub use apply::*;
pub use decide::*;
pub use fallback::*;
pub use format::{check_format, NewerFormat, RecordFormat};
pub use health::{assess_health, Health, HealthChecks, HealthReport, Reads};
pub use opening::{OpenedBy, Opening};
pub use record::*;
