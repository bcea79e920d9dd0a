//! `spotctl replay fleet|placement [ENV_DIR] --traces DIR`: replay measured spot traces through
//! the env's fleet failover or database placement, beside simpler policies and the best possible in
//! hindsight (docs/replay.md). No AWS call: this file reads the env file and the traces folder, and
//! `spotctl_core::replay` does the rest.

use super::args::{EnvArgs, Output};
use crate::exit::{BadInput, Outcome};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde::Serialize;
use spotctl_core::config::{self, EnvFile, ENV_FILE};
use spotctl_core::placement::advisor::AdvisorData;
use spotctl_core::replay::{self, report, ReplayError, Traces};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(subcommand)]
    pub command: ReplayCommand,
}

#[derive(Debug, Args)]
pub struct Common {
    #[command(flatten)]
    pub env: EnvArgs,
    /// The folder of trace files (<zone>_….json, one pool each).
    #[arg(long)]
    pub traces: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum ReplayCommand {
    /// Replay a fleet's failover and failback on availability traces.
    Fleet {
        #[command(flatten)]
        common: Common,
        /// The fleet to replay (needed when the env has several).
        #[arg(long)]
        fleet: Option<String>,
        /// Workers wanted at every step (default: the fleet's max_primary, capped by the most its
        /// primary region's traces ever offer).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        want: Option<u32>,
    },
    /// Replay the database's placement on availability or preemption traces.
    Placement {
        #[command(flatten)]
        common: Common,
        /// Downtime of one handoff, in seconds (the 2-minute interruption warning by default).
        #[arg(long, default_value_t = 120)]
        handoff_seconds: u32,
    },
}

pub fn exec(args: ReplayArgs) -> Result<Outcome> {
    match args.command {
        ReplayCommand::Fleet { common, fleet, want } => {
            let (env, traces) = read(&common)?;
            let replayed = replay::replay_fleet(&env, &traces, fleet.as_deref(), want)
                .map_err(|e| bad_traces(e, &common.traces))?;
            show(common.output, &replayed, || report::render_fleet(&replayed))
        }
        ReplayCommand::Placement { common, handoff_seconds } => {
            let (env, traces) = read(&common)?;
            let replayed = replay::replay_placement(&env, &AdvisorData::embedded(), &traces, handoff_seconds)
                .map_err(|e| bad_traces(e, &common.traces))?;
            show(common.output, &replayed, || report::render_placement(&replayed))
        }
    }
}

fn show<T: Serialize>(output: Output, value: &T, text: impl Fn() -> String) -> Result<Outcome> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Output::Text => print!("{}", text()),
    }
    Ok(Outcome::Ok)
}

/// Every replay error is bad input (exit code 2).
fn bad_traces(e: impl Into<ReplayError>, dir: &Path) -> anyhow::Error {
    BadInput(format!("cannot replay the traces in {}: {}", dir.display(), e.into())).into()
}

/// The env file (checked; the files it names are not needed) and every trace file of the folder.
fn read(common: &Common) -> Result<(EnvFile, Traces)> {
    let dir = &common.env.env_dir;
    let file = if dir.is_file() { dir.clone() } else { dir.join(ENV_FILE) };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| BadInput(format!("cannot read the env file {}: {e}", file.display())))?;
    let advisor = AdvisorData::embedded();
    let parsed = config::parse(&text, &file, &|t| advisor.knows_type(t))?;
    for w in &parsed.warnings {
        eprintln!("warning: {w}");
    }
    let entries = std::fs::read_dir(&common.traces)
        .map_err(|e| BadInput(format!("cannot read the traces folder {}: {e}", common.traces.display())))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("listing {}", common.traces.display()))?.path();
        if path.extension().is_some_and(|x| x == "json") && path.is_file() {
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            files.push((name, bytes));
        }
    }
    let traces = Traces::parse(&files).map_err(|e| bad_traces(e, &common.traces))?;
    Ok((parsed.env, traces))
}
