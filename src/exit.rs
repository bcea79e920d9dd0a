//! Exit codes and how errors are shown: `error: …` then each cause on its own `caused by:` line.
//! A closed stdout ends the process by SIGPIPE (status 141 in the shell; `main.rs`).

use spotctl_core::config::ConfigError;
use spotctl_core::workflow::SavedPlanError;
use std::process::ExitCode;

/// What a command asks the process to exit with, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// `plan --detailed-exitcode` found changes.
    Changes,
}

/// Bad input (env file, arguments): exit code 2, and nothing was touched.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

pub fn report(result: anyhow::Result<Outcome>, detailed_exitcode: bool) -> ExitCode {
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Changes) => ExitCode::from(2),
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            let bad_input =
                err.chain().any(|c| c.is::<ConfigError>() || c.is::<BadInput>() || c.is::<SavedPlanError>());
            ExitCode::from(if bad_input && !detailed_exitcode { 2 } else { 1 })
        }
    }
}
