//! The simulated world: the in-memory twins of the state bucket and EC2 (each also seen through a
//! fault hook that the run's seed drives), one in-memory database and one instance-metadata view
//! per instance, the clock, and what the application was told: every acknowledged commit.

use crate::frictions::{Ec2History, FlakyDns, LaggingEc2, SkewedClock, MAX_SKEW_S};
use crate::invariants::FenceSeen;
use crate::mutants::{fence_blind, opening_blind, MutantDb, MutantDns};
use crate::mutation::Mutation;
use crate::rng::Rng;
use crate::versions::OlderBuild;
use spotctl_aws::compute::{InstanceView, MemoryInstances};
use spotctl_aws::dns::MemoryDns;
use spotctl_aws::handoff::{Database, EndpointDuty, LocalFence, MemoryDatabase, Restoring};
use spotctl_aws::sdk::clock::Clock;
use spotctl_aws::sdk::twin::ManualClock;
use spotctl_aws::sdk::{imds::paths, twin::StaticMetadata};
use spotctl_aws::state::{Fault, MemoryStore, Op, StateStore};
use spotctl_core::names::{Names, TAG_DRAIN, TAG_HANDOFF, TAG_ROLE};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub const REGION: &str = "sim-1";
/// When every run's clock starts (simulated unix seconds).
pub const EPOCH_UNIX: i64 = 1_700_000_000;
/// How fast a restore loads rows: a restore takes time in proportion to what it restores (a run
/// commits up to ~150 rows, so restores take up to a few minutes, longer than a standby may go
/// without moving: only its progress stamps keep it).
pub const RESTORE_ROWS_PER_S: u64 = 1;
/// How fast a drain dumps rows (fenced from its start, complete at its end: a drain of a long
/// run takes half a minute of the two-minute warning).
pub const DRAIN_ROWS_PER_S: u64 = 5;
/// How long a seal waits for its shipper (the real seal's `SealOptions::wait`).
pub const SEAL_WAIT_S: i64 = 20;
pub const ENDPOINT_ZONE: &str = "ZSIM";
pub const ENDPOINT_NAME: &str = "db.sim.spotctl.internal";

/// What the twin shipper promises while caught up: a commit acknowledged after its round read
/// the server is stored within this many ms of that read (the twin adds however long the round
/// took to report). The Ship timer offers a round every 1–2 s, but the scheduler crashes rounds,
/// fails their writes, cuts the primary off from the bucket for minutes, and kills the shipper
/// with its instance while the server still takes commits: no cadence is a promise the twin can
/// keep. The handler's own rule is (`spotctl_db::protect::loss_window`): it believes a caught-up
/// report only so long, then counts the window from the report's safe instant, a position. The
/// twin promises that horizon, measured here from the rule itself.
pub fn ship_bound_ms() -> u64 {
    use spotctl_db::protect::{heartbeat::Heartbeat, loss_window, LossWindow, ShipOptions};
    static BOUND: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BOUND.get_or_init(|| {
        let caught_up = Heartbeat {
            read_at_ms: Some(0),
            safe_through_ms: Some(0),
            bound_ms: Some(0),
            ..Heartbeat::default()
        };
        let opts = ShipOptions::default();
        // The simulated clock counts whole seconds.
        (0..=3_600_000)
            .step_by(1_000)
            .take_while(|&age| {
                matches!(loss_window(Some(&caught_up), 0, age, &opts), LossWindow::Shipping { .. })
            })
            .last()
            .unwrap_or(0)
    })
}

/// How often things go wrong while the run is not calm, in per mille.
#[derive(Debug, Clone, Copy)]
pub struct FaultRates {
    /// A state-store call fails before touching anything.
    pub store_fail: u64,
    /// A state-store write lands and its reply is lost.
    pub store_lose_reply: u64,
    /// A launch is refused for capacity.
    pub capacity: u64,
    /// An EC2 describe or list call answers from a view a few seconds old.
    pub describe_lag: u64,
    /// A Route 53 change fails (before it lands, or after with its reply lost).
    pub dns_fail: u64,
}

