//! One seeded run: a scenario drawn from the seed (when the primary is warned or lost without a
//! warning, how many copies of each event arrive and when, how often calls fail, launches are
//! refused and actors crash), played by a scheduler that interleaves every in-flight actor call
//! by call, crashes actors at any of those points, and checks the invariants after every step.
//! The run ends calm (faults off, capacity back, an operator applying) and must then converge.

use crate::actors::{self, Actor, Ended, Task};
use crate::events::{state_change, warning};
use crate::invariants::{after_step, at_end, Invariant, Violation};
use crate::mutation::Mutation;
use crate::rng::Rng;
use crate::world::{FaultRates, World};
use futures::task::{noop_waker, Context, Poll};
use spotctl_core::handoff::primary::Role;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

mod adversaries;
mod fire;
mod play;

pub use play::run_traced;

/// The run's length and where its calm part starts, in simulated seconds.
const CALM_AT: i64 = 420;
const END_AT: i64 = 900;
/// A run that takes more steps than this is reported as stuck.
const MAX_STEPS: usize = 200_000;

/// What happened in one run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seed: u64,
    pub steps: usize,
    /// Where actors were crashed: (actor kind, how many calls it had made).
    pub crashes: BTreeSet<(&'static str, u32)>,
    pub promotions: u64,
    /// Of those, promotions of a standby that recovered the shipped log (an unwarned loss).
    pub from_log: u64,
    /// And promotions of a standby that recovered the log up to its old primary's seal (a
    /// warned handoff whose drain was sealed rather than stored).
    pub from_seal: u64,
    /// Promotions that replaced a primary that was alive but did not serve (fenced by the control
    /// plane first).
    pub replaced_unhealthy: u64,
    /// Promotions after a restore longer than a standby may go without moving: only its progress
    /// stamps kept it.
    pub long_restores: u64,
    /// Primaries a person kept instead of their handoff (the keep's write landed).
    pub kept: u64,
    /// Runs with an older build beside the newer one, and the looks at which an older agent
    /// refused a record the newer one wrote.
    pub mixed: bool,
    pub refusals: u64,
    /// Warnings whose notice never reached the instance's metadata (EventBridge's did), and
    /// warned instances reclaimed sooner than two minutes after the notice.
    pub unnoticed: u64,
    pub early_kills: u64,
    pub faults_injected: u64,
    /// Of those, EC2 describe calls answered from an older view.
    pub lagged_describes: u64,
    /// Primary records a compromised instance forged (each landed over what was stored).
    pub forged: u64,
    /// The first step at which an invariant broke, and every invariant it broke there.
    pub violation: Option<(usize, Vec<Violation>)>,
    /// The last steps, for a failing seed's story.
    pub trace: Vec<String>,
}

impl Report {
    /// The invariants the run broke (at its first failing step), in the header's order.
    pub fn broken(&self) -> Vec<Invariant> {
        self.violation.iter().flat_map(|(_, v)| v.iter().map(|v| v.invariant)).collect()
    }
}

/// Something the timeline starts at its time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timed {
    Apply,
    Watchdog,
    Write,
    /// Every shipping server's shipper stores what it has (about once a second), fenced or not.
    Ship,
    AgentPoll(String),
    /// The agent's watcher checks for the notice and the drain tag (about every second).
    FenceCheck(String),
    /// The agent's timer stamps a restore under way (every few seconds).
    StampCheck(String),
    /// The then-primary is cut off from the state bucket (`true`), or every cut heals (`false`).
    Partition(bool),
    /// The then-primary's server crashes (or hangs) while its instance runs on.
    Crash,
    /// The then-primary's agent process dies; its server and shipper go on.
    AgentDies,
    /// The operator keeps the recorded primary instead of its handoff (`spotctl keep-primary`).
    Keep,
    /// AWS warns the then-primary (`true`) or takes it without a warning (`false`).
    Interrupt(bool),
    /// One EventBridge delivery of an event.
    Deliver {
        raw: Vec<u8>,
        name: String,
        delivery: u32,
    },
    Reclaim(String),
    /// EC2 finishes the terminations under way (shutting-down → terminated).
    Settle,
    KillStandby,
    /// The relocation schedule decided to move the primary.
    Relocate,
    /// Someone launches an instance tagged primary by hand: the record does not name it.
    Stray,
    /// A compromised database instance forges the primary record: what its role may write
    /// (`If-Match` on what is stored), naming itself at the next epoch, or garbage.
    Forge,
    /// The person applies the older build (`true`: a rollback) or the newer one: the handler
    /// runs it from then on, and so does every instance launched after.
    Version(bool),
    Calm,
}

struct InFlight {
    actor: Actor,
    task: Task,
    calls: u32,
}

struct Sim {
    rng: Rng,
    world: World,
    handler: std::sync::Arc<spotctl_aws::handler::Handler>,
    timeline: BTreeMap<(i64, u64), Timed>,
    seq: u64,
    in_flight: Vec<InFlight>,
    crash_pm: u64,
    tokens: u64,
    report: Report,
    t0: i64,
    /// Trace every step's outcome, not only what changed (for replaying one seed).
    verbose: bool,
}

impl Sim {
    fn at(&mut self, secs: i64, what: Timed) {
        self.seq += 1;
        self.timeline.insert((self.t0 + secs, self.seq), what);
    }

    /// `what` at a second drawn from `lo`..=`hi` of the run.
    fn sometime(&mut self, lo: i64, hi: i64, what: Timed) {
        let at = self.rng.between(lo, hi);
        self.at(at, what);
    }

    fn elapsed(&self) -> i64 {
        self.world.now() - self.t0
    }

