//! What spotctl calls the things it owns, and how it tags them.
//!
//! Every owned resource carries `spotctl:env = <env name>` and `spotctl:kind = <kind>`; discovery
//! looks for these (or, where AWS cannot filter by tag, for the name prefix or IAM path below, and
//! checks the tag before touching anything). Names are deterministic so a crashed apply finds what
//! it made last time.
//!
//! May use: `fleet` (the two sides of a fleet name its groups).

pub const TAG_ENV: &str = "spotctl:env";
pub const TAG_KIND: &str = "spotctl:kind";
/// `primary` or `standby` on database instances.
pub const TAG_ROLE: &str = "spotctl:role";
/// The handoff that launched a standby.
pub const TAG_HANDOFF: &str = "spotctl:handoff";
/// The token of the apply that launched a primary: an apply that died before recording the
/// instance finds it by this tag.
pub const TAG_LAUNCH: &str = "spotctl:launch";
/// Set on the old primary to ask its agent to drain (read through instance metadata tags).
pub const TAG_DRAIN: &str = "spotctl:drain";
/// The fleet a worker (or a fleet resource) belongs to.
pub const TAG_FLEET: &str = "spotctl:fleet";
/// The CloudWatch namespace of the metrics spotctl publishes for fleets.
pub const METRIC_NAMESPACE: &str = "spotctl";
/// Visible messages per in-service worker of the primary group (the seed's metric).
pub const METRIC_BACKLOG: &str = "BacklogPerInstance";
/// Visible messages, published in the fallback region for its group's policy.
pub const METRIC_VISIBLE: &str = "VisibleMessages";
/// A hash of the spec spotctl applied, for resources whose attributes AWS does not list cheaply.
pub const TAG_SPEC: &str = "spotctl:spec";

/// The env's scheduled rules, by what each asks the handler to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Schedule {
    /// Re-rank and move the primary if a placement beats it by the margin.
    Relocation,
    /// Fetch the Spot Advisor feed and refresh the bucket's copy.
    AdvisorRefresh,
    /// Publish the fleets' scaling metrics and take one failback step.
    FleetMetrics,
    /// Once a minute: re-check the open handoff and finish or restart it if it stalled.
    Watchdog,
    /// Once a day: delete the base backups and log pieces no recovery inside `[backup]
    /// retention` can need (the instances may delete nothing).
    Retention,
}

impl Schedule {
    pub const ALL: [Schedule; 5] = [
        Schedule::Relocation,
        Schedule::AdvisorRefresh,
        Schedule::FleetMetrics,
        Schedule::Watchdog,
        Schedule::Retention,
    ];

    /// The rule's name after the env prefix (`spotctl-<env>-<suffix>`).
    pub const fn suffix(self) -> &'static str {
        match self {
            Schedule::Relocation => "relocation",
            Schedule::AdvisorRefresh => "advisor-refresh",
            Schedule::FleetMetrics => "fleet-metrics",
            Schedule::Watchdog => "watchdog",
            Schedule::Retention => "retention",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub env: String,
    pub account: String,
    pub home_region: String,
}

/// The IAM roles an env owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RoleKind {
    /// The handoff Lambda's execution role.
    Lambda,
    /// What AWS FIS assumes to interrupt the primary.
    Fis,
    /// The database instance's role (its own S3 prefixes, its password parameter).
    Instance,
    /// What EventBridge assumes to forward events from other regions to the home bus.
    Events,
    /// Fleet workers (only when the env has a `[[fleet]]`): its queue, retiring itself.
    Worker,
}

impl RoleKind {
    pub const ALL: [RoleKind; 4] = [RoleKind::Lambda, RoleKind::Fis, RoleKind::Instance, RoleKind::Events];

    pub fn suffix(self) -> &'static str {
        match self {
            RoleKind::Lambda => "lambda",
            RoleKind::Fis => "fis",
            RoleKind::Instance => "instance",
            RoleKind::Events => "events",
            RoleKind::Worker => "worker",
        }
    }

    pub fn from_suffix(s: &str) -> Option<RoleKind> {
        RoleKind::ALL.into_iter().chain([RoleKind::Worker]).find(|k| k.suffix() == s)
    }
}

impl Names {
    pub fn new(env: &str, account: &str, home_region: &str) -> Names {
        Names { env: env.to_string(), account: account.to_string(), home_region: home_region.to_string() }
    }

    /// `spotctl-<env>-`: the prefix of every named resource.
    pub fn prefix(&self) -> String {
        format!("spotctl-{}-", self.env)
    }

    /// Globally unique: env, account and home region (at most 8+24+1+12+1+14 = 60 characters).
    pub fn bucket(&self) -> String {
        format!("spotctl-{}-{}-{}", self.env, self.account, self.home_region)
    }

    pub fn iam_path(&self) -> String {
        format!("/spotctl/{}/", self.env)
    }

