//! The env file as spotctl uses it once it has been read and validated: plain values, defaults
//! filled in, lists that are sets sorted (so reordering the file changes nothing downstream).
//!
//! The same types serialise into `state/env.json` for the Lambda and the agents and deserialise
//! back (`deny_unknown_fields`, the env file's own key names): a valid env file also reads straight
//! into `EnvFile` with `toml::from_str`, which a test checks against the validating reader.

use super::backup::BackupSection;
use super::health::HealthSection;
use super::period::Period;
use crate::fleet::{Failback, FailoverRules};
use crate::placement::advisor::InterruptionBucket;
use crate::placement::sps::SpsConfig;
use crate::placement::{candidates, rank_observed, Observed, Ranking};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvFile {
    pub env: EnvSection,
    pub instance: InstanceSection,
    #[serde(default)]
    pub placement: PlacementSection,
    #[serde(default)]
    pub database: DatabaseSection,
    pub access: AccessSection,
    #[serde(default)]
    pub schedule: ScheduleSection,
    #[serde(default)]
    pub fis: FisSection,
    /// The name applications connect to (`[endpoint]`, optional).
    #[serde(default = "super::endpoint::EndpointSection::defaults")]
    pub endpoint: super::endpoint::EndpointSection,
    /// Continuous protection's base interval and retention (stored only when not the defaults).
    #[serde(default, skip_serializing_if = "BackupSection::is_default")]
    pub backup: BackupSection,
    /// When a primary that cannot serve is replaced (stored only when not the defaults).
    #[serde(default, skip_serializing_if = "HealthSection::is_default")]
    pub health: HealthSection,
    /// Worker fleets (the fleet mode), sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fleet: Vec<Fleet>,
}

/// `[env]`: what the env is called and where it may live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSection {
    /// `[a-z][a-z0-9]*`, 1 to 24 characters (no `-`, so no env's prefix reaches another's); in
    /// resource names and the `spotctl:env` tag.
    pub name: String,
    /// Where the Lambda, the state bucket and the schedules live.
    pub home_region: String,
    /// Candidate regions for the database, sorted; includes `home_region`.
    pub regions: Vec<String>,
}

/// `[instance]`: what the database runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSection {
    /// Candidate instance types, sorted; at least 3, each known to the Spot Advisor data.
    pub types: Vec<String>,
    /// The capacity asked of Spot Placement Score, in instances.
    #[serde(default = "defaults::target_capacity")]
    pub target_capacity: u32,
    /// Size of the gp3 root volume, GiB.
    #[serde(default = "defaults::volume_gb")]
    pub volume_gb: u32,
    /// An SSM parameter naming, in each candidate region, a prepared image (MariaDB already
    /// installed) to launch database instances from; `None`: the latest Amazon Linux 2023.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_parameter: Option<String>,
}

/// `[placement]`: what a placement must satisfy, and how eagerly spotctl moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementSection {
    /// The lowest Spot Placement Score (1 to 10) a region or zone may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_sps: Option<u8>,
    /// The worst Spot Advisor interruption range a type may be in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_interruption: Option<InterruptionBucket>,
    /// The most spotctl pays per instance-hour, USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price: Option<f64>,
    /// How much better (as a fraction) a placement must score before the scheduled relocation moves
    /// the database to it.
    #[serde(default = "defaults::relocation_margin")]
    pub relocation_margin: f64,
    /// After an interruption, how long its region and type are passed over.
    #[serde(default = "defaults::interruption_cooldown")]
    pub interruption_cooldown: Period,
}

impl PlacementSection {
    /// The ranking policy these settings make (the weights are spotctl's own).
    pub fn policy(&self) -> crate::placement::Policy {
        crate::placement::Policy {
            min_sps: self.min_sps,
            max_bucket: self.max_interruption,
            max_price: self.max_price,
            relocation_margin: self.relocation_margin,
            interruption_cooldown_secs: self.interruption_cooldown.as_secs() as i64,
            ..crate::placement::Policy::default()
        }
    }
}

impl Default for PlacementSection {
    fn default() -> Self {
        PlacementSection {
            min_sps: None,
            max_interruption: None,
            max_price: None,
            relocation_margin: defaults::relocation_margin(),
            interruption_cooldown: defaults::interruption_cooldown(),
        }
    }
}

