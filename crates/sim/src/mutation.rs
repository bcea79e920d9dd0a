//! Planted bugs, one per invariant: a run played with a [`Mutation`] has the bug that invariant
//! guards against, planted in a twin or an actor (never in the product's code, and never in a
//! release build: this crate is test-only and the twins are behind `spotctl-aws`'s `testing`
//! feature). `tests/mutations.rs` shows each one reported as the invariant it breaks: an
//! invariant no mutation makes fire could be checking nothing.

use crate::invariants::Invariant;

/// A bug planted for one run, in the order of the invariants that guard against them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Mutation {
    /// The product as it is.
    #[default]
    None,
    /// A standby goes on without waiting for the control plane's fence of an old primary that
    /// did not fence itself: its agent reads every handoff as `old_fenced`.
    PromoteBeforeFence,
    /// Every reader of the bucket takes any primary record as opened: a record a compromised
    /// instance forged is obeyed (the product's guard against forgery, switched off).
    TrustForgedRecords,
    /// A restore (of a backup, or of the shipped log) that reports success without loading or
    /// verifying anything.
    RestoreUnverified,
    /// A drain, stored or sealed, that turns writes back on once it is done.
    DrainLeavesWritesOn,
    /// A restore of a drain, stored or sealed, that loses the backup's last row.
    RestoreDropsLastRow,
    /// A recovery from the shipped log that loses the log's last row (its last piece).
    RecoveryDropsLastRow,
    /// A shipper that leaves the newest row out of every round, yet reports itself caught up.
    ShipperWithholdsNewest,
    /// The endpoint written with the epoch after the primary's.
    EndpointAhead,
    /// An agent that lowers its drain tag's fence whenever the bucket names it the primary
    /// (keep-primary's lift without a keep), and turns writes on.
    FenceLiftedForPrimary,
    /// The watchdog never runs.
    NoWatchdog,
    /// A standby restores the oldest stored drain rather than the one its handoff names.
    RestoreOldestBackup,
    /// Route 53 accepts every endpoint change and keeps none.
    EndpointChangesLost,
    /// A shipper round that never ends.
    ShipperHangs,
}

impl Mutation {
    /// Every planted bug.
    pub const ALL: [Mutation; 13] = [
        Mutation::PromoteBeforeFence,
        Mutation::TrustForgedRecords,
        Mutation::RestoreUnverified,
        Mutation::DrainLeavesWritesOn,
        Mutation::RestoreDropsLastRow,
        Mutation::RecoveryDropsLastRow,
        Mutation::ShipperWithholdsNewest,
        Mutation::EndpointAhead,
        Mutation::FenceLiftedForPrimary,
        Mutation::NoWatchdog,
        Mutation::RestoreOldestBackup,
        Mutation::EndpointChangesLost,
        Mutation::ShipperHangs,
    ];

    /// The invariant that guards against this bug (`None` for the product as it is).
    pub fn guarded_by(self) -> Option<Invariant> {
        Some(match self {
            Mutation::None => return None,
            Mutation::PromoteBeforeFence => Invariant::OneWriter,
            Mutation::TrustForgedRecords => Invariant::VerifiedRestore,
            Mutation::RestoreUnverified => Invariant::VerifiedRestore,
            Mutation::DrainLeavesWritesOn => Invariant::DrainedStaysOut,
            Mutation::RestoreDropsLastRow => Invariant::RestoredHoldsBackup,
            Mutation::RecoveryDropsLastRow => Invariant::RestoredHoldsLog,
            Mutation::ShipperWithholdsNewest => Invariant::LossWithinWindow,
            Mutation::EndpointAhead => Invariant::EndpointNeverBack,
            Mutation::FenceLiftedForPrimary => Invariant::FencedStaysFenced,
            Mutation::NoWatchdog => Invariant::EndOnePrimary,
            Mutation::RestoreOldestBackup => Invariant::EndHoldsEverything,
            Mutation::EndpointChangesLost => Invariant::EndEndpoint,
            Mutation::ShipperHangs => Invariant::Converges,
        })
    }
}
