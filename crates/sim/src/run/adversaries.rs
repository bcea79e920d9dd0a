//! The world's hostile moves: AWS taking the primary (warned or not) and a compromised instance
//! forging the primary record.

use super::*;

impl Sim {
    /// A compromised instance replaces the stored primary record, as its role may (`If-Match`
    /// on what is stored): a record naming itself at the next epoch, or one that is not a record.
    /// No opening allows it, so every reader passes over it to the newest version one allows.
    pub(super) fn forge(&mut self) {
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

    /// AWS warns the current primary (the notice in its metadata, 0 to 3 EventBridge copies within
    /// half a minute, reclaimed two minutes later) or takes it without a warning. Now and then
    /// the notice never reaches the instance's metadata while the events arrive, and now and then
    /// the instance is reclaimed sooner than two minutes after the notice.
    pub(super) fn interrupt(&mut self, warned: bool) {
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
}
