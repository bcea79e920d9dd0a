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

    fn fire(&mut self, what: Timed) {
        match what {
            Timed::Apply => {
                self.tokens += 1;
                let token = format!("tok{}", self.tokens);
                // While calm, the operator breaks a lock a crashed apply left (no apply runs).
                let stale = self.calm() && !self.in_flight.iter().any(|f| f.actor == Actor::Apply);
                let task = actors::apply(&self.world, token, self.calm(), stale);
                self.start(Actor::Apply, task);
            }
            Timed::Watchdog => {
                if self.elapsed() + 60 <= END_AT {
                    self.at(self.elapsed() + 60, Timed::Watchdog);
                }
                let runs = self.world.mutation != Mutation::NoWatchdog;
                if runs && !self.in_flight.iter().any(|f| f.actor == Actor::Watchdog) {
                    let task = actors::watchdog(&self.world);
                    self.start(Actor::Watchdog, task);
                }
            }
            Timed::Write => {
                self.world.commit();
                let next = self.elapsed() + self.rng.between(2, 8);
                if next < END_AT {
                    self.at(next, Timed::Write);
                }
            }
            Timed::Ship => {
                let next = self.elapsed() + self.rng.between(1, 2);
                if next < END_AT {
                    self.at(next, Timed::Ship);
                }
                let writers: Vec<String> = self
                    .world
                    .dbs
                    .iter()
                    .filter(|(id, db)| db.ships_now() && self.world.is_alive(id))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in writers {
                    let actor = Actor::Shipper { instance: id.clone() };
                    if !self.in_flight.iter().any(|f| f.actor == actor) {
                        if let Some(task) = actors::ship(&self.world, &id) {
                            self.start(actor, task);
                        }
                    }
                }
            }
            Timed::AgentPoll(id) => {
                if !self.world.is_alive(&id) || self.world.dead_agents.contains(&id) {
                    return;
                }
                let next = self.elapsed() + self.rng.between(4, 12);
                if next <= END_AT {
                    self.at(next, Timed::AgentPoll(id.clone()));
                }
                let busy = self.in_flight.iter().any(|f| f.actor == Actor::Agent { instance: id.clone() });
                if !busy {
                    if let Some(task) = actors::agent(&self.world, &id) {
                        self.start(Actor::Agent { instance: id }, task);
                    }
                }
            }
            Timed::FenceCheck(id) => {
                if !self.world.is_alive(&id) || self.world.dead_agents.contains(&id) {
                    return;
                }
                let next = self.elapsed() + self.rng.between(1, 2);
                if next <= END_AT {
                    self.at(next, Timed::FenceCheck(id.clone()));
                }
                let actor = Actor::Fence { instance: id.clone() };
                if !self.in_flight.iter().any(|f| f.actor == actor) {
                    if let Some(task) = actors::fence(&self.world, &id) {
                        self.start(actor, task);
                    }
                }
            }
            Timed::StampCheck(id) => {
                if !self.world.is_alive(&id) || self.world.dead_agents.contains(&id) {
                    return;
                }
                let next = self.elapsed() + self.rng.between(5, 15);
                if next <= END_AT {
                    self.at(next, Timed::StampCheck(id.clone()));
                }
                let actor = Actor::Stamp { instance: id.clone() };
                if !self.in_flight.iter().any(|f| f.actor == actor) {
                    if let Some(task) = actors::stamp(&self.world, &id) {
                        self.start(actor, task);
                    }
                }
            }
            Timed::Partition(cut) => {
                let mut partitioned = self.world.partitioned.lock().unwrap_or_else(|p| p.into_inner());
                if !cut {
                    partitioned.clear();
                    drop(partitioned);
                    self.note("every instance reaches the bucket again".into());
                    return;
                }
                let record = futures::executor::block_on(spotctl_aws::state::read_primary(&self.world.store));
                if let Some((p, _)) = record.ok().flatten().filter(|(p, _)| p.has_instance()) {
                    partitioned.insert(p.instance_id.clone());
                    drop(partitioned);
                    self.note(format!("{} is cut off from the bucket", p.instance_id));
                }
            }
            Timed::Crash | Timed::AgentDies => {
                let record = futures::executor::block_on(spotctl_aws::state::read_primary(&self.world.store));
                let Some((p, _)) = record.ok().flatten().filter(|(p, _)| self.world.is_alive(&p.instance_id))
                else {
                    return;
                };
                let id = p.instance_id;
                if what == Timed::Crash {
                    self.note(format!("{id}'s server crashes; the instance runs on"));
                    if let Some(db) = self.world.dbs.get(&id) {
                        db.crash();
                    }
                } else {
                    self.note(format!("{id}'s agent dies; its server takes writes on"));
                    self.world.dead_agents.insert(id.clone());
                    self.in_flight.retain(|f| {
                        f.actor != Actor::Agent { instance: id.clone() }
                            && f.actor != Actor::Fence { instance: id.clone() }
                    });
                }
            }
            Timed::Keep => {
                self.note("the operator keeps the primary".into());
                let task = actors::keep(&self.world);
                self.start(Actor::Keep, task);
            }
            Timed::Interrupt(warned) => self.interrupt(warned),
            Timed::Deliver { raw, name, delivery } => {
                let task = actors::deliver(self.handler.clone(), raw.clone());
                self.note(format!("deliver {name} #{delivery}"));
                self.start(Actor::Handler { event: name, delivery, raw }, task);
            }
            Timed::Reclaim(id) => {
                self.note(format!("AWS reclaims {id}"));
                self.world.ec2.shut_down(&id);
                self.in_flight.retain(|f| {
                    f.actor != Actor::Agent { instance: id.clone() }
                        && f.actor != Actor::Shipper { instance: id.clone() }
                        && f.actor != Actor::Fence { instance: id.clone() }
                });
            }
            Timed::Settle => {
                let next = self.elapsed() + self.rng.between(5, 40);
                if next <= END_AT {
                    self.at(next, Timed::Settle);
                }
                self.world.ec2.settle();
            }
            Timed::KillStandby => {
                let standbys: Vec<String> = self
                    .world
                    .alive()
                    .into_iter()
                    .filter(|i| i.role() == Ok(Some(Role::Standby)))
                    .map(|i| i.id)
                    .collect();
                if !standbys.is_empty() {
                    let id = standbys[self.rng.below(standbys.len() as u64) as usize].clone();
                    self.fire(Timed::Reclaim(id));
                }
            }
            Timed::Relocate => {
                let task = actors::relocate(&self.world);
                self.start(Actor::Relocation, task);
            }
            Timed::Stray => {
                let id = format!("i-stray{}", self.seq);
                self.note(format!("a person launches {id}, tagged primary"));
                self.world.ec2.insert(spotctl_aws::compute::InstanceView {
                    id,
                    region: crate::world::REGION.into(),
                    az: format!("{}a", crate::world::REGION),
                    instance_type: "m5.large".into(),
                    state: spotctl_core::handoff::primary::InstanceState::Running,
                    tags: [
                        (spotctl_core::names::TAG_ENV.to_string(), "sim".to_string()),
                        (spotctl_core::names::TAG_ROLE.to_string(), "primary".to_string()),
                    ]
                    .into(),
                    address: None,
                });
            }
            Timed::Forge => self.forge(),
            Timed::Version(older) => {
                let which = if older { "the older build (a rollback)" } else { "the newer build" };
                self.note(format!("the person applies {which}"));
                self.world.older_env = older;
                self.handler = actors::handler(&self.world);
            }
            Timed::Calm => {
                self.note("calm: faults off".into());
                // The person runs the newer build everywhere they can (instances keep theirs).
                if self.world.older_env {
                    self.fire(Timed::Version(false));
                }
                self.world.faults.calm.store(true, Ordering::SeqCst);
                self.fire(Timed::Partition(false));
                // systemd restarts what died: the servers that crashed, the agents.
                for db in self.world.dbs.values() {
                    db.restart();
                }
                for id in std::mem::take(&mut self.world.dead_agents) {
                    self.note(format!("{id}'s agent is restarted"));
                    let (poll, check) = (self.elapsed() + self.rng.between(1, 10), self.elapsed());
                    self.at(poll, Timed::AgentPoll(id.clone()));
                    self.at(poll, Timed::StampCheck(id.clone()));
                    self.at(check, Timed::FenceCheck(id));
                }
                self.crash_pm = 0;
            }
        }
    }
}

