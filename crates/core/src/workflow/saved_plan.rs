//! A plan saved to a file (`spotctl plan --out FILE`) and applied later exactly as it was reviewed
//! (`spotctl apply FILE`), Terraform's way.
//!
//! The file is JSON: the plan itself, what it was made from — the env's name and state bucket
//! (which names the account and home region), a hash of each input file (`spotctl.toml`, the SSH
//! key, the schema, the fleets' user data), the handler package's hash, the live-state
//! [`Fingerprint`], the launch token of a primary it launches, the options it was made with —
//! and one checksum per section. Reading checks, in order: the format version, the checksums
//! (an edited file names the sections that no longer match), then the env. Apply then checks
//! that the inputs and the live state are still what the plan was made from ([`Stale`]).
//!
//! The checksums catch a file edited by hand or damaged in transit; they are no signature (who
//! can write the file can recompute them), which is why apply also re-reads live state under the
//! lock before it runs anything.

use super::fingerprint::Fingerprint;
use super::target::Target;
use crate::config::LoadedEnv;
use crate::plan::Plan;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The plan file format this build writes and reads.
pub const SAVED_PLAN_FORMAT: u32 = 1;

/// The handler package a plan was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlerHash {
    pub sha256_hex: String,
    pub sha256_b64: String,
}

/// The choices the plan was made with; apply re-plans with the same ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedOptions {
    pub replace_lost_primary: bool,
    #[serde(default)]
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    pub format_version: u32,
    pub spotctl_version: String,
    pub env: String,
    /// The env's state bucket: names the account and the home region too.
    pub bucket: String,
    /// The env directory, as given to `plan`.
    pub env_dir: String,
    pub created_unix: i64,
    /// Input file → sha256 of its content.
    pub env_files: BTreeMap<String, String>,
    pub handler: HandlerHash,
    pub fingerprint: Fingerprint,
    pub options: SavedOptions,
    /// The regions the plan searched (its deletions may be in regions the env no longer lists).
    pub regions: Vec<String>,
    /// The token the primary this plan launches is tagged with.
    pub launch_token: Option<String>,
    pub plan: Plan,
}

/// A plan file that must not be applied at all: bad input (exit 2), nothing touched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SavedPlanError {
    #[error("{file}: not a spotctl plan file ({message})")]
    Malformed { file: String, message: String },
    #[error("{file}: plan file format {found}, and this spotctl reads format {SAVED_PLAN_FORMAT} only; make the plan again with this spotctl")]
    Version { file: String, found: String },
    #[error("{file}: the plan file was changed after it was saved (sections that no longer match their checksums: {sections}); make the plan again")]
    Tampered { file: String, sections: String },
    #[error("{file} is a plan of env `{planned}` (state bucket {planned_bucket}), and this is env `{given}` (state bucket {given_bucket}); apply it to its own env")]
    OtherEnv { file: String, planned: String, planned_bucket: String, given: String, given_bucket: String },
}

/// A plan whose inputs or live state moved since it was saved: refused (exit 1), nothing touched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the saved plan is stale and nothing was changed: {}; run `spotctl plan --out` again and review the new plan", .what.join("; "))]
pub struct Stale {
    pub what: Vec<String>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl SavedPlan {
    /// The hash of each input of a plan: the env file's text as read, and what it names.
    pub fn inputs_of(loaded: &LoadedEnv, env_file_text: &[u8]) -> BTreeMap<String, String> {
        let mut files = BTreeMap::new();
        files.insert(crate::config::ENV_FILE.to_string(), sha256_hex(env_file_text));
        files.insert(
            format!("ssh key {}", loaded.ssh_public_key_path.display()),
            sha256_hex(loaded.ssh_public_key.as_bytes()),
        );
        if let Some(p) = &loaded.schema_path {
            files.insert(format!("schema {}", p.display()), sha256_hex(loaded.schema_sql.as_bytes()));
        }
        for (fleet, text) in &loaded.fleet_user_data {
            files.insert(format!("user data of fleet {fleet}"), sha256_hex(text.as_bytes()));
        }
        files
    }

    /// The file's bytes: the plan and one checksum per section.
    pub fn to_file(&self) -> Vec<u8> {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            let sums = self.checksums().into_iter().map(|(k, s)| (k.to_string(), s.into())).collect();
            obj.insert("checksums".into(), serde_json::Value::Object(sums));
        }
        let mut bytes = serde_json::to_vec_pretty(&v).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Reads a plan file: its version first, then its checksums, then its shape.
    pub fn from_file(file: &str, bytes: &[u8]) -> Result<SavedPlan, SavedPlanError> {
        let malformed = |m: String| SavedPlanError::Malformed { file: file.to_string(), message: m };
        let mut v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
        let obj = v.as_object_mut().ok_or_else(|| malformed("not a JSON object".into()))?;
        match obj.get("format_version") {
            Some(f) if f.as_u64() == Some(u64::from(SAVED_PLAN_FORMAT)) => {}
            Some(f) => return Err(SavedPlanError::Version { file: file.to_string(), found: f.to_string() }),
            None => return Err(malformed("no format_version".into())),
        }
        let sums: BTreeMap<String, String> = obj
            .remove("checksums")
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| malformed(format!("checksums: {e}")))?
            .ok_or_else(|| malformed("no checksums".into()))?;
        let plan: SavedPlan = serde_json::from_value(v).map_err(|e| malformed(e.to_string()))?;
        let bad: Vec<&str> =
            plan.checksums().into_iter().filter(|(k, s)| sums.get(*k) != Some(s)).map(|(k, _)| k).collect();
        if !bad.is_empty() {
            return Err(SavedPlanError::Tampered { file: file.to_string(), sections: bad.join(", ") });
        }
        Ok(plan)
    }

