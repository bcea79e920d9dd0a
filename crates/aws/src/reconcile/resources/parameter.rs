//! The env's two secrets, each generated once at apply and kept only as an SSM SecureString: the
//! MySQL application password, and the certificate authority that signs the instances' server
//! certificates (certificate and private key). spotctl never prints, logs or stores either
//! elsewhere; the database instances read them at boot.

use super::Ctx;
use crate::sdk::error::is_not_found;
use anyhow::{Context, Result};
use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType, Tag};
use base64::Engine as _;
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};
use std::io::Read;

pub async fn discover(ctx: &Ctx<'_>) -> Result<Vec<LiveResource>> {
    let names = [ctx.names.password_parameter(), ctx.names.ca_parameter()];
    let out = ctx
        .aws
        .ssm(ctx.home())
        .describe_parameters()
        .parameter_filters(
            ParameterStringFilter::builder()
                .key("Name")
                .option("Equals")
                .set_values(Some(names.to_vec()))
                .build()?,
        )
        .send()
        .await
        .context("looking up the env's parameters")?;
    Ok(out
        .parameters()
        .iter()
        .filter_map(|p| {
            let name = p.name().filter(|n| names.iter().any(|w| w == n))?;
            Some(
                LiveResource::new(Address::new(Kind::Parameter, ctx.home(), name), name)
                    .with("type", p.r#type().map(|t| t.as_str()).unwrap_or_default()),
            )
        })
        .collect())
}

/// 32 random bytes from the OS, URL-safe base64: 43 characters, no quoting trouble in SQL or shell.
fn generate_password() -> Result<String> {
    let mut buf = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom for the database password")?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

pub async fn create(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let name = &want.address.name;
    let (purpose, description, value) = if *name == ctx.names.ca_parameter() {
        let now = crate::sdk::clock::now_unix();
        let ca = crate::tls::Ca::generate(&ctx.names.env, now)?;
        (
            "db-ca",
            format!("spotctl {}: the database's certificate authority (certificate, key)", ctx.names.env),
            ca.bundle(),
        )
    } else {
        (
            "db-password",
            format!("spotctl {}: MySQL password of the `app` user", ctx.names.env),
            generate_password()?,
        )
    };
    let tags: Vec<Tag> = ctx
        .tags(purpose)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()?;
    ctx.aws
        .ssm(ctx.home())
        .put_parameter()
        .name(name)
        .description(description)
        .r#type(ParameterType::SecureString)
        .value(value)
        .set_tags(Some(tags))
        .send()
        .await
        .with_context(|| format!("storing the generated secret in {name}"))?;
    Ok(name.clone())
}

pub async fn delete(ctx: &Ctx<'_>, name: &str) -> Result<()> {
    match ctx.aws.ssm(ctx.home()).delete_parameter().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting parameter {name}")),
    }
}
