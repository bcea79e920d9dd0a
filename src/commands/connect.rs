//! `spotctl connect [ENV_DIR]`: what an application needs to reach the database — the endpoint's
//! name and port, the user, where the password and the CA certificate are, and a `mariadb` command
//! line that verifies the server's certificate. Prints no secret; `--ca-out FILE` writes the CA's
//! certificate (never its key).

use super::args::{EnvArgs, Output};
use crate::exit::Outcome;
use anyhow::{Context, Result};
use clap::Args;
use spotctl_aws::ops::status::endpoint;
use spotctl_aws::tls::fetch_ca;

#[derive(Debug, Args)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Write the env's CA certificate here (read from its SSM parameter; the key is never written).
    #[arg(long)]
    pub ca_out: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

pub async fn exec(args: ConnectArgs, verbose: u8) -> Result<Outcome> {
    let env = super::open_env(&args.env.env_dir).await?;
    let names = &env.names;
    let region = names.home_region.clone();
    let e = endpoint(&env, None).await.context("reading the endpoint from Route 53")?;
    let database = env.loaded.env.database.name.clone();
    let ca_file = args.ca_out.clone().unwrap_or_else(|| format!("spotctl-{}-ca.pem", names.env));
    if let Some(out) = &args.ca_out {
        let ca = fetch_ca(&env.aws, &region, &names.env).await?;
        std::fs::write(out, &ca.cert_pem).with_context(|| format!("writing {out}"))?;
    }
    let password = format!(
        "aws ssm get-parameter --region {region} --name {} --with-decryption --query Parameter.Value --output text",
        names.password_parameter()
    );
    let command = format!(
        "mariadb --host={} --port=3306 --user=app --password --ssl-ca={ca_file} --ssl-verify-server-cert {database}",
        e.name
    );
    let v = serde_json::json!({
        "host": e.name,
        "port": 3306,
        "user": "app",
        "database": database,
        "points_at": e.record.as_ref().map(|r| serde_json::json!({"address": r.address, "epoch": r.epoch, "ttl": r.ttl})),
        "password_parameter": names.password_parameter(),
        "password_command": password,
        "ca_parameter": names.ca_parameter(),
        "ca_file": args.ca_out,
        "tls": "required; verify the server certificate against the env's CA",
        "command": command,
    });
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        Output::Text => {
            let points = match &e.record {
                Some(r) => format!("{} (epoch {}, TTL {} s)", r.address, r.epoch, r.ttl),
                None => "nothing yet (run `spotctl apply`)".into(),
            };
            println!("host:     {} (port 3306), now {points}", e.name);
            println!("user:     app, database {database}");
            println!(
                "password: SSM SecureString {} in {region}:\n          {password}",
                names.password_parameter()
            );
            match &args.ca_out {
                Some(out) => println!("CA:       written to {out} (from {})", names.ca_parameter()),
                None => println!(
                    "CA:       in {} (its certificate: `spotctl connect {} --ca-out {ca_file}`)",
                    names.ca_parameter(),
                    args.env.env_dir.display()
                ),
            }
            println!("TLS is required; a client must verify the server certificate against the CA:");
            println!("  {command}");
        }
    }
    super::print_calls(&env.aws.calls, verbose);
    Ok(Outcome::Ok)
}
