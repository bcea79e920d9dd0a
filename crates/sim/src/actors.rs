//! The actors, each the product's real code on the world's twins: a handler invocation (the
//! Lambda on one event), the watchdog's tick, one look of an instance's agent, and the operator's
//! `apply` (its database part: `handoff::assess_primary`, then a launch, a recovery or nothing).

use crate::mutation::Mutation;
use crate::world::{World, REGION};
use futures::future::LocalBoxFuture;
use spotctl_aws::fleet::MemoryFleet;
use spotctl_aws::handler::Handler;
use spotctl_aws::handoff::{
    advance, assess_primary, launch_primary, recover, Agent, Did, FixedPlacements, HandoffError,
    HandoffOutcome, HandoffSeams, Limits, Trigger,
};
use spotctl_aws::state::{Lock, LockInfo, StoreError};
use spotctl_core::desired::{db_instance, LaunchSpec};
use spotctl_core::handoff::Cause;
use spotctl_core::handoff::PrimaryPlan;
use std::sync::Arc;

/// Who a task is.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Actor {
    /// The Lambda on an event (its delivery number, 1 for the first; the event, to deliver again).
    Handler {
        event: String,
        delivery: u32,
        raw: Vec<u8>,
    },
    Watchdog,
    Relocation,
    Agent {
        instance: String,
    },
    /// The shipper on an instance: its binary log to the bucket (`spotctl-ship`).
    Shipper {
        instance: String,
    },
    /// The agent's watcher checking for the notice and the drain tag.
    Fence {
        instance: String,
    },
    /// The agent's timer stamping a restore's progress.
    Stamp {
        instance: String,
    },
    Apply,
    /// The operator's `keep-primary`.
    Keep,
}

impl std::fmt::Debug for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Handler { event, delivery, .. } => write!(f, "handler({event} #{delivery})"),
            Actor::Watchdog => f.write_str("watchdog"),
            Actor::Relocation => f.write_str("relocation"),
            Actor::Agent { instance } => write!(f, "agent({instance})"),
            Actor::Shipper { instance } => write!(f, "shipper({instance})"),
            Actor::Fence { instance } => write!(f, "fence({instance})"),
            Actor::Stamp { instance } => write!(f, "stamp({instance})"),
            Actor::Apply => f.write_str("apply"),
            Actor::Keep => f.write_str("keep-primary"),
        }
    }
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Handler { .. } => "handler",
            Actor::Watchdog => "watchdog",
            Actor::Relocation => "relocation",
            Actor::Agent { .. } => "agent",
            Actor::Shipper { .. } => "shipper",
            Actor::Fence { .. } => "fence",
            Actor::Stamp { .. } => "stamp",
            Actor::Apply => "apply",
            Actor::Keep => "keep",
        }
    }
}

/// How a task ended, when it was not crashed.
#[derive(Debug)]
pub enum Ended {
    Handled(String),
    /// The invocation failed: EventBridge and the Lambda's asynchronous retries deliver it again.
    Failed(String),
    Agent(Did),
    /// An agent's look refused a record newer than its build reads (`spotctl_core::handoff::format`).
    Refused(String),
    Other,
}

pub type Task = LocalBoxFuture<'static, Ended>;

/// The thresholds in the simulated world, shorter than the product's so that a run sees
/// replacements through: `[health] unhealthy_after`, and how long a standby may go without its
/// restore moving (restores here take up to a minute, stamped every few seconds).
pub const LIMITS: Limits = Limits { unhealthy_after_ms: Some(60_000), standby_stall_s: 75 };

/// Three zones of one region, as a ranking would give them.
fn placements(w: &World) -> Arc<FixedPlacements> {
    Arc::new(FixedPlacements::in_region(&w.names, REGION, 3))
}

pub fn handler(w: &World) -> Arc<Handler> {
    Arc::new(Handler {
        names: w.names.clone(),
        store: w.control_store(),
        instances: w.ec2_view(),
        placements: placements(w),
        fleet: Arc::new(MemoryFleet::default()),
        clock: w.control_clock(),
    })
}

/// The Lambda on one delivery of `raw`.
pub fn deliver(h: Arc<Handler>, raw: Vec<u8>) -> Task {
    Box::pin(async move {
        match h.handle(&raw).await {
            Ok(o) => Ended::Handled(serde_json::to_string(&o).unwrap_or_default()),
            Err(e) => Ended::Failed(e.message),
        }
    })
}

/// The watchdog's tick: the open handoff looked at and moved on.
pub fn watchdog(w: &World) -> Task {
    let (store, ec2, clock, placements) = (w.control_store(), w.ec2_view(), w.control_clock(), placements(w));
    Box::pin(async move {
        let seams = HandoffSeams {
            store: store.as_ref(),
            instances: ec2.as_ref(),
            placements: placements.as_ref(),
            clock: clock.as_ref(),
            owner: "watchdog",
            limits: LIMITS,
        };
        match advance(&seams, None).await {
            Ok(o) => Ended::Handled(serde_json::to_string(&o).unwrap_or_default()),
            Err(e) => Ended::Failed(format!("{e:#}")),
        }
    })
}

