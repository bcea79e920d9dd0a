//! The command line: global options and the subcommands (one file each under `commands/`).

use crate::commands::{
    agent, apply, completions, connect, destroy, fis, handle, import, keep, package, plan, recover, replay,
    score, show, status,
};
use crate::exit::Outcome;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

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
    /// No colour and no spinner (as does a non-empty NO_COLOR).
    #[arg(long, global = true)]
    pub no_color: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what apply would change.
    Plan(plan::PlanArgs),
    /// Make AWS match the env file, or carry out a plan saved with `plan --out`.
    Apply(apply::ApplyArgs),
    /// Show a plan saved with `plan --out` (no AWS call).
    Show(show::ShowArgs),
    /// Adopt resources made by hand with the env's names (tag them; record an instance as the primary).
    Import(import::ImportArgs),
    /// Remove everything the env owns, in every region.
    Destroy(destroy::DestroyArgs),
    /// Interrupt the primary on purpose with AWS FIS, to test the handoff.
    Fis(fis::FisArgs),
    /// Write the handler zip (the Lambda code) and check it can run on provided.al2023.
    Package(package::PackageArgs),
    /// Rank spot placements (region, zone, type) and explain the choice.
    Score(score::ScoreArgs),
    /// Move the primary to a new instance holding the database as it was at a second (the shipped log).
    Recover(recover::RecoverArgs),
    /// Keep the recorded primary instead of handing it off: its epoch's handoff is given up and its
    /// agent turns writes back on (never after the interruption notice).
    KeepPrimary(keep::KeepArgs),
    /// The primary, the endpoint, the last backup, recent handoffs and any standby.
    Status(status::StatusArgs),
    /// What an application needs to connect: host, port, user, password and CA, a command line.
    Connect(connect::ConnectArgs),
    /// The on-instance agent (installed by user-data as the spotctl-agent unit).
    Agent(agent::AgentArgs),
    /// Run the handler on an event file, as the Lambda would.
    Handle(handle::HandleArgs),
    /// Replay measured spot traces through the fleet failover or the placement (no AWS call).
    Replay(replay::ReplayArgs),
    /// Write the shell completion script (bash, zsh or fish) to stdout.
    Completions(completions::CompletionsArgs),
}

/// Runs the parsed command on a multi-threaded runtime.
pub fn run(cli: Cli) -> Result<Outcome> {
    let verbose = cli.verbose;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        match cli.command {
            Command::Plan(a) => plan::exec(a, verbose).await,
            Command::Apply(a) => apply::exec(a, verbose).await,
            Command::Show(a) => show::exec(a),
            Command::Destroy(a) => destroy::exec(a, verbose).await,
            Command::Import(a) => import::exec(a, verbose).await,
            Command::Fis(a) => fis::exec(a, verbose).await,
            Command::Package(a) => package::exec(a),
            Command::Handle(a) => handle::exec(a, verbose).await,
            Command::Score(a) => score::exec(a, verbose).await,
            Command::Agent(a) => agent::exec(a).await,
            Command::Status(a) => status::exec(a, verbose).await,
            Command::Recover(a) => recover::exec(a, verbose).await,
            Command::KeepPrimary(a) => keep::exec(a, verbose).await,
            Command::Connect(a) => connect::exec(a, verbose).await,
            Command::Replay(a) => replay::exec(a),
            Command::Completions(a) => completions::exec(a, <Cli as clap::CommandFactory>::command()),
        }
    })
}
