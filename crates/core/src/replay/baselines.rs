//! What the fleet replay counts, over what inputs, and the two policies that need no state
//! machine: `primary-only` (no fallback at all) and `oracle` (with hindsight, the fallback holds
//! exactly what would serve, launched one step ahead: the most any policy could serve, at the
//! least fallback worker-hours).

use crate::fleet::Mode;

/// What one policy did, in steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Tally {
    pub served: u64,
    pub primary_held: u64,
    pub fallback_held: u64,
    pub fallback_on: u64,
    pub failovers: u32,
    pub failbacks: u32,
    pub mode_changes: u32,
}

/// The supply series and the fleet's wants, over the common span.
pub(super) struct Input<'a> {
    pub primary: &'a [u32],
    pub fallback: &'a [u32],
    pub want: u32,
    pub max_primary: u32,
    pub max_fallback: u32,
    pub gap: i64,
}

impl Input<'_> {
    /// What the primary group holds when its region offers `supply`: the want, within its cap.
    pub fn primary_target(&self, supply: u32) -> u32 {
        self.want.min(self.max_primary).min(supply)
    }
}

/// Instances the primary group has serving in each step: it holds what its region offers up to
/// the want (within `max_primary`), and a launch serves from the next step. The same for every
/// policy.
fn primary_serving(input: &Input<'_>) -> Vec<u32> {
    let mut held = 0;
    input
        .primary
        .iter()
        .map(|&supply| {
            let serving = held.min(supply);
            held = input.primary_target(supply);
            serving
        })
        .collect()
}

/// A change of mode, counted: a failover leaves `Normal`, a failback returns to it.
pub(super) fn count(t: &mut Tally, from: Mode, to: Mode) {
    if from != to {
        t.mode_changes += 1;
        t.failovers += u32::from(from == Mode::Normal);
        t.failbacks += u32::from(to == Mode::Normal);
    }
}

/// No fallback at all.
pub(super) fn primary_only(input: &Input<'_>) -> Tally {
    let serving = primary_serving(input);
    Tally {
        served: serving.iter().map(|&s| u64::from(s)).sum(),
        primary_held: input.primary.iter().map(|&s| u64::from(input.primary_target(s))).sum(),
        ..Tally::default()
    }
}

/// With hindsight: in each step the fallback serves all the primary lacks, as far as the fallback
/// region offered capacity both then and a step before (to launch it) and the cap allows; it holds
/// an instance only in the step it serves and the one before.
pub(super) fn oracle(input: &Input<'_>) -> Tally {
    let primary = primary_serving(input);
    let n = primary.len();
    let serve: Vec<u32> = (0..n)
        .map(|i| {
            let before = if i == 0 { 0 } else { input.fallback[i - 1] };
            (input.want - primary[i]).min(input.fallback[i]).min(before).min(input.max_fallback)
        })
        .collect();
    let mut t = primary_only(input);
    let mut on = false;
    for i in 0..n {
        let held = serve[i].max(serve.get(i + 1).copied().unwrap_or(0));
        t.served += u64::from(serve[i]);
        t.fallback_held += u64::from(held);
        t.fallback_on += u64::from(held > 0);
        if (held > 0) != on {
            let (from, to) =
                if on { (Mode::FailedOver, Mode::Normal) } else { (Mode::Normal, Mode::FailedOver) };
            count(&mut t, from, to);
            on = held > 0;
        }
    }
    t
}