/// `[database]`: the MySQL-compatible database spotctl keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// The database (schema) name, a MySQL identifier.
    #[serde(default = "defaults::database_name")]
    pub name: String,
    /// SQL run once when the database is created, as a path relative to the env dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection { name: defaults::database_name(), schema: None }
    }
}

/// `[access]`: who may reach the instance. Nothing is open unless listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSection {
    /// The OpenSSH public key for the instances, as a path relative to the env dir.
    pub ssh_public_key: String,
    /// Blocks allowed to reach port 22, canonical and sorted.
    #[serde(default)]
    pub ssh_cidrs: Vec<String>,
    /// Blocks allowed to reach port 3306, canonical and sorted.
    #[serde(default)]
    pub mysql_cidrs: Vec<String>,
    /// Must be true for `mysql_cidrs` to reach the whole internet (`0.0.0.0/0`, `::/0`, or blocks
    /// that together cover it).
    #[serde(default)]
    pub allow_public_mysql: bool,
    /// The same for `ssh_cidrs`.
    #[serde(default)]
    pub allow_public_ssh: bool,
}

/// `[schedule]`: EventBridge schedule expressions for the home region's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSection {
    #[serde(default = "defaults::relocation")]
    pub relocation: String,
    #[serde(default = "defaults::advisor_refresh")]
    pub advisor_refresh: String,
}

impl Default for ScheduleSection {
    fn default() -> Self {
        ScheduleSection { relocation: defaults::relocation(), advisor_refresh: defaults::advisor_refresh() }
    }
}

/// `[fis]`: the AWS FIS experiment that interrupts the primary on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FisSection {
    /// FIS `durationBeforeInterruption`, ISO-8601, 2 to 15 minutes.
    #[serde(default = "defaults::interruption_lead")]
    pub interruption_lead: String,
}

impl Default for FisSection {
    fn default() -> Self {
        FisSection { interruption_lead: defaults::interruption_lead() }
    }
}

/// `[[fleet]]`: spot workers reading an SQS queue, in a primary region with a fallback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    pub name: String,
    pub primary_region: String,
    pub fallback_region: String,
    /// Sorted; each known to the Spot Advisor data.
    pub instance_types: Vec<String>,
    /// The SQS (standard) queue spotctl creates for the fleet.
    pub queue: String,
    /// Visible messages per running worker that the scaling policy aims at.
    #[serde(default = "defaults::backlog_per_instance")]
    pub backlog_per_instance: u32,
    pub max_primary: u32,
    pub max_fallback: u32,
    /// How the fleet leaves the fallback region once the primary launches again.
    #[serde(
        default,
        skip_serializing_if = "super::failback::is_default",
        serialize_with = "super::failback::serialize",
        deserialize_with = "super::failback::deserialize"
    )]
    pub failback: Failback,
    /// How long a worker waits with no message before it stops.
    #[serde(default = "defaults::idle_timeout")]
    pub idle_timeout: Period,
    /// The queue's visibility timeout: how long a received message stays hidden. The worker
    /// extends it while the command runs, so a long job is not handed to a second worker.
    #[serde(default = "defaults::visibility_timeout")]
    pub visibility_timeout: Period,
    /// Receives before a message moves to the dead-letter queue `spotctl-<env>-<queue>-dead`.
    #[serde(default = "defaults::max_receives")]
    pub max_receives: u32,
    /// What the worker runs per message; exactly one of `command` and `user_data` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// A user-data script, as a path relative to the env dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
}

impl EnvFile {
    /// Sorts the lists that are sets, so that two files differing only in order give equal values.
    pub(crate) fn canonical(mut self) -> EnvFile {
        self.env.regions.sort();
        self.instance.types.sort();
        self.access.ssh_cidrs.sort();
        self.access.mysql_cidrs.sort();
        for f in &mut self.fleet {
            f.instance_types.sort();
        }
        self.fleet.sort_by(|a, b| a.name.cmp(&b.name));
        self
    }

