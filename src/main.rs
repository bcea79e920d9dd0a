//! spotctl: keeps a MySQL database on the cheapest, safest EC2 spot capacity and hands it to a new
//! instance, without losing a row, when AWS takes the old one back.
//!
//! This file only parses, sets up logging, runs and maps the outcome to an exit code
//! (0 ok, 1 error, 2 bad input; `plan --detailed-exitcode` adds 2 = changes present).

mod cli;
mod commands;
mod exit;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Inside AWS Lambda the same binary is the handler (the zip's `bootstrap`).
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return exit::report(commands::lambda::run(), false);
    }
    let cli = cli::Cli::parse();
    // A closed pipe (`spotctl score | head -1`) ends the command quietly, as it ends `cat`: killed
    // by SIGPIPE, status 141 in the shell (ARD.md, Exit codes). Not for the agent, whose worker
    // writes to its command's stdin and must outlive a command that stopped reading.
    if !matches!(cli.command, cli::Command::Agent(_)) {
        sigpipe::reset();
    }
    commands::term::init(cli.no_color);
    init_tracing(cli.verbose);
    // Under `plan --detailed-exitcode`, 2 means "changes" only: every error exits 1.
    let detailed = matches!(&cli.command, cli::Command::Plan(p) if p.detailed_exitcode);
    exit::report(cli::run(cli), detailed)
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,aws_config=warn,aws_smithy_runtime=warn",
        _ => "debug,hyper=info,h2=info,rustls=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPOTCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
