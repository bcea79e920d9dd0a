//! `spotctl import [ENV_DIR]`: adopt what an operator made by hand with the env's names — tag it,
//! or record a database instance as the primary — after showing what it will do and asking, as
//! apply does. The one adoption path: the plan's note about an unknown primary points here.

use super::args::EnvArgs;
use crate::exit::Outcome;
use anyhow::{bail, Result};
use clap::Args;
use spotctl_aws::reconcile::{import, plan_import};
use spotctl_core::workflow::render_import;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Adopt this instance as the primary even though it carries none of the env's tags.
    #[arg(long, value_name = "INSTANCE_ID")]
    pub instance: Option<String>,
    /// Import without asking.
    #[arg(long)]
    pub auto_approve: bool,
}

pub async fn exec(args: ImportArgs, verbose: u8) -> Result<Outcome> {
    let env = super::open_env(&args.env.env_dir).await?;
    let progress = super::term::progress();
    let found = plan_import(&env, args.instance.as_deref(), &progress).await?;
    progress.finish();
    for r in &found.refused {
        eprintln!("note: {r}");
    }
    print!("{}", render_import(&found.adoptions, &env.names.env));
    if found.adoptions.is_empty() {
        super::print_calls(&env.aws.calls, verbose);
        return Ok(Outcome::Ok);
    }
    if !args.auto_approve && !super::confirm("Adopt these resources?")? {
        bail!("import cancelled; nothing was changed");
    }
    let progress = super::term::progress();
    let n = import(&env, &found, &progress).await?;
    progress.finish();
    println!("Import complete: {n} adopted. Run `spotctl plan` to see what still differs from the env file.");
    super::print_calls(&env.aws.calls, verbose);
    Ok(Outcome::Ok)
}
