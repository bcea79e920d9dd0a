//! Why a replay cannot run. Every reason is bad input (exit code 2 at the command line) and names
//! what is wrong: the file, the region or the fleet.

use super::traces::TraceError;

/// Why a replay cannot run: bad input, every one (exit code 2 at the command line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error("region {region} ({role}) has no trace file; valid: a file <zone>_….json for a zone of {region} in the traces folder")]
    NoTraces { region: String, role: &'static str },
    #[error("the env has no [[fleet]] to replay")]
    NoFleet,
    #[error("the env has several fleets ({names}); valid: --fleet with one of them")]
    WhichFleet { names: String },
    #[error("the env has no fleet named {name:?}; valid: one of {names}")]
    UnknownFleet { name: String, names: String },
    #[error("the traces of {region} never offer an instance, so the fleet would want none; valid: --want N, 1 or more")]
    NothingWanted { region: String },
    #[error("no zone of {regions} ever has capacity in the traces: there is nowhere to place the database")]
    NoCapacity { regions: String },
}
