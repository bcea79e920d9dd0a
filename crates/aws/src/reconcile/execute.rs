//! Carries out a `Plan`, change by change, in the order the planner gave. Changes of the same kind
//! and action that follow each other (the same rule in three regions, say) run concurrently.
//!
//! Every step is idempotent or checks first, so a run that crashed half-way is finished by the next
//! `apply`: the next plan simply contains what is left.

use super::progress::Progress;
use super::resources::{bucket, events, fis, fleet, iam, instance, invoke, lambda, network, parameter, Ctx};
use crate::state::StateStore;
use anyhow::{bail, Context, Result};
use futures::future::try_join_all;
use spotctl_core::plan::{Action, Change, Kind, Plan};

pub struct Executor<'a> {
    pub ctx: &'a Ctx<'a>,
    pub progress: &'a Progress,
    /// The state bucket, where a new primary is recorded.
    pub store: &'a dyn StateStore,
}

impl Executor<'_> {
    pub async fn apply(&self, plan: &Plan) -> Result<usize> {
        let mut done = 0;
        let mut i = 0;
        while i < plan.changes.len() {
            let first = &plan.changes[i];
            let mut j = i + 1;
            while j < plan.changes.len()
                && plan.changes[j].address.kind == first.address.kind
                && plan.changes[j].action == first.action
                // The primary instance and the bucket are singular: never batch them.
                && !matches!(first.address.kind, Kind::Instance | Kind::Bucket)
            {
                j += 1;
            }
            let batch = &plan.changes[i..j];
            try_join_all(batch.iter().map(|c| self.one(c))).await?;
            done += batch.len();
            i = j;
        }
        Ok(done)
    }

    async fn one(&self, c: &Change) -> Result<()> {
        let what =
            format!("{} {} {} in {}", c.action.symbol(), c.address.kind, c.address.name, c.address.region);
        self.progress.spin(&what);
        match c.action {
            Action::Create => self.create(c).await,
            Action::Update => self.update(c).await,
            Action::Delete => self.delete(c).await,
            Action::Replace => {
                self.delete(c).await?;
                self.create(c).await
            }
        }
        .with_context(|| format!("applying {} {}", c.action.symbol(), c.address))?;
        self.progress.note(&format!(
            "  {:<3} {} {} in {}",
            c.action.symbol(),
            c.address.kind,
            c.address.name,
            c.address.region
        ));
        Ok(())
    }

    async fn create(&self, c: &Change) -> Result<()> {
        let ctx = self.ctx;
        let Some(want) = &c.desired else { bail!("a create without a desired resource") };
        match c.address.kind {
            Kind::Bucket => bucket::create_bucket(ctx, want).await.map(drop),
            Kind::StateObject => bucket::put_object(ctx, want).await.map(drop),
            Kind::Parameter => parameter::create(ctx, want).await.map(drop),
            Kind::IamRole => iam::create_role(ctx, want).await.map(drop),
            Kind::InstanceProfile => iam::create_profile(ctx, want).await.map(drop),
            Kind::SecurityGroup => network::create_group(ctx, want).await.map(drop),
            Kind::KeyPair => network::import_key(ctx, want).await.map(drop),
            Kind::LambdaFunction => lambda::create(ctx, want, self.progress).await.map(drop),
            Kind::LambdaPermission => lambda::add_permission(ctx, want).await.map(drop),
            Kind::EventRule => events::put(ctx, want, None).await.map(drop),
            Kind::FisTemplate => fis::create(ctx, want).await.map(drop),
            Kind::Queue => fleet::create_queue(ctx, want).await.map(drop),
            Kind::InvokeConfig => invoke::put(ctx, want).await.map(drop),
            Kind::LaunchTemplate => fleet::create_template(ctx, want).await.map(drop),
            Kind::AutoScalingGroup => fleet::create_group(ctx, want).await.map(drop),
            Kind::ScalingPolicy => fleet::put_policy(ctx, want).await.map(drop),
            Kind::Instance => instance::create_primary(ctx, want, self.store, self.progress).await.map(drop),
        }
    }

    async fn update(&self, c: &Change) -> Result<()> {
        let ctx = self.ctx;
        let Some(want) = &c.desired else { bail!("an update without a desired resource") };
        let id = c.id.as_deref().unwrap_or_default();
        match c.address.kind {
            Kind::Bucket => bucket::update_bucket(ctx, want).await,
            Kind::StateObject => bucket::put_object(ctx, want).await.map(drop),
            Kind::IamRole => iam::update_role(ctx, want).await,
            Kind::InstanceProfile => iam::update_profile(ctx, want).await,
            Kind::SecurityGroup => {
                network::set_ingress(ctx, &c.address.region, id, &network::live_rules(c.live.as_ref()), want)
                    .await
            }
            Kind::LambdaFunction => lambda::update(ctx, want, c.live.as_ref(), self.progress).await,
            Kind::LambdaPermission => {
                lambda::remove_permission(ctx).await?;
                lambda::add_permission(ctx, want).await.map(drop)
            }
            Kind::EventRule => events::put(ctx, want, Some(id)).await.map(drop),
            Kind::Queue => fleet::update_queue(ctx, want, id).await,
            Kind::InvokeConfig => invoke::put(ctx, want).await.map(drop),
            Kind::LaunchTemplate => fleet::update_template(ctx, want, id).await,
            Kind::AutoScalingGroup => fleet::update_group(ctx, want).await,
            Kind::ScalingPolicy => fleet::put_policy(ctx, want).await.map(drop),
            Kind::Instance => instance::update(ctx, &c.address.region, id).await,
            k => bail!("spotctl cannot update a {k} in place; this is a bug in the planner"),
        }
    }

    async fn delete(&self, c: &Change) -> Result<()> {
        let ctx = self.ctx;
        let id = c.id.as_deref().unwrap_or_default();
        let region = c.address.region.as_str();
        let name = c.address.name.as_str();
        match c.address.kind {
            Kind::Bucket => bucket::delete_bucket(ctx, id).await,
            Kind::StateObject => bucket::delete_object(ctx, id).await,
            Kind::Parameter => parameter::delete(ctx, id).await,
            Kind::IamRole => iam::delete_role(ctx, name).await,
            Kind::InstanceProfile => iam::delete_profile(ctx, name).await,
            Kind::SecurityGroup => network::delete_group(ctx, region, id).await,
            Kind::KeyPair => network::delete_key(ctx, region, name).await,
            Kind::LambdaFunction => lambda::delete(ctx, name).await,
            Kind::LambdaPermission => lambda::remove_permission(ctx).await,
            Kind::EventRule => events::delete(ctx, region, name, id).await,
            Kind::FisTemplate => fis::delete(ctx, region, id).await,
            Kind::Queue => fleet::delete_queue(ctx, region, id).await,
            Kind::InvokeConfig => invoke::delete(ctx, name).await,
            Kind::LaunchTemplate => fleet::delete_template(ctx, region, id).await,
            Kind::AutoScalingGroup => fleet::delete_group(ctx, region, name, self.progress).await,
            Kind::ScalingPolicy => {
                let group =
                    c.live.as_ref().and_then(|l| l.get("group")).map(String::as_str).unwrap_or_default();
                fleet::delete_policy(ctx, region, name, group).await
            }
            Kind::Instance => instance::terminate(ctx, region, id, self.progress).await,
        }
    }
}
