//! One file per subcommand. Each builds options from its arguments and calls the library; the
//! work itself lives in `spotctl_aws` (AWS) and `spotctl_core` (decisions).

pub mod agent;
pub mod apply;
pub mod destroy;
pub mod fis;
pub mod handle;
pub mod lambda;
pub mod package;
pub mod plan;
pub mod replay;
pub mod score;
pub mod status;

use crate::cli::{Cli, Command};
use crate::exit::Outcome;
use anyhow::{Context, Result};
use spotctl_aws::calls::CallLog;
use spotctl_aws::clients::Aws;
use spotctl_aws::env::Env;
use spotctl_core::advisor::AdvisorData;
use spotctl_core::config::LoadedEnv;
use std::path::Path;

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
            Command::Destroy(a) => destroy::exec(a, verbose).await,
            Command::Fis(a) => fis::exec(a, verbose).await,
            Command::Package(a) => package::exec(a),
            Command::Handle(a) => handle::exec(a, verbose).await,
            Command::Score(a) => score::exec(a, verbose).await,
            Command::Agent(a) => agent::exec(a).await,
            Command::Status(a) => status::exec(a, verbose).await,
            Command::Replay(a) => replay::exec(a),
        }
    })
}

/// Loads and validates the env file before anything talks to AWS.
pub fn load_env(dir: &Path) -> Result<LoadedEnv> {
    let advisor = AdvisorData::embedded();
    let loaded = spotctl_core::config::load(dir, &|t| advisor.knows_type(t))?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    Ok(loaded)
}

/// Loads the env file, then binds it to the AWS account of the standard credential chain.
pub async fn open_env(dir: &Path) -> Result<Env> {
    let loaded = load_env(dir)?;
    let aws = Aws::load().await;
    Env::open(aws, loaded).await
}

/// With -v, the AWS calls this command made, on stderr.
pub fn print_calls(calls: &CallLog, verbose: u8) {
    if verbose == 0 {
        return;
    }
    let snap = calls.snapshot();
    eprintln!("AWS calls: {} in all", snap.values().sum::<u64>());
    for (op, n) in snap {
        eprintln!("  {n:>4}  {op}");
    }
}

pub fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}
