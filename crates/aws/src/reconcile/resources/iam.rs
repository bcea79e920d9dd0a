//! IAM roles (with one inline policy each, from `templates/iam/`) and the instance profile.
//!
//! Everything lives under the IAM path `/spotctl/<env>/`, which is how discovery finds it with one
//! list call; the roles are tagged too. Policy documents are compared in canonical JSON.

use super::Ctx;
use crate::sdk::error::is_not_found;
use anyhow::{Context, Result};
use aws_sdk_iam::types::Tag;
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};
use spotctl_core::templates::canonical_json;

const POLICY_NAME: &str = "spotctl";

/// IAM returns policy documents URL-encoded; emulators sometimes do not.
fn decode_policy(doc: &str) -> String {
    let decoded = if doc.starts_with('%') { percent_decode(doc) } else { doc.to_string() };
    canonical_json(&decoded).unwrap_or(decoded)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn tags(ctx: &Ctx<'_>, kind: &str) -> Result<Vec<Tag>> {
    ctx.tags(kind).into_iter().map(|(k, v)| Ok(Tag::builder().key(k).value(v).build()?)).collect()
}

pub async fn discover(ctx: &Ctx<'_>) -> Result<Vec<LiveResource>> {
    let iam = ctx.aws.iam();
    let path = ctx.names.iam_path();
    let mut out = Vec::new();
    let roles = iam.list_roles().path_prefix(&path).send().await.context("listing spotctl IAM roles")?;
    for role in roles.roles() {
        if role.path() != path {
            continue;
        }
        let name = role.role_name();
        let trust = role.assume_role_policy_document().map(decode_policy).unwrap_or_default();
        let policy = match iam.get_role_policy().role_name(name).policy_name(POLICY_NAME).send().await {
            Ok(p) => decode_policy(p.policy_document()),
            Err(e) if is_not_found(&e) => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading the policy of role {name}")),
        };
        out.push(
            LiveResource::new(Address::new(Kind::IamRole, "global", name), role.arn())
                .with("path", role.path())
                .with("trust", trust)
                .with("policy", policy),
        );
    }
    let profiles = iam
        .list_instance_profiles()
        .path_prefix(&path)
        .send()
        .await
        .context("listing spotctl instance profiles")?;
    for p in profiles.instance_profiles() {
        if p.path() != path {
            continue;
        }
        let role = p.roles().first().map(|r| r.role_name().to_string()).unwrap_or_default();
        out.push(
            LiveResource::new(
                Address::new(Kind::InstanceProfile, "global", p.instance_profile_name()),
                p.arn(),
            )
            .with("path", p.path())
            .with("role", role),
        );
    }
    Ok(out)
}

pub async fn create_role(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let iam = ctx.aws.iam();
    let name = &want.address.name;
    let created = iam
        .create_role()
        .role_name(name)
        .path(want.value("path").unwrap_or("/"))
        .assume_role_policy_document(want.value("trust").unwrap_or_default())
        .set_tags(Some(tags(ctx, "iam-role")?))
        .send()
        .await;
    let arn = match created {
        Ok(out) => out.role().map(|r| r.arn().to_string()).unwrap_or_default(),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_already_exists_exception()) => iam
            .get_role()
            .role_name(name)
            .send()
            .await?
            .role()
            .map(|r| r.arn().to_string())
            .unwrap_or_default(),
        Err(e) => return Err(e).with_context(|| format!("creating role {name}")),
    };
    put_policy(ctx, name, want).await?;
    Ok(arn)
}

pub async fn update_role(ctx: &Ctx<'_>, want: &Resource) -> Result<()> {
    let name = &want.address.name;
    ctx.aws
        .iam()
        .update_assume_role_policy()
        .role_name(name)
        .policy_document(want.value("trust").unwrap_or_default())
        .send()
        .await
        .with_context(|| format!("updating the trust policy of {name}"))?;
    put_policy(ctx, name, want).await
}

async fn put_policy(ctx: &Ctx<'_>, role: &str, want: &Resource) -> Result<()> {
    ctx.aws
        .iam()
        .put_role_policy()
        .role_name(role)
        .policy_name(POLICY_NAME)
        .policy_document(want.value("policy").unwrap_or_default())
        .send()
        .await
        .with_context(|| format!("writing the policy of {role}"))?;
    Ok(())
}

pub async fn delete_role(ctx: &Ctx<'_>, name: &str) -> Result<()> {
    let iam = ctx.aws.iam();
    if let Ok(profiles) = iam.list_instance_profiles_for_role().role_name(name).send().await {
        for p in profiles.instance_profiles() {
            let _ = iam
                .remove_role_from_instance_profile()
                .instance_profile_name(p.instance_profile_name())
                .role_name(name)
                .send()
                .await;
        }
    }
    match iam.delete_role_policy().role_name(name).policy_name(POLICY_NAME).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e).with_context(|| format!("deleting the policy of {name}")),
    }
    match iam.delete_role().role_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting role {name}")),
    }
}

pub async fn create_profile(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let iam = ctx.aws.iam();
    let name = &want.address.name;
    let arn = match iam
        .create_instance_profile()
        .instance_profile_name(name)
        .path(want.value("path").unwrap_or("/"))
        .set_tags(Some(tags(ctx, "instance-profile")?))
        .send()
        .await
    {
        Ok(out) => out.instance_profile().map(|p| p.arn().to_string()).unwrap_or_default(),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_already_exists_exception()) => {
            String::new()
        }
        Err(e) => return Err(e).with_context(|| format!("creating instance profile {name}")),
    };
    update_profile(ctx, want).await?;
    Ok(arn)
}

pub async fn update_profile(ctx: &Ctx<'_>, want: &Resource) -> Result<()> {
    let iam = ctx.aws.iam();
    let name = &want.address.name;
    detach_roles(&iam, name).await?;
    iam.add_role_to_instance_profile()
        .instance_profile_name(name)
        .role_name(want.value("role").unwrap_or_default())
        .send()
        .await
        .with_context(|| format!("adding the role to instance profile {name}"))?;
    Ok(())
}

/// Removes every role from an instance profile (a profile that does not exist has none).
async fn detach_roles(iam: &aws_sdk_iam::Client, name: &str) -> Result<()> {
    let current = match iam.get_instance_profile().instance_profile_name(name).send().await {
        Ok(c) => c,
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading instance profile {name}")),
    };
    for r in current.instance_profile().map(|p| p.roles()).unwrap_or_default() {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name(r.role_name())
            .send()
            .await
            .with_context(|| format!("removing {} from instance profile {name}", r.role_name()))?;
    }
    Ok(())
}

pub async fn delete_profile(ctx: &Ctx<'_>, name: &str) -> Result<()> {
    let iam = ctx.aws.iam();
    detach_roles(&iam, name).await?;
    match iam.delete_instance_profile().instance_profile_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting instance profile {name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_url_encoded_policies() {
        let enc = "%7B%22Version%22%3A%222012-10-17%22%7D";
        assert_eq!(decode_policy(enc), "{\"Version\":\"2012-10-17\"}");
        assert_eq!(decode_policy("{ \"a\": 1 }"), "{\"a\":1}");
    }
}
