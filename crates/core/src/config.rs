//! The env file (`<env dir>/spotctl.toml`): what a user declares, read and validated before
//! anything talks to AWS.
//!
//! Every refusal names the file, line and column, the key as a dotted path and what would be valid,
//! and every problem in the file is reported at once. Reading and validating are pure over the
//! text ([`parse`]); [`load`] is the edge that reads the env file and the files it names (the SSH
//! public key, the schema, fleet user-data). Instance types are checked against a membership test
//! the caller passes (the Spot Advisor's type list), regions against [`regions`].
//!
//! May use: `placement` (the env's ranking policy, the advisor's buckets), `fleet` (the
//! failback pace).

mod backup;
mod checks;
mod cidr;
mod doc;
mod endpoint;
mod error;
mod failback;
mod files;
mod fleet;
mod health;
mod model;
mod period;
mod read;
pub mod regions;
mod schedule;
pub(crate) mod suggest;
mod values;

pub use crate::placement::advisor::InterruptionBucket;
pub use backup::BackupSection;
pub use cidr::Cidr;
pub use endpoint::{dns_name, EndpointSection, MAX_TTL as MAX_ENDPOINT_TTL};
pub use error::{ConfigError, ConfigWarning, Problem};
pub use fleet::MAX_FLEET_SIZE;
pub use health::HealthSection;
pub use model::{
    AccessSection, DatabaseSection, EnvFile, EnvSection, FisSection, Fleet, InstanceSection,
    PlacementSection, ScheduleSection,
};
pub use period::Period;
pub use values::FIS_LEAD_SECS;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The name of the env file inside an env dir.
pub const ENV_FILE: &str = "spotctl.toml";

/// A valid env file, with nothing read from disk but the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub env: EnvFile,
    pub warnings: Vec<ConfigWarning>,
}

/// A valid env, with the files it names read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedEnv {
    /// The env dir, as given.
    pub dir: PathBuf,
    /// `<dir>/spotctl.toml`.
    pub file: PathBuf,
    pub env: EnvFile,
    /// The OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
    pub ssh_public_key: String,
    pub ssh_public_key_path: PathBuf,
    /// The schema's SQL; empty when `database.schema` is not set.
    pub schema_sql: String,
    pub schema_path: Option<PathBuf>,
    /// User-data scripts of the fleets that name one, by fleet name.
    pub fleet_user_data: BTreeMap<String, String>,
    /// Things that do not stop the env from loading but deserve a look.
    pub warnings: Vec<ConfigWarning>,
}

/// Validates env file text. Pure: the files the env names are not looked at; `file` only labels
/// the problems.
pub fn parse(text: &str, file: &Path, known_types: &dyn Fn(&str) -> bool) -> Result<Parsed, ConfigError> {
    let checked = read::check(text, known_types);
    if let Some(err) = ConfigError::from_problems(file.to_path_buf(), text, checked.sink.problems) {
        return Err(err);
    }
    let env = checked.env.ok_or_else(|| no_model(file))?;
    Ok(Parsed { env, warnings: error::warnings(file, text, checked.sink.warnings) })
}

/// Loads the env in `env_dir` (or the env file itself, when given its path): reads
/// `spotctl.toml`, validates it and reads the files it names.
pub fn load(env_dir: &Path, known_types: &dyn Fn(&str) -> bool) -> Result<LoadedEnv, ConfigError> {
    let (dir, file) = if env_dir.is_file() {
        (env_dir.parent().unwrap_or(Path::new("")).to_path_buf(), env_dir.to_path_buf())
    } else {
        (env_dir.to_path_buf(), env_dir.join(ENV_FILE))
    };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        let message = if e.kind() == io::ErrorKind::NotFound {
            format!("no env file here; valid: an env dir holding {ENV_FILE} (see docs/env-reference.md)")
        } else {
            "cannot read the env file".to_string()
        };
        ConfigError::unreadable(file.clone(), message, e)
    })?;
    load_at(&dir, &file, &text, known_types, &|p| std::fs::read_to_string(p))
}

