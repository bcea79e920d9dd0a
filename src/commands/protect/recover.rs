//! `spotctl agent recover`: restores the newest base before the target time into the server at
//! `--mysql`, replays the shipped log to its end or to `--until`, verifies, starts a new timeline
//! and prints the report (base used, position and last commit reached, timings) as JSON. Exit 0
//! only when verified; every refusal (a missing or corrupt log object, another server's base, a
//! time before the oldest base) leaves the target untouched.

use super::bucket;
use super::mysql::MysqlArgs;
use crate::exit::{BadInput, Outcome};
use anyhow::{Context, Result};
use clap::Args;
use spotctl_db::protect::{recover, RecoverOptions};

#[derive(Debug, Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub mysql: MysqlArgs,
    /// Where the bases and the log are: s3://BUCKET/PREFIX.
    #[arg(long)]
    pub from: String,
    #[arg(long)]
    pub bucket_region: Option<String>,
    /// The database as it was at this second, UTC (`2026-11-29T10:15:00Z`): every commit before
    /// it, none at or after. Default: the end of the shipped log.
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, default_value = "appdb")]
    pub database: String,
    /// Replace the database when the server already holds rows of it (refused otherwise).
    #[arg(long)]
    pub replace_existing: bool,
}

/// `--until` as seconds since 1970.
pub fn until(text: &str) -> Result<u32, BadInput> {
    spotctl_core::time::parse_rfc3339(text).and_then(|t| u32::try_from(t).ok()).ok_or_else(|| {
        BadInput(format!("--until {text:?} is not a UTC RFC 3339 time such as 2026-11-29T10:15:00Z"))
    })
}

pub async fn exec(a: RecoverArgs) -> Result<Outcome> {
    let dsn = a.mysql.dsn()?;
    let opts = RecoverOptions {
        database: a.database,
        until: a.until.as_deref().map(until).transpose()?,
        replace_existing: a.replace_existing,
        ..RecoverOptions::default()
    };
    let (blobs, prefix) = bucket::open(&a.from, a.bucket_region.as_deref()).await?;
    let redacted = spotctl_db::session::redact(&dsn);
    let report = tokio::task::spawn_blocking(move || {
        recover(&dsn, &blobs, &prefix, &opts).with_context(|| format!("recovering into {redacted}"))
    })
    .await??;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_is_a_utc_second() {
        assert_eq!(until("2026-11-29T10:15:00Z").ok(), Some(1_795_947_300));
        assert!(until("2026-11-29 10:15:00").is_err());
        assert!(until("2026-11-29T10:15:00+09:00").is_err());
    }
}
