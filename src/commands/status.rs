//! `spotctl status [ENV_DIR]`: the primary, the age of the last complete backup, the last
//! handoffs with the time of each step, and any standby. `--watch` redraws it every few seconds
//! (on a terminal, in place), with how long each step of an open handoff took, until Ctrl-C.

use super::args::{EnvArgs, Output};
use crate::exit::Outcome;
use anyhow::Result;
use clap::Args;
use spotctl_aws::ops::status::status;
use spotctl_core::time::rfc3339;
use spotctl_core::workflow::step_durations;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// Redraw every --interval seconds, with each open handoff's step durations, until Ctrl-C.
    #[arg(long, conflicts_with = "output")]
    pub watch: bool,
    /// Seconds between redraws with --watch.
    #[arg(long, default_value_t = 3, requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
}

pub async fn exec(args: StatusArgs, verbose: u8) -> Result<Outcome> {
    let env = super::open_env(&args.env.env_dir).await?;
    if args.watch {
        let in_place = super::stdout_is_terminal();
        // One Ctrl-C listener for the whole watch: a Ctrl-C that comes while status is being read
        // is not lost (a listener made per redraw would miss it, and the watch would never end).
        let (tx, mut stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
        });
        loop {
            let s = tokio::select! {
                s = status(&env) => s?,
                _ = stop.changed() => break,
            };
            let mut screen = String::new();
            if in_place {
                screen.push_str("\x1b[H\x1b[2J");
            }
            screen.push_str(&format!(
                "spotctl status {} at {} (every {} s; Ctrl-C to stop)\n",
                env.names.env,
                rfc3339(s.now_unix),
                args.interval
            ));
            screen.push_str(&s.render());
            for h in s.handoffs.iter().filter(|h| h.is_open()) {
                screen.push_str(&format!("handoff {} under way, step by step:\n", h.id));
                screen.push_str(&step_durations(h, s.now_unix));
            }
            if !in_place {
                screen.push('\n');
            }
            print!("{screen}");
            use std::io::Write;
            std::io::stdout().flush()?;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(args.interval)) => {}
                _ = stop.changed() => break,
            }
        }
        super::print_calls(&env.aws.calls, verbose);
        return Ok(Outcome::Ok);
    }
    let s = status(&env).await?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&s)?),
        Output::Text => print!("{}", s.render()),
    }
    super::print_calls(&env.aws.calls, verbose);
    Ok(Outcome::Ok)
}