/// [`load`] with the env file's text given, and the files it names read through `read` (tests pass
/// a stand-in; `load` passes `std::fs::read_to_string`).
pub fn load_with(
    env_dir: &Path,
    text: &str,
    known_types: &dyn Fn(&str) -> bool,
    read: &dyn Fn(&Path) -> io::Result<String>,
) -> Result<LoadedEnv, ConfigError> {
    load_at(env_dir, &env_dir.join(ENV_FILE), text, known_types, read)
}

fn load_at(
    dir: &Path,
    file: &Path,
    text: &str,
    known_types: &dyn Fn(&str) -> bool,
    read: &dyn Fn(&Path) -> io::Result<String>,
) -> Result<LoadedEnv, ConfigError> {
    let mut checked = read::check(text, known_types);
    let contents = files::read_all(dir, &checked.refs, read, &mut checked.sink);
    if let Some(err) = ConfigError::from_problems(file.to_path_buf(), text, checked.sink.problems) {
        return Err(err);
    }
    let env = checked.env.ok_or_else(|| no_model(file))?;
    // A valid env always names its key; the model and the files were checked together above.
    let (ssh_public_key_path, ssh_public_key) = contents.ssh_public_key.ok_or_else(|| no_model(file))?;
    let (schema_path, schema_sql) = match contents.schema {
        Some((path, sql)) => (Some(path), sql),
        None => (None, String::new()),
    };
    Ok(LoadedEnv {
        dir: dir.to_path_buf(),
        file: file.to_path_buf(),
        env,
        ssh_public_key,
        ssh_public_key_path,
        schema_sql,
        schema_path,
        fleet_user_data: contents.fleet_user_data.into_iter().collect(),
        warnings: error::warnings(file, text, checked.sink.warnings),
    })
}

/// Reading found no problem yet built no model: a bug in this module, reported rather than hidden.
fn no_model(file: &Path) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        line: 0,
        col: 0,
        key: String::new(),
        message: "internal error: the env file passed every check but could not be read (a bug in spotctl)"
            .into(),
        more: Vec::new(),
        source: None,
    }
}

impl LoadedEnv {
    /// A refusal found after loading (a check only AWS can answer, such as whether a hosted zone
    /// exists), located at the key `path` (dotted, e.g. `endpoint.zone_id`) in the env file — or at
    /// the nearest table of it that is there — so it reads like any other problem of the file.
    pub fn refuse(&self, path: &str, message: impl Into<String>) -> ConfigError {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let at = key_offset(&text, path).unwrap_or(0);
        let found = vec![error::Located { at, key: path.to_string(), message: message.into() }];
        ConfigError::from_problems(self.file.clone(), &text, found).unwrap_or_else(|| no_model(&self.file))
    }
}

/// Where the value of dotted `path` starts in `text`, or the deepest table on the way.
fn key_offset(text: &str, path: &str) -> Option<usize> {
    let (doc, _) = toml::de::DeTable::parse_recoverable(text);
    let mut table = doc.get_ref();
    let mut best = None;
    for part in path.split('.') {
        let Some((_, v)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part) else { break };
        best = Some(v.span().start);
        match v.get_ref() {
            toml::de::DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    best
}

#[cfg(test)]
mod refuse_tests {
    use super::key_offset;

    #[test]
    fn a_key_or_its_nearest_table_is_found() {
        let text = "[env]\nname = \"dev\"\n\n[endpoint]\nzone_id = \"Z1\"\n";
        assert_eq!(key_offset(text, "endpoint.zone_id"), text.find("\"Z1\""));
        let at_table = key_offset(text, "endpoint.name").expect("the table");
        assert!(
            at_table < text.find("zone_id").expect("zone_id")
                && at_table >= text.find("[endpoint]").expect("header")
        );
        assert_eq!(key_offset(text, "fis.lead"), None);
    }
}
