//! An env bound to an AWS account: the plan / apply / destroy pipeline.
//!
//! `plan` gathers facts (account, default VPCs, what is live, and — only when no primary runs — the
//! placement for a new one), asks `spotctl_core` for the desired resources and the plan, and returns
//! everything `apply` needs, so that `apply` makes no decision of its own.

use super::discover::discover;
use super::execute::Executor;
use super::package::{package_hash, package_matching, PackageHash};
use super::progress::Progress;
use super::resources::{bucket, lambda::artifact_key, Ctx};
use crate::placement::facts as placement_facts;
use crate::sdk::Aws;
use crate::state::{Lock, LockInfo, S3Store, StateStore, StoredEnv};
use anyhow::{Context, Result};
use futures::future::try_join_all;
use spotctl_core::config::LoadedEnv;
use spotctl_core::desired::{desired, DesiredInput, LambdaArtifact, PrimarySpec};
use spotctl_core::names::{keys, Names};
use spotctl_core::plan::{plan as make_plan, plan_destroy, Kind, LiveResource, Plan, Resource};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub struct Env {
    pub aws: Aws,
    /// The env's state bucket.
    pub store: Arc<dyn StateStore>,
    pub loaded: LoadedEnv,
    pub names: Names,
    /// Candidate regions from the env file, sorted.
    pub regions: Vec<String>,
}

/// A computed plan with what is needed to carry it out.
pub struct Planned {
    pub plan: Plan,
    pub live: Vec<LiveResource>,
    pub desired: Vec<Resource>,
    /// The handler package the plan was made with (its hashes; the zip is built at apply).
    pub package: Option<PackageHash>,
    /// Regions that were searched (candidates plus any the env used before).
    pub regions: Vec<String>,
}

impl Env {
    pub async fn open(aws: Aws, loaded: LoadedEnv) -> Result<Env> {
        let home = loaded.env.env.home_region.clone();
        let account = aws.account_id(&home).await?;
        let names = Names::new(&loaded.env.env.name, &account, &home);
        let mut regions: Vec<String> = loaded.env.env.regions.clone();
        regions.sort();
        regions.dedup();
        let store = Arc::new(S3Store::new(aws.s3(&home, &account), names.bucket()));
        Ok(Env { aws, store, loaded, names, regions })
    }

    /// The regions of the env's fleets, sorted.
    pub fn fleet_regions(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .loaded
            .env
            .fleet
            .iter()
            .flat_map(|f| [f.primary_region.clone(), f.fallback_region.clone()])
            .collect();
        set.into_iter().collect()
    }

    /// Every region the env file uses: candidates and fleet regions.
    pub fn used_regions(&self) -> Vec<String> {
        let set: BTreeSet<String> = self.regions.iter().cloned().chain(self.fleet_regions()).collect();
        set.into_iter().collect()
    }

    /// The regions to search, and those to search for fleet resources: what the env file uses,
    /// plus what the stored env says was used before (so that dropped regions are cleaned up).
    async fn search_regions(&self) -> Result<(Vec<String>, Vec<String>)> {
        let mut all: BTreeSet<String> = self.used_regions().into_iter().collect();
        let mut fleets: BTreeSet<String> = self.fleet_regions().into_iter().collect();
        // A failed read must not shrink the search (destroy would leave regions behind).
        let stored = StoredEnv::read(self.store.as_ref())
            .await
            .with_context(|| format!("reading {}/{}", self.store.location(), keys::ENV))?;
        if let Some(stored) = stored {
            all.extend(stored.regions);
            fleets.extend(stored.fleet_regions);
        }
        Ok((all.into_iter().collect(), fleets.into_iter().collect()))
    }

    fn stored_env(&self) -> Result<String> {
        let stored = StoredEnv {
            format: 1,
            regions: self.used_regions(),
            fleet_regions: self.fleet_regions(),
            env: serde_json::to_value(&self.loaded.env).context("serialising the env")?,
        };
        Ok(serde_json::to_string_pretty(&stored)?)
    }

