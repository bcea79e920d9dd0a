//! The JSON that `spotctl plan --output json` and `spotctl show FILE --output json` print, one
//! shape for both, numbered by `format_version` (docs/plan-json.md holds the promise: within a
//! format version keys are only ever added; a key removed or whose meaning changes is a new
//! version).

use super::drift::Drift;
use crate::plan::{Change, Plan, Recovery, Summary};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of the plan JSON document this build writes.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// What apply would change to make AWS match the env file.
    Normal,
    /// Drift only: what changed outside spotctl since the last apply (`changes` is empty).
    RefreshOnly,
}

/// Where a saved plan came from (only in `show`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedFrom {
    pub file: String,
    pub env_dir: String,
    pub created_unix: i64,
    pub spotctl_version: String,
    pub handler_sha256: String,
    /// Each input file's hash (`spotctl.toml` and the files it names).
    pub env_files: BTreeMap<String, String>,
    /// The live-state fingerprint the plan was made from.
    pub fingerprint: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDocument {
    pub format_version: u32,
    pub env: String,
    pub mode: PlanMode,
    pub summary: Summary,
    pub changes: Vec<Change>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    pub notes: Vec<String>,
    /// The `--target`s the plan was restricted to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Refresh-only plans: what changed outside spotctl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Vec<Drift>>,
    /// `show`: the saved plan's origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<SavedFrom>,
    /// `plan`: the AWS calls it made, by `service:Operation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<BTreeMap<String, u64>>,
}

impl PlanDocument {
    pub fn of(plan: &Plan, env: &str, targets: Vec<String>) -> PlanDocument {
        PlanDocument {
            format_version: FORMAT_VERSION,
            env: env.to_string(),
            mode: PlanMode::Normal,
            summary: plan.summary(),
            changes: plan.changes.clone(),
            recovery: plan.recovery.clone(),
            notes: plan.notes.clone(),
            targets,
            drift: None,
            saved: None,
            calls: None,
        }
    }

    pub fn of_drift(drift: Vec<Drift>, notes: Vec<String>, env: &str) -> PlanDocument {
        PlanDocument {
            mode: PlanMode::RefreshOnly,
            drift: Some(drift),
            notes,
            ..PlanDocument::of(&Plan::default(), env, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, Kind, Resource};

    #[test]
    fn the_document_keeps_the_keys_it_promises() {
        let p = plan(&[Resource::new(Kind::Bucket, "global", "b").with("encryption", "AES256")], &[]);
        let v = serde_json::to_value(PlanDocument::of(&p, "dev", Vec::new())).expect("json");
        let mut keys: Vec<&String> = v.as_object().expect("object").keys().collect();
        keys.sort();
        assert_eq!(keys, ["changes", "env", "format_version", "mode", "notes", "summary"]);
        assert_eq!(v["format_version"], 1);
        assert_eq!(v["mode"], "normal");
        assert_eq!(v["summary"]["create"], 1);
        assert_eq!(v["changes"][0]["action"], "create");
        assert_eq!(v["changes"][0]["address"]["kind"], "bucket");
        let d = serde_json::to_value(PlanDocument::of_drift(Vec::new(), Vec::new(), "dev")).expect("json");
        assert_eq!(d["mode"], "refresh_only");
        assert_eq!(d["drift"], serde_json::json!([]));
    }
}