/// The faults the twins inject, driven by their own stream of the seed; off once the run is calm.
pub struct Faults {
    pub calm: AtomicBool,
    pub rates: FaultRates,
    rng: Mutex<Rng>,
    /// Calls the hooks saw (for the report).
    pub injected: AtomicU64,
    /// Of those, describe calls answered from an older view.
    pub lagged: AtomicU64,
}

impl Faults {
    /// Uniform in `0..n`, from the faults' stream (whether calm or not).
    pub fn draw(&self, n: u64) -> u64 {
        self.rng.lock().map(|mut r| r.below(n)).unwrap_or(0)
    }

    pub fn roll(&self, per_mille: u64) -> bool {
        if self.calm.load(Ordering::SeqCst) || per_mille == 0 {
            return false;
        }
        let hit = self.rng.lock().map(|mut r| r.chance(per_mille)).unwrap_or(false);
        if hit {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        hit
    }
}

/// An acknowledged commit: the row, the instance whose server said OK, and when (simulated unix
/// seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub row: u64,
    pub instance: String,
    pub at: i64,
}

/// A state-store fault hook, as the twin takes it.
pub type StoreHook = Arc<dyn Fn(Op, &str) -> Option<Fault> + Send + Sync>;

pub struct World {
    pub names: Names,
    /// The objects themselves (what invariants read).
    pub store: MemoryStore,
    /// The same objects as the actors reach them, through the fault hook.
    pub faulty_store: MemoryStore,
    /// That fault hook, for the stores of instances that may be cut off from the bucket.
    store_faults: StoreHook,
    /// Instances cut off from the state bucket now (their agent and shipper reach nothing).
    pub partitioned: Arc<Mutex<BTreeSet<String>>>,
    /// Instances whose agent process died (their server and shipper go on).
    pub dead_agents: BTreeSet<String>,
    pub ec2: MemoryInstances,
    /// EC2 as the actors reach it: launches refused for capacity now and then.
    pub faulty_ec2: MemoryInstances,
    /// The true clock (what the invariants and the application read).
    pub clock: Arc<ManualClock>,
    /// Each instance's clock's skew from the true one, and the control plane's and the
    /// operator's (within `frictions::MAX_SKEW_S`).
    pub skews: BTreeMap<String, i64>,
    control_skew: i64,
    operator_skew: i64,
    /// EC2's past views, for describe calls that lag.
    ec2_history: Ec2History,
    pub faults: Arc<Faults>,
    pub dbs: BTreeMap<String, MemoryDatabase>,
    pub metadata: BTreeMap<String, Arc<StaticMetadata>>,
    /// The endpoint's zone, and each instance's part in it (kept across looks, like the agent
    /// process keeps it).
    pub dns: MemoryDns,
    pub duties: BTreeMap<String, Arc<EndpointDuty>>,
    /// Each agent's notice fence (kept across looks, like the agent process keeps it).
    pub fences: BTreeMap<String, Arc<LocalFence>>,
    /// Each agent's restore under way (its timer stamps the progress).
    pub restoring: BTreeMap<String, Arc<Restoring>>,
    /// Instances whose drain tag or notice the fence watcher has yet to be started for.
    pub to_fence: Vec<String>,
    fence_started: BTreeSet<String>,
    /// The highest epoch the endpoint was seen naming (it must never go back).
    pub endpoint_epoch: std::cell::Cell<u64>,
    /// Instances that have the spot interruption notice in their metadata.
    pub notices: BTreeSet<String>,
    pub acked: Vec<Ack>,
    pub next_row: u64,
    /// (instance, backup) pairs whose restore was checked against the backup (once is enough:
    /// after a restore, rows only grow).
    pub checked: std::cell::RefCell<BTreeSet<(String, String)>>,
    /// Handoffs a person gave up by keeping their old primary (seen on the record after each
    /// step): their drains are no promise any more (what such a drain holds beyond the shipped
    /// log is within the log's stated window if the kept primary is lost later).
    pub given_up: std::cell::RefCell<BTreeSet<String>>,
    /// The env's version is the older build (`versions`): its handler, and the instances launched
    /// meanwhile (an instance keeps the binary it booted with).
    pub older_env: bool,
    /// Instances whose agent runs the older build.
    pub older: BTreeSet<String>,
    /// The bug planted in this run, if any (`mutation`).
    pub mutation: Mutation,
    /// Since when each server has not taken commits (absent while it does): a recovery's loss
    /// is counted back from when its lost primary stopped.
    pub stopped: std::cell::RefCell<BTreeMap<String, i64>>,
    /// Every fence seen raised, and by what (seen after each step): a fence that lowers itself
    /// does not make the invariant forget it.
    pub fenced: std::cell::RefCell<BTreeMap<String, FenceSeen>>,
    /// The EC2 version and notices last synced (nothing to do when neither changed).
    synced: (u64, usize),
}