impl Sim {
    /// AWS warns the current primary (the notice in its metadata, 0 to 3 EventBridge copies within
    /// half a minute, reclaimed two minutes later) or takes it without a warning. Now and then
    /// the notice never reaches the instance's metadata while the events arrive, and now and then
    /// the instance is reclaimed sooner than two minutes after the notice.
    /// A compromised instance replaces the stored primary record, as its role may (`If-Match`
    /// on what is stored): a record naming itself at the next epoch, or one that is not a record.
    /// No opening allows it, so every reader passes over it to the newest version one allows.
    fn forge(&mut self) {
        use futures::executor::block_on;
        use spotctl_aws::state::StateStore;
        use spotctl_layout::state::PRIMARY;
        let Ok(Some(stored)) = block_on(self.world.store.get(PRIMARY)) else { return };
        let Ok(mut record) = serde_json::from_slice::<serde_json::Value>(&stored.body) else { return };
        let recorded = record.get("instance_id").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let others: Vec<String> =
            self.world.alive().into_iter().map(|i| i.id).filter(|id| *id != recorded).collect();
        let forger = match others.len() {
            0 => "i-forger".to_string(),
            n => others[self.rng.below(n as u64) as usize].clone(),
        };
        let body = if self.rng.chance(250) {
            b"{\"epoch\": 1000000, \"instance_id\":".to_vec()
        } else {
            let epoch = record.get("epoch").and_then(|v| v.as_u64()).unwrap_or(0) + 1;
            record["epoch"] = epoch.into();
            record["instance_id"] = forger.clone().into();
            if let Some(o) = record.as_object_mut() {
                for field in ["handoff", "kept", "launching", "recovered"] {
                    o.remove(field);
                }
            }
            serde_json::to_vec(&record).unwrap_or_default()
        };
        if block_on(self.world.store.put_if_match(PRIMARY, &stored.etag, body)).is_ok() {
            self.report.forged += 1;
            self.note(format!("{forger} (compromised) forges the primary record"));
        }
    }

