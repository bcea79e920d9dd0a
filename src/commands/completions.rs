//! `spotctl completions bash|zsh|fish`: the shell's completion script, on stdout.
//!
//! ```sh
//! spotctl completions bash > ~/.local/share/bash-completion/completions/spotctl
//! spotctl completions zsh > "${fpath[1]}/_spotctl"
//! spotctl completions fish > ~/.config/fish/completions/spotctl.fish
//! ```

use crate::exit::Outcome;
use anyhow::Result;
use clap::{Args, ValueEnum};
use clap_complete::Shell;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// `cmd`: the whole command line interface (the caller's `Cli::command()`).
pub fn exec(args: CompletionsArgs, mut cmd: clap::Command) -> Result<Outcome> {
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "spotctl", &mut std::io::stdout());
    Ok(Outcome::Ok)
}
