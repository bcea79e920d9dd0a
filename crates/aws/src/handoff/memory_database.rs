//! The in-memory twin of [`super::Database`], for unit tests and the simulation: rows in a list,
//! a read-only flag, backups as one JSON object, and the shipped log in the real timeline layout.

use super::database::{Database, Drained, LogTarget, Restored, Result, Sealed};
use crate::protect::read_timelines;
use crate::protect::BackupsError;
use crate::sdk::clock::{Clock, SystemClock};
use crate::state::StoreError;
use crate::state::{get_json, json_body, StateStore};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use spotctl_core::handoff::HealthChecks;
use spotctl_db::backup::progress::Progress;
use spotctl_db::error::{DbError, TableMismatch};
use spotctl_db::protect::timeline::{chain_at, next_for_epoch, Branch, Reason, TimelineRecord};
use spotctl_db::protect::ProtectError;
use spotctl_layout::log::{base_record_key, heartbeat_key, timeline_dir, timeline_key};
use spotctl_layout::BackupRoot;
use spotctl_layout::BACKUPS;
use std::sync::{Arc, Mutex};

/// A database in memory: a list of committed rows and a read-only flag. Its backup is one JSON
/// object, `backups/<id>/manifest.json`, holding the rows and their count (which restore checks);
/// a restore replaces the rows whole, as the real one drops and recreates every table.
///
/// Its shipped log follows the real timelines (records, bases and heartbeats in the real
/// layout, by the same rules), but a timeline's log is one object, `memory-log.json`, holding
/// every row shipped so far: [`MemoryDatabase::ship`] rewrites it, as the shipper would have
/// stored them, and recovering the log loads it whole.
#[derive(Clone)]
pub struct MemoryDatabase {
    inner: Arc<Mutex<MemoryRows>>,
    clock: Arc<dyn Clock>,
    /// Written into its backups as `drained_by` (the instance it runs on).
    name: String,
    /// Rows a restore loads per second of its clock (`None`: at once).
    pace: Option<u64>,
    /// Rows a drain dumps per second of its clock (`None`: at once).
    drain_pace: Option<u64>,
    /// How long a seal waits (seconds of its clock) for the shipped log to hold every row (0:
    /// it looks once).
    seal_wait_s: i64,
    /// What its shipper's heartbeats promise while caught up, counted from when its round read
    /// the rows ([`MemoryDatabase::promising`]).
    bound_ms: u64,
    /// A planted bug for the simulation's mutation tests: the shipper stores every row but the
    /// newest and still reports itself caught up.
    withholds_newest: bool,
    /// The timeline a recovery left for [`Database::begin_log`] to begin once this server won.
    recovered: Arc<Mutex<Option<TimelineRecord>>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryRows {
    pub rows: Vec<u64>,
    pub read_only: bool,
    /// The backup the rows were last restored (and verified) from.
    pub restored_from: Option<String>,
    /// The backup this server last drained into (it is fenced for good since).
    pub drained_into: Option<String>,
    /// The epoch and log timeline this server ships to, once it began one (its shipper runs
    /// from then on, fenced or not).
    #[serde(default)]
    pub ships_to: Option<(u64, u32)>,
    /// The writer that timeline names: its heartbeat's key.
    #[serde(default)]
    pub ships_as: Option<String>,
    /// The server crashed or hangs: it commits nothing and fails its health check (its agent,
    /// on the admin socket, still reads and sets `read_only`).
    #[serde(default)]
    pub down: bool,
}

/// The twin's log of one timeline: every row shipped.
#[derive(Serialize, Deserialize)]
struct MemoryLog {
    rows: Vec<u64>,
}

/// Where the twin keeps timeline `t`'s log.
pub fn memory_log_key(t: u32) -> String {
    format!("{}memory-log.json", timeline_dir(BACKUPS, t))
}

/// Where the twin keeps the rows of timeline `t`'s base.
fn memory_base_rows_key(t: u32) -> String {
    format!("{}/memory-{t}/rows.json", spotctl_layout::log::bases(BACKUPS))
}

/// The rows in the twin's log of timeline `t` (empty when none was shipped).
pub async fn memory_log_rows(store: &dyn StateStore, t: u32) -> std::result::Result<Vec<u64>, StoreError> {
    Ok(get_json::<MemoryLog>(store, &memory_log_key(t)).await?.map(|(l, _)| l.rows).unwrap_or_default())
}

/// The twin's seal: the rows its server had when it was fenced, all of them in its timeline's log.
#[derive(Serialize, Deserialize)]
struct MemorySeal {
    epoch: u64,
    timeline: u32,
    rows: Vec<u64>,
    sealed_by: String,
}

#[derive(Serialize, Deserialize)]
struct MemoryManifest {
    rows: Vec<u64>,
    count: usize,
    completed_unix: i64,
    drained_by: String,
}

impl MemoryDatabase {
    /// A server as user-data leaves it.
    pub fn new(rows: Vec<u64>, read_only: bool) -> MemoryDatabase {
        MemoryDatabase::with_clock(rows, read_only, Arc::new(SystemClock))
    }

