//! `spotctl package --out FILE`: write the handler zip that apply would upload, and say what it is.

use crate::exit::Outcome;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// Where to write the zip.
    #[arg(long, default_value = "dist/spotctl-lambda.zip")]
    pub out: PathBuf,
}

pub fn exec(args: PackageArgs) -> Result<Outcome> {
    let pkg = spotctl_aws::reconcile::package::package()?;
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.out, &pkg.zip).with_context(|| format!("writing {}", args.out.display()))?;
    let glibc = pkg.hash.glibc.map(|(a, b)| format!("{a}.{b}")).unwrap_or_else(|| "none (static)".into());
    println!("wrote {} ({} bytes) from {}", args.out.display(), pkg.zip.len(), pkg.binary.display());
    println!("sha256 {}  (CodeSha256 {})", pkg.hash.sha256_hex, pkg.hash.sha256_b64);
    println!("needs glibc {glibc}; the Lambda runtime provided.al2023 has 2.34");
    Ok(Outcome::Ok)
}
