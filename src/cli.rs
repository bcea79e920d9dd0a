//! The command line: global options and the subcommands (one file each under `commands/`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "spotctl",
    version,
    about = "Keep a MySQL database on the cheapest, safest EC2 spot capacity."
)]
pub struct Cli {
    /// More output: -v shows AWS call counts and progress details, -vv debug logs.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The env directory holding spotctl.toml.
    #[arg(default_value = "envs/dev")]
    pub env_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what apply would change.
    Plan(crate::commands::plan::PlanArgs),
    /// Make AWS match the env file.
    Apply(crate::commands::apply::ApplyArgs),
    /// Remove everything the env owns, in every region.
    Destroy(crate::commands::destroy::DestroyArgs),
    /// Interrupt the primary on purpose with AWS FIS, to test the handoff.
    Fis(crate::commands::fis::FisArgs),
    /// Write the handler zip (the Lambda code) and check it can run on provided.al2023.
    Package(crate::commands::package::PackageArgs),
    /// Rank spot placements (region, zone, type) and explain the choice.
    Score(crate::commands::score::ScoreArgs),
    /// The primary, the last backup, recent handoffs and any standby.
    Status(crate::commands::status::StatusArgs),
    /// The on-instance agent (installed by user-data as the spotctl-agent unit).
    Agent(crate::commands::agent::AgentArgs),
    /// Run the handler on an event file, as the Lambda would.
    Handle(crate::commands::handle::HandleArgs),
    /// Replay measured spot traces through the fleet failover or the placement (no AWS call).
    Replay(crate::commands::replay::ReplayArgs),
}
