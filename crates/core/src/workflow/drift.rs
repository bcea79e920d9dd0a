//! Drift: what changed outside spotctl since its last apply, by resource and attribute.
//!
//! spotctl keeps no state file; what the last apply made AWS look like is what the env as it was
//! applied (`state/env.json`) plans against live state. So the AWS side plans the *stored* env,
//! and every change of that plan is drift: a resource deleted outside spotctl (the plan would
//! create it), one made outside spotctl with the env's tags (the plan would delete it), or an
//! attribute changed (the plan would update or replace it). Changes of the env file since are
//! not drift and are never shown here. Two things are left out because they come from the spotctl
//! binary, not from the env: the handler's code and its zip in the bucket (a new spotctl build is
//! an upgrade, which `spotctl plan` shows).

use crate::plan::{Action, Address, Change, Kind, Plan};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// The last apply made it; it is gone.
    Deleted,
    /// It carries the env's tags or names, and the last apply did not make it.
    Appeared,
    /// Attributes differ from what the last apply set.
    Changed,
}

/// One attribute as applied and as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrDrift {
    pub key: String,
    pub applied: Option<String>,
    pub live: Option<String>,
    /// Putting it back replaces the resource.
    pub forces_replacement: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    pub address: Address,
    pub kind: DriftKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<AttrDrift>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftReport {
    pub drift: Vec<Drift>,
    /// What a person should know (an open handoff, a lost primary): the plan's notes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl DriftReport {
    pub fn is_empty(&self) -> bool {
        self.drift.is_empty()
    }
}

/// The drift in `applied_plan`, the plan of the env as last applied against live state.
pub fn drift(applied_plan: &Plan) -> DriftReport {
    let drift =
        applied_plan.changes.iter().filter(|c| !from_the_binary(&c.address)).filter_map(classify).collect();
    DriftReport { drift, notes: applied_plan.notes.clone() }
}

/// The handler's zip and its code hash follow the binary, not the env.
fn from_the_binary(a: &Address) -> bool {
    a.kind == Kind::StateObject && a.name.starts_with(spotctl_layout::state::ARTIFACTS)
}

fn classify(c: &Change) -> Option<Drift> {
    let kind = match c.action {
        Action::Create => DriftKind::Deleted,
        Action::Delete => DriftKind::Appeared,
        Action::Update | Action::Replace => DriftKind::Changed,
    };
    let attrs: Vec<AttrDrift> = match kind {
        DriftKind::Changed => c
            .diffs
            .iter()
            .filter(|d| !(c.address.kind == Kind::LambdaFunction && d.key == "code_sha256"))
            .map(|d| AttrDrift {
                key: d.key.clone(),
                applied: d.new.clone(),
                live: d.old.clone(),
                forces_replacement: d.forces_replacement,
            })
            .collect(),
        _ => Vec::new(),
    };
    if kind == DriftKind::Changed && attrs.is_empty() {
        return None;
    }
    Some(Drift { address: c.address.clone(), kind, id: c.id.clone(), attrs })
}

/// The report for people: one block per resource, then a count.
pub fn render(report: &DriftReport, env: &str) -> String {
    let mut out = String::new();
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    if !report.notes.is_empty() {
        out.push('\n');
    }
    if report.is_empty() {
        let _ = writeln!(out, "No drift. Env `{env}` is as its last apply left it.");
        return out;
    }
    let _ = writeln!(out, "Env `{env}` has drifted from its last apply (changed outside spotctl):\n");
    let (mut changed, mut deleted, mut appeared) = (0, 0, 0);
    for d in &report.drift {
        let id = d.id.as_deref().map(|i| format!("  ({i})")).unwrap_or_default();
        let what = match d.kind {
            DriftKind::Changed => {
                changed += 1;
                "changed"
            }
            DriftKind::Deleted => {
                deleted += 1;
                "deleted outside spotctl"
            }
            DriftKind::Appeared => {
                appeared += 1;
                "made outside spotctl with the env's tags or names"
            }
        };
        let _ = writeln!(out, "  {} {what}{id}", d.address);
        for a in &d.attrs {
            let show = |v: &Option<String>| v.as_deref().map(short).unwrap_or_else(|| "(none)".into());
            let tag = if a.forces_replacement { "  # putting it back replaces it" } else { "" };
            let _ =
                writeln!(out, "        {}: applied {}, now {}{tag}", a.key, show(&a.applied), show(&a.live));
        }
    }
    let _ = writeln!(
        out,
        "\nDrift: {changed} changed, {deleted} deleted, {appeared} appeared. Nothing was changed; \
         `spotctl apply` makes AWS match the env file again."
    );
    out
}

