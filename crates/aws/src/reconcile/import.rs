//! `spotctl import`: take over a half-made env — resources an operator made by hand with the
//! env's names — without deleting them. What is adopted is decided by
//! `spotctl_core::workflow::adopt`; this file finds the candidates and carries the adoption out.
//!
//! Candidates are the plan's creations that exist already under the same name without the env's
//! `spotctl:env` tag: security groups and key pairs (found by name in each region), queues, event
//! rules and the handler function. Tagging them is all it takes: discovery finds them by tag
//! from then on and the next plan compares them like any other. IAM roles and profiles are found
//! by their path, not a tag, so a hand-made one at spotctl's path is already the env's. The
//! database instance is adopted as the primary by writing the primary record (conditionally, and
//! only when the record names no live instance), then tagging it.

use super::drift::bucket_exists;
use super::env::Env;
use super::primary::PrimaryOptions;
use super::progress::Progress;
use crate::compute::{Ec2Instances, InstanceView};
use crate::handoff::assess_primary;
use crate::sdk::clock::now_unix;
use crate::sdk::error::is_not_found;
use crate::state::{json_body, read_primary, StoreError};
use anyhow::{bail, Context, Result};
use spotctl_core::handoff::{OpenedBy, Opening};
use spotctl_core::names::{Names, TAG_ENV, TAG_KIND, TAG_ROLE};
use spotctl_core::plan::{Action, Address, Kind};
use spotctl_core::workflow::{
    adopted_record, ownership, primary_adoption, Adoption, Ownership, PrimaryAdoption,
};
use spotctl_layout::state as keys;

/// What `import` would adopt, and what it found but leaves alone (with why).
#[derive(Debug, Default)]
pub struct ImportPlan {
    pub adoptions: Vec<Adoption>,
    pub refused: Vec<String>,
}

/// Finds what can be adopted. `instance`: an instance to adopt as the primary even though it
/// carries none of the env's tags (made entirely by hand).
pub async fn plan_import(env: &Env, instance: Option<&str>, progress: &Progress) -> Result<ImportPlan> {
    let planned = env.plan(&PrimaryOptions::default(), progress).await?;
    let mut out = ImportPlan::default();
    progress.tick("looking for resources with the env's names");
    for c in planned.plan.changes.iter().filter(|c| c.action == Action::Create) {
        let Some((id, tag)) = find_by_name(env, &c.address).await? else { continue };
        match ownership(tag.as_deref(), &env.names.env) {
            Ownership::Untagged => out.adoptions.push(Adoption::Tag { address: c.address.clone(), id }),
            Ownership::OtherEnv(other) => {
                out.refused.push(format!("{} ({id}) belongs to env `{other}`: left alone", c.address))
            }
            Ownership::Ours => {}
        }
    }
    match primary_candidate(env, instance).await? {
        Candidate::None => {}
        Candidate::Refused(why) => out.refused.push(why),
        Candidate::Adopt(a) => out.adoptions.push(a),
    }
    Ok(out)
}

enum Candidate {
    None,
    Refused(String),
    Adopt(Adoption),
}

async fn primary_candidate(env: &Env, instance: Option<&str>) -> Result<Candidate> {
    let instances = Ec2Instances { aws: env.aws.clone(), names: env.names.clone() };
    let store = env.store.as_ref();
    let assessed = match bucket_exists(env).await? {
        true => assess_primary(store, &instances, &env.regions, now_unix()).await?,
        false if instance.is_none() => return Ok(Candidate::None),
        false => {
            return Ok(Candidate::Refused(
                "the env has no state bucket yet, so no primary can be recorded: create it first with \
                 `spotctl apply --target bucket.<the bucket's name>`, then import again"
                    .into(),
            ))
        }
    };
    let view: Option<InstanceView> = match instance {
        Some(id) => Some(describe_by_id(env, id).await?),
        None => match assessed.unknown.as_slice() {
            [] => None,
            [one] => assessed.instances.iter().find(|i| i.id == one.id).cloned(),
            many => {
                let ids: Vec<&str> = many.iter().map(|u| u.id.as_str()).collect();
                return Ok(Candidate::Refused(format!(
                    "several instances are tagged primary without the record naming them ({}): choose one with \
                     --instance",
                    ids.join(", ")
                )));
            }
        },
    };
    let Some(view) = view else { return Ok(Candidate::None) };
    if let Some(other) = view.env().filter(|e| *e != env.names.env) {
        return Ok(Candidate::Refused(format!("{} belongs to env `{other}`: left alone", view.id)));
    }
    let record = assessed.record.as_ref();
    let recorded_alive = record
        .is_some_and(|r| assessed.instances.iter().any(|i| i.id == r.instance_id && i.state.is_alive()));
    let handoff_open = assessed
        .handoff
        .as_ref()
        .is_some_and(|h| h.is_open() && record.is_some_and(|r| h.from_epoch == r.epoch));
    Ok(match primary_adoption(record, recorded_alive, handoff_open) {
        PrimaryAdoption::Refuse(why) => {
            Candidate::Refused(format!("{} is not adopted as the primary: {why}", view.id))
        }
        PrimaryAdoption::Adopt { .. } if !view.state.is_alive() => Candidate::Refused(format!(
            "{} is {}: only a running instance can be the primary",
            view.id,
            view.state.as_str()
        )),
        PrimaryAdoption::Adopt { epoch } => Candidate::Adopt(Adoption::Primary {
            instance_id: view.id.clone(),
            region: view.region.clone(),
            availability_zone: view.az.clone(),
            instance_type: view.instance_type.clone(),
            epoch,
        }),
    })
}

