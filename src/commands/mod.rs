//! One file per subcommand. Each builds options from its arguments and calls the library; the
//! work itself lives in `spotctl_aws` (AWS) and `spotctl_core` (decisions).

pub mod agent;
pub mod apply;
pub mod args;
pub mod completions;
pub mod connect;
pub mod destroy;
pub mod fis;
pub mod handle;
pub mod import;
pub mod keep;
pub mod lambda;
pub mod package;
pub mod plan;
pub mod protect;
pub mod recover;
pub mod replay;
pub mod score;
pub mod show;
pub mod status;
pub mod term;
pub mod tls;

use anyhow::Result;
use spotctl_aws::reconcile::Env;
use spotctl_aws::sdk::calls::CallLog;
use spotctl_aws::sdk::Aws;
use spotctl_core::config::LoadedEnv;
use spotctl_core::placement::advisor::AdvisorData;
use std::path::Path;

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

/// Asks on the terminal; anything but `yes` declines. Without a terminal, refuses to guess.
pub fn confirm(question: &str) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(crate::exit::BadInput(format!(
            "{question} needs an answer, and stdin is not a terminal; pass --auto-approve"
        ))
        .into());
    }
    print!("{question} Only 'yes' will be accepted: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// Whether stdout may carry colour (`term.rs`: a terminal, no `--no-color`, no `NO_COLOR`).
pub fn stdout_is_terminal() -> bool {
    term::color_stdout()
}
