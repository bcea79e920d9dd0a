//! Fleet resources: the SQS queue, the workers' launch templates, the Auto Scaling groups and their
//! target-tracking policies. Discovery is by the `spotctl:env` tag (launch templates, groups) or
//! the `spotctl-<env>-` prefix with the tag checked (queues), and only in the regions that hold or
//! held a fleet, so a database-only env pays no call for them.

mod group;
pub mod queue;
mod template;

pub use group::{create_group, delete_group, delete_policy, put_policy, update_group};
pub use queue::{create_queue, delete_queue, update_queue};
pub use template::{create_template, delete_template, update_template};

use super::Ctx;
use anyhow::Result;
use spotctl_core::plan::LiveResource;

/// Every fleet resource of the env in `region`: queues, launch templates, groups and policies.
pub async fn discover(ctx: &Ctx<'_>, region: &str) -> Result<Vec<LiveResource>> {
    // Queues at home are found with the handler's dead letters (`reconcile::discover`).
    let queues = async {
        if region == ctx.home() {
            Ok(Vec::new())
        } else {
            queue::discover(ctx, region).await
        }
    };
    let (q, t, g) = tokio::try_join!(queues, template::discover(ctx, region), group::discover(ctx, region))?;
    Ok([q, t, g].concat())
}
