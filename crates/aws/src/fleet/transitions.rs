//! What the handler does for fleets: failover and failback on the primary group's launch results,
//! and, once a minute, the scaling metrics and one failback step. Decisions are
//! `spotctl_core::fleet`'s; this module reads the state and the fallback group, writes the state
//! with compare-and-swap, and only then sets the fallback group's capacity.

use super::api::{FleetApi, FleetError, GroupView};
use crate::sdk::clock::Clock;
use crate::state::{get_json, json_body, Etag, StateStore, StoreError, StoredEnv};
use serde::Serialize;
use spotctl_core::config::Fleet;
use spotctl_core::desired::fleet::{region_of, MetricSpec};
use spotctl_core::fleet::{
    backlog_per_instance, on_launch_event, on_tick, Capacity, Decision, FleetState, LaunchEvent, Mode, Side,
};
use spotctl_core::names::Names;
use spotctl_layout::state::fleet_key;

type Result<T> = std::result::Result<T, FleetError>;

/// The handler's view of an env's fleets.
pub struct Fleets<'a> {
    pub names: &'a Names,
    pub store: &'a dyn StateStore,
    pub api: &'a dyn FleetApi,
    pub clock: &'a dyn Clock,
}

/// What one event or tick did to one fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum FleetOutcome {
    /// Nothing changed, and why (a duplicate, late news, the group as it should be).
    Unchanged { fleet: String, why: String },
    /// The mode stays; the event is remembered.
    Remembered { fleet: String, why: String },
    /// The mode (or, on a tick, the fallback group) moved.
    Transition { fleet: String, from: Mode, to: Mode, fallback: Capacity },
    /// The launch event is not about a fleet's primary group.
    NotAPrimaryGroup { group: String, why: String },
}

/// What one tick did to one fleet: the metrics published, then the failback step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetTick {
    pub fleet: String,
    pub visible_messages: u64,
    pub in_service: u32,
    pub backlog_per_instance: f64,
    pub step: FleetOutcome,
}

/// One fleet, as `spotctl status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FleetStatus {
    pub name: String,
    pub mode: Mode,
    pub since_unix: i64,
    pub groups: Vec<GroupView>,
    pub visible_messages: Option<u64>,
    pub backlog_per_instance: Option<f64>,
}