    /// One sha256 per section: `header` (everything but the plan and the fingerprint),
    /// `fingerprint`, `plan`.
    fn checksums(&self) -> BTreeMap<&'static str, String> {
        let header = SavedPlan { plan: Plan::default(), fingerprint: Fingerprint::default(), ..self.clone() };
        [("header", sum(&header)), ("fingerprint", sum(&self.fingerprint)), ("plan", sum(&self.plan))]
            .into_iter()
            .collect()
    }

    /// Refuses a plan of another env (another name, account or home region).
    pub fn check_env(&self, file: &str, env: &str, bucket: &str) -> Result<(), SavedPlanError> {
        if self.env == env && self.bucket == bucket {
            return Ok(());
        }
        Err(SavedPlanError::OtherEnv {
            file: file.to_string(),
            planned: self.env.clone(),
            planned_bucket: self.bucket.clone(),
            given: env.to_string(),
            given_bucket: bucket.to_string(),
        })
    }

    /// What changed among the inputs: each file whose hash differs, and the handler.
    pub fn inputs_moved(&self, files: &BTreeMap<String, String>, handler: &HandlerHash) -> Vec<String> {
        let mut moved: Vec<String> = Vec::new();
        for (name, sum) in &self.env_files {
            match files.get(name) {
                Some(now) if now == sum => {}
                Some(_) => moved.push(format!("{name} changed")),
                None => moved.push(format!("{name} is no longer an input")),
            }
        }
        moved.extend(
            files.keys().filter(|k| !self.env_files.contains_key(*k)).map(|k| format!("{k} is a new input")),
        );
        if handler.sha256_hex != self.handler.sha256_hex {
            moved.push(format!(
                "the handler package is another build (sha256 {}, the plan's {})",
                handler.sha256_hex, self.handler.sha256_hex
            ));
        }
        moved
    }
}

fn sum<T: Serialize>(v: &T) -> String {
    sha256_hex(&serde_json::to_vec(v).unwrap_or_default())
}

