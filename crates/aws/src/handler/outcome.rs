//! What the handler returns: a typed outcome per event, or an error that says whether a retry can
//! help (the Lambda invocation then fails, and EventBridge's retries or the watchdog try again).

use crate::compute::ComputeError;
use crate::fleet::{FleetError, FleetOutcome, FleetTick};
use crate::handoff::{HandoffError, HandoffOutcome, PlacementsError};
use crate::protect::BackupsError;
use crate::state::StoreError;
use serde::Serialize;
use spotctl_core::placement::advisor::AdvisorSource;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Handled for the first time; `next` says what spotctl did about it.
    Handled { key: String, next: Next },
    /// The same event (id and kind) was handled before: a duplicate delivery.
    Duplicate { key: String },
    /// The event is about something that is not this env's.
    NotOurs { reason: String },
}

/// What a handled event led to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Next {
    /// The interruption warning for the primary: the handoff.
    Handoff(HandoffOutcome),
    /// The scheduled relocation: stay, or move through a handoff.
    Relocation(Relocation),
    /// The watchdog's look at the open handoff.
    Watchdog(HandoffOutcome),
    /// The daily advisor refresh: which source the data now comes from.
    AdvisorRefresh { source: AdvisorSource, notes: Vec<String> },
    /// A fleet's primary group launched or failed to launch.
    Fleet(FleetOutcome),
    /// The once-a-minute fleet tick.
    FleetTick { fleets: Vec<FleetTick> },
    /// Recorded only: a rebalance recommendation alone does not move the database.
    Recorded { note: String },
    /// The daily retention: what was kept and deleted of the backups.
    Retention(crate::protect::retention::RetentionReport),
}

/// The scheduled relocation's decision and, when it moves, the handoff it started.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Relocation {
    NoPrimary,
    Stay { reason: String },
    Move { reason: String, handoff: HandoffOutcome },
}

/// A failed invocation: `retryable` says whether trying the same event again can help.
#[derive(Debug, thiserror::Error)]
#[error("{message} (retryable: {retryable})")]
pub struct HandlerError {
    pub message: String,
    pub retryable: bool,
}

impl HandlerError {
    pub fn permanent(message: impl Into<String>) -> HandlerError {
        HandlerError { message: message.into(), retryable: false }
    }

    /// An action's error, with whether trying the same event again can help: a store or capacity
    /// failure that can pass, or a refusal that will not go away by itself (access denied, a bad
    /// stored object).
    pub fn of(e: &ActError) -> HandlerError {
        HandlerError { message: e.to_string(), retryable: e.retryable() }
    }
}

/// What kept the action an event asks for from being done.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    #[error(transparent)]
    Handoff(#[from] HandoffError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Compute(#[from] ComputeError),
    #[error("ranking the placements: {0}")]
    Placements(#[from] PlacementsError),
    #[error(transparent)]
    Backups(#[from] BackupsError),
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error("rule {rule} is not a schedule of env `{env}`")]
    NotASchedule { rule: String, env: String },
    /// `source`, while doing `what`.
    #[error("{what}: {source}")]
    During {
        what: &'static str,
        #[source]
        source: Box<ActError>,
    },
}

impl ActError {
    pub fn retryable(&self) -> bool {
        match self {
            ActError::Handoff(e) => e.retryable(),
            ActError::Store(e) => e.retryable(),
            ActError::Fleet(e) => e.retryable(),
            ActError::Placements(PlacementsError::Store(e)) => e.retryable(),
            ActError::Backups(BackupsError::Store(e)) => e.retryable(),
            ActError::NotASchedule { .. } => false,
            ActError::During { source, .. } => source.retryable(),
            ActError::Compute(_) | ActError::Placements(_) | ActError::Backups(_) => true,
        }
    }
}
