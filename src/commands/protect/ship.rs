//! `spotctl agent ship`: ships the primary's binary log to the bucket until it is stopped
//! (SIGTERM, SIGINT) or fenced by a newer timeline. User-data runs it as the `spotctl-ship` unit.
//! Progress goes to the log; `--stats-every` prints the shipper's counters (pieces, bytes,
//! S3 requests) as JSON lines on stdout, and the last line is printed when it stops.

use super::bucket;
use super::mysql::MysqlArgs;
use crate::exit::{BadInput, Outcome};
use anyhow::{Context, Result};
use clap::Args;
use spotctl_db::protect::{Note, ShipOptions, Shipper, Stopped};
use spotctl_db::store::{BlobError, BlobStore, Creation};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ShipArgs {
    #[command(flatten)]
    pub mysql: MysqlArgs,
    /// Where the log goes: s3://BUCKET/PREFIX (an env's bucket: PREFIX = backups).
    #[arg(long)]
    pub to: String,
    /// The bucket's region (default: the standard AWS region setting).
    #[arg(long)]
    pub bucket_region: Option<String>,
    /// Complete transactions wait at most this long for the next piece (`500ms`, `1s`).
    #[arg(long, default_value = "500ms")]
    pub interval: String,
    /// Print the counters as a JSON line this often (`60s`); never when not given.
    #[arg(long)]
    pub stats_every: Option<String>,
}

fn millis(flag: &str, text: &str) -> Result<Duration, BadInput> {
    let parsed = match text.strip_suffix("ms") {
        Some(n) => n.parse::<u64>().ok().map(Duration::from_millis),
        None => spotctl_core::config::Period::parse(text).ok().map(|p| p.to_std()),
    };
    parsed.ok_or_else(|| {
        BadInput(format!("{flag} {text:?}: give milliseconds (`500ms`) or a period (`1s`, `1m`)"))
    })
}

pub async fn exec(a: ShipArgs) -> Result<Outcome> {
    let dsn = a.mysql.dsn()?;
    let min_interval = millis("--interval", &a.interval)?;
    let stats_every = a.stats_every.as_deref().map(|s| millis("--stats-every", s)).transpose()?;
    let (blobs, prefix, writer) = bucket::open(&a.to, a.bucket_region.as_deref()).await?;
    let opts =
        ShipOptions { min_interval, stats_every, writer: Some(writer.clone()), ..ShipOptions::default() };
    let blobs = SlowWrites::from_env(blobs);
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { if let Some(t) = term.as_mut() { t.recv().await; } else { std::future::pending::<()>().await } } => {}
        }
        on_signal.store(true, Ordering::SeqCst);
    });
    let redacted = spotctl_db::session::redact(&dsn);
    let (stopped, stats) = tokio::task::spawn_blocking(move || -> Result<_> {
        let mut shipper = Shipper::start(&dsn, &blobs, &prefix, opts)
            .with_context(|| format!("starting to ship the binary log of {redacted}"))?;
        let (file, offset, seq) = shipper.position();
        tracing::warn!(timeline = shipper.timeline(), %file, offset, piece = seq, "shipping the binary log");
        if let Some(named) = shipper.writer().filter(|named| *named != writer) {
            tracing::error!(
                timeline = shipper.timeline(),
                "timeline {} was begun by {named}, not by these credentials ({writer}): its heartbeat is \
                 read only under {named}'s key, which these credentials may not write (on AWS the \
                 instance role refuses it); run the shipper with the credentials of the instance that \
                 began the timeline",
                shipper.timeline()
            );
        }
        let mut note = |n: Note| match n {
            Note::Stats(s) => println!("{}", serde_json::to_string(&s).unwrap_or_default()),
            Note::FileDone { file, abandoned_tail_bytes } => {
                tracing::warn!(%file, abandoned_tail_bytes, "binary log file done")
            }
            Note::Retrying { error } => tracing::warn!("storing a piece failed, retrying: {error}"),
            Note::Resumed { .. } => {}
        };
        let stopped = shipper.run(&stop, &mut note).context("shipping the binary log")?;
        Ok((stopped, shipper.stats()))
    })
    .await??;
    println!("{}", serde_json::to_string(&stats)?);
    match stopped {
        Stopped::Requested => tracing::warn!("stopped; every complete transaction read was stored"),
        Stopped::Fenced { timeline } => {
            tracing::warn!(
                timeline,
                "a recovery started timeline {timeline}: this server's log is no longer shipped"
            )
        }
    }
    Ok(Outcome::Ok)
}

/// A test hook: `SPOTCTL_TEST_SHIP_PUT_DELAY_MS=N` holds every write of the shipper (pieces and
/// heartbeats) N ms before it is sent, as a slow or throttled bucket would (never set on an
/// instance). The loss bound's end-to-end test runs a shipper behind this way.
struct SlowWrites<S> {
    inner: S,
    delay: Duration,
}

impl<S: BlobStore> SlowWrites<S> {
    fn from_env(inner: S) -> Self {
        let ms = std::env::var("SPOTCTL_TEST_SHIP_PUT_DELAY_MS").ok().and_then(|v| v.parse().ok());
        SlowWrites { inner, delay: Duration::from_millis(ms.unwrap_or(0)) }
    }
}

impl<S: BlobStore> BlobStore for SlowWrites<S> {
    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), BlobError> {
        std::thread::sleep(self.delay);
        self.inner.put(key, body)
    }

    fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<Creation, BlobError> {
        std::thread::sleep(self.delay);
        self.inner.put_if_absent(key, body)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        self.inner.get(key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.inner.list(prefix)
    }

    fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.inner.delete(key)
    }
}
