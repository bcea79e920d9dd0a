//! The diff: desired resources against live ones, change by change.
//!
//! `plan(desired, live)` is pure. Resources are compared attribute by attribute; each desired
//! attribute says whether a change to it can be made in place or needs the resource replaced, or
//! whether it only matters at creation (the placement an instance was launched in, say). A `Plan`
//! is specific enough that the executor makes no choices: it walks the changes in order.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Resource kinds, declared in dependency order: creation walks this order, deletion the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Bucket,
    StateObject,
    Parameter,
    IamRole,
    InstanceProfile,
    SecurityGroup,
    KeyPair,
    /// The private hosted zone spotctl makes for the endpoint (when the env names none).
    HostedZone,
    LambdaFunction,
    LambdaPermission,
    EventRule,
    FisTemplate,
    Queue,
    /// The handler's asynchronous-invocation settings: retries, event age, dead letters.
    InvokeConfig,
    LaunchTemplate,
    AutoScalingGroup,
    ScalingPolicy,
    Instance,
    /// The endpoint's records: the primary's address and its epoch.
    DnsRecord,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Bucket => "bucket",
            Kind::StateObject => "state_object",
            Kind::Parameter => "parameter",
            Kind::IamRole => "iam_role",
            Kind::InstanceProfile => "instance_profile",
            Kind::SecurityGroup => "security_group",
            Kind::KeyPair => "key_pair",
            Kind::HostedZone => "hosted_zone",
            Kind::LambdaFunction => "lambda_function",
            Kind::LambdaPermission => "lambda_permission",
            Kind::EventRule => "event_rule",
            Kind::FisTemplate => "fis_template",
            Kind::Queue => "queue",
            Kind::InvokeConfig => "invoke_config",
            Kind::LaunchTemplate => "launch_template",
            Kind::AutoScalingGroup => "autoscaling_group",
            Kind::ScalingPolicy => "scaling_policy",
            Kind::Instance => "instance",
            Kind::DnsRecord => "dns_record",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a resource lives and what spotctl calls it. Global resources (IAM) use region `global`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Address {
    pub kind: Kind,
    pub region: String,
    pub name: String,
}

impl Address {
    pub fn new(kind: Kind, region: impl Into<String>, name: impl Into<String>) -> Self {
        Address { kind, region: region.into(), name: name.into() }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}[{}]", self.kind, self.name, self.region)
    }
}

/// What a difference in one attribute costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnChange {
    /// The executor can change it in place.
    Update,
    /// The resource must be deleted and created again.
    Replace,
    /// Set at creation and never compared afterwards (e.g. where an instance was placed).
    CreateOnly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attr {
    pub value: String,
    pub on_change: OnChange,
}

/// A resource as the env file wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub address: Address,
    pub attrs: BTreeMap<String, Attr>,
}

impl Resource {
    pub fn new(kind: Kind, region: impl Into<String>, name: impl Into<String>) -> Self {
        Resource { address: Address::new(kind, region, name), attrs: BTreeMap::new() }
    }

    /// Adds an attribute that can change in place.
    pub fn with(self, key: &str, value: impl Into<String>) -> Self {
        self.attr(key, value, OnChange::Update)
    }

    /// Adds an attribute whose change replaces the resource.
    pub fn forces(self, key: &str, value: impl Into<String>) -> Self {
        self.attr(key, value, OnChange::Replace)
    }

    /// Adds an attribute used only when creating.
    pub fn create_only(self, key: &str, value: impl Into<String>) -> Self {
        self.attr(key, value, OnChange::CreateOnly)
    }

    pub fn attr(mut self, key: &str, value: impl Into<String>, on_change: OnChange) -> Self {
        self.attrs.insert(key.to_string(), Attr { value: value.into(), on_change });
        self
    }

    pub fn value(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).map(|a| a.value.as_str())
    }
}

/// A resource as discovered in AWS (by its `spotctl:env` tag, a name prefix or a path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveResource {
    pub address: Address,
    /// The provider's id (ARN, sg-…, i-…): what delete and update act on.
    pub id: String,
    pub attrs: BTreeMap<String, String>,
}

impl LiveResource {
    pub fn new(address: Address, id: impl Into<String>) -> Self {
        LiveResource { address, id: id.into(), attrs: BTreeMap::new() }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.attrs.insert(key.to_string(), value.into());
        self
    }