async fn describe_by_id(env: &Env, id: &str) -> Result<InstanceView> {
    for region in &env.regions {
        let out = env.aws.ec2(region).describe_instances().instance_ids(id).send().await;
        match out {
            Ok(o) => {
                if let Some(i) = o.reservations().iter().flat_map(|r| r.instances()).next() {
                    return Ok(crate::compute::view_of(region, i));
                }
            }
            Err(e) if is_not_found(&e) || format!("{e:?}").contains("InvalidInstanceID") => {}
            Err(e) => return Err(e).with_context(|| format!("looking for {id} in {region}")),
        }
    }
    bail!("instance {id} is in none of the env's regions ({})", env.regions.join(", "))
}

/// The id and `spotctl:env` tag of the resource at `address`, found by its name.
async fn find_by_name(env: &Env, a: &Address) -> Result<Option<(String, Option<String>)>> {
    let aws = &env.aws;
    let name = a.name.as_str();
    Ok(match a.kind {
        Kind::SecurityGroup => {
            let f = aws_sdk_ec2::types::Filter::builder().name("group-name").values(name).build();
            let out = aws.ec2(&a.region).describe_security_groups().filters(f).send().await?;
            out.security_groups()
                .first()
                .map(|g| (g.group_id().unwrap_or_default().to_string(), ec2_env(g.tags())))
        }
        Kind::KeyPair => {
            let f = aws_sdk_ec2::types::Filter::builder().name("key-name").values(name).build();
            let out = aws.ec2(&a.region).describe_key_pairs().filters(f).send().await?;
            out.key_pairs()
                .first()
                .map(|k| (k.key_pair_id().unwrap_or_default().to_string(), ec2_env(k.tags())))
        }
        Kind::Queue => {
            let sqs = aws.sqs(&a.region);
            let listed = sqs.list_queues().queue_name_prefix(name).send().await?;
            match listed.queue_urls().iter().find(|u| u.rsplit('/').next() == Some(name)) {
                None => None,
                Some(url) => {
                    let tags = sqs.list_queue_tags().queue_url(url).send().await?;
                    Some((url.clone(), tags.tags().and_then(|t| t.get(TAG_ENV)).cloned()))
                }
            }
        }
        Kind::EventRule => {
            let ev = aws.events(&a.region);
            let listed = ev.list_rules().name_prefix(name).send().await?;
            match listed.rules().iter().find(|r| r.name() == Some(name)).and_then(|r| r.arn()) {
                None => None,
                Some(arn) => {
                    let tags = ev.list_tags_for_resource().resource_arn(arn).send().await?;
                    let env_tag =
                        tags.tags().iter().find(|t| t.key() == TAG_ENV).map(|t| t.value().to_string());
                    Some((arn.to_string(), env_tag))
                }
            }
        }
        Kind::LambdaFunction => match aws.lambda(&a.region).get_function().function_name(name).send().await {
            Ok(f) => {
                let arn = f.configuration().and_then(|c| c.function_arn()).unwrap_or_default().to_string();
                Some((arn, f.tags().and_then(|t| t.get(TAG_ENV)).cloned()))
            }
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(e).with_context(|| format!("looking for the function {name}")),
        },
        _ => None,
    })
}

fn ec2_env(tags: &[aws_sdk_ec2::types::Tag]) -> Option<String> {
    tags.iter().find(|t| t.key() == Some(TAG_ENV)).and_then(|t| t.value()).map(String::from)
}