    /// A server whose drains say they completed at `clock`'s time.
    pub fn with_clock(rows: Vec<u64>, read_only: bool, clock: Arc<dyn Clock>) -> MemoryDatabase {
        let rows = MemoryRows {
            rows,
            read_only,
            restored_from: None,
            drained_into: None,
            ships_to: None,
            ships_as: None,
            down: false,
        };
        MemoryDatabase {
            inner: Arc::new(Mutex::new(rows)),
            clock,
            name: String::new(),
            pace: None,
            drain_pace: None,
            seal_wait_s: 0,
            bound_ms: spotctl_db::protect::model_bound_ms(&spotctl_db::protect::ShipOptions::default()),
            withholds_newest: false,
            recovered: Default::default(),
        }
    }

    /// The same server, whose shipper promises in its heartbeats that a commit acknowledged while
    /// it is caught up is stored within `bound_ms` of its round's read, plus however long that
    /// round took to write its heartbeat (the loss window the handler then states). A test that
    /// calls [`MemoryDatabase::ship`] itself keeps the real shipper's model bound; the simulation
    /// states what its scheduler lets the twin keep.
    pub fn promising(self, bound_ms: u64) -> MemoryDatabase {
        MemoryDatabase { bound_ms, ..self }
    }

    /// The same server, with a planted bug: its shipper leaves the newest row out of every
    /// round yet reports everything it read as stored (a mutation test shows the simulation
    /// catches it).
    pub fn withholding_newest(self) -> MemoryDatabase {
        MemoryDatabase { withholds_newest: true, ..self }
    }

    /// The same server, whose restores load `rows_per_s` rows per second of its clock: a restore
    /// takes time in proportion to what it restores, and counts its progress as it goes.
    pub fn paced(self, rows_per_s: u64) -> MemoryDatabase {
        MemoryDatabase { pace: Some(rows_per_s.max(1)), ..self }
    }

    /// The same server, whose drains dump `rows_per_s` rows per second of its clock (fenced
    /// from the start, complete only at the end), and whose seals wait up to `seal_wait_s` for
    /// its shipper to store every row, as the real seal waits for its shipper.
    pub fn draining(self, rows_per_s: u64, seal_wait_s: i64) -> MemoryDatabase {
        MemoryDatabase { drain_pace: Some(rows_per_s.max(1)), seal_wait_s, ..self }
    }

    /// Takes `rows` at `pace` rows per second of the server's clock, counting each row as a step
    /// of `progress`.
    async fn take_time(&self, pace: Option<u64>, rows: usize, progress: &Progress) {
        let rows = rows as u64;
        let Some(pace) = pace else {
            for _ in 0..rows {
                progress.step(1);
            }
            return;
        };
        let start = self.clock.now();
        let mut done = 0;
        while done < rows {
            let due = (u64::try_from(self.clock.now() - start).unwrap_or(0) * pace).min(rows);
            while done < due {
                progress.step(1);
                done += 1;
            }
            crate::sdk::twin::interleave().await;
        }
    }

    /// The same server, naming itself `name` in the backups it drains.
    pub fn named(self, name: &str) -> MemoryDatabase {
        MemoryDatabase { name: name.to_string(), ..self }
    }

