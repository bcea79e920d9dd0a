//! `spotctl agent recover`: restores the newest base before the target time into the server at
//! `--mysql`, replays the shipped log to its end or to `--until`, verifies, starts a new timeline
//! and prints the report (base used, position and last commit reached, timings) as JSON. Exit 0
//! only when verified; every refusal (a missing or corrupt log object, another server's base, a
//! time before the oldest base) leaves the target untouched.

use super::bucket;
use super::mysql::MysqlArgs;
use crate::commands::args::utc_second;
use crate::exit::Outcome;
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

pub async fn exec(a: RecoverArgs) -> Result<Outcome> {
    let dsn = a.mysql.dsn()?;
    let (blobs, prefix, writer) = bucket::open(&a.from, a.bucket_region.as_deref()).await?;
    let opts = RecoverOptions {
        database: a.database,
        until: a.until.as_deref().map(|t| utc_second("--until", t)).transpose()?,
        replace_existing: a.replace_existing,
        writer: Some(writer),
        ..RecoverOptions::default()
    };
    let redacted = spotctl_db::session::redact(&dsn);
    let report = tokio::task::spawn_blocking(move || {
        recover(&dsn, &blobs, &prefix, &opts).with_context(|| format!("recovering into {redacted}"))
    })
    .await??;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(Outcome::Ok)
}
