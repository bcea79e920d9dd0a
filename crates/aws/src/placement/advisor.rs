//! Where the Spot Advisor interruption data comes from, newest first: the live feed (short
//! timeout), the copy cached in the state bucket, the copy cached on this machine, and the snapshot
//! built into the binary. The first that parses wins, and the caller is told which it was and how
//! old. A successful live fetch refreshes both caches, so the daily Lambda run keeps every later
//! reader current without anybody refreshing it by hand.

use crate::state::StateStore;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use spotctl_core::placement::advisor::{AdvisorData, AdvisorSource, SourceKind, EMBEDDED_ADVISOR_SNAPSHOT};
use spotctl_layout::state as keys;
use std::path::PathBuf;
use std::time::Duration;

pub const FEED_URL: &str = "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json";

/// How the cached copies are stored: the feed as fetched, with the fetch time.
#[derive(Debug, Serialize, Deserialize)]
struct Cached {
    fetched_at_unix: i64,
    feed: serde_json::Value,
}

fn feed_url() -> String {
    std::env::var("SPOTCTL_ADVISOR_URL").unwrap_or_else(|_| FEED_URL.to_string())
}

fn local_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("spotctl").join("spot-advisor-data.json"))
}

async fn fetch_live() -> Result<Vec<u8>> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let resp = client.get(feed_url()).send().await?.error_for_status()?;
    Ok(resp.bytes().await?.to_vec())
}

/// Loads the best available advisor data. `store` is the state bucket when the env has one.
pub async fn load(
    store: Option<&dyn StateStore>,
    now_unix: i64,
) -> (AdvisorData, AdvisorSource, Vec<String>) {
    let mut notes = Vec::new();
    match fetch_live().await {
        Ok(bytes) => match AdvisorData::parse(&bytes) {
            Ok(data) => {
                let cached = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|feed| serde_json::to_vec(&Cached { fetched_at_unix: now_unix, feed }).ok());
                if let Some(body) = cached {
                    if let Some(s) = store {
                        if let Err(e) = s.put(keys::ADVISOR, body.clone()).await {
                            notes
                                .push(format!("could not cache the advisor feed in the state bucket: {e:#}"));
                        }
                    }
                    if let Some(path) = local_cache() {
                        let _ = std::fs::create_dir_all(path.parent().unwrap_or(&path));
                        let _ = std::fs::write(&path, body);
                    }
                }
                let source = AdvisorSource {
                    kind: SourceKind::Live,
                    fetched_at_unix: Some(now_unix),
                    snapshot: feed_url(),
                };
                return (data, source, notes);
            }
            Err(e) => notes.push(format!("the live advisor feed did not parse: {e}")),
        },
        Err(e) => notes.push(format!("the live advisor feed is unreachable ({e:#}); using a cached copy")),
    }
    if let Some(s) = store {
        if let Ok(Some(v)) = s.get(keys::ADVISOR).await {
            if let Some((data, at)) = parse_cached(&v.body) {
                let source = AdvisorSource {
                    kind: SourceKind::Cached,
                    fetched_at_unix: Some(at),
                    snapshot: format!("{}/{}", s.location(), keys::ADVISOR),
                };
                return (data, source, notes);
            }
        }
    }
    if let Some(path) = local_cache() {
        if let Ok(bytes) = std::fs::read(&path) {
            if let Some((data, at)) = parse_cached(&bytes) {
                let source = AdvisorSource {
                    kind: SourceKind::Cached,
                    fetched_at_unix: Some(at),
                    snapshot: path.display().to_string(),
                };
                return (data, source, notes);
            }
        }
    }
    notes.push(format!("using the advisor snapshot built into spotctl ({EMBEDDED_ADVISOR_SNAPSHOT})"));
    let source = AdvisorSource {
        kind: SourceKind::Embedded,
        fetched_at_unix: None,
        snapshot: EMBEDDED_ADVISOR_SNAPSHOT.to_string(),
    };
    (AdvisorData::embedded(), source, notes)
}

fn parse_cached(bytes: &[u8]) -> Option<(AdvisorData, i64)> {
    let cached: Cached = serde_json::from_slice(bytes).ok()?;
    let feed = serde_json::to_vec(&cached.feed).ok()?;
    Some((AdvisorData::parse(&feed).ok()?, cached.fetched_at_unix))
}