/// The scheduled relocation after it decided to move the primary: the handoff's real path from
/// there (a standby launched, the old primary asked to drain by its tag).
pub fn relocate(w: &World) -> Task {
    let (store, ec2, clock, placements) = (w.control_store(), w.ec2_view(), w.control_clock(), placements(w));
    Box::pin(async move {
        let seams = HandoffSeams {
            store: store.as_ref(),
            instances: ec2.as_ref(),
            placements: placements.as_ref(),
            clock: clock.as_ref(),
            owner: "relocation",
            limits: Limits { unhealthy_after_ms: None, ..LIMITS },
        };
        let primary = match spotctl_aws::state::read_primary(store.as_ref()).await {
            Ok(Some((p, _))) => p.instance_id,
            Ok(None) => return Ended::Other,
            Err(e) => return Ended::Failed(format!("{e:#}")),
        };
        let trigger = Trigger { cause: Cause::Relocation, instance_id: &primary };
        match advance(&seams, Some(trigger)).await {
            Ok(o) => Ended::Handled(serde_json::to_string(&o).unwrap_or_default()),
            Err(e) => Ended::Failed(format!("{e:#}")),
        }
    })
}

/// The operator keeps the recorded primary (`spotctl keep-primary`), whatever its handoff is
/// doing: exactly one of a standby's promotion and the keep lands.
pub fn keep(w: &World) -> Task {
    let (store, ec2, clock, placements) =
        (w.faulty_store.clone(), w.ec2_view(), w.operator_clock(), placements(w));
    Box::pin(async move {
        let seams = HandoffSeams {
            store: &store,
            instances: ec2.as_ref(),
            placements: placements.as_ref(),
            clock: clock.as_ref(),
            owner: "keep-primary",
            limits: Limits { unhealthy_after_ms: None, ..LIMITS },
        };
        let plan = match spotctl_aws::handoff::plan_keep(&seams).await {
            Ok(p) => p,
            Err(e) => return Ended::Failed(format!("{e:#}")),
        };
        match spotctl_aws::handoff::keep_primary(&seams, &plan.primary.instance_id, "operator").await {
            Ok(k) => Ended::Handled(serde_json::to_string(&k).unwrap_or_default()),
            Err(e) => Ended::Failed(format!("{e:#}")),
        }
    })
}

/// One look of `instance`'s agent.
pub fn agent(w: &World, instance: &str) -> Option<Task> {
    let agent = Agent {
        store: w.agent_store(instance),
        instances: w.ec2_view(),
        metadata: w.metadata.get(instance)?.clone(),
        db: w.db_of(instance)?,
        clock: w.clock_of(instance),
        endpoint: w.duties.get(instance).cloned(),
        fence: w.fences.get(instance)?.clone(),
        restoring: w.restoring.get(instance)?.clone(),
        writer: spotctl_aws::sdk::twin::writer(instance),
    };
    let lifts = w.mutation == Mutation::FenceLiftedForPrimary;
    Some(Box::pin(async move {
        if lifts {
            lift_for_primary(&agent).await;
        }
        match agent.step().await {
            Ok((_, did)) => Ended::Agent(did),
            Err(e) if matches!(e.root(), HandoffError::Store(StoreError::Newer(_))) => {
                Ended::Refused(format!("{e:#}"))
            }
            Err(e) => Ended::Failed(format!("{e:#}")),
        }
    }))
}

/// [`Mutation::FenceLiftedForPrimary`]: when the bucket names this instance the primary, its
/// agent lowers the drain tag's fence as keep-primary would (but no keep was recorded) and turns
/// writes on. A fence the notice raised stays up: `lift_kept` refuses it.
async fn lift_for_primary(agent: &Agent) {
    use spotctl_aws::sdk::imds::paths;
    let md = agent.metadata.as_ref();
    let (Ok(Some(me)), Ok(Some(tag))) =
        (md.read(paths::INSTANCE_ID).await, md.read(&paths::tag(spotctl_core::names::TAG_DRAIN)).await)
    else {
        return;
    };
    let named = spotctl_aws::state::read_primary(agent.store.as_ref()).await;
    if named.ok().flatten().is_none_or(|(p, _)| p.instance_id != me) {
        return;
    }
    let notice = md.read(paths::SPOT_ACTION).await.ok().flatten().is_some();
    if agent.fence.lift_kept(notice, Some(&tag), &tag).await {
        let _ = agent.fence.allow_writes(agent.db.as_ref()).await;
    }
}

/// One check of `instance`'s notice fence, as its watcher makes it on its own timer: the notice
/// and the drain tag read from instance metadata, writes off when either is there.
pub fn fence(w: &World, instance: &str) -> Option<Task> {
    let (fence, md, db) =
        (w.fences.get(instance)?.clone(), w.metadata.get(instance)?.clone(), w.db_of(instance)?);
    Some(Box::pin(async move {
        match fence.check(md.as_ref(), db.as_ref()).await {
            Ok(_) => Ended::Other,
            Err(e) => Ended::Failed(format!("{e:#}")),
        }
    }))
}

