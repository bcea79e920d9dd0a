//! `spotctl recover [ENV_DIR] --to-time T`: the env's primary moved to a new instance holding the
//! database as it was at second T (after an accidental `DROP TABLE`, say), through a planned
//! handoff, shown and confirmed like `apply`. The work is `spotctl_aws::ops::point_in_time`.

use super::args::EnvArgs;
use crate::exit::{BadInput, Outcome};
use anyhow::{bail, Result};
use clap::Args;
use spotctl_aws::ops::point_in_time::{plan, start, PlanError};
use spotctl_aws::sdk::clock::{Clock, SystemClock};

#[derive(Debug, Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// The second to recover to, UTC RFC 3339 (2026-11-29T10:15:00Z): every transaction committed
    /// before it is kept, none at or after it.
    #[arg(long, value_name = "RFC3339")]
    pub to_time: String,
    /// Recover without asking.
    #[arg(long)]
    pub auto_approve: bool,
}

pub async fn exec(args: RecoverArgs, verbose: u8) -> Result<Outcome> {
    let until = i64::from(super::args::utc_second("--to-time", &args.to_time)?);
    let now = SystemClock.now();
    if until >= now {
        return Err(BadInput(format!(
            "--to-time {} is not in the past (it is {} now): the log holds only what was committed",
            args.to_time,
            spotctl_core::time::rfc3339(now)
        ))
        .into());
    }
    let env = super::open_env(&args.env.env_dir).await?;
    let planned = match plan(&env, until).await {
        Ok(p) => p,
        Err(PlanError::Refused(r)) => return Err(BadInput(r.to_string()).into()),
        Err(e) => return Err(e.into()),
    };
    print!("{}", planned.render());
    if !args.auto_approve && !super::confirm("Recover to this point in time?")? {
        bail!("recovery cancelled; nothing was changed");
    }
    let outcome = start(&env, &planned).await?;
    println!("{}", serde_json::to_string_pretty(&outcome)?);
    println!("Under way: follow it with `spotctl status --watch`.");
    super::print_calls(&env.aws.calls, verbose);
    Ok(Outcome::Ok)
}