    fn calm(&self) -> bool {
        self.world.faults.calm.load(Ordering::SeqCst)
    }

    fn note(&mut self, line: String) {
        if self.report.trace.len() == 400 {
            self.report.trace.remove(0);
        }
        self.report.trace.push(format!("t+{} {line}", self.elapsed()));
    }

    fn start(&mut self, actor: Actor, task: Task) {
        self.in_flight.push(InFlight { actor, task, calls: 0 });
    }
}

impl Sim {
    /// Polls one in-flight task once (or crashes it); returns a line for the trace when it ended.
    fn poll(&mut self, i: usize) {
        if self.crash_pm > 0 && self.rng.chance(self.crash_pm) {
            let f = self.in_flight.swap_remove(i);
            self.report.crashes.insert((f.actor.kind(), f.calls));
            self.note(format!("crash {:?} after {} calls", f.actor, f.calls));
            self.ended(f.actor, Ended::Failed("crashed".into()));
            return;
        }
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let f = &mut self.in_flight[i];
        match f.task.as_mut().poll(&mut cx) {
            Poll::Pending => f.calls += 1,
            Poll::Ready(end) => {
                let f = self.in_flight.swap_remove(i);
                self.ended(f.actor, end);
            }
        }
    }

    fn ended(&mut self, actor: Actor, end: Ended) {
        match (&actor, &end) {
            // The Lambda's asynchronous retries: the same event again, a minute or more later.
            (Actor::Handler { event, delivery, raw }, Ended::Failed(why)) if *delivery < 3 => {
                self.note(format!("{event} #{delivery} failed: {why}"));
                let at = self.elapsed() + self.rng.between(60, 120);
                self.at(at, Timed::Deliver { raw: raw.clone(), name: event.clone(), delivery: delivery + 1 });
            }
            (Actor::Agent { instance }, Ended::Agent(did)) => {
                if let spotctl_aws::handoff::Did::Restored {
                    id,
                    promotion: spotctl_aws::handoff::Promotion::Promoted { .. },
                    restored,
                    ..
                } = did
                {
                    self.report.promotions += 1;
                    let lease =
                        futures::executor::block_on(spotctl_aws::state::read_handoff(&self.world.store, id));
                    let lease = lease.ok().flatten().map(|(h, _)| h);
                    let replaced = lease.as_ref().is_some_and(|h| h.reason.is_some());
                    self.report.replaced_unhealthy += u64::from(replaced);
                    let took = lease.as_ref().and_then(|h| {
                        use spotctl_core::handoff::Step;
                        Some(h.steps.get(&Step::Verified)? - h.steps.get(&Step::RestoreStarted)?)
                    });
                    self.report.long_restores +=
                        u64::from(took.is_some_and(|t| t >= actors::LIMITS.standby_stall_s));
                    let sealed = self.world.dbs.get(instance).and_then(|d| d.state().restored_from);
                    let sealed = sealed.is_some_and(|b| b.starts_with("seal:"));
                    self.report.from_seal += u64::from(sealed);
                    self.report.from_log += u64::from(restored.replayed.is_some() && !sealed);
                }
                if self.verbose
                    || !matches!(
                        did,
                        spotctl_aws::handoff::Did::Nothing
                            | spotctl_aws::handoff::Did::Served {
                                repaired: false,
                                endpoint: None | Some(spotctl_aws::handoff::EndpointStep::Unchanged)
                            }
                    )
                {
                    self.note(format!("{instance}: {did}"));
                }
            }
            (Actor::Keep, Ended::Handled(said)) => {
                self.report.kept += 1;
                self.note(format!("keep-primary: {said}"));
            }
            (a, Ended::Refused(why)) => {
                self.report.refusals += 1;
                self.note(format!("{a:?} refused: {why}"));
            }
            (a, Ended::Failed(why)) => self.note(format!("{a:?} failed: {why}")),
            (a, Ended::Handled(said)) if self.verbose => self.note(format!("{a:?}: {said}")),
            _ => {}
        }
    }

    /// One step: poll an in-flight actor, or start what the timeline has next. `false` when done.
    fn step(&mut self) -> bool {
        let due = self.timeline.first_key_value().map(|((t, _), _)| *t);
        // Time passes even when nothing is scheduled: what is in flight may be waiting for it.
        if due.is_none() && self.rng.chance(100) {
            self.world.clock.advance(1);
        }
        let poll = !self.in_flight.is_empty() && (due.is_none() || self.rng.chance(800));
        if poll {
            let i = self.rng.below(self.in_flight.len() as u64) as usize;
            self.poll(i);
        } else if let Some(((t, _), what)) = self.timeline.pop_first() {
            if t > self.world.now() {
                self.world.clock.set(t);
            }
            self.fire(what);
        } else {
            return false;
        }
        for id in self.world.sync() {
            let boot = self.elapsed() + self.rng.between(5, 25);
            self.at(boot, Timed::AgentPoll(id.clone()));
            self.at(boot, Timed::StampCheck(id));
        }
        for id in std::mem::take(&mut self.world.to_fence) {
            let at = self.elapsed() + self.rng.between(0, 1);
            self.at(at, Timed::FenceCheck(id));
        }
        true
    }
}

/// Plays seed `seed` to its end; the report says whether an invariant broke, and where.
pub fn run(seed: u64) -> Report {
    run_traced(seed, Mutation::None, false)
}

/// [`run`] with `mutation`'s bug planted (`mutation`: each invariant shown to fire).
pub fn run_with(seed: u64, mutation: Mutation) -> Report {
    run_traced(seed, mutation, false)
}
