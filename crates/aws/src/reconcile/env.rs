//! An env bound to an AWS account: the plan / apply / destroy pipeline.
//!
//! `plan` gathers facts (account, default VPCs, what is live, and — only when no primary runs — the
//! placement for a new one), asks `spotctl_core` for the desired resources and the plan, and returns
//! everything `apply` needs, so that `apply` makes no decision of its own.

use super::discover::discover;
use super::execute::Executor;
use super::package::{package_hash, package_matching, PackageHash};
use super::primary::{plan_primary, CommandSeams, PrimaryOptions};
use super::progress::Progress;
use super::resources::{bucket, endpoint, Ctx};
use crate::sdk::Aws;
use crate::state::{Lock, LockInfo, S3Store, StateStore, StoredEnv};
use anyhow::{bail, Context, Result};
use futures::future::try_join_all;
use spotctl_core::config::LoadedEnv;
use spotctl_core::desired::endpoint::{EndpointInput, RecordTarget};
use spotctl_core::desired::{desired, DesiredInput, LambdaArtifact};
use spotctl_core::names::Names;
use spotctl_core::plan::{plan as make_plan, plan_destroy, Kind, LiveResource, Plan, Resource};
use spotctl_core::workflow::{changes_moved, fingerprint, restrict, Fingerprint, FingerprintInput};
use spotctl_layout::state as keys;
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
    /// The token a launch of the primary in this plan tags its instance with.
    pub launch_token: Option<String>,
    /// The live state the plan was made from (`spotctl_core::workflow::fingerprint`).
    pub fingerprint: Fingerprint,
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

    /// Where to look for what was made before: the regions to search and those to search for fleet
    /// resources (what the env file uses plus what the stored env used, so that dropped regions are
    /// cleaned up), and the endpoint the stored env named (so a renamed one is removed). One read.
    async fn search_before(&self) -> Result<Before> {
        let mut all: BTreeSet<String> = self.used_regions().into_iter().collect();
        let mut fleets: BTreeSet<String> = self.fleet_regions().into_iter().collect();
        let mut endpoint = None;
        // A failed read must not shrink the search (destroy would leave regions behind).
        let stored = StoredEnv::read(self.store.as_ref())
            .await
            .with_context(|| format!("reading {}/{}", self.store.location(), keys::ENV))?;
        if let Some(stored) = stored {
            endpoint = stored.env_file().ok().map(|env| EndpointInput::for_env(&env, RecordTarget::Leave));
            all.extend(stored.regions);
            fleets.extend(stored.fleet_regions);
        }
        Ok(Before {
            regions: all.into_iter().collect(),
            fleet_regions: fleets.into_iter().collect(),
            endpoint,
        })
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

    /// The plan: what discovery finds against what the env file wants. Database instances are
    /// decided from the primary record (`primary.rs`).
    pub async fn plan(&self, opts: &PrimaryOptions, progress: &Progress) -> Result<Planned> {
        progress.tick("hashing the handler package");
        let pkg = package_hash()?;
        let code_key = keys::artifact_key(&pkg.sha256_hex);
        let artifacts = BTreeMap::new();
        let before = self.search_before().await?;
        let (search, fleet_search) = (before.regions, before.fleet_regions);
        let ctx = Ctx { aws: &self.aws, names: &self.names, regions: &search, artifacts: &artifacts };
        progress.tick("reading live state");
        let object_keys = vec![keys::ENV.to_string(), keys::USER_DATA.to_string(), code_key.clone()];
        let used = self.used_regions();
        let instances = async {
            let all = try_join_all(search.iter().map(|r| super::resources::instance::list(&ctx, r))).await?;
            Ok::<_, anyhow::Error>(all.into_iter().flatten().collect::<Vec<_>>())
        };
        let (mut live, vpcs, described) = tokio::try_join!(
            discover(&ctx, &object_keys, &fleet_search),
            default_vpcs(&self.aws, &used),
            instances
        )?;
        let fleets = crate::fleet::inputs(&self.aws, &self.loaded, &vpcs).await?;
        let vpcs = vpcs.into_iter().filter(|(r, _)| self.regions.contains(r)).collect();
        // Without a bucket there is no record: nothing was ever recorded.
        let store: &dyn StateStore = match live.iter().any(|r| r.address.kind == Kind::Bucket) {
            true => self.store.as_ref(),
            false => &crate::state::UnbornBucket,
        };
        let now = crate::sdk::clock::now_unix();
        let primary = plan_primary(&self.aws, &self.loaded, store, &described, opts, now, progress).await?;
        live.extend(primary.live.clone());
        let endpoint = EndpointInput::for_env(&self.loaded.env, primary.endpoint.clone());
        endpoint::check(&ctx, &self.loaded, &endpoint).await?;
        let leave = endpoint.record == RecordTarget::Leave;
        live.extend(Self::endpoint_live(&ctx, &endpoint, before.endpoint.as_ref(), leave).await?);
        live.sort_by(|a, b| a.address.cmp(&b.address));
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
            primary: primary.spec,
            fleets,
            endpoint: Some(endpoint),
            bucket_policy: crate::sdk::emulator::policy_mode(&self.aws),
            backup: self.loaded.env.backup,
            image_parameter: self.loaded.env.instance.image_parameter.clone(),
        };
        let mut wanted = desired(&input)?;
        if let Some(token) = &primary.launch_token {
            for r in wanted.iter_mut().filter(|r| r.address.kind == Kind::Instance) {
                *r = r.clone().create_only("launch_token", token.clone());
            }
        }
        // The handler zip is a state object too: uploaded before the function that uses it.
        wanted.push(
            Resource::new(Kind::StateObject, &self.names.home_region, &code_key)
                .with("sha256", pkg.sha256_hex.clone()),
        );
        let fingerprint = fingerprint(&FingerprintInput {
            desired: &wanted,
            live: &live,
            record: primary.record.as_ref(),
            handoff: primary.handoff.as_ref(),
        });
        let mut plan = make_plan(&wanted, &live);
        plan.recovery = primary.recovery;
        plan.notes = primary.notes;
        Ok(Planned {
            plan: restrict(plan, &opts.targets),
            live,
            desired: wanted,
            package: Some(pkg),
            regions: search,
            launch_token: primary.launch_token,
            fingerprint,
        })
    }

    /// Takes the apply lock when the state bucket exists (`None` before the first apply: nothing
    /// can run against an env that has no bucket).
    pub async fn lock(&self, command: &str) -> Result<Option<Lock<'_>>> {
        let head = self
            .aws
            .s3(&self.names.home_region, &self.names.account)
            .head_bucket()
            .bucket(self.names.bucket())
            .send()
            .await;
        match head {
            Ok(_) => Ok(Some(Lock::acquire(self.store.as_ref(), &LockInfo::here(command)).await?)),
            Err(e)
                if crate::sdk::error::is_not_found(&e)
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
            {
                Ok(None)
            }
            Err(e) => Err(e).with_context(|| format!("looking for the state bucket {}", self.names.bucket())),
        }
    }

    /// Carries out `reviewed`, the plan a person approved. Under `lock` (taken before that plan was
    /// made) it runs as is. Without one (the first apply, before the bucket existed), the bucket
    /// is created, the lock taken, the plan made again and compared: a plan that moved while the
    /// person read it is refused, naming what moved.
    pub async fn apply(
        &self,
        reviewed: &Planned,
        lock: Option<Lock<'_>>,
        opts: &PrimaryOptions,
        progress: &Progress,
    ) -> Result<usize> {
        if reviewed.plan.is_empty() {
            if let Some(l) = lock {
                l.release().await?;
            }
            return Ok(0);
        }
        let (lock, again) = match lock {
            Some(l) => (l, None),
            None => {
                if let Some(want) = reviewed
                    .plan
                    .changes
                    .iter()
                    .find(|c| c.address.kind == Kind::Bucket)
                    .and_then(|c| c.desired.as_ref())
                {
                    progress.tick("creating the state bucket");
                    let artifacts = BTreeMap::new();
                    let ctx = Ctx {
                        aws: &self.aws,
                        names: &self.names,
                        regions: &reviewed.regions,
                        artifacts: &artifacts,
                    };
                    bucket::create_bucket(&ctx, want).await?;
                }
                let l = Lock::acquire(self.store.as_ref(), &LockInfo::here("apply")).await?;
                let opts = PrimaryOptions { launch_token: reviewed.launch_token.clone(), ..opts.clone() };
                match self.plan(&opts, progress).await {
                    Ok(p) => match changes_moved(&reviewed.plan, &p.plan) {
                        None => (l, Some(p)),
                        Some(what) => {
                            l.release().await?;
                            bail!("the plan changed while it was being reviewed ({what}); nothing was changed: run apply again");
                        }
                    },
                    Err(e) => {
                        l.release().await?;
                        return Err(e);
                    }
                }
            }
        };
        let planned = again.as_ref().unwrap_or(reviewed);
        let result = self.execute(planned, progress).await;
        let released = lock.release().await;
        let n = result?;
        released?;
        Ok(n)
    }

    /// Carries out a plan (the caller holds the lock).
    pub(super) async fn execute(&self, planned: &Planned, progress: &Progress) -> Result<usize> {
        // An env from before openings: what its records name is opened before anything else.
        let opened = crate::state::open_legacy(self.store.as_ref(), crate::sdk::clock::now_unix()).await?;
        if opened > 0 {
            progress
                .note(&format!("  +   {opened} opening(s) for the primary recorded before openings existed"));
        }
        // The zip is built only when the plan uploads it.
        let mut artifacts = BTreeMap::new();
        if let Some(pkg) = &planned.package {
            let key = keys::artifact_key(&pkg.sha256_hex);
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
        let mut n = Executor { ctx: &ctx, progress, store: self.store.as_ref() }.apply(&planned.plan).await?;
        if let Some(r) = &planned.plan.recovery {
            progress.tick(&format!("recovering the primary from {}", r.from));
            let outcome = self.recover(r).await?;
            progress.note(&format!("  ~   recovery from {}: {}", r.from, serde_json::to_string(&outcome)?));
            n += 1;
        }
        Ok(n)
    }

    /// Starts the recovery handoff (`handoff::recover`): a standby restores the backup, verifies
    /// and is promoted by its agent, as in any handoff.
    async fn recover(&self, r: &spotctl_core::plan::Recovery) -> Result<crate::handoff::HandoffOutcome> {
        let parts = self.command_seams("apply");
        Ok(crate::handoff::recover(&parts.seams(), &r.lost, &r.from, r.data_loss_window_s).await?)
    }

    /// The handoff's real seams for a person's `command` on this env (named in the lease).
    pub fn command_seams(&self, command: &str) -> CommandSeams {
        CommandSeams::new(&self.aws, &self.names, self.store.clone(), command)
    }

    /// The endpoint's live resources: the env file's, and those of the endpoint the stored env
    /// named when it differs (a renamed endpoint's record, or the zone spotctl made for it, is
    /// removed, never left behind). With `leave_record` (the record is not the plan's while a
    /// handoff or a recovery is under way) the current record is left out, so the plan neither
    /// changes nor removes it.
    async fn endpoint_live(
        ctx: &Ctx<'_>,
        e: &EndpointInput,
        before: Option<&EndpointInput>,
        leave_record: bool,
    ) -> Result<Vec<LiveResource>> {
        let mut live = endpoint::discover(ctx, e).await?;
        if leave_record {
            live.retain(|r| !(r.address.kind == Kind::DnsRecord && r.address.name == e.name));
        }
        if let Some(b) = before.filter(|b| b.name != e.name || b.zone != e.zone) {
            let old: Vec<LiveResource> = endpoint::discover(ctx, b).await?;
            let fresh: Vec<LiveResource> =
                old.into_iter().filter(|r| !live.iter().any(|l| l.address == r.address)).collect();
            live.extend(fresh);
        }
        Ok(live)
    }

    /// Plans the removal of everything live.
    pub async fn plan_destroy(&self, progress: &Progress) -> Result<Planned> {
        let before = self.search_before().await?;
        let (search, fleet_search) = (before.regions, before.fleet_regions);
        let artifacts = BTreeMap::new();
        let ctx = Ctx { aws: &self.aws, names: &self.names, regions: &search, artifacts: &artifacts };
        progress.tick("reading live state");
        // State objects are removed with the bucket; listing them would only lengthen the plan.
        let mut live = discover(&ctx, &[], &fleet_search).await?;
        live.retain(|r| r.address.kind != Kind::StateObject);
        let endpoint = EndpointInput::for_env(&self.loaded.env, RecordTarget::Leave);
        live.extend(Self::endpoint_live(&ctx, &endpoint, before.endpoint.as_ref(), false).await?);
        let plan = plan_destroy(&live);
        Ok(Planned {
            plan,
            live,
            desired: Vec::new(),
            package: None,
            regions: search,
            launch_token: None,
            fingerprint: Fingerprint::default(),
        })
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

/// What the stored env says was made before this env file (see `Env::search_before`).
struct Before {
    regions: Vec<String>,
    fleet_regions: Vec<String>,
    endpoint: Option<EndpointInput>,
}