    /// The regions the database may be placed in: the candidate regions, less those the
    /// application cannot reach (`endpoint.reachable_regions`, when the env lists them).
    pub fn placement_regions(&self) -> Vec<String> {
        let reach = &self.endpoint.reachable_regions;
        self.env.regions.iter().filter(|r| reach.is_empty() || reach.contains(r)).cloned().collect()
    }

    /// The SPS configuration this env asks about: stable across runs, so it costs one
    /// configuration.
    pub fn sps_config(&self) -> SpsConfig {
        SpsConfig::new(&self.instance.types, &self.placement_regions(), self.instance.target_capacity, true)
    }

    /// The env's own ranking: its regions and types, with its placement policy.
    pub fn rank(&self, seen: Observed<'_>) -> Ranking {
        let c = candidates(&self.placement_regions(), &self.instance.types, seen.facts);
        rank_observed(&c, seen, &self.placement.policy())
    }
}

impl From<&Fleet> for FailoverRules {
    /// What the fleet state machine needs of a fleet: its cap and its failback pace.
    fn from(f: &Fleet) -> FailoverRules {
        FailoverRules { max_fallback: f.max_fallback, failback: f.failback }
    }
}

/// Defaults of optional keys (documented in docs/env-reference.md).
pub(crate) mod defaults {
    use super::Period;

    pub fn target_capacity() -> u32 {
        1
    }
    pub fn volume_gb() -> u32 {
        20
    }
    pub fn relocation_margin() -> f64 {
        0.10
    }
    pub fn interruption_cooldown() -> Period {
        // Chosen by replaying measured spot traces (ARD.md, Replay).
        Period::from_secs(12 * 3600)
    }
    pub fn database_name() -> String {
        "appdb".to_string()
    }
    pub fn relocation() -> String {
        "rate(12 hours)".to_string()
    }
    pub fn advisor_refresh() -> String {
        "rate(1 day)".to_string()
    }
    pub fn interruption_lead() -> String {
        "PT2M".to_string()
    }
    pub fn backlog_per_instance() -> u32 {
        20
    }
    pub fn idle_timeout() -> Period {
        Period::from_secs(30)
    }
    pub fn visibility_timeout() -> Period {
        Period::from_secs(300)
    }
    pub fn max_receives() -> u32 {
        5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_sets_and_fleets() {
        let fleet = |name: &str| Fleet {
            name: name.into(),
            primary_region: "us-east-1".into(),
            fallback_region: "us-east-2".into(),
            instance_types: vec!["g5.xlarge".into(), "g4dn.xlarge".into()],
            queue: name.into(),
            backlog_per_instance: 20,
            max_primary: 1,
            max_fallback: 0,
            failback: Failback::default(),
            idle_timeout: Period::from_secs(30),
            visibility_timeout: Period::from_secs(300),
            max_receives: 5,
            command: Some("run".into()),
            user_data: None,
        };
        let env = EnvFile {
            env: EnvSection {
                name: "e".into(),
                home_region: "b".into(),
                regions: vec!["b".into(), "a".into()],
            },
            instance: InstanceSection {
                types: vec!["z".into(), "y".into()],
                target_capacity: 1,
                volume_gb: 20,
                image_parameter: None,
            },
            placement: PlacementSection::default(),
            database: DatabaseSection::default(),
            access: AccessSection {
                ssh_public_key: "k.pub".into(),
                ssh_cidrs: vec!["10.0.0.0/8".into(), "1.0.0.0/8".into()],
                mysql_cidrs: vec![],
                allow_public_mysql: false,
                allow_public_ssh: false,
            },
            schedule: ScheduleSection::default(),
            fis: FisSection::default(),
            endpoint: crate::config::EndpointSection::defaults(),
            backup: BackupSection::default(),
            health: HealthSection::default(),
            fleet: vec![fleet("w2"), fleet("w1")],
        }
        .canonical();
        assert_eq!(env.env.regions, ["a", "b"]);
        assert_eq!(env.instance.types, ["y", "z"]);
        assert_eq!(env.access.ssh_cidrs, ["1.0.0.0/8", "10.0.0.0/8"]);
        assert_eq!(env.fleet.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["w1", "w2"]);
        assert_eq!(env.fleet[0].instance_types, ["g4dn.xlarge", "g5.xlarge"]);
    }
}
