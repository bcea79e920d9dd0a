//! The pace at which a fleet leaves its fallback region once the primary launches again: a
//! parameter of the fleet state machine (`core::fleet`), set per fleet with `failback` in the env
//! file.
//!
//! Failover is always immediate (capacity first). Failing back is where a fleet can flap: a primary
//! region that launches again often fails again minutes later, and the seed's immediate failback
//! then empties the fallback group only to fill it again. So spotctl shrinks the fallback group
//! gradually and keeps one worker there until the primary has launched with no failure for a quiet
//! period; only then does the fleet leave the fallback region. The default quiet period is learned
//! from the fleet's own history: a running estimate of how long the primary's quiet spells last
//! (the replay of measured spot traces chose it; figures in ARD.md, Replay).

/// How a fleet fails back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Failback {
    /// Seed 004's: the first launch success empties the fallback group at once.
    Immediate,
    /// Gradual, keeping one worker until the primary has had no failed launch for this long.
    After { quiet_secs: u32 },
    /// Gradual, with the quiet period learned from the primary's quiet spells.
    #[default]
    Adaptive,
}

/// The parameters of the fleet state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailoverRules {
    /// The fallback group's cap.
    pub max_fallback: u32,
    pub failback: Failback,
}

impl From<u32> for FailoverRules {
    /// A bare cap: the default failback.
    fn from(max_fallback: u32) -> FailoverRules {
        FailoverRules { max_fallback, failback: Failback::default() }
    }
}

/// The adaptive quiet period before the fleet has seen a quiet spell end.
pub const QUIET_START_SECS: i64 = 600;
/// The adaptive quiet period stays within these bounds.
pub const QUIET_MIN_SECS: i64 = 60;
pub const QUIET_MAX_SECS: i64 = 6 * 3600;
/// A launch failure less than this long after a success is the rest of one partial launch (the
/// group got some of its instances), not the end of a quiet spell.
pub const SPELL_MIN_SECS: i64 = 60;

impl Failback {
    /// How long the primary must launch with no failure before the fallback's last worker goes;
    /// `None` when the failback is immediate. `learned` is the adaptive estimate kept in the
    /// fleet's state (`None` before any quiet spell has ended).
    pub fn quiet_secs(self, learned: Option<i64>) -> Option<i64> {
        match self {
            Failback::Immediate => None,
            Failback::After { quiet_secs } => Some(i64::from(quiet_secs)),
            Failback::Adaptive => Some(learned.unwrap_or(QUIET_START_SECS)),
        }
    }
}

/// The adaptive quiet period once a quiet spell of `spell_secs` has ended: a stochastic-approximation
/// estimate of the 35th percentile of quiet spells. A spell longer than the estimate raises it by
/// 3.5 %, a shorter one lowers it by 6.5 %, so it settles where 35 % of spells are shorter: the
/// fleet holds its fallback through the shortest spells (flapping) and leaves it for the long ones.
pub fn learn(current_secs: i64, spell_secs: i64) -> i64 {
    let next = if spell_secs > current_secs {
        current_secs + current_secs * 35 / 1000
    } else {
        current_secs - current_secs * 65 / 1000
    };
    next.clamp(QUIET_MIN_SECS, QUIET_MAX_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quiet_period_of_each_pace() {
        assert_eq!(Failback::Immediate.quiet_secs(Some(900)), None);
        assert_eq!(Failback::After { quiet_secs: 1200 }.quiet_secs(Some(900)), Some(1200));
        assert_eq!(Failback::Adaptive.quiet_secs(None), Some(QUIET_START_SECS));
        assert_eq!(Failback::Adaptive.quiet_secs(Some(900)), Some(900));
        assert_eq!(FailoverRules::from(7), FailoverRules { max_fallback: 7, failback: Failback::Adaptive });
    }

    #[test]
    fn learning_settles_where_a_third_of_the_spells_are_shorter() {
        assert_eq!(learn(1000, 5000), 1035);
        assert_eq!(learn(1000, 1000), 935);
        assert_eq!(learn(QUIET_MIN_SECS, 0), QUIET_MIN_SECS);
        assert_eq!(learn(QUIET_MAX_SECS, i64::MAX), QUIET_MAX_SECS);
        // Spells of 100 s, 200 s, … 1000 s in turn: 30 % are at most 300 s, 40 % at most 400 s,
        // so the estimate settles around 400 s.
        let mut q = QUIET_START_SECS;
        let mut late = Vec::new();
        for i in 0..3000 {
            q = learn(q, 100 * (i % 10 + 1));
            if i >= 2000 {
                late.push(q);
            }
        }
        let mean = late.iter().sum::<i64>() / late.len() as i64;
        assert!((370..=500).contains(&mean) && late.iter().all(|q| (300..=600).contains(q)), "{mean}");
    }
}
