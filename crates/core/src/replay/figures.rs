//! The names of the policies a replay compares, and how its figures are rounded.

use serde::Serialize;

/// The policies a replay compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyName {
    /// What ships: the env's own settings through the real decision code.
    Spotctl,
    /// Seed 004's (fleet) or a fixed order of zones (placement).
    Naive,
    /// Never leave the primary region.
    PrimaryOnly,
    /// Always back to the home zone.
    Stay,
    /// The best possible with hindsight.
    Oracle,
}

impl PolicyName {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyName::Spotctl => "spotctl",
            PolicyName::Naive => "naive",
            PolicyName::PrimaryOnly => "primary-only",
            PolicyName::Stay => "stay",
            PolicyName::Oracle => "oracle",
        }
    }
}

/// `x` rounded to `digits` decimals, so that reports print the same figures everywhere.
pub(crate) fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}
