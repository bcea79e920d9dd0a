//! The on-instance agent's eyes: what this instance is (IMDSv2 only), what its tags say (through
//! instance metadata tags), whether a spot interruption notice is out, and what the primary record
//! says. `spotctl_core::handoff` decides from that; the watcher (`spotctl agent watch`) logs every
//! decision under the `spot-handler` syslog tag.

use crate::store::S3Store;
use anyhow::{Context, Result};
use aws_config::imds::client::error::ImdsError;
use aws_config::imds::client::Client as Imds;
use serde::Serialize;
use spotctl_core::handoff::{backup_prefix, primary_step, standby_step, PrimaryView, StandbyView};
use spotctl_core::names::{keys, TAG_DRAIN, TAG_HANDOFF, TAG_ROLE};
use spotctl_core::primary::PrimaryRecord;

pub const DEFAULT_IMDS: &str = "http://169.254.169.254";

pub fn imds_client(endpoint: &str) -> Result<Imds> {
    Ok(Imds::builder()
        .endpoint(endpoint)
        .map_err(|e| anyhow::anyhow!("bad IMDS endpoint {endpoint}: {e}"))?
        .build())
}

/// A metadata path's value; `None` when IMDS answers 404 (no notice, no such tag).
pub(crate) async fn read(imds: &Imds, path: &str) -> Result<Option<String>> {
    match imds.get(path).await {
        Ok(v) => Ok(Some(v.as_ref().trim().to_string())),
        Err(ImdsError::ErrorResponse(e)) if e.response().status().as_u16() == 404 => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading instance metadata {path}")),
    }
}

/// One look at the world and the decision it leads to.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub instance_id: String,
    pub role: String,
    pub handoff: Option<String>,
    pub drain_tag: Option<String>,
    pub interruption_notice: bool,
    pub primary: Option<PrimaryRecord>,
    /// What `spotctl_core::handoff` decides, in words.
    pub decision: String,
}

pub async fn observe(imds: &Imds, store: &S3Store, drained: bool) -> Result<Observation> {
    let instance_id =
        read(imds, "/latest/meta-data/instance-id").await?.context("IMDS gave no instance id")?;
    let tag = |k: &str| format!("/latest/meta-data/tags/instance/{k}");
    let role = read(imds, &tag(TAG_ROLE)).await?.unwrap_or_default();
    let handoff = read(imds, &tag(TAG_HANDOFF)).await?;
    let drain_tag = read(imds, &tag(TAG_DRAIN)).await?;
    let interruption_notice = read(imds, "/latest/meta-data/spot/instance-action").await?.is_some();
    let primary = store.get_json::<PrimaryRecord>(keys::PRIMARY).await?.map(|(p, _)| p);
    let decision = if role == "standby" {
        let id = handoff.clone().unwrap_or_default();
        let manifest = format!("{}/manifest.json", backup_prefix(&id));
        let manifest_present = store.get(&manifest).await?.is_some();
        let view = StandbyView {
            self_id: instance_id.clone(),
            handoff_id: id,
            record: primary.clone(),
            manifest_present,
            verified: false,
            failure: None,
        };
        format!("{:?}", standby_step(&view))
    } else {
        let view = PrimaryView {
            self_id: instance_id.clone(),
            record: primary.clone(),
            interruption_notice,
            drain_tag: drain_tag.clone(),
            drained,
        };
        format!("{:?}", primary_step(&view))
    };
    Ok(Observation { instance_id, role, handoff, drain_tag, interruption_notice, primary, decision })
}

/// What the agent needs to act: the database, the state bucket, EC2 for its own tags.
pub struct AgentCtx {
    pub aws: crate::clients::Aws,
    pub store: S3Store,
    pub imds: Imds,
    /// `mysql://…` of the local server (root over the socket on an instance).
    pub mysql: String,
    pub database: String,
}

