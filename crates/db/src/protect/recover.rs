//! Recovery: restore the newest base before the target time, replay the shipped log to its end
//! or to `until` (second resolution), verify, and start a new timeline.
//!
//! Nothing is written to the target until everything is known to be there and sound: the
//! timelines, the base (its record, its manifest, every chunk listed) and every piece of log to
//! replay ([`super::chain`]), and the target's privileges. Then the base is restored and verified
//! like a handoff's restore, the log replayed ([`super::apply`]), the target's own log restarted
//! at the replayed GTID state (`RESET MASTER`, `SET GLOBAL gtid_binlog_state`), and timeline T+1
//! created naming where it branched: the recovered server's log continues the GTIDs, and no later
//! recovery follows the tail this one left behind.

use super::apply::{state_sql, Applied, Applier};
use super::base::{list_bases, BaseRecord};
use super::chain::{self, Verified};
use super::clock::{now_ms, utc};
use super::error::{ProtectError, Result};
use super::server::require_log_bin;
use super::timeline::{self, Branch, Reason, Timeline, TimelineRecord, TIMELINE_FORMAT};
use crate::backup::manifest::read_manifest;
use crate::backup::progress::Progress;
use crate::backup::restore::{restore, RestoreOptions};
use crate::backup::verify::Verification;
use crate::binlog::gtid::position_text;
use crate::binlog::{State, Walker};
use crate::error::{DbError, SqlContext};
use crate::session::connect;
use crate::store::BlobStore;
use mysql::prelude::Queryable;
use serde::Serialize;
use spotctl_layout::log::bases;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct RecoverOptions {
    /// The env's database: the only one restored and replayed.
    pub database: String,
    /// Recover the database as it was at this second (seconds since 1970, UTC): every
    /// transaction that committed before it, none at or after. `None`: to the end of the log.
    pub until: Option<u32>,
    /// Connections restoring the base.
    pub workers: usize,
    /// Replace the database when the target server already holds rows of it (refused otherwise:
    /// a recovery into a server in use is a person's decision).
    pub replace_existing: bool,
    /// The primary epoch the recovered server will serve as (named on the timeline it begins, so
    /// that its shipper continues it); `None` for a person's recovery.
    pub epoch: Option<u64>,
    /// A seal the log must reach ([`super::seal`]): its key and GTID position. A log that ends
    /// short of it is refused before anything is written.
    pub at_least: Option<(String, String)>,
    /// Counted as the recovery goes (the base's restore, then each log piece replayed).
    pub progress: Option<Arc<Progress>>,
    /// Leave the new timeline to be begun by whoever serves the recovered server: a standby
    /// begins it only once it has won its promotion (one that loses must not fork the log a kept
    /// primary ships to). The record to begin is in the report.
    pub defer_timeline: bool,
    /// Who recovers (the credentials' `aws:userid`, `None` where unknown): the writer the new
    /// timeline names, whose shipper then continues it.
    pub writer: Option<String>,
}

