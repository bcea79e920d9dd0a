//! One module per AWS service family: how spotctl discovers, creates, updates and deletes the
//! resource kinds that live there. Discovery reads attributes in the same canonical form that
//! `spotctl_core::desired` writes them, so a converged env plans empty.

pub mod bucket;
pub mod events;
pub mod fis;
pub mod fleet;
pub mod iam;
pub mod instance;
pub mod invoke;
pub mod lambda;
pub mod network;
pub mod parameter;

use crate::sdk::Aws;
use spotctl_core::names::{Names, TAG_ENV, TAG_KIND};
use std::collections::BTreeMap;

/// What every discovery and executor step needs to know.
pub struct Ctx<'a> {
    pub aws: &'a Aws,
    pub names: &'a Names,
    /// Candidate regions, sorted, home included.
    pub regions: &'a [String],
    /// Binary bodies named by key (the Lambda zip): the plan refers to them by content hash.
    pub artifacts: &'a BTreeMap<String, Vec<u8>>,
}

impl Ctx<'_> {
    pub fn home(&self) -> &str {
        &self.names.home_region
    }

    /// The ownership tags every resource carries, as (key, value) pairs.
    pub fn tags(&self, kind: &str) -> Vec<(String, String)> {
        vec![
            (TAG_ENV.to_string(), self.names.env.clone()),
            (TAG_KIND.to_string(), kind.to_string()),
            ("Name".to_string(), format!("{}{}", self.names.prefix(), kind)),
        ]
    }
}

/// True when a tag list carries this env's ownership tag.
pub fn owned<'t>(names: &Names, mut tags: impl Iterator<Item = (&'t str, &'t str)>) -> bool {
    tags.any(|(k, v)| k == TAG_ENV && v == names.env)
}
