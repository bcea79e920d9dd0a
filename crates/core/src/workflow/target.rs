//! `--target ADDRESS`: a plan restricted to some resources, for the rare case (recovering from a
//! mistake, a change that must go first). An address is `kind.name[region]` as the plan prints
//! it (`security_group.spotctl-dev-db[ap-northeast-1]`), or `kind.name` for that resource in
//! every region. Like Terraform's `-target`, a restricted plan may not be everything the env file
//! asks for, and spotctl says so every time.

use crate::plan::{Address, Kind, Plan};
use serde::{Deserialize, Serialize};

/// What spotctl prints whenever targeting is in effect (Terraform's warning, in spotctl's words).
pub const TARGET_WARNING: &str = "warning: resource targeting is in effect\n\n\
  You are creating a plan with --target, so it may not hold every change the env file asks for.\n\
  --target is not for routine use: it is for exceptional situations, such as recovering from errors\n\
  or mistakes, or when spotctl suggests it in an error message. Run `spotctl plan` without it\n\
  afterwards to see what is left.\n";

/// A parsed `--target`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub kind: Kind,
    pub name: String,
    /// `None`: every region.
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("--target {given:?}: expected kind.name or kind.name[region] (as `spotctl plan` prints it), e.g. security_group.spotctl-dev-db[ap-northeast-1]")]
    Shape { given: String },
    #[error("--target {given:?}: unknown kind {kind:?}; valid kinds: {valid}")]
    Kind { given: String, kind: String, valid: String },
}

/// Every kind, in dependency order (for parsing and for the error that lists them).
const KINDS: [Kind; 17] = [
    Kind::Bucket,
    Kind::StateObject,
    Kind::Parameter,
    Kind::IamRole,
    Kind::InstanceProfile,
    Kind::SecurityGroup,
    Kind::KeyPair,
    Kind::LambdaFunction,
    Kind::LambdaPermission,
    Kind::EventRule,
    Kind::FisTemplate,
    Kind::Queue,
    Kind::InvokeConfig,
    Kind::LaunchTemplate,
    Kind::AutoScalingGroup,
    Kind::ScalingPolicy,
    Kind::Instance,
];

impl std::str::FromStr for Target {
    type Err = TargetError;

    fn from_str(given: &str) -> Result<Target, TargetError> {
        let shape = || TargetError::Shape { given: given.to_string() };
        let (head, region) = match given.strip_suffix(']') {
            Some(rest) => {
                let (head, region) = rest.rsplit_once('[').ok_or_else(shape)?;
                (head, Some(region.to_string()))
            }
            None => (given, None),
        };
        let (kind, name) = head.split_once('.').ok_or_else(shape)?;
        if name.is_empty() || region.as_deref() == Some("") {
            return Err(shape());
        }
        let kind = KINDS.iter().find(|k| k.as_str() == kind).copied().ok_or_else(|| TargetError::Kind {
            given: given.to_string(),
            kind: kind.to_string(),
            valid: KINDS.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
        })?;
        Ok(Target { kind, name: name.to_string(), region })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.region {
            Some(r) => write!(f, "{}.{}[{r}]", self.kind, self.name),
            None => write!(f, "{}.{}", self.kind, self.name),
        }
    }
}

impl Target {
    pub fn matches(&self, a: &Address) -> bool {
        a.kind == self.kind && a.name == self.name && self.region.as_ref().is_none_or(|r| *r == a.region)
    }
}

/// The plan with only the changes some target names. The recovery of a lost primary stays only
/// when `instance.primary` is targeted; notes always stay (they are what a person should know).
pub fn restrict(plan: Plan, targets: &[Target]) -> Plan {
    if targets.is_empty() {
        return plan;
    }
    let hit = |a: &Address| targets.iter().any(|t| t.matches(a));
    let primary = Address::new(Kind::Instance, "", "primary");
    let recovery_targeted = targets.iter().any(|t| t.kind == primary.kind && t.name == primary.name);
    Plan {
        changes: plan.changes.into_iter().filter(|c| hit(&c.address)).collect(),
        recovery: plan.recovery.filter(|_| recovery_targeted),
        notes: plan.notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, LiveResource, Resource};

    #[test]
    fn parses_what_the_plan_prints_and_says_what_is_valid() {
        let t: Target = "security_group.spotctl-dev-db[ap-northeast-1]".parse().expect("parses");
        assert_eq!(
            t,
            Target {
                kind: Kind::SecurityGroup,
                name: "spotctl-dev-db".into(),
                region: Some("ap-northeast-1".into())
            }
        );
        assert_eq!(t.to_string(), "security_group.spotctl-dev-db[ap-northeast-1]");
        let any: Target = "instance.primary".parse().expect("parses");
        assert_eq!(any.region, None);
        assert!(matches!("nodot".parse::<Target>(), Err(TargetError::Shape { .. })));
        assert!(matches!("iam_role.x[]".parse::<Target>(), Err(TargetError::Shape { .. })));
        let err = "vm.primary".parse::<Target>().expect_err("unknown kind");
        assert!(err.to_string().contains("valid kinds: bucket, state_object"), "{err}");
    }

    #[test]
    fn restricts_to_the_targeted_changes() {
        let desired = vec![
            Resource::new(Kind::SecurityGroup, "r1", "db").with("ingress", "[]"),
            Resource::new(Kind::SecurityGroup, "r2", "db").with("ingress", "[]"),
            Resource::new(Kind::KeyPair, "r1", "k"),
        ];
        let live = vec![LiveResource::new(Address::new(Kind::EventRule, "r1", "old"), "arn")];
        let full = plan(&desired, &live);
        assert_eq!(full.changes.len(), 4);
        let one = restrict(full.clone(), &["security_group.db[r2]".parse().expect("t")]);
        assert_eq!(one.changes.len(), 1);
        assert_eq!(one.changes[0].address.region, "r2");
        let both = restrict(full.clone(), &["security_group.db".parse().expect("t")]);
        assert_eq!(both.changes.len(), 2);
        assert_eq!(restrict(full.clone(), &[]), full);
        assert!(restrict(full, &["instance.primary".parse().expect("t")]).is_empty());
    }
}
