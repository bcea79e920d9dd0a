//! The fallback Auto Scaling group as the fleet replay models it around the state machine.
//!
//! The state machine sets the group's min, max and desired count. Target tracking (on the visible
//! messages, i.e. the work the primary cannot take) then moves the desired count within min..max as
//! AWS does: out at once to the need, in only when the need has stayed below the desired count for
//! the 15 minutes AWS's scale-in alarm waits for, and then to the largest need of that window.
//! Instances are capped by what the fallback region's traces offer; one launched in a step serves
//! from the next (it boots), and one lost or scaled in during a step does not serve in it.

use crate::fleet::Capacity;
use std::collections::VecDeque;

/// How long the need must stay below the desired count before target tracking scales in.
pub const SCALE_IN_SECS: u32 = 900;

#[derive(Debug, Clone)]
pub(super) struct FallbackGroup {
    pub capacity: Capacity,
    /// Instances the group runs (serving or booting).
    pub held: u32,
    /// The need over the scale-in window, newest last.
    recent: VecDeque<u32>,
    window: usize,
}

impl FallbackGroup {
    pub fn new(gap_seconds: u32) -> FallbackGroup {
        FallbackGroup {
            capacity: Capacity { min: 0, max: 0, desired: 0 },
            held: 0,
            recent: VecDeque::new(),
            window: SCALE_IN_SECS.div_ceil(gap_seconds.max(1)) as usize,
        }
    }

    /// Target tracking's move for this step, `need` being the workers the primary lacks.
    pub fn track(&mut self, need: u32) {
        self.recent.push_back(need);
        while self.recent.len() > self.window {
            self.recent.pop_front();
        }
        let c = &mut self.capacity;
        let recent_max = self.recent.iter().copied().max().unwrap_or(0);
        if need > c.desired {
            c.desired = need;
        } else if self.recent.len() == self.window && recent_max < c.desired {
            c.desired = recent_max;
        }
        c.desired = c.desired.clamp(c.min, c.max.max(c.min));
    }

    /// The instances serving during this step, given what the region offers and the desired count
    /// the step ends with: a launch serves from the next step, an instance lost or scaled in
    /// during the step serves no more in it.
    pub fn step(&mut self, supply: u32) -> u32 {
        let serving = self.held.min(supply).min(self.capacity.desired);
        self.held = self.capacity.desired.min(supply);
        serving
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_out_at_once_and_in_after_the_window() {
        // 300 s steps: the scale-in window is 3 steps.
        let mut g = FallbackGroup::new(300);
        g.capacity = Capacity { min: 1, max: 10, desired: 1 };
        let mut desired = Vec::new();
        for need in [4, 0, 0, 0, 2, 0] {
            g.track(need);
            desired.push(g.capacity.desired);
        }
        assert_eq!(desired, [4, 4, 4, 1, 2, 2]);
    }

    #[test]
    fn a_launched_instance_serves_from_the_next_step_within_supply() {
        let mut g = FallbackGroup::new(60);
        g.capacity = Capacity { min: 1, max: 5, desired: 3 };
        assert_eq!(g.step(2), 0);
        assert_eq!(g.held, 2);
        assert_eq!(g.step(5), 2);
        assert_eq!(g.held, 3);
        assert_eq!(g.step(1), 1);
        g.capacity = Capacity { min: 0, max: 0, desired: 0 };
        assert_eq!((g.step(5), g.held), (0, 0));
    }
}
