//! A steady writer, and the check that a stated loss bound held: every commit acknowledged longer
//! than the bound before the loss is in the recovered server.

use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub fn now_ms() -> u64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One commit after another (a row of `appdb.employees` each, ids from `from`), each stamped
/// with the moment its acknowledgement came back, until the server fails or [`Writer::stop`].
pub struct Writer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Written>,
}

/// What the writer did: the acknowledged ids with their times, and whether it ended because the
/// server failed under it (rather than being stopped).
pub struct Written {
    pub acked: Vec<(i32, u64)>,
    pub cut_off: bool,
}

impl Writer {
    pub fn start(dsn: &str, from: i32) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let (dsn, flag) = (dsn.to_string(), stop.clone());
        let handle = std::thread::spawn(move || {
            let mut c = mysql::Conn::new(mysql::Opts::from_url(&dsn).expect("dsn")).expect("connect");
            let mut acked = Vec::new();
            for id in from.. {
                if flag.load(Ordering::SeqCst) {
                    return Written { acked, cut_off: false };
                }
                let done = mysql::prelude::Queryable::exec_drop(
                    &mut c,
                    "INSERT INTO appdb.employees VALUES (?, 'n', 'e')",
                    (id,),
                );
                if done.is_err() {
                    return Written { acked, cut_off: true };
                }
                acked.push((id, now_ms()));
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Written { acked, cut_off: false }
        });
        Writer { stop, handle }
    }

    /// Waits for the writer to end (it ends by itself when the server dies).
    pub fn join(self) -> Written {
        self.handle.join().expect("the writer panicked")
    }

    pub fn stop(self) -> Written {
        self.stop.store(true, Ordering::SeqCst);
        self.join()
    }
}

/// What `status --output json` promised of an unwarned loss, and when it was asked.
#[derive(Debug, Clone)]
pub struct Promise {
    pub kind: String,
    /// The figure: the bound (`shipping`) or the window (`behind`, `silent`), in ms.
    pub ms: u64,
    pub asked_at_ms: u64,
    pub answered_at_ms: u64,
}

impl Promise {
    pub fn of(status: &Value, asked_at_ms: u64, answered_at_ms: u64) -> Promise {
        let w = &status["protection"]["loss_window"];
        let kind = w["kind"].as_str().unwrap_or_default().to_string();
        let ms =
            w["bound_ms"].as_u64().or_else(|| w["ms"].as_u64()).unwrap_or_else(|| panic!("no figure: {w}"));
        Promise { kind, ms, asked_at_ms, answered_at_ms }
    }

    /// Commits acknowledged before this instant must survive a loss at `lost_at_ms`: for a caught-up
    /// shipper, a commit is stored within the bound of its acknowledgement; for one behind or
    /// silent, everything before the window (counted when `status` started) is stored.
    pub fn safe_before(&self, lost_at_ms: u64) -> u64 {
        match self.kind.as_str() {
            "shipping" => lost_at_ms.saturating_sub(self.ms),
            _ => self.asked_at_ms.saturating_sub(self.ms),
        }
    }
}

/// What a loss at `lost_at_ms` actually cost, against the rows `present` after the recovery.
pub struct Lost {
    /// Acknowledged commits missing, and how long before the loss the oldest was acknowledged.
    pub missing: usize,
    pub window_ms: u64,
    /// Missing commits acknowledged before the promise's safe instant (must be none).
    pub broken: Vec<(i32, u64)>,
}

pub fn lost(
    written: &Written,
    present: &std::collections::BTreeSet<i32>,
    promise: &Promise,
    lost_at_ms: u64,
) -> Lost {
    let missing: Vec<(i32, u64)> =
        written.acked.iter().copied().filter(|(id, _)| !present.contains(id)).collect();
    let window_ms = missing.iter().map(|(_, at)| lost_at_ms.saturating_sub(*at)).max().unwrap_or(0);
    let safe = promise.safe_before(lost_at_ms);
    let broken = missing.iter().copied().filter(|(_, at)| *at < safe).collect();
    Lost { missing: missing.len(), window_ms, broken }
}