impl World {
    pub fn new(rng: &mut Rng, rates: FaultRates, mutation: Mutation) -> World {
        let faults = Arc::new(Faults {
            calm: AtomicBool::new(false),
            rates,
            rng: Mutex::new(rng.fork()),
            injected: AtomicU64::new(0),
            lagged: AtomicU64::new(0),
        });
        let store = MemoryStore::new();
        let hook = faults.clone();
        let store_faults: StoreHook = Arc::new(move |op, _key| {
            let write = !matches!(op, Op::Get | Op::List);
            if write && hook.roll(hook.rates.store_lose_reply) {
                // The SDK gives up on a lost reply, or (as often) retries, and a conditional
                // write's retry meets its own first attempt (`412`), resolved by reading.
                let conditional = matches!(op, Op::PutIfAbsent | Op::PutIfMatch);
                let retried = conditional && hook.rng.lock().map(|mut r| r.chance(500)).unwrap_or(false);
                Some(if retried { Fault::RetryAfterLostReply } else { Fault::LoseReply })
            } else if hook.roll(hook.rates.store_fail) {
                Some(Fault::Fail { retryable: true })
            } else {
                None
            }
        });
        let hook = store_faults.clone();
        let faulty_store = store.with_faults(move |op, key| hook(op, key));
        let ec2 = MemoryInstances::new("sim").slow_shutdown();
        let hook = faults.clone();
        let faulty_ec2 =
            ec2.refusing(move |_| hook.roll(hook.rates.capacity).then_some("InsufficientInstanceCapacity"));
        World {
            names: Names::new("sim", "123456789012", REGION),
            store,
            faulty_store,
            store_faults,
            partitioned: Default::default(),
            dead_agents: BTreeSet::new(),
            ec2,
            faulty_ec2,
            clock: Arc::new(ManualClock::at(EPOCH_UNIX)),
            skews: BTreeMap::new(),
            control_skew: rng.between(-MAX_SKEW_S, MAX_SKEW_S),
            operator_skew: rng.between(-MAX_SKEW_S, MAX_SKEW_S),
            ec2_history: Ec2History::default(),
            faults,
            dbs: BTreeMap::new(),
            metadata: BTreeMap::new(),
            dns: MemoryDns::default(),
            duties: BTreeMap::new(),
            fences: BTreeMap::new(),
            restoring: BTreeMap::new(),
            to_fence: Vec::new(),
            fence_started: BTreeSet::new(),
            endpoint_epoch: Default::default(),
            notices: BTreeSet::new(),
            acked: Vec::new(),
            next_row: 1,
            checked: Default::default(),
            given_up: Default::default(),
            older_env: false,
            older: BTreeSet::new(),
            mutation,
            stopped: Default::default(),
            fenced: Default::default(),
            synced: (u64::MAX, 0),
        }
    }