impl Fleets<'_> {
    /// The fleets of the applied env (`state/env.json`).
    pub async fn load(&self) -> Result<Vec<Fleet>> {
        Ok(match StoredEnv::read(self.store).await? {
            Some(stored) => stored.env_file()?.fleet,
            None => Vec::new(),
        })
    }

    async fn group(&self, f: &Fleet, side: Side) -> Result<Option<GroupView>> {
        self.api.group(side, region_of(f, side), &self.names.fleet_group(&f.name, side)).await
    }

    async fn state(&self, f: &Fleet) -> Result<(FleetState, Option<Etag>)> {
        Ok(match get_json::<FleetState>(self.store, &fleet_key(&f.name)).await? {
            Some((s, etag)) => (s, Some(etag)),
            None => (FleetState::default(), None),
        })
    }

    /// Writes the state: compare-and-swap against what was read, or create-only the first time.
    /// `false` when another writer won.
    async fn write_state(&self, f: &Fleet, s: &FleetState, etag: Option<&str>) -> Result<bool> {
        let key = fleet_key(&f.name);
        let body = json_body(&key, s)?;
        let written = match etag {
            Some(e) => self.store.put_if_match(&key, e, body).await,
            None => self.store.put_if_absent(&key, body).await,
        };
        match written {
            Ok(_) => Ok(true),
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads state and group, decides, writes the state conditionally, then sets the group; a
    /// concurrent writer makes it start over from what that writer left.
    async fn transition(
        &self,
        f: &Fleet,
        decide: impl Fn(&FleetState, Capacity) -> Decision,
    ) -> Result<FleetOutcome> {
        let fleet = f.name.clone();
        for _ in 0..crate::state::CAS_ATTEMPTS {
            let (state, etag) = self.state(f).await?;
            let fallback = self
                .group(f, Side::Fallback)
                .await?
                .ok_or_else(|| FleetError::NoFallbackGroup(f.name.clone()))?;
            match decide(&state, fallback.capacity()) {
                Decision::Unchanged(why) => return Ok(FleetOutcome::Unchanged { fleet, why }),
                Decision::Remember { state: next, why } => {
                    if self.write_state(f, &next, etag.as_deref()).await? {
                        return Ok(FleetOutcome::Remembered { fleet, why });
                    }
                }
                Decision::Transition { state: next, fallback: want } => {
                    // The state is written first: of concurrent handlers only the one whose write
                    // lands touches the group (the others find the new mode and leave it). Were the
                    // group call to fail after, the next tick sees the drift and repairs it.
                    let changes_mode = next != state;
                    if changes_mode && !self.write_state(f, &next, etag.as_deref()).await? {
                        continue;
                    }
                    if want != fallback.capacity() {
                        self.api.set_capacity(&fallback, want).await?;
                    }
                    return Ok(FleetOutcome::Transition {
                        fleet,
                        from: state.mode,
                        to: next.mode,
                        fallback: want,
                    });
                }
            }
        }
        Err(StoreError::Failed {
            op: "replacing",
            key: fleet_key(&f.name),
            message: "the fleet state kept changing; the next event or tick retries".into(),
            retryable: true,
        }
        .into())
    }

    /// A launch result of a fleet group, delivered by EventBridge.
    pub async fn on_launch(&self, id: &str, time: &str, group: &str, success: bool) -> Result<FleetOutcome> {
        let fleets = self.load().await?;
        let Some(f) = fleets.iter().find(|f| self.names.fleet_group(&f.name, Side::Primary) == group) else {
            let why = if fleets.iter().any(|f| self.names.fleet_group(&f.name, Side::Fallback) == group) {
                "a fallback group: its launches do not drive failover".to_string()
            } else {
                format!("no fleet of env `{}` has this group", self.names.env)
            };
            return Ok(FleetOutcome::NotAPrimaryGroup { group: group.to_string(), why });
        };
        let event = LaunchEvent {
            id: id.to_string(),
            time_unix: spotctl_core::time::parse_rfc3339(time).unwrap_or_else(|| self.clock.now()),
            success,
        };
        self.transition(f, |s, c| on_launch_event(s, &event, c, f)).await
    }

    /// Once a minute: publish each fleet's metrics, then take one failback step (or repair drift).
    /// Every fleet is tried; if any failed, the error names each failure after the others ran.
    pub async fn tick(&self) -> Result<Vec<FleetTick>> {
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for f in self.load().await? {
            let published = self.publish(&f).await;
            let now = self.clock.now();
            let step = self.transition(&f, |s, c| on_tick(s, c, &f, now)).await;
            match (published, step) {
                (Ok((visible, in_service)), Ok(step)) => done.push(FleetTick {
                    fleet: f.name.clone(),
                    visible_messages: visible,
                    in_service,
                    backlog_per_instance: backlog_per_instance(visible, in_service as u64),
                    step,
                }),
                (p, s) => {
                    for e in [p.err(), s.err()].into_iter().flatten() {
                        failed.push(format!("fleet {}: {e:#}", f.name));
                    }
                }
            }
        }
        if !failed.is_empty() {
            return Err(FleetError::Several(failed));
        }
        Ok(done)
    }

    /// The seed's metrics: backlog per in-service primary instance (primary region) and the
    /// visible count (fallback region: metrics are regional, and the fallback group scales on it).
    async fn publish(&self, f: &Fleet) -> Result<(u64, u32)> {
        let visible = self.api.visible_messages(&f.primary_region, &self.names.queue(&f.queue)).await?;
        let in_service = self.group(f, Side::Primary).await?.map(|g| g.in_service).unwrap_or(0);
        for (side, value) in [
            (Side::Primary, backlog_per_instance(visible, in_service as u64)),
            (Side::Fallback, visible as f64),
        ] {
            let spec = MetricSpec::of(&self.names.env, &f.name, side);
            self.api.put_metric(region_of(f, side), &spec, value).await?;
        }
        Ok((visible, in_service))
    }

    pub async fn status(&self) -> Result<Vec<FleetStatus>> {
        let mut out = Vec::new();
        for f in self.load().await? {
            let (state, _) = self.state(&f).await?;
            let mut groups = Vec::new();
            for side in Side::BOTH {
                if let Some(g) = self.group(&f, side).await? {
                    groups.push(g);
                }
            }
            let visible =
                self.api.visible_messages(&f.primary_region, &self.names.queue(&f.queue)).await.ok();
            let in_service = groups.iter().find(|g| g.side == Side::Primary).map(|g| g.in_service as u64);
            out.push(FleetStatus {
                name: f.name.clone(),
                mode: state.mode,
                since_unix: state.since_unix,
                backlog_per_instance: visible.map(|v| backlog_per_instance(v, in_service.unwrap_or(0))),
                visible_messages: visible,
                groups,
            });
        }
        Ok(out)
    }
}