fn short(v: &str) -> String {
    let one_line = v.replace('\n', "\\n");
    if one_line.chars().count() <= 96 {
        format!("{one_line:?}")
    } else {
        let head: String = one_line.chars().take(96).collect();
        format!("{head:?}… ({} bytes)", v.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, LiveResource, Resource};

    fn applied() -> Vec<Resource> {
        vec![
            Resource::new(Kind::SecurityGroup, "r1", "db").with("ingress", "[]").forces("vpc", "v"),
            Resource::new(Kind::KeyPair, "r1", "k"),
            Resource::new(Kind::LambdaFunction, "global", "h")
                .with("code_sha256", "new")
                .with("timeout_s", "60"),
            Resource::new(Kind::StateObject, "r1", "artifacts/spotctl-new.zip"),
        ]
    }

    fn live(ingress: &str, timeout: &str) -> Vec<LiveResource> {
        vec![
            LiveResource::new(Address::new(Kind::SecurityGroup, "r1", "db"), "sg-1")
                .with("ingress", ingress)
                .with("vpc", "v"),
            LiveResource::new(Address::new(Kind::LambdaFunction, "global", "h"), "arn:h")
                .with("code_sha256", "old")
                .with("timeout_s", timeout),
            LiveResource::new(Address::new(Kind::EventRule, "r1", "stray"), "arn:rule"),
        ]
    }

    #[test]
    fn classifies_changed_deleted_and_appeared_by_attribute() {
        let report = drift(&plan(&applied(), &live("[\"0.0.0.0/0\"]", "60")));
        let kinds: Vec<(String, DriftKind)> =
            report.drift.iter().map(|d| (d.address.to_string(), d.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("event_rule.stray[r1]".to_string(), DriftKind::Appeared),
                ("security_group.db[r1]".to_string(), DriftKind::Changed),
                ("key_pair.k[r1]".to_string(), DriftKind::Deleted),
            ]
        );
        let sg = &report.drift[1];
        assert_eq!(
            sg.attrs,
            vec![AttrDrift {
                key: "ingress".into(),
                applied: Some("[]".into()),
                live: Some("[\"0.0.0.0/0\"]".into()),
                forces_replacement: false
            }]
        );
        let text = render(&report, "dev");
        assert!(
            text.contains("  security_group.db[r1] changed  (sg-1)\n        ingress: applied \"[]\", now"),
            "{text}"
        );
        assert!(text.contains("key_pair.k[r1] deleted outside spotctl"), "{text}");
        assert!(text.contains("Drift: 1 changed, 1 deleted, 1 appeared."), "{text}");
    }

    #[test]
    fn the_handlers_code_follows_the_binary_and_is_not_drift() {
        // Only the code hash and the zip differ: no drift at all, not an empty "changed" entry.
        let mut want = applied();
        want.retain(|r| r.address.kind != Kind::KeyPair);
        let mut have = live("[]", "60");
        have.retain(|r| r.address.kind != Kind::EventRule);
        let report = drift(&plan(&want, &have));
        assert!(report.is_empty(), "{report:?}");
        assert!(render(&report, "dev").starts_with("No drift."));
        // The timeout changed by hand is drift, the code hash beside it still is not.
        let report = drift(&plan(&want, &live("[]", "900")).clone());
        let keys: Vec<&str> =
            report.drift.iter().flat_map(|d| d.attrs.iter().map(|a| a.key.as_str())).collect();
        assert!(keys.contains(&"timeout_s") && !keys.contains(&"code_sha256"), "{keys:?}");
    }
}