/// One tick of `instance`'s agent's timer that stamps a restore under way on its handoff.
pub fn stamp(w: &World, instance: &str) -> Option<Task> {
    let (store, clock, restoring) =
        (w.agent_store(instance), w.clock_of(instance), w.restoring.get(instance)?.clone());
    let id = instance.to_string();
    Some(Box::pin(async move {
        match spotctl_aws::handoff::stamp_progress(store.as_ref(), clock.as_ref(), &restoring, &id).await {
            Ok(()) => Ended::Other,
            Err(e) => Ended::Failed(format!("{e:#}")),
        }
    }))
}

/// One round of `instance`'s shipper: once its server served, what it committed becomes its
/// timeline's log (through the faulty store, each upload taking seconds: a failed round ships
/// nothing, the next one ships it all).
pub fn ship(w: &World, instance: &str) -> Option<Task> {
    let db = w.dbs.get(instance)?.clone();
    let store = crate::frictions::SlowUploads {
        store: w.store_of(instance),
        faults: w.faults.clone(),
        truth: w.clock.clone(),
    };
    let hangs = w.mutation == Mutation::ShipperHangs;
    Some(Box::pin(async move {
        if hangs {
            // [`Mutation::ShipperHangs`]: the round never ends.
            futures::future::pending::<()>().await;
        }
        match db.ship(&store).await {
            Ok(_) => Ended::Other,
            Err(e) => Ended::Failed(format!("{e:#}")),
        }
    }))
}

/// The operator's `apply`, its database part, under the apply lock (a crashed apply leaves it
/// behind; `break_lock` is the operator's `--break-lock`, used when no apply runs): decide from
/// the record, then launch the first primary (or finish an interrupted launch), recover a lost
/// one, or leave them alone.
pub fn apply(w: &World, token: String, replace_lost: bool, break_lock: bool) -> Task {
    let (store, ec2, clock, placements) =
        (w.faulty_store.clone(), w.ec2_view(), w.operator_clock(), placements(w));
    let names = w.names.clone();
    Box::pin(async move {
        if break_lock {
            if let Err(e) = Lock::break_stale(&store).await {
                return Ended::Failed(format!("{e:#}"));
            }
        }
        let info = LockInfo { holder: "operator".into(), command: "apply".into(), pid: 1, since_unix: 0 };
        let lock = match Lock::acquire(&store, &info).await {
            Ok(l) => l,
            Err(e) => return Ended::Failed(format!("{e:#}")),
        };
        let end = apply_locked(
            &store,
            ec2.as_ref(),
            clock.as_ref(),
            placements.as_ref(),
            &names,
            token,
            replace_lost,
        )
        .await;
        match lock.release().await {
            Ok(()) => end,
            Err(e) => Ended::Failed(format!("releasing the lock: {e:#}")),
        }
    })
}

async fn apply_locked(
    store: &spotctl_aws::state::MemoryStore,
    ec2: &dyn spotctl_aws::compute::Instances,
    clock: &dyn spotctl_aws::sdk::clock::Clock,
    placements: &FixedPlacements,
    names: &spotctl_core::names::Names,
    token: String,
    replace_lost: bool,
) -> Ended {
    {
        let (store, names) = (store.clone(), names.clone());
        let now = clock.now();
        let assessed = match assess_primary(&store, ec2, &[REGION.to_string()], now).await {
            Ok(a) => a,
            Err(e) => return Ended::Failed(format!("{e:#}")),
        };
        let token = match &assessed.plan {
            PrimaryPlan::Launch => token,
            PrimaryPlan::Lost { .. } if replace_lost => token,
            PrimaryPlan::FinishLaunch { token, .. } => token.clone(),
            PrimaryPlan::Recover { lost, from, data_loss_window_s } => {
                let seams = HandoffSeams {
                    store: &store,
                    instances: ec2,
                    placements,
                    clock,
                    owner: "apply",
                    limits: Limits { unhealthy_after_ms: None, ..LIMITS },
                };
                return match recover(&seams, lost, from, *data_loss_window_s).await {
                    Ok(HandoffOutcome::Failed { why, .. }) => Ended::Failed(why),
                    Ok(_) => Ended::Other,
                    Err(e) => Ended::Failed(format!("{e:#}")),
                };
            }
            PrimaryPlan::Lost { .. } | PrimaryPlan::Keep { .. } | PrimaryPlan::Hold { .. } => {
                return Ended::Other
            }
        };
        let spec = LaunchSpec {
            region: REGION.into(),
            az: format!("{REGION}a"),
            subnet: "subnet-a".into(),
            instance_type: "m5.large".into(),
            ami: "ami-sim".into(),
            reason: "apply".into(),
        };
        let want = db_instance("primary", &spec, &names, 20, "#!/bin/sh\n");
        match launch_primary(&store, ec2, &want, &token, now).await {
            Ok(_) => Ended::Other,
            Err(e) => Ended::Failed(format!("{e:#}")),
        }
    }
}