    pub fn role(&self, kind: RoleKind) -> String {
        format!("spotctl-{}-{}", self.env, kind.suffix())
    }

    pub fn role_arn(&self, kind: RoleKind) -> String {
        format!("arn:aws:iam::{}:role{}{}", self.account, self.iam_path(), self.role(kind))
    }

    pub fn instance_profile(&self) -> String {
        format!("spotctl-{}-instance", self.env)
    }

    pub fn security_group(&self) -> String {
        format!("spotctl-{}-db", self.env)
    }

    pub fn key_pair(&self) -> String {
        format!("spotctl-{}", self.env)
    }

    pub fn function(&self) -> String {
        format!("spotctl-{}-handler", self.env)
    }

    pub fn function_arn(&self) -> String {
        format!("arn:aws:lambda:{}:{}:function:{}", self.home_region, self.account, self.function())
    }

    pub fn rule(&self, what: &str) -> String {
        format!("spotctl-{}-{}", self.env, what)
    }

    /// Which of the env's schedules a rule name is; `None` for any other rule.
    pub fn schedule(&self, rule: &str) -> Option<Schedule> {
        Schedule::ALL.into_iter().find(|s| rule == self.rule(s.suffix()))
    }

    pub fn rule_arn(&self, region: &str, what: &str) -> String {
        format!("arn:aws:events:{}:{}:rule/{}", region, self.account, self.rule(what))
    }

    /// The home region's default event bus: other regions forward spot events to it.
    pub fn home_bus_arn(&self) -> String {
        format!("arn:aws:events:{}:{}:event-bus/default", self.home_region, self.account)
    }

    pub fn fis_template(&self) -> String {
        format!("spotctl-{}-interrupt", self.env)
    }

    pub fn password_parameter(&self) -> String {
        format!("/spotctl/{}/mysql-password", self.env)
    }

    /// The env's certificate authority (certificate and private key, PEM), an SSM SecureString
    /// only the database instances' role may read.
    pub fn ca_parameter(&self) -> String {
        format!("/spotctl/{}/ca", self.env)
    }

    pub fn instance_name(&self) -> String {
        format!("spotctl-{}-db", self.env)
    }

    /// The instance profile of fleet workers (its role has the same name).
    pub fn worker_profile(&self) -> String {
        format!("spotctl-{}-worker", self.env)
    }

    /// The workers' security group in each fleet region: no ingress at all.
    pub fn worker_security_group(&self) -> String {
        format!("spotctl-{}-worker", self.env)
    }

    /// The SQS queue of a fleet (`queue` as the env file names it).
    pub fn queue(&self, queue: &str) -> String {
        format!("spotctl-{}-{}", self.env, queue)
    }

    /// Where a fleet queue's messages go after too many receives.
    pub fn fleet_dead_letter_queue(&self, queue: &str) -> String {
        format!("{}-dead", self.queue(queue))
    }

    pub fn launch_template(&self, fleet: &str) -> String {
        format!("spotctl-{}-{}", self.env, fleet)
    }

    pub fn fleet_group(&self, fleet: &str, side: crate::fleet::Side) -> String {
        format!("spotctl-{}-{}-{}", self.env, fleet, side.as_str())
    }

    /// The target-tracking policy of a fleet group.
    pub fn fleet_policy(&self, fleet: &str, side: crate::fleet::Side) -> String {
        format!("{}-scaling", self.fleet_group(fleet, side))
    }

    /// Where the handler's failed asynchronous invocations go once their retries are spent.
    pub fn dead_letter_queue(&self) -> String {
        format!("spotctl-{}-dead-letters", self.env)
    }

    pub fn dead_letter_arn(&self) -> String {
        format!("arn:aws:sqs:{}:{}:{}", self.home_region, self.account, self.dead_letter_queue())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_name_fits_s3_limits() {
        let n = Names::new("abcdefghijklmnopqrstuvwx", "123456789012", "ap-southeast-14");
        assert!(n.bucket().len() <= 63, "{}", n.bucket());
    }

    #[test]
    fn arns_are_well_formed() {
        let n = Names::new("dev", "123456789012", "ap-northeast-1");
        assert_eq!(n.role_arn(RoleKind::Fis), "arn:aws:iam::123456789012:role/spotctl/dev/spotctl-dev-fis");
        assert_eq!(
            n.function_arn(),
            "arn:aws:lambda:ap-northeast-1:123456789012:function:spotctl-dev-handler"
        );
        assert_eq!(RoleKind::from_suffix("events"), Some(RoleKind::Events));
    }

    #[test]
    fn schedules_are_told_apart_by_their_exact_rule_name() {
        let n = Names::new("dev", "123456789012", "ap-northeast-1");
        for s in Schedule::ALL {
            assert_eq!(n.schedule(&n.rule(s.suffix())), Some(s));
        }
        assert_eq!(n.schedule("spotctl-dev2-relocation"), None);
        assert_eq!(n.schedule("spotctl-other-dev-relocation"), None);
    }
}
