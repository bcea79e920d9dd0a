//! `spotctl score [ENV_DIR]`: the ranked table of placements and why each ranks where it does.

use super::args::{EnvArgs, Output};
use crate::exit::Outcome;
use anyhow::Result;
use clap::Args;
use spotctl_aws::placement::score::{score, ScoreOptions};
use spotctl_aws::sdk::Aws;
use spotctl_core::placement::render_table;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// Read the Spot Advisor feed from this file instead of fetching it.
    #[arg(long)]
    pub advisor_file: Option<PathBuf>,
    /// Read scores from this file (GetSpotPlacementScores' response shape); no SPS call is made.
    #[arg(long)]
    pub sps_file: Option<PathBuf>,
    /// Rank every instance type the advisor data knows, not only the env's.
    #[arg(long)]
    pub all_types: bool,
    /// Rank every region the advisor data knows, not only the env's.
    #[arg(long)]
    pub all_regions: bool,
}

pub async fn exec(args: ScoreArgs, verbose: u8) -> Result<Outcome> {
    let loaded = super::load_env(&args.env.env_dir)?;
    let aws = Aws::load().await;
    let opts = ScoreOptions {
        advisor_file: args.advisor_file,
        sps_file: args.sps_file,
        all_types: args.all_types,
        all_regions: args.all_regions,
    };
    let scored = score(&aws, &loaded, &opts).await?;
    match args.output {
        Output::Json => {
            let mut v = serde_json::to_value(&scored)?;
            v["calls"] = serde_json::to_value(aws.calls.snapshot())?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Output::Text => {
            for w in &scored.warnings {
                eprintln!("warning: {w}");
            }
            let a = &scored.sources.advisor;
            println!(
                "advisor: {:?} ({}){}",
                a.kind,
                a.snapshot,
                a.fetched_at_unix.map(|t| format!(", fetched at unix {t}")).unwrap_or_default()
            );
            println!("sps:     {}", scored.sources.sps);
            println!("prices:  {}\n", scored.sources.prices);
            print!("{}", render_table(&scored.ranking));
        }
    }
    super::print_calls(&aws.calls, verbose);
    Ok(Outcome::Ok)
}
