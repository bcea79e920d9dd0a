//! The Spot Instance Advisor feed: per region and instance type, the trailing-month interruption
//! frequency range and the saving against on-demand.
//!
//! Only the Linux data is kept. A snapshot is built into the binary as the last resort when neither
//! the live feed nor a cached copy can be had (the AWS crate decides which copy is used and says so).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub const EMBEDDED_ADVISOR_JSON: &[u8] = include_bytes!("../../data/spot-advisor-data.json");
pub const EMBEDDED_ADVISOR_SNAPSHOT: &str = "2025-06-28";

/// The advisor's five interruption-frequency ranges; lower is safer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InterruptionBucket {
    Under5,
    From5To10,
    From10To15,
    From15To20,
    Over20,
}

impl InterruptionBucket {
    pub const ALL: [InterruptionBucket; 5] = [
        InterruptionBucket::Under5,
        InterruptionBucket::From5To10,
        InterruptionBucket::From10To15,
        InterruptionBucket::From15To20,
        InterruptionBucket::Over20,
    ];

    /// The advisor's `r` value, 0 to 4.
    pub fn index(self) -> u8 {
        self as u8
    }

    pub fn from_index(r: u8) -> Option<InterruptionBucket> {
        Self::ALL.get(usize::from(r)).copied()
    }

    pub fn label(self) -> &'static str {
        match self {
            InterruptionBucket::Under5 => "<5%",
            InterruptionBucket::From5To10 => "5-10%",
            InterruptionBucket::From10To15 => "10-15%",
            InterruptionBucket::From15To20 => "15-20%",
            InterruptionBucket::Over20 => ">20%",
        }
    }
}

impl fmt::Display for InterruptionBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for InterruptionBucket {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|b| b.label() == s).ok_or_else(|| {
            format!("`{s}` is not an interruption range; valid: <5%, 5-10%, 10-15%, 15-20%, >20%")
        })
    }
}

impl Serialize for InterruptionBucket {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label())
    }
}

impl<'de> Deserialize<'de> for InterruptionBucket {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvisorEntry {
    pub savings_pct: u8,
    pub bucket: InterruptionBucket,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TypeInfo {
    pub cores: u32,
    pub ram_gb: f64,
}

/// Parsed Linux advisor data; every map sorted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdvisorData {
    regions: BTreeMap<String, BTreeMap<String, AdvisorEntry>>,
    types: BTreeMap<String, TypeInfo>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AdvisorError {
    #[error("the advisor feed is not JSON: {0}")]
    NotJson(String),
    #[error("the advisor feed has no `{0}` object")]
    Missing(&'static str),
    #[error("the advisor feed gives {region}/{instance_type} an interruption index {index}; valid: 0 to 4")]
    BadBucket { region: String, instance_type: String, index: u64 },
}

/// Where the advisor data in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Live,
    Cached,
    File,
    Embedded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvisorSource {
    pub kind: SourceKind,
    pub fetched_at_unix: Option<i64>,
    /// A URL, a path, or the embedded snapshot's date.
    pub snapshot: String,
}

impl AdvisorData {
    pub fn parse(bytes: &[u8]) -> Result<AdvisorData, AdvisorError> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| AdvisorError::NotJson(e.to_string()))?;
        let advisor =
            v.get("spot_advisor").and_then(|a| a.as_object()).ok_or(AdvisorError::Missing("spot_advisor"))?;
        let mut regions = BTreeMap::new();
        for (region, by_os) in advisor {
            let mut types = BTreeMap::new();
            for (t, e) in by_os.get("Linux").and_then(|l| l.as_object()).into_iter().flatten() {
                let index = e.get("r").and_then(|r| r.as_u64()).unwrap_or(u64::MAX);
                let bucket =
                    u8::try_from(index).ok().and_then(InterruptionBucket::from_index).ok_or_else(|| {
                        AdvisorError::BadBucket { region: region.clone(), instance_type: t.clone(), index }
                    })?;
                let savings_pct = e.get("s").and_then(|s| s.as_u64()).unwrap_or(0).min(100) as u8;
                types.insert(t.clone(), AdvisorEntry { savings_pct, bucket });
            }
            regions.insert(region.clone(), types);
        }
        let mut types = BTreeMap::new();
        for (t, info) in v.get("instance_types").and_then(|i| i.as_object()).into_iter().flatten() {
            let cores = info.get("cores").and_then(|c| c.as_u64()).unwrap_or(0) as u32;
            let ram_gb = info.get("ram_gb").and_then(|r| r.as_f64()).unwrap_or(0.0);
            types.insert(t.clone(), TypeInfo { cores, ram_gb });
        }
        Ok(AdvisorData { regions, types })
    }

    /// The snapshot built into the binary. It is checked by a test, so it always parses.
    pub fn embedded() -> AdvisorData {
        AdvisorData::parse(EMBEDDED_ADVISOR_JSON).unwrap_or_default()
    }

    pub fn entry(&self, region: &str, instance_type: &str) -> Option<AdvisorEntry> {
        self.regions.get(region)?.get(instance_type).copied()
    }

    /// Every type's entry in one region.
    pub fn region(&self, region: &str) -> Option<&BTreeMap<String, AdvisorEntry>> {
        self.regions.get(region)
    }

    /// True when any region lists the type (or the type table names it).
    pub fn knows_type(&self, instance_type: &str) -> bool {
        self.types.contains_key(instance_type) || self.regions.values().any(|r| r.contains_key(instance_type))
    }

    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.regions.keys().map(String::as_str)
    }

    /// Every type any region lists, sorted and unique.
    pub fn types(&self) -> impl Iterator<Item = &str> {
        let all: std::collections::BTreeSet<&str> =
            self.regions.values().flat_map(|r| r.keys().map(String::as_str)).collect();
        all.into_iter()
    }

    pub fn type_info(&self, instance_type: &str) -> Option<TypeInfo> {
        self.types.get(instance_type).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_snapshot_parses_with_every_region() {
        let a = AdvisorData::parse(EMBEDDED_ADVISOR_JSON).expect("embedded snapshot parses");
        assert_eq!(a.regions().count(), 33);
        assert!(a.types().count() > 500);
        let e = a.entry("ap-northeast-1", "m5.large").expect("m5.large in Tokyo");
        assert!(e.savings_pct > 0);
        assert!(a.knows_type("m5.large"));
        assert!(!a.knows_type("m5.superlarge"));
    }

    #[test]
    fn buckets_round_trip_by_label_and_index() {
        for b in InterruptionBucket::ALL {
            assert_eq!(b.label().parse::<InterruptionBucket>(), Ok(b));
            assert_eq!(InterruptionBucket::from_index(b.index()), Some(b));
        }
        assert!(InterruptionBucket::Under5 < InterruptionBucket::Over20);
    }

    #[test]
    fn broken_feeds_are_refused_clearly() {
        assert!(matches!(AdvisorData::parse(b"{"), Err(AdvisorError::NotJson(_))));
        assert_eq!(AdvisorData::parse(b"{}"), Err(AdvisorError::Missing("spot_advisor")));
        let bad = br#"{"spot_advisor":{"r1":{"Linux":{"t":{"s":10,"r":9}}}}}"#;
        assert!(matches!(AdvisorData::parse(bad), Err(AdvisorError::BadBucket { index: 9, .. })));
    }
}
