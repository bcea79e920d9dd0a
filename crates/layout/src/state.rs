//! The control plane's records (`state/`), its caches (`cache/`) and the handler package
//! (`artifacts/`).
//!
//! May use: nothing else of this crate.

/// The env as last applied: every region it used, so destroy finds them all.
pub const ENV: &str = "state/env.json";
/// The rendered user-data, which the handler gives every standby it launches.
pub const USER_DATA: &str = "state/user-data.sh";
/// `apply`'s and `destroy`'s lock (create-only).
pub const LOCK: &str = "state/lock.json";
/// The primary record: which instance is the primary, at which epoch.
pub const PRIMARY: &str = "state/primary.json";
/// The last FIS experiment `spotctl fis start` started.
pub const FIS_LAST: &str = "state/fis-last.json";
/// One record per handled event: `state/events/<event>.json`.
pub const EVENTS: &str = "state/events/";
/// One lease per handoff: `state/handoffs/<id>.json`.
pub const HANDOFFS: &str = "state/handoffs/";
/// One opening per primary the control plane allowed: `state/openings/<epoch>-<who>.json`.
pub const OPENINGS: &str = "state/openings/";
/// One failover state per fleet: `state/fleets/<name>.json`.
pub const FLEETS: &str = "state/fleets/";
/// The Spot Advisor feed as last fetched.
pub const ADVISOR: &str = "cache/spot-advisor-data.json";
/// What Spot Placement Score queries were spent today.
pub const SPS_LEDGER: &str = "cache/sps-ledger.json";
/// Recent interruptions (pool and time), so a ranking passes over a pool for the cooldown.
pub const INTERRUPTIONS: &str = "cache/interruptions.json";
/// The handler's packages.
pub const ARTIFACTS: &str = "artifacts/";

/// Handoff `id`'s lease and steps.
pub fn handoff_key(id: &str) -> String {
    format!("{HANDOFFS}{id}.json")
}

/// The opening that allows `who` (an instance id, or the launch token of apply's first
/// primary) to be recorded as the primary at `epoch`. Written create-only by the control plane
/// (the handler, `apply`, `keep-primary`, `import`), never by an instance.
pub fn opening_key(epoch: u64, who: &str) -> String {
    format!("{OPENINGS}{epoch:010}-{who}.json")
}

/// The record of a handled event (`name`: its id and kind, made safe by the caller).
pub fn event_key(name: &str) -> String {
    format!("{EVENTS}{name}.json")
}

/// Fleet `fleet`'s failover state.
pub fn fleet_key(fleet: &str) -> String {
    format!("{FLEETS}{fleet}.json")
}

/// The handler package, named by its content: the first 16 hex digits of its SHA-256.
pub fn artifact_key(sha256_hex: &str) -> String {
    format!("{ARTIFACTS}spotctl-{}.zip", sha256_hex.get(..16).unwrap_or(sha256_hex))
}
