//! Arguments several subcommands share.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

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