/// What differs between the reviewed plan and the one made under the lock, if anything: the
/// same changes (address and action, the bucket aside, which apply itself just made) and the
/// same recovery.
pub fn changes_moved(reviewed: &Plan, now: &Plan) -> Option<String> {
    let key = |p: &Plan| -> Vec<String> {
        p.changes
            .iter()
            .filter(|c| c.address.kind != crate::plan::Kind::Bucket)
            .map(|c| format!("{} {}", c.action.symbol(), c.address))
            .collect()
    };
    let (a, b) = (key(reviewed), key(now));
    if a != b {
        let gone: Vec<&String> = a.iter().filter(|x| !b.contains(x)).collect();
        let new: Vec<&String> = b.iter().filter(|x| !a.contains(x)).collect();
        return Some(format!("no longer planned: {gone:?}; newly planned: {new:?}"));
    }
    (reviewed.recovery != now.recovery).then(|| "the recovery changed".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, Kind, Resource};

    fn saved() -> SavedPlan {
        let p = plan(&[Resource::new(Kind::SecurityGroup, "r1", "db").with("ingress", "[]")], &[]);
        SavedPlan {
            format_version: SAVED_PLAN_FORMAT,
            spotctl_version: "0.1.0".into(),
            env: "dev".into(),
            bucket: "spotctl-dev-123-r1".into(),
            env_dir: "envs/dev".into(),
            created_unix: 1_700_000_000,
            env_files: [("spotctl.toml".to_string(), sha256_hex(b"env"))].into(),
            handler: HandlerHash { sha256_hex: "aa".into(), sha256_b64: "qg==".into() },
            fingerprint: Fingerprint([("state:primary_record".to_string(), "none".to_string())].into()),
            options: SavedOptions::default(),
            regions: vec!["r1".into()],
            launch_token: Some("tok".into()),
            plan: p,
        }
    }

    fn edit(bytes: &[u8], f: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
        let mut v: serde_json::Value = serde_json::from_slice(bytes).expect("json");
        f(&mut v);
        serde_json::to_vec(&v).expect("json")
    }

    #[test]
    fn a_saved_plan_reads_back_whole() {
        let s = saved();
        let bytes = s.to_file();
        assert_eq!(SavedPlan::from_file("p", &bytes), Ok(s.clone()));
        // Reformatting the JSON is not tampering: the checksums are of the content.
        let compact = edit(&bytes, |_| {});
        assert_eq!(SavedPlan::from_file("p", &compact), Ok(s));
    }

    #[test]
    fn another_version_is_refused_before_anything_else() {
        let bytes = edit(&saved().to_file(), |v| v["format_version"] = 2.into());
        assert_eq!(
            SavedPlan::from_file("p", &bytes),
            Err(SavedPlanError::Version { file: "p".into(), found: "2".into() })
        );
        let err = SavedPlan::from_file("p", &bytes).expect_err("refused").to_string();
        assert!(err.contains("plan file format 2") && err.contains("reads format 1"), "{err}");
    }

    #[test]
    fn an_edited_file_names_the_sections_that_no_longer_match() {
        let bytes = saved().to_file();
        let plan_edited = edit(&bytes, |v| v["plan"]["changes"][0]["action"] = "delete".into());
        assert_eq!(
            SavedPlan::from_file("p", &plan_edited),
            Err(SavedPlanError::Tampered { file: "p".into(), sections: "plan".into() })
        );
        let two = edit(&bytes, |v| {
            v["env"] = "prod".into();
            v["fingerprint"]["state:primary_record"] = "epoch 9".into();
        });
        let Err(SavedPlanError::Tampered { sections, .. }) = SavedPlan::from_file("p", &two) else {
            panic!("tampering not seen")
        };
        assert_eq!(sections, "fingerprint, header");
        let no_sums = edit(&bytes, |v| {
            v.as_object_mut().expect("object").remove("checksums");
        });
        assert!(matches!(SavedPlan::from_file("p", &no_sums), Err(SavedPlanError::Malformed { .. })));
        let extra = edit(&bytes, |v| v["also_run"] = "rm -rf /".into());
        assert!(matches!(SavedPlan::from_file("p", &extra), Err(SavedPlanError::Malformed { .. })));
        assert!(matches!(SavedPlan::from_file("p", b"[1]"), Err(SavedPlanError::Malformed { .. })));
    }

    #[test]
    fn another_env_is_refused_by_name_or_bucket() {
        let s = saved();
        assert_eq!(s.check_env("p", "dev", "spotctl-dev-123-r1"), Ok(()));
        let err = s.check_env("p", "prod", "spotctl-prod-123-r1").expect_err("other env").to_string();
        assert!(err.contains("plan of env `dev`") && err.contains("this is env `prod`"), "{err}");
        // The same name in another account is another env.
        assert!(s.check_env("p", "dev", "spotctl-dev-999-r1").is_err());
    }

    #[test]
    fn moved_inputs_are_named() {
        let s = saved();
        let same = s.env_files.clone();
        assert!(s.inputs_moved(&same, &s.handler).is_empty());
        let mut files = same.clone();
        files.insert("spotctl.toml".into(), sha256_hex(b"edited"));
        files.insert("schema schema.sql".into(), sha256_hex(b"x"));
        let other = HandlerHash { sha256_hex: "bb".into(), ..s.handler.clone() };
        assert_eq!(
            s.inputs_moved(&files, &other),
            vec![
                "spotctl.toml changed".to_string(),
                "schema schema.sql is a new input".to_string(),
                "the handler package is another build (sha256 bb, the plan's aa)".to_string(),
            ]
        );
        let stale = Stale { what: s.inputs_moved(&files, &s.handler) };
        assert!(stale
            .to_string()
            .starts_with("the saved plan is stale and nothing was changed: spotctl.toml changed; "));
    }
}