    /// The bucket as `instance` reaches it: through the fault hook, and not at all while it is
    /// cut off.
    pub fn store_of(&self, instance: &str) -> MemoryStore {
        let (hook, cut, id) = (self.store_faults.clone(), self.partitioned.clone(), instance.to_string());
        self.store.with_faults(move |op, key| {
            let cut_off = cut.lock().map(|c| c.contains(&id)).unwrap_or(false);
            if cut_off {
                return Some(Fault::Fail { retryable: true });
            }
            hook(op, key)
        })
    }

    /// The bucket as the control plane (handler, watchdog, relocation) reaches it: through the
    /// fault hook, as the env's build.
    pub fn control_store(&self) -> Arc<dyn StateStore> {
        let store: Arc<dyn StateStore> = match self.older_env {
            true => Arc::new(OlderBuild(self.faulty_store.clone())),
            false => Arc::new(self.faulty_store.clone()),
        };
        self.forgery_blind(store)
    }

    /// Under [`Mutation::TrustForgedRecords`], `store` read as if every record were opened.
    fn forgery_blind(&self, store: Arc<dyn StateStore>) -> Arc<dyn StateStore> {
        match self.mutation {
            Mutation::TrustForgedRecords => Arc::new(opening_blind(store)),
            _ => store,
        }
    }

    /// [`World::store_of`], as `instance`'s agent's build reaches it.
    pub fn agent_store(&self, instance: &str) -> Arc<dyn StateStore> {
        let blind = self.mutation == Mutation::PromoteBeforeFence;
        let store: Arc<dyn StateStore> = match (self.older.contains(instance), blind) {
            (true, false) => Arc::new(OlderBuild(self.store_of(instance))),
            (false, false) => Arc::new(self.store_of(instance)),
            (true, true) => Arc::new(fence_blind(Arc::new(OlderBuild(self.store_of(instance))))),
            (false, true) => Arc::new(fence_blind(Arc::new(self.store_of(instance)))),
        };
        self.forgery_blind(store)
    }