impl Default for RecoverOptions {
    fn default() -> Self {
        RecoverOptions {
            database: "appdb".into(),
            until: None,
            workers: 4,
            replace_existing: false,
            epoch: None,
            at_least: None,
            progress: None,
            defer_timeline: false,
            writer: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BaseUsed {
    pub id: String,
    pub timeline: u32,
    pub taken_at: String,
    pub file: String,
    pub offset: u64,
    pub gtid: String,
    pub rows: u64,
    pub stored_bytes: u64,
}

/// Where the recovered database stands.
#[derive(Debug, Clone, Serialize)]
pub struct Reached {
    pub timeline: u32,
    pub file: String,
    pub offset: u64,
    /// Each domain's last replayed transaction (`gtid_binlog_pos` of the recovered server).
    pub gtid: String,
    pub last_commit: Option<String>,
    pub last_commit_unix: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogReplayed {
    pub pieces: usize,
    pub bytes: u64,
    pub transactions: u64,
    pub first_commit_unix: Option<u32>,
    pub last_commit_unix: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RecoveryTimings {
    /// Reading timelines and bases, fetching and checking the log.
    pub check: u64,
    pub restore: u64,
    pub replay: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecoveryReport {
    pub base: BaseUsed,
    /// The timelines replayed, oldest first.
    pub chain: Vec<u32>,
    pub until: Option<String>,
    pub stopped_by_until: bool,
    pub reached: Reached,
    pub log: LogReplayed,
    pub applied: Applied,
    /// The timeline the recovered server's log is shipped to from now on (with
    /// `defer_timeline`, the number it would take now).
    pub new_timeline: u32,
    /// Its record: begun, or (with `defer_timeline`) to begin
    /// ([`super::timeline::for_epoch`]'s `recovered`).
    #[serde(skip)]
    pub timeline_record: Option<TimelineRecord>,
    pub base_verification: Verification,
    pub timings_ms: RecoveryTimings,
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Recovers the env's database into the server at `dsn` from the log and bases under `prefix`.
pub fn recover(
    dsn: &str,
    store: &dyn BlobStore,
    prefix: &str,
    opts: &RecoverOptions,
) -> Result<RecoveryReport> {
    let started = Instant::now();
    let all = timeline::read_all(store, prefix)?;
    let until_ms = opts.until.map(|u| u64::from(u) * 1000);
    let chain = timeline::chain_at(&all, until_ms);
    let no_base =
        |detail: String| ProtectError::NoBase { prefix: prefix.trim_end_matches('/').to_string(), detail };
    if chain.is_empty() {
        let oldest = list_bases(store, prefix)?.into_iter().next();
        return Err(match (opts.until, oldest) {
            (Some(u), Some(b)) => ProtectError::UntilBeforeOldestBase {
                until: utc(u64::from(u) * 1000),
                oldest: b.id,
                taken: utc(b.taken_at_ms),
            },
            (Some(u), None) => no_base(format!("no log was shipped before {}", utc(u64::from(u) * 1000))),
            (None, _) => no_base("no log has been shipped (no timeline)".into()),
        });
    }
    let base = choose_base(store, prefix, &chain, opts.until)?;
    let verified = chain::verify(store, prefix, &chain, &base, &opts.database, opts.until)?;
    if let Some((seal, gtid)) = &opts.at_least {
        let needed =
            State::parse(gtid).map_err(|message| ProtectError::BadRecord { key: seal.clone(), message })?;
        if !verified.end.state.covers(&needed) {
            return Err(ProtectError::ShortOfSeal {
                seal: seal.clone(),
                needed: gtid.clone(),
                reached: position_text(&verified.end.state.position()),
            });
        }
    }
    let manifest = read_manifest(store, &bases(prefix), &base.id)?;
    let listed: std::collections::BTreeSet<String> =
        store.list(&format!("{}/{}/", bases(prefix), base.id))?.into_iter().collect();
    if let Some(c) = manifest.tables().flat_map(|(_, t)| &t.chunks).find(|c| !listed.contains(&c.key)) {
        return Err(DbError::MissingChunk { key: c.key.clone() }.into());
    }
    let mut conn = connect(dsn)?;
    require_log_bin(&mut conn)?;
    let mut applier = Applier::open(connect(dsn)?, &opts.database, verified.segments.first())?;
    let check = ms(started);

    let t = Instant::now();
    let base_verification = restore(
        dsn,
        store,
        &bases(prefix),
        &base.id,
        &RestoreOptions {
            workers: opts.workers,
            write_binlog: false,
            databases: Some(vec![opts.database.clone()]),
            replace_existing: opts.replace_existing,
            progress: opts.progress.clone(),
        },
    )?;
    let restore_ms = ms(t);

    let t = Instant::now();
    let mut walker = Walker::new(Some(
        State::parse(&base.position.gtid)
            .map_err(|message| ProtectError::BadRecord { key: base.id.clone(), message })?,
    ));
    for s in &verified.segments {
        applier.segment(s, &mut walker)?;
        if let Some(p) = &opts.progress {
            p.step(0);
        }
    }
    applier.finish()?;
    let replay = ms(t);
    let applied = applier.applied.clone();
    let end = &verified.end;
    restart_log(&mut conn, &end.state)?;

    let next = all.iter().map(|t| t.record.timeline).max().unwrap_or(0) + 1;
    let record = TimelineRecord {
        format: TIMELINE_FORMAT,
        timeline: next,
        parent: Some(end.timeline),
        branch: Some(Branch {
            seq: end.seq,
            file: end.file.clone(),
            offset: end.offset,
            state: end.state.to_string(),
            last_commit: end.last_commit,
        }),
        created_at_ms: now_ms(),
        reason: Reason::Recovery,
        epoch: opts.epoch,
        writer: opts.writer.clone(),
    };
    if !opts.defer_timeline {
        timeline::create(store, prefix, &record)?;
    }
    let mut report = report(
        base,
        &chain,
        opts,
        &verified,
        applied,
        next,
        base_verification,
        RecoveryTimings { check, restore: restore_ms, replay, total: ms(started) },
    );
    report.timeline_record = Some(record);
    Ok(report)
}

/// The newest base on `chain` that holds only transactions before `until` and lies before the
/// branch where the chain leaves its timeline.
fn choose_base(
    store: &dyn BlobStore,
    prefix: &str,
    chain: &[&Timeline],
    until: Option<u32>,
) -> Result<BaseRecord> {
    let all = list_bases(store, prefix)?;
    let on_chain: Vec<&BaseRecord> =
        all.iter().filter(|b| chain.iter().any(|t| t.record.timeline == b.timeline)).collect();
    let before_until = |b: &&&BaseRecord| until.is_none_or(|u| b.taken_at_ms < u64::from(u) * 1000);
    let before_branch = |b: &&&BaseRecord| -> bool {
        let i = chain.iter().position(|t| t.record.timeline == b.timeline).unwrap_or(0);
        let Some(branch) = chain.get(i + 1).and_then(|c| c.record.branch.as_ref()) else { return true };
        // One server's files are `<basename>.NNNNNN`: their names sort in log order.
        (b.position.file.as_str(), b.position.offset) <= (branch.file.as_str(), branch.offset)
    };
    if let Some(b) = on_chain.iter().filter(before_until).filter(before_branch).max_by_key(|b| b.taken_at_ms)
    {
        return Ok((*b).clone());
    }
    let no_base =
        |detail: String| ProtectError::NoBase { prefix: prefix.trim_end_matches('/').to_string(), detail };
    match (until, on_chain.first()) {
        (Some(u), Some(oldest)) if oldest.taken_at_ms >= u64::from(u) * 1000 => Err(ProtectError::UntilBeforeOldestBase {
            until: utc(u64::from(u) * 1000),
            oldest: oldest.id.clone(),
            taken: utc(oldest.taken_at_ms),
        }),
        (_, None) if !all.is_empty() => Err(no_base(format!(
            "the {} base backup(s) there belong to timelines {:?}, none of which leads to the log being recovered",
            all.len(),
            all.iter().map(|b| b.timeline).collect::<std::collections::BTreeSet<_>>()
        ))),
        (_, None) => Err(no_base("there is none: take one with `spotctl agent base-backup`".into())),
        _ => Err(no_base("every base on this timeline lies after the point it branched from".into())),
    }
}

/// Restarts the target's binary log at `state`, so that what it writes next continues the GTIDs.
fn restart_log(conn: &mut mysql::Conn, state: &State) -> Result<()> {
    conn.query_drop("RESET MASTER").sql(|| "RESET MASTER on the recovered server".into())?;
    let set = state_sql(state);
    conn.query_drop(&set).sql(|| set.clone())?;
    let found: Option<String> =
        conn.query_first("SELECT @@GLOBAL.gtid_binlog_pos").sql(|| "reading gtid_binlog_pos".into())?;
    let expected = position_text(&state.position());
    let found = found.unwrap_or_default();
    if found != expected {
        return Err(ProtectError::NotReached { expected, found });
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report(
    base: BaseRecord,
    chain: &[&Timeline],
    opts: &RecoverOptions,
    v: &Verified,
    applied: Applied,
    new_timeline: u32,
    base_verification: Verification,
    timings_ms: RecoveryTimings,
) -> RecoveryReport {
    let end = &v.end;
    RecoveryReport {
        chain: chain.iter().map(|t| t.record.timeline).filter(|t| *t >= base.timeline).collect(),
        until: opts.until.map(|u| utc(u64::from(u) * 1000)),
        stopped_by_until: v.stopped_by_until,
        reached: Reached {
            timeline: end.timeline,
            file: end.file.clone(),
            offset: end.offset,
            gtid: position_text(&end.state.position()),
            last_commit: end.last_commit.map(|c| utc(u64::from(c) * 1000)),
            last_commit_unix: end.last_commit,
        },
        log: LogReplayed {
            pieces: v.segments.len(),
            bytes: v.bytes,
            transactions: v.transactions,
            first_commit_unix: v.first_commit,
            last_commit_unix: end.last_commit,
        },
        applied,
        new_timeline,
        timeline_record: None,
        base: BaseUsed {
            id: base.id,
            timeline: base.timeline,
            taken_at: utc(base.taken_at_ms),
            file: base.position.file,
            offset: base.position.offset,
            gtid: base.position.gtid,
            rows: base.rows,
            stored_bytes: base.stored_bytes,
        },
        base_verification,
        timings_ms,
    }
}