/// Carries out `plan` (the caller showed it and was told yes). Returns how many were adopted.
pub async fn import(env: &Env, plan: &ImportPlan, progress: &Progress) -> Result<usize> {
    let lock = env.lock("import").await?;
    let mut done = 0;
    let result = async {
        for a in &plan.adoptions {
            adopt(env, a).await?;
            progress.note(&format!("  adopted {}", describe(a)));
            done += 1;
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    if let Some(l) = lock {
        l.release().await?;
    }
    result?;
    Ok(done)
}

fn describe(a: &Adoption) -> String {
    match a {
        Adoption::Tag { address, id } => format!("{address} ({id})"),
        Adoption::Primary { instance_id, epoch, .. } => {
            format!("{instance_id} as the primary (epoch {epoch})")
        }
    }
}

async fn adopt(env: &Env, a: &Adoption) -> Result<()> {
    let names = &env.names;
    match a {
        Adoption::Tag { address, id } => {
            let kind = kind_tag(names, address);
            let region = address.region.as_str();
            match address.kind {
                Kind::SecurityGroup | Kind::KeyPair => {
                    env.aws
                        .ec2(region)
                        .create_tags()
                        .resources(id)
                        .set_tags(Some(ec2_tags(names, kind)))
                        .send()
                        .await?;
                }
                Kind::Queue => {
                    let mut req = env.aws.sqs(region).tag_queue().queue_url(id);
                    for (k, v) in owner_tags(names, kind) {
                        req = req.tags(k, v);
                    }
                    req.send().await?;
                }
                Kind::EventRule => {
                    let tags = owner_tags(names, kind)
                        .into_iter()
                        .map(|(k, v)| aws_sdk_eventbridge::types::Tag::builder().key(k).value(v).build())
                        .collect::<Result<Vec<_>, _>>()?;
                    env.aws
                        .events(region)
                        .tag_resource()
                        .resource_arn(id)
                        .set_tags(Some(tags))
                        .send()
                        .await?;
                }
                Kind::LambdaFunction => {
                    let mut req = env.aws.lambda(region).tag_resource().resource(id);
                    for (k, v) in owner_tags(names, kind) {
                        req = req.tags(k, v);
                    }
                    req.send().await?;
                }
                k => bail!("spotctl cannot adopt a {k}; this is a bug in import"),
            }
            Ok(())
        }
        Adoption::Primary { instance_id, region, .. } => {
            let Some(record) = adopted_record(a, now_unix()) else { bail!("not a primary adoption") };
            let body = json_body(keys::PRIMARY, &record)?;
            let opening = Opening::new(record.epoch, &record.instance_id, None, OpenedBy::Import, now_unix());
            crate::state::open(env.store.as_ref(), &opening).await?;
            let written = match read_primary(env.store.as_ref()).await? {
                None => env.store.put_if_absent(keys::PRIMARY, body).await,
                Some((r, etag)) if r.epoch + 1 == record.epoch => {
                    env.store.put_if_match(keys::PRIMARY, &etag, body).await
                }
                Some(_) => Err(StoreError::Conflict { key: keys::PRIMARY.into() }),
            };
            match written {
                Ok(_) => {}
                Err(e) if e.is_conflict() => {
                    bail!("the primary record changed while import ran; run import again")
                }
                Err(e) => return Err(e.into()),
            }
            let tags = [
                (TAG_ENV, names.env.clone()),
                (TAG_KIND, "db".into()),
                (TAG_ROLE, "primary".into()),
                ("Name", names.instance_name()),
            ]
            .into_iter()
            .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
            .collect();
            env.aws.ec2(region).create_tags().resources(instance_id).set_tags(Some(tags)).send().await?;
            Ok(())
        }
    }
}

/// The ownership tags an adopted resource gets (its `Name` stays the operator's).
fn owner_tags(names: &Names, kind: &str) -> Vec<(String, String)> {
    vec![(TAG_ENV.to_string(), names.env.clone()), (TAG_KIND.to_string(), kind.to_string())]
}

fn ec2_tags(names: &Names, kind: &str) -> Vec<aws_sdk_ec2::types::Tag> {
    owner_tags(names, kind)
        .into_iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// The `spotctl:kind` value spotctl gives what it makes at `a` (as the resource modules do).
fn kind_tag(names: &Names, a: &Address) -> &'static str {
    match a.kind {
        Kind::SecurityGroup if a.name == names.worker_security_group() => "worker-security-group",
        Kind::SecurityGroup => "db-security-group",
        Kind::KeyPair => "key-pair",
        Kind::Queue => "queue",
        Kind::EventRule => "event-rule",
        Kind::LambdaFunction => "handler",
        _ => "adopted",
    }
}
