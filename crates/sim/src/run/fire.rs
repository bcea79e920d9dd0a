//! What each timed event does when its time comes: the scenario's moves, one `Timed` each.

use super::*;

impl Sim {
    /// One of instance `id`'s own timers: nothing once the instance or its agent is gone; else
    /// `again` in `every` (lo, hi) seconds while the run lasts, and `actor`'s task (made by
    /// `make`) started unless its last one still runs.
    fn tick(
        &mut self,
        id: &str,
        every: (i64, i64),
        again: Timed,
        actor: Actor,
        make: fn(&World, &str) -> Option<Task>,
    ) {
        if !self.world.is_alive(id) || self.world.dead_agents.contains(id) {
            return;
        }
        let next = self.elapsed() + self.rng.between(every.0, every.1);
        if next <= END_AT {
            self.at(next, again);
        }
        if !self.in_flight.iter().any(|f| f.actor == actor) {
            if let Some(task) = make(&self.world, id) {
                self.start(actor, task);
            }
        }
    }

    pub(super) fn fire(&mut self, what: Timed) {
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
                let actor = Actor::Agent { instance: id.clone() };
                self.tick(&id, (4, 12), Timed::AgentPoll(id.clone()), actor, actors::agent);
            }
            Timed::FenceCheck(id) => {
                let actor = Actor::Fence { instance: id.clone() };
                self.tick(&id, (1, 2), Timed::FenceCheck(id.clone()), actor, actors::fence);
            }
            Timed::StampCheck(id) => {
                let actor = Actor::Stamp { instance: id.clone() };
                self.tick(&id, (5, 15), Timed::StampCheck(id.clone()), actor, actors::stamp);
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