/// The ids of `appdb.employees` at `dsn`.
pub fn ids(dsn: &str) -> std::collections::BTreeSet<i32> {
    let mut c = mysql::Conn::new(mysql::Opts::from_url(dsn).expect("dsn")).expect("connect");
    mysql::prelude::Queryable::query(&mut c, "SELECT id FROM appdb.employees")
        .expect("ids")
        .into_iter()
        .collect()
}

/// While `writer` commits on the primary, asks `status` what an unwarned loss would cost, then at
/// once kills the server and its shipper together (no pause: commits are still arriving) and
/// tells EC2 the instance is gone. Returns what was acknowledged, the promise and the instant of
/// the loss.
pub async fn kill_under_load(
    env: &super::handoff::Env,
    moto: &spotctl_testkit::moto::Moto,
    db: &mut spotctl_testkit::mariadb::MariaDb,
    primary: &str,
    shipper: &mut std::process::Child,
    writer: Writer,
) -> (Written, Promise, u64) {
    let asked = now_ms();
    let status = env.run(moto, &["status", &env.dir, "--output", "json"], None);
    let answered = now_ms();
    assert!(status.ok, "status: {}{}", status.stdout, status.stderr);
    let promise = Promise::of(&status.json(), asked, answered);
    let lost_at = now_ms();
    db.kill();
    let _ = shipper.kill();
    let _ = shipper.wait();
    let written = writer.join();
    assert!(written.cut_off, "the writer was still committing when the server died");
    env.reclaim(primary).await;
    (written, promise, lost_at)
}

/// EC2 says the lost `primary` is gone; the handler starts a recovery from the log; the standby it
/// launched (on `db`) restores, replays and promotes. Returns the standby's id and its look.
pub async fn recovered(
    env: &super::handoff::Env,
    moto: &spotctl_testkit::moto::Moto,
    primary: &str,
    db: &spotctl_testkit::mariadb::MariaDb,
) -> (String, Value) {
    use super::handoff::{imds, state_change};
    let handled = env.handle(moto, "state.json", &state_change(primary, "terminated"), None).json();
    assert_eq!(handled["next"]["handoff"], "started", "{handled:#}");
    let standby =
        env.instances().await.into_iter().find(|(_, role, _)| role == "standby").expect("a standby").0;
    let new_imds =
        imds(&standby, "ap-northeast-1c", &[("spotctl:role", "standby"), ("spotctl:handoff", "epoch-1")]);
    env.give_addresses(&standby, &new_imds).await;
    let promoted = env.watch_once(moto, &new_imds, &db.root_dsn(""), None).json();
    assert_eq!(promoted["did"]["kind"], "restored", "{promoted:#}");
    (standby, promoted)
}

/// Prints what the loss cost against what `status` promised (under `label`) and checks the
/// promise held: no commit acknowledged before its safe instant is missing, and the recovery's
/// record (`record`) states a window at least as long as the loss.
pub fn held(
    label: &str,
    written: &Written,
    present: &std::collections::BTreeSet<i32>,
    promise: &Promise,
    lost_at: u64,
    record: &Value,
) -> Lost {
    let l = lost(written, present, promise, lost_at);
    println!(
        "{label}: {} commits acknowledged, status said {} {} ms (in {} ms), the loss cost {} commits, the oldest acknowledged {} ms before it",
        written.acked.len(),
        promise.kind,
        promise.ms,
        promise.answered_at_ms - promise.asked_at_ms,
        l.missing,
        l.window_ms
    );
    assert!(l.broken.is_empty(), "acknowledged before the stated window and lost: {:?}", l.broken);
    let stated_s = record["data_loss_window_s"].as_i64().unwrap_or(-1);
    assert!(
        stated_s * 1000 >= i64::try_from(l.window_ms).unwrap_or(i64::MAX),
        "the record's window {stated_s} s: {record:#}"
    );
    l
}
