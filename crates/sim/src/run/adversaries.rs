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
        self.forge_reports(&forger);
    }

    /// What else the forger's role lets it write about the primary (the one the record that counts
    /// names): under its own writer's key only (the instance policy's `${aws:userid}`), a report
    /// that the primary has not been healthy since it began (which would have the watchdog replace
    /// it), and, beside the newest timeline's heartbeat, a rosy one (caught up, nothing at risk).
    /// Readers take neither. A compromised primary lies about its own shipping with its own
    /// heartbeat, which no reader can tell from the truth: that is not this adversary.
    fn forge_reports(&mut self, forger: &str) {
        use futures::executor::block_on;
        use spotctl_aws::state::StateStore;
        let opened = block_on(spotctl_aws::state::read_primary(&self.world.store)).ok().flatten();
        let Some(recorded) = opened.map(|(p, _)| p.instance_id).filter(|p| p != forger && !p.is_empty())
        else {
            return;
        };
        let recorded = recorded.as_str();
        let writer = spotctl_aws::sdk::twin::writer(forger);
        let now_ms = u64::try_from(self.world.now()).unwrap_or(0) * 1000;
        let report = serde_json::json!({
            "format": 1, "instance_id": recorded, "epoch": 0, "written_at_ms": now_ms, "healthy_at_ms": 0,
            "checks": {"answers": false, "writes": false, "disk_room": false, "problem": "forged"},
        });
        let key = spotctl_layout::health_key(recorded, &writer);
        let _ = block_on(self.world.store.put(&key, serde_json::to_vec(&report).unwrap_or_default()));
        let timelines =
            block_on(self.world.store.list(&spotctl_layout::log::timelines(spotctl_layout::BACKUPS)));
        let newest = timelines.ok().and_then(|keys| {
            keys.iter().filter_map(|k| spotctl_layout::log::timeline_of(spotctl_layout::BACKUPS, k)).max()
        });
        let own_timeline = |t: u32| {
            let key = spotctl_layout::log::timeline_key(spotctl_layout::BACKUPS, t);
            let stored = block_on(self.world.store.get(&key)).ok().flatten();
            let record = stored.and_then(|v| serde_json::from_slice::<serde_json::Value>(&v.body).ok());
            record.is_some_and(|r| r["writer"].as_str() == Some(writer.as_str()))
        };
        // The forger's own timeline (it was the primary) is its own word, as above.
        if let Some(t) = newest.filter(|t| !own_timeline(*t)) {
            let beat = serde_json::json!({
                "timeline": t, "file": "forged", "end": 0, "written_at_ms": now_ms, "server_id": 0,
                "read_at_ms": now_ms, "safe_through_ms": now_ms, "bound_ms": 1,
            });
            let key = spotctl_layout::log::heartbeat_key(spotctl_layout::BACKUPS, t, Some(&writer));
            let _ = block_on(self.world.store.put(&key, serde_json::to_vec(&beat).unwrap_or_default()));
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