    fn interrupt(&mut self, warned: bool) {
        let record =
            futures::executor::block_on(spotctl_aws::state::read_primary(&self.world.store)).ok().flatten();
        let Some((p, _)) = record.filter(|(p, _)| p.has_instance() && self.world.is_alive(&p.instance_id))
        else {
            return;
        };
        let id = p.instance_id.clone();
        if !warned {
            self.note(format!("{id} is lost without a warning"));
            self.fire(Timed::Reclaim(id.clone()));
            // EC2's state change, forwarded 0 to 2 times within half a minute (an event may be
            // lost: the watchdog's minute is the other detector).
            let now = self.elapsed();
            for copy in 0..self.rng.below(3) {
                let name = format!("terminated-{id}");
                let raw = state_change(&format!("{name}-{}", self.rng.below(2)), &id);
                let at = now + self.rng.between(0, 30);
                self.at(at, Timed::Deliver { raw, name: format!("{name}/{copy}"), delivery: 1 });
            }
            return;
        }
        self.note(format!("AWS warns {id}"));
        if self.rng.chance(150) {
            self.report.unnoticed += 1;
            self.note(format!("the notice never reaches {id}'s metadata"));
        } else {
            self.world.notices.insert(id.clone());
            self.world.sync();
        }
        let now = self.elapsed();
        let copies = self.rng.below(4);
        for copy in 0..copies {
            let name = format!("warning-{id}");
            let raw = warning(&format!("{name}-{}", self.rng.below(2)), &id);
            let at = now + self.rng.between(0, 30);
            self.at(at, Timed::Deliver { raw, name: format!("{name}/{copy}"), delivery: 1 });
        }
        let kill = if self.rng.chance(150) { self.rng.between(15, 119) } else { 120 };
        self.report.early_kills += u64::from(kill < 120);
        self.at(now + kill, Timed::Reclaim(id));
    }

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

/// [`run_with`], with every actor's outcome in the trace when `verbose`.
pub fn run_traced(seed: u64, mutation: Mutation, verbose: bool) -> Report {
    let mut rng = Rng::new(seed);
    let rates = FaultRates {
        store_fail: rng.below(30),
        store_lose_reply: rng.below(20),
        capacity: rng.below(400),
        describe_lag: rng.below(300),
        dns_fail: rng.below(100),
    };
    let mut world = World::new(&mut rng, rates, mutation);
    // Mixed versions: the env starts on the older build and is upgraded before or when calm, or
    // starts on the newer one and is rolled back for a while.
    let versions = match rng.below(1000) {
        0..=149 => Some((true, rng.between(30, CALM_AT + 1))),
        150..=249 => Some((false, rng.between(30, CALM_AT - 30))),
        _ => None,
    };
    world.older_env = versions.is_some_and(|(older_first, _)| older_first);
    let handler = actors::handler(&world);
    let t0 = world.now();
    let crash_pm = rng.below(40);
    let mut sim = Sim {
        rng,
        world,
        handler,
        timeline: BTreeMap::new(),
        seq: 0,
        in_flight: Vec::new(),
        crash_pm,
        tokens: 0,
        report: Report { seed, mixed: versions.is_some(), ..Report::default() },
        t0,
        verbose,
    };
    // The operator applies at the start, now and then while things go wrong, and while calm.
    sim.at(0, Timed::Apply);
    for _ in 0..sim.rng.between(1, 3) {
        let at = sim.rng.between(30, CALM_AT);
        sim.at(at, Timed::Apply);
    }
    for at in [CALM_AT + 30, CALM_AT + 180, CALM_AT + 330] {
        sim.at(at, Timed::Apply);
    }
    sim.at(60, Timed::Watchdog);
    sim.at(10, Timed::Settle);
    sim.at(20, Timed::Write);
    sim.at(21, Timed::Ship);
    sim.at(CALM_AT, Timed::Calm);
    match versions {
        // Upgraded (at the latest when calm).
        Some((true, at)) if at < CALM_AT => sim.at(at, Timed::Version(false)),
        // Rolled back (and forward again when calm).
        Some((false, at)) => sim.at(at, Timed::Version(true)),
        _ => {}
    }
    // One or two interruptions: mostly warned, sometimes not.
    for _ in 0..sim.rng.between(1, 2) {
        let at = sim.rng.between(60, CALM_AT - 30);
        let warned = !sim.rng.chance(250);
        sim.at(at, Timed::Interrupt(warned));
    }
    for _ in 0..sim.rng.below(3) {
        let at = sim.rng.between(60, CALM_AT - 30);
        sim.at(at, Timed::KillStandby);
    }
    for _ in 0..sim.rng.below(3) {
        let at = sim.rng.between(60, CALM_AT - 30);
        sim.at(at, Timed::Relocate);
    }
    if sim.rng.chance(150) {
        let at = sim.rng.between(30, CALM_AT);
        sim.at(at, Timed::Stray);
    }
    // Now and then a compromised instance forges the primary record, once or a few times.
    if sim.rng.chance(150) {
        for _ in 0..sim.rng.between(1, 3) {
            let at = sim.rng.between(30, CALM_AT);
            sim.at(at, Timed::Forge);
        }
    }
    // Now and then the primary's server crashes, or its agent dies, with the instance running.
    if sim.rng.chance(120) {
        let at = sim.rng.between(60, CALM_AT - 60);
        sim.at(at, Timed::Crash);
    }
    if sim.rng.chance(120) {
        let at = sim.rng.between(60, CALM_AT - 60);
        sim.at(at, Timed::AgentDies);
    }
    // Now and then the operator keeps the primary, often while a relocation hands it off.
    if sim.rng.chance(150) {
        let at = sim.rng.between(60, CALM_AT);
        sim.at(at, Timed::Keep);
    }
    // Now and then the primary is cut off from the bucket for a while (its agent and shipper reach
    // nothing; its server still takes the application's writes); every cut heals when calm.
    if sim.rng.chance(300) {
        let at = sim.rng.between(40, CALM_AT - 40);
        sim.at(at, Timed::Partition(true));
        let heal = at + sim.rng.between(10, 400);
        if heal < CALM_AT {
            sim.at(heal, Timed::Partition(false));
        }
    }
    while sim.report.steps < MAX_STEPS {
        if !sim.step() {
            break;
        }
        sim.report.steps += 1;
        let broken = after_step(&sim.world);
        if !broken.is_empty() {
            sim.report.violation = Some((sim.report.steps, broken));
            break;
        }
    }
    if sim.report.violation.is_none() {
        let end = if sim.report.steps >= MAX_STEPS {
            vec![Violation::new(Invariant::Converges, format!("still running after {MAX_STEPS} steps"))]
        } else {
            at_end(&sim.world)
        };
        if !end.is_empty() {
            sim.report.violation = Some((sim.report.steps, end));
        }
    }
    sim.report.faults_injected = sim.world.faults.injected.load(Ordering::SeqCst);
    sim.report.lagged_describes = sim.world.faults.lagged.load(Ordering::SeqCst);
    sim.report
}
