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

/// A UTC RFC 3339 time given as `flag` (`--until`, `--to-time`), as seconds since 1970.
pub fn utc_second(flag: &str, text: &str) -> Result<u32, crate::exit::BadInput> {
    spotctl_core::time::parse_rfc3339(text).and_then(|t| u32::try_from(t).ok()).ok_or_else(|| {
        crate::exit::BadInput(format!(
            "{flag} {text:?} is not a UTC RFC 3339 time such as 2026-11-29T10:15:00Z"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_a_utc_second() {
        assert_eq!(utc_second("--until", "2026-11-29T10:15:00Z").ok(), Some(1_795_947_300));
        assert!(utc_second("--until", "2026-11-29 10:15:00").is_err());
        assert!(
            utc_second("--to-time", "2026-11-29T10:15:00+09:00").is_err_and(|e| e.0.starts_with("--to-time"))
        );
    }
}