    /// `instance`'s server as its agent reaches it: the twin, with the run's mutation planted.
    pub fn db_of(&self, instance: &str) -> Option<Arc<dyn Database>> {
        let db = self.dbs.get(instance)?.clone();
        Some(match self.mutation {
            Mutation::None => Arc::new(db),
            mutation => Arc::new(MutantDb { db, mutation }),
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    fn skewed(&self, skew_s: i64) -> Arc<dyn Clock> {
        Arc::new(SkewedClock { truth: self.clock.clone(), skew_s })
    }

    /// `instance`'s clock (its agent's, its server's and its shipper's).
    pub fn clock_of(&self, instance: &str) -> Arc<dyn Clock> {
        self.skewed(self.skews.get(instance).copied().unwrap_or(0))
    }

    /// The Lambda's clock (the handler, the watchdog, the relocation).
    pub fn control_clock(&self) -> Arc<dyn Clock> {
        self.skewed(self.control_skew)
    }

    /// The operator's machine's clock (`apply`, `keep-primary`).
    pub fn operator_clock(&self) -> Arc<dyn Clock> {
        self.skewed(self.operator_skew)
    }

    /// EC2 as the actors reach it: launches refused for capacity now and then, describe calls
    /// that lag.
    pub fn ec2_view(&self) -> Arc<LaggingEc2> {
        Arc::new(LaggingEc2 {
            ec2: self.faulty_ec2.clone(),
            history: self.ec2_history.clone(),
            faults: self.faults.clone(),
            truth: self.clock.clone(),
        })
    }

    /// Gives every new instance its database (booted fenced, as user-data leaves it) and its
    /// metadata, and brings every instance's metadata in line with its tags and notice (IMDS
    /// shows what EC2 has). Returns the instances seen for the first time.
    pub fn sync(&mut self) -> Vec<String> {
        let now = (self.ec2.version(), self.notices.len());
        if now.0 != self.synced.0 {
            self.ec2_history.record(self.now(), self.ec2.all());
        }
        if now == self.synced {
            return Vec::new();
        }
        self.synced = now;
        let mut new = Vec::new();
        for i in self.ec2.all() {
            if !self.dbs.contains_key(&i.id) {
                let skew = self.faults.draw(2 * MAX_SKEW_S as u64 + 1) as i64 - MAX_SKEW_S;
                self.skews.insert(i.id.clone(), skew);
                let db = MemoryDatabase::with_clock(Vec::new(), true, self.clock_of(&i.id))
                    .named(&i.id)
                    .paced(RESTORE_ROWS_PER_S)
                    .draining(DRAIN_ROWS_PER_S, SEAL_WAIT_S)
                    .promising(ship_bound_ms());
                let db = match self.mutation {
                    Mutation::ShipperWithholdsNewest => db.withholding_newest(),
                    _ => db,
                };
                self.dbs.insert(i.id.clone(), db);
                let md = StaticMetadata::instance(&i.id, REGION, &i.az, &i.instance_type);
                if let Some(a) = &i.address {
                    md.set(paths::PUBLIC_IPV4, a);
                }
                self.metadata.insert(i.id.clone(), Arc::new(md));
                let dns: Arc<dyn spotctl_aws::dns::Dns> = match self.mutation {
                    Mutation::EndpointAhead | Mutation::EndpointChangesLost => {
                        Arc::new(MutantDns { dns: self.dns.clone(), mutation: self.mutation })
                    }
                    _ => Arc::new(self.dns.clone()),
                };
                let dns = Arc::new(FlakyDns { dns, faults: self.faults.clone() });
                let duty = EndpointDuty::new(dns, ENDPOINT_ZONE, ENDPOINT_NAME, 5);
                self.duties.insert(i.id.clone(), Arc::new(duty));
                self.fences.insert(i.id.clone(), Arc::new(LocalFence::default()));
                self.restoring.insert(i.id.clone(), Arc::new(Restoring::default()));
                if self.older_env {
                    self.older.insert(i.id.clone());
                }
                new.push(i.id.clone());
            }
            if let Some(md) = self.metadata.get(&i.id) {
                for tag in [TAG_ROLE, TAG_HANDOFF, TAG_DRAIN] {
                    match i.tags.get(tag) {
                        Some(v) => md.set(&paths::tag(tag), v),
                        None => md.remove(&paths::tag(tag)),
                    }
                }
                if self.notices.contains(&i.id) {
                    md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
                }
                // The agent's watcher checks for the notice and the drain tag on its own timer.
                let signalled = self.notices.contains(&i.id) || i.tags.contains_key(TAG_DRAIN);
                if signalled && i.state.is_alive() && self.fence_started.insert(i.id.clone()) {
                    self.to_fence.push(i.id.clone());
                }
            }
        }
        new
    }

    pub fn alive(&self) -> Vec<InstanceView> {
        self.ec2.alive()
    }

    pub fn is_alive(&self, id: &str) -> bool {
        self.ec2.get(id).is_some_and(|i| i.state.is_alive())
    }

    /// Whether `id`'s server may still answer the application: until EC2 says terminated (a
    /// server shutting down may still take a write), unless stopped.
    pub fn may_serve(&self, id: &str) -> bool {
        use spotctl_core::handoff::primary::InstanceState::*;
        self.ec2.get(id).is_some_and(|i| matches!(i.state, Pending | Running | ShuttingDown | Stopping))
    }

    /// The application commits one row to every server that takes writes (there should be at most
    /// one): acknowledged only where the server said OK.
    pub fn commit(&mut self) {
        let row = self.next_row;
        self.next_row += 1;
        let takers: Vec<String> = self.dbs.keys().filter(|id| self.may_serve(id)).cloned().collect();
        let at = self.now();
        for id in takers {
            if self.dbs.get(&id).is_some_and(|db| db.commit(row)) {
                self.acked.push(Ack { row, instance: id, at });
            }
        }
    }
}
