//! Starting and following the FIS experiment that interrupts the primary.

use crate::reconcile::resources::{fis as fis_res, instance, Ctx};
use crate::reconcile::Env;
use crate::state::{get_json, json_body, read_primary};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use spotctl_core::handoff::primary::{InstanceState, Role};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Started {
    pub id: String,
    pub region: String,
    pub template_id: String,
    pub instance_id: String,
}

#[derive(Debug, Clone)]
pub struct Status {
    pub id: String,
    pub region: String,
    pub state: String,
    pub reason: String,
}

/// Finds the primary, checks it is running and tagged as the template selects it, and starts the
/// experiment in its region.
pub async fn start_on_primary(env: &Env) -> Result<Started> {
    let store = env.store.as_ref();
    let record = read_primary(store)
        .await?
        .map(|(r, _)| r)
        .context("no primary is recorded for this env; run `spotctl apply` first")?;
    let artifacts = BTreeMap::new();
    let ctx = Ctx { aws: &env.aws, names: &env.names, regions: &env.regions, artifacts: &artifacts };
    let live = instance::list(&ctx, &record.region).await?;
    let Some(primary) = live.iter().map(|d| &d.view).find(|i| i.id == record.instance_id) else {
        bail!("the recorded primary {} is not running in {}", record.instance_id, record.region);
    };
    let role = primary.role()?;
    if role != Some(Role::Primary) || primary.state != InstanceState::Running {
        bail!(
            "instance {} is {} with role `{}`; FIS targets a running primary",
            primary.id,
            primary.state.as_str(),
            role.map(Role::as_str).unwrap_or("none")
        );
    }
    let templates = fis_res::discover(&ctx, &record.region).await?;
    let Some(template) = templates.first() else {
        bail!("no FIS template for this env in {}; run `spotctl apply`", record.region);
    };
    let mut tags = HashMap::new();
    tags.insert(spotctl_core::names::TAG_ENV.to_string(), env.names.env.clone());
    tags.insert("spotctl:target".to_string(), primary.id.clone());
    let out = env
        .aws
        .fis(&record.region)
        .start_experiment()
        .experiment_template_id(&template.id)
        .set_tags(Some(tags))
        .send()
        .await
        .with_context(|| format!("starting the FIS experiment in {}", record.region))?;
    let id = out.experiment().and_then(|e| e.id()).unwrap_or_default().to_string();
    let started = Started {
        id,
        region: record.region.clone(),
        template_id: template.id.clone(),
        instance_id: primary.id.clone(),
    };
    store.put(spotctl_layout::state::FIS_LAST, json_body(spotctl_layout::state::FIS_LAST, &started)?).await?;
    Ok(started)
}

pub async fn experiment_status(env: &Env, id: Option<&str>) -> Result<Option<Status>> {
    let last = get_json::<Started>(env.store.as_ref(), spotctl_layout::state::FIS_LAST)
        .await
        .ok()
        .flatten()
        .map(|(s, _)| s);
    let (id, regions): (String, Vec<String>) = match (id, &last) {
        (Some(id), Some(l)) if l.id == id => (id.to_string(), vec![l.region.clone()]),
        (Some(id), _) => (id.to_string(), env.regions.clone()),
        (None, Some(l)) => (l.id.clone(), vec![l.region.clone()]),
        (None, None) => return Ok(None),
    };
    for region in regions {
        if let Ok(out) = env.aws.fis(&region).get_experiment().id(&id).send().await {
            let state = out.experiment().and_then(|e| e.state());
            return Ok(Some(Status {
                id: id.clone(),
                region,
                state: state.and_then(|s| s.status()).map(|s| s.as_str().to_string()).unwrap_or_default(),
                reason: state.and_then(|s| s.reason()).unwrap_or_default().to_string(),
            }));
        }
    }
    bail!("no FIS experiment {id} in the env's regions")
}
