//! `spotctl agent base-backup`: one base backup while writes go on, then (with `--retention`)
//! the retention pass that deletes what no recovery can need. Prints the base's record as JSON;
//! exit 0 only when the base is complete. Run it niced (`nice -n 19`, or the unit's `Nice=19`).

use super::bucket;
use super::mysql::MysqlArgs;
use crate::exit::{BadInput, Outcome};
use anyhow::{Context, Result};
use clap::Args;
use spotctl_db::protect::{base_backup, retention, BaseOptions};

#[derive(Debug, Args)]
pub struct BaseBackupArgs {
    #[command(flatten)]
    pub mysql: MysqlArgs,
    /// Where the bases and the log are: s3://BUCKET/PREFIX.
    #[arg(long)]
    pub to: String,
    #[arg(long)]
    pub bucket_region: Option<String>,
    /// The env's database (the only one a base carries).
    #[arg(long, default_value = "appdb")]
    pub database: String,
    /// Connections reading rows (more: faster, and heavier on the writers).
    #[arg(long, default_value_t = 2)]
    pub readers: usize,
    /// After the base, delete bases and log no recovery within this period can need (`7d`).
    #[arg(long)]
    pub retention: Option<String>,
}

pub async fn exec(a: BaseBackupArgs) -> Result<Outcome> {
    let dsn = a.mysql.dsn()?;
    let keep = a
        .retention
        .as_deref()
        .map(|r| spotctl_core::config::Period::parse(r).map_err(|e| BadInput(format!("--retention: {e}"))))
        .transpose()?;
    let (blobs, prefix, writer) = bucket::open(&a.to, a.bucket_region.as_deref()).await?;
    let opts = BaseOptions {
        database: a.database,
        readers: a.readers.max(1),
        writer: Some(writer),
        ..BaseOptions::default()
    };
    let redacted = spotctl_db::session::redact(&dsn);
    let report = tokio::task::spawn_blocking(move || -> Result<serde_json::Value> {
        let base = base_backup(&dsn, &blobs, &prefix, &opts)
            .with_context(|| format!("taking a base backup of {redacted}"))?;
        let mut out = serde_json::json!({ "base": base });
        if let Some(keep) = keep {
            let r = retention::apply(&blobs, &prefix, keep.to_std()).context("applying retention")?;
            out["retention"] = serde_json::to_value(r)?;
        }
        Ok(out)
    })
    .await??;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(Outcome::Ok)
}
