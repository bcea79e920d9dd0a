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
async fn read(imds: &Imds, path: &str) -> Result<Option<String>> {
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