    pub async fn plan(&self, progress: &Progress) -> Result<Planned> {
        progress.tick("hashing the handler package");
        let pkg = package_hash()?;
        let code_key = artifact_key(&pkg.sha256_hex);
        let artifacts = BTreeMap::new();
        let (search, fleet_search) = self.search_regions().await?;
        let ctx = Ctx { aws: &self.aws, names: &self.names, regions: &search, artifacts: &artifacts };
        progress.tick("reading live state");
        let object_keys = vec![keys::ENV.to_string(), keys::USER_DATA.to_string(), code_key.clone()];
        let used = self.used_regions();
        let (live, vpcs) =
            tokio::try_join!(discover(&ctx, &object_keys, &fleet_search), default_vpcs(&self.aws, &used))?;
        let fleets = crate::fleet::inputs(&self.aws, &self.loaded, &vpcs).await?;
        let vpcs = vpcs.into_iter().filter(|(r, _)| self.regions.contains(r)).collect();

        let primary =
            match live.iter().find(|r| r.address.kind == Kind::Instance && r.address.name == "primary") {
                Some(p) => PrimarySpec::Existing { region: p.address.region.clone() },
                None => {
                    progress.tick("choosing a placement for the primary");
                    PrimarySpec::Launch(placement_facts::choose_launch(&self.aws, &self.loaded).await?)
                }
            };
        let env_json = self.stored_env()?;
        let input = DesiredInput {
            names: self.names.clone(),
            regions: self.regions.clone(),
            instance_types: self.loaded.env.instance.types.clone(),
            ssh_public_key: self.loaded.ssh_public_key.clone(),
            ssh_cidrs: self.loaded.env.access.ssh_cidrs.clone(),
            mysql_cidrs: self.loaded.env.access.mysql_cidrs.clone(),
            relocation_schedule: self.loaded.env.schedule.relocation.clone(),
            advisor_schedule: self.loaded.env.schedule.advisor_refresh.clone(),
            fis_lead: self.loaded.env.fis.interruption_lead.clone(),
            database: self.loaded.env.database.name.clone(),
            schema_sql: self.loaded.schema_sql.clone(),
            volume_gb: self.loaded.env.instance.volume_gb,
            env_json: env_json.clone(),
            lambda: LambdaArtifact { key: code_key.clone(), sha256_b64: pkg.sha256_b64.clone() },
            vpcs,
            primary,
            fleets,
            bucket_policy: crate::sdk::emulator::policy_mode(&self.aws),
        };
        let mut wanted = desired(&input)?;
        // The handler zip is a state object too: uploaded before the function that uses it.
        wanted.push(
            Resource::new(Kind::StateObject, &self.names.home_region, &code_key)
                .with("sha256", pkg.sha256_hex.clone()),
        );
        let plan = make_plan(&wanted, &live);
        Ok(Planned { plan, live, desired: wanted, package: Some(pkg), regions: search })
    }

    /// Applies a plan made by `plan`, under the lock.
    pub async fn apply(&self, planned: &Planned, progress: &Progress) -> Result<usize> {
        if planned.plan.is_empty() {
            return Ok(0);
        }
        // The zip is built only when the plan uploads it.
        let mut artifacts = BTreeMap::new();
        if let Some(pkg) = &planned.package {
            let key = artifact_key(&pkg.sha256_hex);
            if planned
                .plan
                .changes
                .iter()
                .any(|c| c.address.kind == Kind::StateObject && c.address.name == key)
            {
                progress.tick("packaging the handler");
                artifacts.insert(key, package_matching(pkg)?.zip);
            }
        }
        let ctx =
            Ctx { aws: &self.aws, names: &self.names, regions: &planned.regions, artifacts: &artifacts };
        // The lock lives in the bucket: make sure the bucket exists first (idempotent).
        if let Some(c) =
            planned.plan.changes.iter().find(|c| c.address.kind == Kind::Bucket && c.desired.is_some())
        {
            if let Some(want) = &c.desired {
                progress.tick("creating the state bucket");
                bucket::create_bucket(&ctx, want).await?;
            }
        }
        let lock = Lock::acquire(self.store.as_ref(), &LockInfo::here("apply")).await?;
        let result = Executor { ctx: &ctx, progress, store: self.store.as_ref() }.apply(&planned.plan).await;
        let released = lock.release().await;
        let n = result?;
        released?;
        Ok(n)
    }

    /// Plans the removal of everything live.
    pub async fn plan_destroy(&self, progress: &Progress) -> Result<Planned> {
        let (search, fleet_search) = self.search_regions().await?;
        let artifacts = BTreeMap::new();
        let ctx = Ctx { aws: &self.aws, names: &self.names, regions: &search, artifacts: &artifacts };
        progress.tick("reading live state");
        // State objects are removed with the bucket; listing them would only lengthen the plan.
        let mut live = discover(&ctx, &[], &fleet_search).await?;
        live.retain(|r| r.address.kind != Kind::StateObject);
        let plan = plan_destroy(&live);
        Ok(Planned { plan, live, desired: Vec::new(), package: None, regions: search })
    }

    /// Destroys in a safe order and releases the lock on every exit (`teardown`).
    pub async fn destroy(&self, planned: &Planned, progress: &Progress) -> Result<usize> {
        super::teardown::destroy(self, planned, progress).await
    }
}

/// The default VPC of each region (where the security group goes).
async fn default_vpcs(aws: &Aws, regions: &[String]) -> Result<BTreeMap<String, String>> {
    let found = try_join_all(regions.iter().map(|region| async move {
        let out = aws
            .ec2(region)
            .describe_vpcs()
            .filters(aws_sdk_ec2::types::Filter::builder().name("is-default").values("true").build())
            .send()
            .await
            .with_context(|| format!("finding the default VPC in {region}"))?;
        let vpc = out.vpcs().first().and_then(|v| v.vpc_id()).map(String::from).with_context(|| {
            format!(
                "{region} has no default VPC; spotctl places the database in the default VPC (see ARD.md)"
            )
        })?;
        Ok::<_, anyhow::Error>((region.clone(), vpc))
    }))
    .await?;
    Ok(found.into_iter().collect())
}
