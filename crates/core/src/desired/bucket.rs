//! The state bucket's settings: encryption, the public access block, versioning, lifecycle and the
//! bucket policy (TLS only; who may write which keys, and how). ARD.md, "Trust boundaries".
//!
//! Every setting is an attribute compared like any other, so drift (versioning suspended, the
//! policy removed or edited, a lifecycle rule dropped) shows in the plan and `apply` puts it back.

use super::DesiredInput;
use crate::names::RoleKind;
use crate::templates::{self, canonical_json, TemplateError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the bucket policy is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicyMode {
    /// The whole policy: what every user against AWS gets.
    #[default]
    Enforced,
    /// Against an emulator that evaluates no policy condition (moto treats every condition as
    /// true, so a TLS-only Deny refuses every object request): the statements with a condition are
    /// left out, and every command says so. Chosen only by `SPOTCTL_EMULATOR_UNENFORCED_CONDITIONS`
    /// with an endpoint set (ARD.md, Trust boundaries).
    EmulatorWithoutConditionalDenies,
}

/// Days after which the handler's event records (one per event, a minute's schedule included)
/// expire: far longer than EventBridge redelivers (24 h), so a redelivery still finds its record.
pub const EVENT_RECORD_DAYS: i32 = 14;
/// Days an overwritten or deleted version is kept (the record's and leases' history, for forensics).
pub const NONCURRENT_DAYS: i32 = 30;
/// Days after which an unfinished multipart upload (a drain cut short) is aborted.
pub const INCOMPLETE_UPLOAD_DAYS: i32 = 1;

/// One lifecycle rule, as spotctl writes it and reads it back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LifecycleRule {
    pub id: String,
    /// Key prefix the rule applies to ("" = the whole bucket).
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_days: Option<i32>,
}

/// The rules spotctl keeps. Backups under `backups/` do not expire here: their retention is
/// decided with the backups themselves, not by age.
pub fn lifecycle_rules() -> Vec<LifecycleRule> {
    let mut rules = vec![
        LifecycleRule {
            id: "spotctl-event-records".into(),
            prefix: spotctl_layout::state::EVENTS.into(),
            expire_days: Some(EVENT_RECORD_DAYS),
            noncurrent_days: None,
            abort_incomplete_days: None,
        },
        LifecycleRule {
            id: "spotctl-old-versions-and-uploads".into(),
            prefix: String::new(),
            expire_days: None,
            noncurrent_days: Some(NONCURRENT_DAYS),
            abort_incomplete_days: Some(INCOMPLETE_UPLOAD_DAYS),
        },
    ];
    rules.sort();
    rules
}

/// The lifecycle attribute: the rules, sorted, as JSON.
pub fn lifecycle_value(rules: &[LifecycleRule]) -> String {
    let mut rules = rules.to_vec();
    rules.sort();
    serde_json::to_string(&rules).unwrap_or_default()
}

/// The bucket policy as canonical JSON; `""` when the mode leaves no statement.
pub fn bucket_policy(input: &DesiredInput) -> Result<String, TemplateError> {
    let n = &input.names;
    let vars: BTreeMap<&str, String> = [
        ("bucket", n.bucket()),
        ("instance_role_arn", n.role_arn(RoleKind::Instance)),
        ("worker_role_arn", n.role_arn(RoleKind::Worker)),
    ]
    .into();
    let rendered = templates::render("bucket-policy.json", &vars)?;
    let mut doc: serde_json::Value = serde_json::from_str(&rendered).unwrap_or_default();
    if input.bucket_policy == PolicyMode::EmulatorWithoutConditionalDenies {
        if let Some(list) = doc.get_mut("Statement").and_then(|s| s.as_array_mut()) {
            list.retain(|s| s.get("Condition").is_none());
            if list.is_empty() {
                return Ok(String::new());
            }
        }
    }
    Ok(canonical_json(&doc.to_string()).unwrap_or(rendered))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::tests::input;

    #[test]
    fn the_emulator_mode_drops_exactly_the_conditional_statements() {
        let full = bucket_policy(&input()).expect("renders");
        assert!(full.contains("aws:SecureTransport") && full.contains("s3:if-match"));
        let emulated =
            DesiredInput { bucket_policy: PolicyMode::EmulatorWithoutConditionalDenies, ..input() };
        assert_eq!(bucket_policy(&emulated).expect("renders"), "", "every statement here is conditional");
    }

    #[test]
    fn lifecycle_never_expires_backups() {
        let rules = lifecycle_rules();
        assert!(rules.iter().all(|r| r.expire_days.is_none() || r.prefix == "state/events/"));
        assert!(rules.iter().any(|r| r.prefix.is_empty() && r.abort_incomplete_days == Some(1)));
        assert_eq!(
            lifecycle_value(&rules),
            lifecycle_value(&rules.iter().rev().cloned().collect::<Vec<_>>())
        );
    }
}