    pub fn value(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).map(String::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrDiff {
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub forces_replacement: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub action: Action,
    pub address: Address,
    /// The live id for update, replace and delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub diffs: Vec<AttrDiff>,
    /// The wanted resource, for create, update and replace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<Resource>,
    /// The live attributes, for update, replace and delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// The recorded primary is gone: a standby restores this backup, verifies and is promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    /// What a person should know that is not a change: a handoff holding the database instances,
    /// an instance tagged primary that the record does not name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The recovery of a lost primary, through the handoff path (never an empty database).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    /// The recorded primary that is gone.
    pub lost: String,
    /// What the standby restores: a complete backup, or the shipped log.
    pub from: crate::handoff::Source,
    /// Commits made after that backup cannot come back: how many seconds of them (unknown for a
    /// backup that does not say when it completed).
    pub data_loss_window_s: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
}

impl Plan {
    /// Nothing to carry out (notes are not changes).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.recovery.is_none()
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
            }
        }
        s
    }
}

/// Compares the wanted resources with the live ones.
///
/// Order of the result: deletions first, in reverse dependency order; then creations, updates and
/// replacements in dependency order. Within a kind, addresses sort. Duplicated desired addresses
/// keep the last one (callers build unique addresses; this keeps the function total).
pub fn plan(desired: &[Resource], live: &[LiveResource]) -> Plan {
    let wanted: BTreeMap<&Address, &Resource> = desired.iter().map(|r| (&r.address, r)).collect();
    let found: BTreeMap<&Address, &LiveResource> = live.iter().map(|r| (&r.address, r)).collect();

    let mut deletes: Vec<Change> = found
        .iter()
        .filter(|(addr, _)| !wanted.contains_key(*addr))
        .map(|(addr, l)| Change {
            action: Action::Delete,
            address: (*addr).clone(),
            id: Some(l.id.clone()),
            diffs: Vec::new(),
            desired: None,
            live: Some(l.attrs.clone()),
        })
        .collect();
    deletes.sort_by(|a, b| b.address.kind.cmp(&a.address.kind).then(a.address.cmp(&b.address)));

    let mut rest: Vec<Change> = Vec::new();
    for (addr, want) in &wanted {
        match found.get(addr) {
            None => rest.push(Change {
                action: Action::Create,
                address: (*addr).clone(),
                id: None,
                diffs: want
                    .attrs
                    .iter()
                    .map(|(k, a)| AttrDiff {
                        key: k.clone(),
                        old: None,
                        new: Some(a.value.clone()),
                        forces_replacement: false,
                    })
                    .collect(),
                desired: Some((*want).clone()),
                live: None,
            }),
            Some(have) => {
                let diffs = diff_attrs(want, have);
                if diffs.is_empty() {
                    continue;
                }
                let action =
                    if diffs.iter().any(|d| d.forces_replacement) { Action::Replace } else { Action::Update };
                rest.push(Change {
                    action,
                    address: (*addr).clone(),
                    id: Some(have.id.clone()),
                    diffs,
                    desired: Some((*want).clone()),
                    live: Some(have.attrs.clone()),
                });
            }
        }
    }
    rest.sort_by(|a, b| a.address.cmp(&b.address));
    deletes.extend(rest);
    Plan { changes: deletes, ..Plan::default() }
}

fn diff_attrs(want: &Resource, have: &LiveResource) -> Vec<AttrDiff> {
    want.attrs
        .iter()
        .filter(|(_, a)| a.on_change != OnChange::CreateOnly)
        .filter_map(|(k, a)| {
            let old = have.attrs.get(k);
            (old != Some(&a.value)).then(|| AttrDiff {
                key: k.clone(),
                old: old.cloned(),
                new: Some(a.value.clone()),
                forces_replacement: a.on_change == OnChange::Replace,
            })
        })
        .collect()
}

/// What can start something while an env is taken down: the rules that invoke the handler, the
/// handler itself (it launches standbys) and its permission, and the FIS templates (an experiment
/// interrupts the primary, which raises an event). `destroy` removes these first.
pub fn starts_launches(kind: Kind) -> bool {
    matches!(kind, Kind::EventRule | Kind::LambdaPermission | Kind::LambdaFunction | Kind::FisTemplate)
}

