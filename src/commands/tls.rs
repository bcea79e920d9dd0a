//! `spotctl agent tls`: at boot, before MariaDB starts, the instance's server certificate — a fresh
//! key, signed by the env's CA (read from its SSM SecureString with the instance's role), naming
//! the endpoint and the instance's addresses — written where the server's configuration points.
//! Prints what it wrote (names, expiry, paths), never a key.

use crate::exit::Outcome;
use anyhow::{Context, Result};
use clap::Args;
use spotctl_aws::sdk::imds::{paths, Imds, Metadata, DEFAULT_IMDS};
use spotctl_aws::sdk::Aws;
use spotctl_aws::tls::fetch_ca;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

#[derive(Debug, Args)]
pub struct TlsArgs {
    #[arg(long)]
    pub env: String,
    /// The env's home region (where its parameters are).
    #[arg(long)]
    pub region: String,
    /// The endpoint's name (the certificate's first name).
    #[arg(long)]
    pub name: String,
    /// The directory to write `ca.pem`, `server-cert.pem` and `server-key.pem` (0600) to.
    #[arg(long)]
    pub out: String,
    /// The instance metadata service (the instance's addresses).
    #[arg(long, env = "SPOTCTL_IMDS_ENDPOINT", default_value = DEFAULT_IMDS)]
    pub imds_endpoint: String,
}

pub async fn exec(a: TlsArgs) -> Result<Outcome> {
    let ca = fetch_ca(&Aws::load().await, &a.region, &a.env).await?;
    let md = Imds::new(&a.imds_endpoint)?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for path in [paths::PUBLIC_IPV4, paths::LOCAL_IPV4] {
        if let Some(ip) = md.read(path).await?.and_then(|v| v.trim().parse().ok()) {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    let now = spotctl_aws::sdk::clock::now_unix();
    let cert = ca.issue(&a.env, std::slice::from_ref(&a.name), &ips, now)?;
    let dir = Path::new(&a.out);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write(&dir.join("ca.pem"), &ca.cert_pem, 0o644)?;
    write(&dir.join("server-cert.pem"), &cert.cert_pem, 0o644)?;
    write(&dir.join("server-key.pem"), &cert.key_pem, 0o600)?;
    let report = serde_json::json!({
        "names": cert.names,
        "not_after": cert.not_after,
        "ca": dir.join("ca.pem"),
        "cert": dir.join("server-cert.pem"),
        "key": dir.join("server-key.pem"),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(Outcome::Ok)
}

/// Writes `text` to `path` with `mode` from the first byte (a key is never readable by others, not
/// even for a moment), replacing what was there.
fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("moving {} into place", path.display()))
}