/// One look and the action it calls for, carried out. Returns the observation and what was done.
pub async fn step(ctx: &AgentCtx, drained: bool) -> Result<(Observation, String)> {
    let obs = observe(&ctx.imds, &ctx.store, drained).await?;
    let record = ctx.store.get_json::<PrimaryRecord>(keys::PRIMARY).await?;
    let done = if obs.role == "standby" {
        let id = obs.handoff.clone().unwrap_or_default();
        let view = StandbyView {
            self_id: obs.instance_id.clone(),
            handoff_id: id.clone(),
            record: record.as_ref().map(|(r, _)| r.clone()),
            manifest_present: obs.decision != "WaitForManifest",
            verified: false,
            failure: None,
        };
        match standby_step(&view) {
            spotctl_core::handoff::StandbyAction::Restore => {
                use spotctl_core::handoff::Step;
                let began = crate::lock::now_unix();
                match restore_and_verify(ctx, &id).await {
                    Ok(summary) => {
                        stamp(
                            ctx,
                            &id,
                            &[(Step::RestoreStarted, began), (Step::Verified, crate::lock::now_unix())],
                        )
                        .await?;
                        let promoted = promote(ctx, &obs, &id).await?;
                        if promoted.starts_with("promoted") {
                            stamp(ctx, &id, &[(Step::Promoted, crate::lock::now_unix())]).await?;
                        }
                        format!("{summary}; {promoted}")
                    }
                    // A standby that cannot verify never promotes, and says why, on the record too:
                    // with the backup to fall back to and the data-loss window it means.
                    Err(e) => {
                        let why = format!("refused to promote: {e:#}");
                        let note = record_failure(ctx, &id, &why).await.unwrap_or_else(|e2| {
                            format!("{why} (and the handoff record could not be updated: {e2:#})")
                        });
                        note
                    }
                }
            }
            other => format!("{other:?}"),
        }
    } else {
        let view = PrimaryView {
            self_id: obs.instance_id.clone(),
            record: record.map(|(r, _)| r),
            interruption_notice: obs.interruption_notice,
            drain_tag: obs.drain_tag.clone(),
            drained,
        };
        match primary_step(&view) {
            spotctl_core::handoff::PrimaryAction::Drain { id } => {
                let began = crate::lock::now_unix();
                let m = drain_to(ctx, &id).await?;
                use spotctl_core::handoff::Step;
                stamp(ctx, &id, &[(Step::DrainStarted, began), (Step::Drained, crate::lock::now_unix())])
                    .await?;
                let rows = m.rows();
                format!(
                    "drained {} tables ({} as InnoDB files), {rows} rows, to {} in {} ms",
                    m.tables().count(),
                    m.tables_as_files(),
                    backup_prefix(&id),
                    m.timings_ms.total
                )
            }
            spotctl_core::handoff::PrimaryAction::Retire { successor } => {
                let region = read(&ctx.imds, "/latest/meta-data/placement/region").await?.unwrap_or_default();
                if let Some(h) = obs.primary.as_ref().and_then(|p| p.handoff.clone()) {
                    stamp(ctx, &h, &[(spotctl_core::handoff::Step::OldRetired, crate::lock::now_unix())])
                        .await?;
                }
                ctx.aws.ec2(&region).terminate_instances().instance_ids(&obs.instance_id).send().await?;
                format!("retired: {successor} is the primary; terminating {}", obs.instance_id)
            }
            other => format!("{other:?}"),
        }
    };
    Ok((obs, done))
}

/// Changes the handoff's record (`state/handoffs/<id>.json`) with a conditional write, retried on
/// conflict: the handler and both agents write it. A missing record (a drain the handler never saw,
/// such as one started by the IMDS notice alone) is left missing.
async fn update_handoff(
    ctx: &AgentCtx,
    id: &str,
    change: impl Fn(&mut spotctl_core::handoff::Handoff),
) -> Result<()> {
    use crate::store::Cas;
    let key = spotctl_core::handoff::lease_key(id);
    for _ in 0..5 {
        let Some((mut h, etag)) = ctx.store.get_json::<spotctl_core::handoff::Handoff>(&key).await? else {
            return Ok(());
        };
        change(&mut h);
        if ctx.store.put_if_match(&key, &etag, serde_json::to_vec_pretty(&h)?).await? == Cas::Written {
            return Ok(());
        }
    }
    anyhow::bail!("could not record the handoff's progress in {key}: too many concurrent writers")
}

/// Stamps steps on the handoff's record.
async fn stamp(ctx: &AgentCtx, id: &str, steps: &[(spotctl_core::handoff::Step, i64)]) -> Result<()> {
    update_handoff(ctx, id, |h| {
        for (step, at) in steps {
            h.reach(*step, *at);
        }
    })
    .await
}