/// Plans the removal of everything live: `destroy`. What [`starts_launches`] goes first (rules
/// before the function they invoke), then the rest in reverse dependency order, so no event
/// arriving half-way launches an instance that nothing would then remove.
pub fn plan_destroy(live: &[LiveResource]) -> Plan {
    let mut p = plan(&[], live);
    // Stable: within each group the reverse dependency order stays.
    p.changes.sort_by_key(|c| {
        let k = c.address.kind;
        (!starts_launches(k), if k == Kind::EventRule { 0 } else { 1 })
    });
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sg(ingress: &str) -> Resource {
        Resource::new(Kind::SecurityGroup, "ap-northeast-1", "db")
            .with("ingress", ingress)
            .forces("vpc", "default")
    }

    fn live_sg(ingress: &str, vpc: &str) -> LiveResource {
        LiveResource::new(Address::new(Kind::SecurityGroup, "ap-northeast-1", "db"), "sg-1")
            .with("ingress", ingress)
            .with("vpc", vpc)
    }

    #[test]
    fn destroy_stops_what_launches_before_anything_else() {
        let live = [
            LiveResource::new(Address::new(Kind::Instance, "r", "primary"), "i-1"),
            LiveResource::new(Address::new(Kind::Bucket, "r", "b"), "b"),
            LiveResource::new(Address::new(Kind::LambdaFunction, "r", "f"), "f"),
            LiveResource::new(Address::new(Kind::EventRule, "r", "rule"), "rule"),
            LiveResource::new(Address::new(Kind::FisTemplate, "r", "fis"), "fis"),
            LiveResource::new(Address::new(Kind::AutoScalingGroup, "r", "g"), "g"),
            LiveResource::new(Address::new(Kind::SecurityGroup, "r", "sg"), "sg"),
        ];
        let order: Vec<Kind> = plan_destroy(&live).changes.iter().map(|c| c.address.kind).collect();
        assert_eq!(
            order,
            [
                Kind::EventRule,
                Kind::FisTemplate,
                Kind::LambdaFunction,
                Kind::Instance,
                Kind::AutoScalingGroup,
                Kind::SecurityGroup,
                Kind::Bucket
            ]
        );
    }

    #[test]
    fn equal_is_empty() {
        assert!(plan(&[sg("[]")], &[live_sg("[]", "default")]).is_empty());
    }

    #[test]
    fn in_place_change_is_update() {
        let p = plan(&[sg("[\"10.0.0.0/8\"]")], &[live_sg("[]", "default")]);
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].action, Action::Update);
        assert_eq!(p.changes[0].diffs[0].old.as_deref(), Some("[]"));
        assert_eq!(p.changes[0].id.as_deref(), Some("sg-1"));
    }

    #[test]
    fn forcing_change_is_replace() {
        let p = plan(&[sg("[]")], &[live_sg("[]", "vpc-other")]);
        assert_eq!(p.changes[0].action, Action::Replace);
        assert!(p.changes[0].diffs[0].forces_replacement);
    }

    #[test]
    fn create_only_is_not_compared() {
        let want = Resource::new(Kind::Instance, "r", "primary").create_only("az", "r-1a");
        let have = LiveResource::new(want.address.clone(), "i-1").with("az", "r-1c");
        assert!(plan(&[want], &[have]).is_empty());
    }

    #[test]
    fn order_deletes_reverse_then_creates_forward() {
        let desired =
            vec![Resource::new(Kind::Instance, "r", "primary"), Resource::new(Kind::Bucket, "global", "b")];
        let live = vec![
            LiveResource::new(Address::new(Kind::IamRole, "global", "old"), "arn:role"),
            LiveResource::new(Address::new(Kind::EventRule, "r", "old"), "arn:rule"),
        ];
        let p = plan(&desired, &live);
        let got: Vec<(Action, Kind)> = p.changes.iter().map(|c| (c.action, c.address.kind)).collect();
        assert_eq!(
            got,
            vec![
                (Action::Delete, Kind::EventRule),
                (Action::Delete, Kind::IamRole),
                (Action::Create, Kind::Bucket),
                (Action::Create, Kind::Instance),
            ]
        );
        assert_eq!(p.summary(), Summary { create: 2, update: 0, replace: 0, delete: 2 });
    }

    #[test]
    fn destroy_deletes_everything_in_reverse() {
        let live = vec![
            LiveResource::new(Address::new(Kind::Bucket, "global", "b"), "b"),
            LiveResource::new(Address::new(Kind::Instance, "r", "primary"), "i-1"),
        ];
        let p = plan_destroy(&live);
        assert_eq!(p.changes[0].address.kind, Kind::Instance);
        assert_eq!(p.changes[1].address.kind, Kind::Bucket);
    }
}