    /// Whether it takes writes now (cheaper than [`MemoryDatabase::state`]).
    pub fn writable_now(&self) -> bool {
        self.inner.lock().map(|g| !g.read_only).unwrap_or(false)
    }

    /// Whether its shipper runs: it began a timeline to ship to.
    pub fn ships_now(&self) -> bool {
        self.inner.lock().map(|g| g.ships_to.is_some()).unwrap_or(false)
    }

    /// Whether an application's commit would be acknowledged now: writes on, server up.
    pub fn takes_commits(&self) -> bool {
        self.inner.lock().map(|g| !g.read_only && !g.down).unwrap_or(false)
    }

    /// Changes the server's state behind its seam's back: how a mutation test plants a bug (a
    /// restore that drops a row, a drain that leaves writes on).
    pub fn tamper(&self, f: impl FnOnce(&mut MemoryRows)) {
        self.with(f);
    }

    pub fn state(&self) -> MemoryRows {
        self.inner.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// The server crashes (or hangs): from now on it commits nothing and fails its checks.
    pub fn crash(&self) {
        self.with(|g| g.down = true);
    }

    /// The server is back (systemd restarted it; InnoDB kept every committed row).
    pub fn restart(&self) {
        self.with(|g| g.down = false);
    }

    /// An application's commit: accepted only while the server takes writes.
    pub fn commit(&self, row: u64) -> bool {
        let Ok(mut g) = self.inner.lock() else { return false };
        if g.read_only || g.down {
            return false;
        }
        g.rows.push(row);
        true
    }

    /// The shipper's work, at once: once this server served and while it ships to a timeline,
    /// its rows become that timeline's log, with a heartbeat. A fenced server's shipper goes on
    /// (what it committed before the fence may not be stored yet: a seal waits for it); one
    /// superseded by a newer timeline stops, as the shipper does.
    ///
    /// The heartbeat reports positions as the real shipper's does: it read the server's rows at
    /// `read_at_ms` and stored all of them, so every commit acknowledged before then is stored
    /// (`safe_through_ms`, equal: caught up), and it promises the bound it was given.
    pub async fn ship(&self, store: &dyn StateStore) -> std::result::Result<bool, StoreError> {
        // The rows and the instant they were read together: a commit after the read is not
        // claimed, whenever the writes below land.
        let (rows, t, read_at_s, writer) =
            match self.with(|g| (g.rows.clone(), g.ships_to, g.ships_as.clone())) {
                (rows, Some((_, t)), writer) => (rows, t, self.clock.now(), writer),
                _ => return Ok(false),
            };
        if store.get(&timeline_key(BACKUPS, t + 1)).await?.is_some() {
            return Ok(false);
        }
        let read_at_ms = u64::try_from(read_at_s).unwrap_or(0) * 1000;
        let mut rows = rows;
        if self.withholds_newest {
            rows.pop();
        }
        store.put(&memory_log_key(t), json_body(&memory_log_key(t), &MemoryLog { rows })?).await?;
        let written_at_ms = u64::try_from(self.clock.now()).unwrap_or(0) * 1000;
        let hb = spotctl_db::protect::heartbeat::Heartbeat {
            timeline: t,
            shipped_at_ms: Some(written_at_ms),
            written_at_ms,
            read_at_ms: Some(read_at_ms),
            safe_through_ms: Some(read_at_ms),
            bound_ms: Some(self.bound_ms + written_at_ms.saturating_sub(read_at_ms)),
            ..Default::default()
        };
        let key = heartbeat_key(BACKUPS, t, writer.as_deref());
        store.put(&key, json_body(&key, &hb)?).await?;
        Ok(true)
    }

    /// Begins timeline `record` (create-only) with its base (the rows now) and their log.
    async fn begin(&self, store: &dyn StateStore, record: &TimelineRecord, rows: Vec<u64>) -> Result<bool> {
        let key = timeline_key(BACKUPS, record.timeline);
        match store.put_if_absent(&key, json_body(&key, record)?).await {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        self.base(store, record, rows).await?;
        Ok(true)
    }

    /// Timeline `record`'s base, unless it has one: the rows now, then (last, as a real base's
    /// `base.json`) its record. A begin cut short is finished by the next; the real primary's
    /// base timer takes one soon after it begins.
    async fn base(&self, store: &dyn StateStore, record: &TimelineRecord, rows: Vec<u64>) -> Result<()> {
        let t = record.timeline;
        let id = format!("memory-{t}");
        let key = base_record_key(BACKUPS, &id);
        if store.get(&key).await?.is_some() {
            return Ok(());
        }
        let data = memory_base_rows_key(t);
        store.put(&data, json_body(&data, &MemoryLog { rows: rows.clone() })?).await?;
        let base = spotctl_db::protect::base::BaseRecord {
            format: spotctl_db::protect::base::BASE_FORMAT,
            id: id.clone(),
            timeline: t,
            taken_at_ms: record.created_at_ms,
            position: spotctl_db::protect::base::BasePosition {
                file: "memory".into(),
                offset: 0,
                gtid: String::new(),
                last_event_crc: String::new(),
            },
            database: "memory".into(),
            server_version: "memory".into(),
            rows: rows.len() as u64,
            raw_bytes: 0,
            stored_bytes: 0,
            manifest_sha256: String::new(),
            timings_ms: Default::default(),
        };
        store.put(&key, json_body(&key, &base)?).await?;
        Ok(())
    }

    /// The writer the timelines it begins name: its instance's session (none for a server not
    /// named for an instance, as a timeline from before writers).
    fn writer(&self) -> Option<String> {
        (!self.name.is_empty()).then(|| crate::sdk::twin::writer(&self.name))
    }

    fn with<T>(&self, f: impl FnOnce(&mut MemoryRows) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl Database for MemoryDatabase {
    async fn drain(&self, store: Arc<dyn StateStore>, id: &str) -> Result<Drained> {
        crate::sdk::twin::interleave().await;
        let rows = self.with(|g| {
            g.read_only = true;
            g.drained_into = Some(id.to_string());
            g.rows.clone()
        });
        // Fenced at once; the dump takes its time before the backup is complete.
        self.take_time(self.drain_pace, rows.len(), &Progress::default()).await;
        let key = BackupRoot::handoff(id)?.manifest_key();
        let m = MemoryManifest {
            count: rows.len(),
            rows: rows.clone(),
            completed_unix: self.clock.now(),
            drained_by: self.name.clone(),
        };
        let body = json_body(&key, &m)?;
        // Create-only: a second drain of the same handoff never replaces a complete backup.
        match store.put_if_absent(&key, body).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Drained { tables: 1, tables_as_files: 0, rows: rows.len() as u64, ms: 0 })
    }

    async fn restore(
        &self,
        store: Arc<dyn StateStore>,
        id: &str,
        progress: Arc<Progress>,
    ) -> Result<Restored> {
        crate::sdk::twin::interleave().await;
        let key = BackupRoot::handoff(id)?.manifest_key();
        let Some((m, _)) = get_json::<MemoryManifest>(store.as_ref(), &key).await? else {
            return Err(DbError::NoBackup { key, orphans: 0 }.into());
        };
        if m.rows.len() != m.count {
            return Err(DbError::Verification(vec![TableMismatch {
                table: "employees".into(),
                what: "row count",
                restored: m.rows.len().to_string(),
                expected: m.count.to_string(),
            }])
            .into());
        }
        let n = m.rows.len() as u64;
        self.take_time(self.pace, m.rows.len(), &progress).await;
        self.with(|g| {
            g.rows = m.rows;
            g.restored_from = Some(id.to_string());
        });
        Ok(Restored { tables: 1, rows: n, ms: 0, replayed: None })
    }

    async fn seal(&self, store: Arc<dyn StateStore>, id: &str, epoch: u64) -> Result<Sealed> {
        crate::sdk::twin::interleave().await;
        // Fenced for good first, as the real one is, whatever comes of the seal.
        let (rows, ships_to) = self.with(|g| {
            g.read_only = true;
            (g.rows.clone(), g.ships_to)
        });
        let store = store.as_ref();
        let key = BackupRoot::handoff(id)?.seal_key();
        let sealed = |t: u32, g: &mut MemoryRows| {
            g.drained_into = Some(id.to_string());
            Sealed { timeline: t, gtid: String::new(), waited_ms: 0 }
        };
        let cannot = |detail: String| Err(ProtectError::CannotSeal { detail }.into());
        if let Some((s, _)) = get_json::<MemorySeal>(store, &key).await? {
            if s.epoch != epoch {
                return cannot(format!("{key} was written by the epoch-{} primary", s.epoch));
            }
            return Ok(self.with(|g| sealed(s.timeline, g)));
        }
        let Some((_, t)) = ships_to.filter(|(e, _)| *e == epoch) else {
            return cannot(format!("this server ships no log of epoch {epoch}"));
        };
        let newest = read_timelines(store).await?.pop().map(|t| t.record.timeline);
        if newest != Some(t) {
            return cannot(format!("the newest log timeline ({newest:?}) is not this primary's ({t})"));
        }
        if crate::protect::log_view(store, epoch, self.clock.now(), true).await?.is_none() {
            return cannot(format!("no base lies on timeline {t}'s chain yet"));
        }
        // Waits for its shipper as the real seal does (looking once a second of its clock), up
        // to its wait; a log still short then means a drain in full, as the real one would.
        let started = self.clock.now();
        let mut looked = None;
        loop {
            let now = self.clock.now();
            if looked != Some(now) {
                looked = Some(now);
                let shipped = memory_log_rows(store, t).await?;
                match rows.iter().find(|r| !shipped.contains(r)) {
                    None => break,
                    Some(r) if now - started >= self.seal_wait_s => {
                        return cannot(format!(
                            "the shipped log of timeline {t} lacks row {r} this server committed"
                        ))
                    }
                    Some(_) => {}
                }
            }
            crate::sdk::twin::interleave().await;
        }
        let body = MemorySeal { epoch, timeline: t, rows, sealed_by: self.name.clone() };
        match store.put_if_absent(&key, json_body(&key, &body)?).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(self.with(|g| sealed(t, g)))
    }

    async fn recover_log(
        &self,
        store: Arc<dyn StateStore>,
        epoch: u64,
        to: &LogTarget,
        progress: Arc<Progress>,
    ) -> Result<Restored> {
        crate::sdk::twin::interleave().await;
        let store = store.as_ref();
        let seal = match to {
            LogTarget::End => None,
            LogTarget::Until(_) => {
                return Err(BackupsError::Unmodelled("keeps no commit times: no point-in-time recovery"))
            }
            LogTarget::Seal(id) => {
                let key = BackupRoot::handoff(id)?.seal_key();
                let Some((s, _)) = get_json::<MemorySeal>(store, &key).await? else {
                    let message = "the drain's seal is gone".into();
                    return Err(ProtectError::BadRecord { key, message }.into());
                };
                Some((id.clone(), key, s.rows))
            }
        };
        let no_base = |detail: String| ProtectError::NoBase { prefix: BACKUPS.to_string(), detail };
        if !crate::protect::log_restorable(store).await? {
            return Err(no_base("no base lies on the newest timeline's chain".into()).into());
        }
        let all = read_timelines(store).await?;
        let chain = chain_at(&all, None);
        let Some(newest) = chain.last().map(|t| t.record.clone()) else {
            return Err(no_base("there is no log timeline".into()).into());
        };
        // As the real recovery replays the chain: each timeline's log up to where the next
        // one branched (a recovery cut short leaves a timeline that has no log of its own).
        let mut rows = Vec::new();
        for (i, t) in chain.iter().enumerate() {
            let n = t.record.timeline;
            // What was shipped holds the base and everything after it.
            let own = match get_json::<MemoryLog>(store, &memory_log_key(n)).await? {
                Some(shipped) => Some(shipped),
                None => get_json::<MemoryLog>(store, &memory_base_rows_key(n)).await?,
            };
            if let Some((log, _)) = own {
                rows = log.rows;
            }
            if let Some(b) = chain.get(i + 1).and_then(|next| next.record.branch.as_ref()) {
                rows.truncate(usize::try_from(b.offset).unwrap_or(usize::MAX));
            }
        }
        let record = TimelineRecord {
            format: spotctl_db::protect::timeline::TIMELINE_FORMAT,
            timeline: all.iter().map(|t| t.record.timeline).max().unwrap_or(0) + 1,
            parent: Some(newest.timeline),
            branch: Some(Branch {
                seq: 0,
                file: "memory".into(),
                offset: rows.len() as u64,
                state: String::new(),
                last_commit: None,
            }),
            created_at_ms: u64::try_from(self.clock.now()).unwrap_or(0) * 1000,
            reason: Reason::Recovery,
            epoch: Some(epoch),
            writer: self.writer(),
        };
        // As the real recovery checks before it writes: the log must reach the seal.
        if let Some((_, key, sealed)) = &seal {
            if let Some(r) = sealed.iter().find(|r| !rows.contains(r)) {
                return Err(ProtectError::ShortOfSeal {
                    seal: key.clone(),
                    needed: format!("row {r}"),
                    reached: format!("{} rows", rows.len()),
                }
                .into());
            }
        }
        self.take_time(self.pace, rows.len(), &progress).await;
        let from = match &seal {
            Some((id, _, _)) => format!("seal:{id}"),
            None => format!("log:{}", newest.timeline),
        };
        self.with(|g| {
            g.rows = rows.clone();
            g.restored_from = Some(from);
        });
        // Begun once this standby won its promotion ([`Database::begin_log`]): one that loses
        // forks nothing.
        if let Ok(mut g) = self.recovered.lock() {
            *g = Some(record);
        }
        Ok(Restored { tables: 1, rows: rows.len() as u64, ms: 0, replayed: Some(0) })
    }

    async fn begin_log(&self, store: Arc<dyn StateStore>, epoch: u64) -> Result<u32> {
        crate::sdk::twin::interleave().await;
        if let Some((e, t)) = self.with(|g| g.ships_to) {
            if e == epoch {
                return Ok(t);
            }
        }
        loop {
            let newest = read_timelines(store.as_ref()).await?.pop();
            let now_ms = u64::try_from(self.clock.now()).unwrap_or(0) * 1000;
            let writer = self.writer();
            let t =
                match next_for_epoch(newest.as_ref().map(|t| &t.record), epoch, now_ms, writer.as_deref())? {
                    None => {
                        let Some(t) = newest else {
                            let message = "no timeline, yet the next one continues it".into();
                            return Err(ProtectError::BadRecord { key: BACKUPS.into(), message }.into());
                        };
                        let rows = self.with(|g| g.rows.clone());
                        self.base(store.as_ref(), &t.record, rows).await?;
                        (t.record.timeline, t.record.writer)
                    }
                    Some(record) => {
                        let recovered = self.recovered.lock().ok().and_then(|g| g.clone());
                        let record = spotctl_db::protect::timeline::continuing(record, recovered.as_ref());
                        let rows = self.with(|g| g.rows.clone());
                        if !self.begin(store.as_ref(), &record, rows).await? {
                            continue;
                        }
                        (record.timeline, record.writer)
                    }
                };
            let (t, writer) = t;
            self.with(|g| {
                g.ships_to = Some((epoch, t));
                g.ships_as = writer;
            });
            return Ok(t);
        }
    }

    async fn writable(&self) -> Result<bool> {
        crate::sdk::twin::interleave().await;
        Ok(self.with(|g| !g.read_only))
    }

    async fn set_writable(&self, on: bool) -> Result<()> {
        crate::sdk::twin::interleave().await;
        self.with(|g| g.read_only = !on);
        Ok(())
    }

    async fn health(&self) -> HealthChecks {
        crate::sdk::twin::interleave().await;
        match self.with(|g| g.down) {
            false => HealthChecks {
                answers: true,
                writes: true,
                disk_free_bytes: Some(10 << 30),
                disk_room: true,
                problem: None,
            },
            true => HealthChecks { problem: Some("the server does not answer".into()), ..Default::default() },
        }
    }
}