/// Marks the handoff failed with why, the fallback backup and the data-loss window.
async fn record_failure(ctx: &AgentCtx, id: &str, why: &str) -> Result<String> {
    use spotctl_core::handoff::{failure_note, fallback, Handoff, Step};
    let now = crate::lock::now_unix();
    let mut all = Vec::new();
    for key in ctx.store.list(keys::HANDOFFS).await? {
        if let Some((h, _)) = ctx.store.get_json::<Handoff>(&key).await? {
            all.push(h);
        }
    }
    let note = failure_note(why, fallback(&all, id, now).as_ref());
    update_handoff(ctx, id, |h| {
        h.reach(Step::Failed, now);
        h.failure = Some(note.clone());
    })
    .await?;
    Ok(note)
}

async fn drain_to(ctx: &AgentCtx, id: &str) -> Result<spotctl_db::Manifest> {
    let blobs = crate::blob::S3Blobs { store: ctx.store.clone(), handle: tokio::runtime::Handle::current() };
    let (dsn, handoff) = (ctx.mysql.clone(), id.to_string());
    let opts = spotctl_db::DrainOptions { databases: vec![ctx.database.clone()], ..Default::default() };
    tokio::task::spawn_blocking(move || spotctl_db::drain(&dsn, &blobs, keys::BACKUPS, &handoff, &opts))
        .await?
        .with_context(|| format!("draining to {}", backup_prefix(id)))
}

async fn restore_and_verify(ctx: &AgentCtx, id: &str) -> Result<String> {
    let blobs = crate::blob::S3Blobs { store: ctx.store.clone(), handle: tokio::runtime::Handle::current() };
    let (dsn, handoff) = (ctx.mysql.clone(), id.to_string());
    let opts = spotctl_db::RestoreOptions::default();
    let v = tokio::task::spawn_blocking(move || {
        spotctl_db::restore(&dsn, &blobs, keys::BACKUPS, &handoff, &opts)
    })
    .await?
    .with_context(|| format!("restoring {}", backup_prefix(id)))?;
    let rows = v.rows();
    Ok(format!("restored and verified {} tables, {rows} rows in {} ms", v.tables.len(), v.timings_ms.total))
}

/// The fencing step: epoch N → N+1 with `If-Match` on what was read. Only then are writes allowed
/// and the instance tagged primary; a lost race means another standby won, and this one stands down.
async fn promote(ctx: &AgentCtx, obs: &Observation, id: &str) -> Result<String> {
    use crate::store::Cas;
    let Some((record, etag)) = ctx.store.get_json::<PrimaryRecord>(keys::PRIMARY).await? else {
        return Ok("not promoted: no primary record".into());
    };
    if spotctl_core::handoff::handoff_id(record.epoch) != id {
        return Ok(format!("not promoted: the primary moved on to epoch {}", record.epoch));
    }
    let region = read(&ctx.imds, "/latest/meta-data/placement/region").await?.unwrap_or_default();
    let next = record.succeeded_by(PrimaryRecord {
        epoch: record.epoch,
        instance_id: obs.instance_id.clone(),
        region: region.clone(),
        availability_zone: read(&ctx.imds, "/latest/meta-data/placement/availability-zone")
            .await?
            .unwrap_or_default(),
        instance_type: read(&ctx.imds, "/latest/meta-data/instance-type").await?.unwrap_or_default(),
        since_unix: crate::lock::now_unix(),
        handoff: Some(id.to_string()),
    });
    if ctx.store.put_if_match(keys::PRIMARY, &etag, serde_json::to_vec_pretty(&next)?).await? == Cas::Conflict
    {
        return Ok("not promoted: another instance won the primary record".into());
    }
    let dsn = ctx.mysql.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        spotctl_db::fence::lift(&dsn)?;
        Ok(())
    })
    .await??;
    ctx.aws
        .ec2(&region)
        .create_tags()
        .resources(&obs.instance_id)
        .tags(aws_sdk_ec2::types::Tag::builder().key(TAG_ROLE).value("primary").build())
        .send()
        .await
        .context("tagging self as the primary")?;
    Ok(format!("promoted: epoch {} is {}", next.epoch, obs.instance_id))
}
