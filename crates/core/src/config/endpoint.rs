//! `[endpoint]`: the one name applications connect to, following the primary. Optional: by default
//! the name is `db.<env>.spotctl.internal` in a private hosted zone spotctl makes, with a 10-second
//! TTL; a person may name the record, an existing hosted zone (by id), a shorter TTL, and the
//! regions the application can reach (the database never moves elsewhere).

use super::checks::{region, report, strings};
use super::doc::{Section, Sink};
use serde::{Deserialize, Serialize};

/// The longest TTL a handoff can live with: a client resolves again within this many seconds.
pub const MAX_TTL: u32 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EndpointSection {
    /// The record's name; `None`: `db.<env>.spotctl.internal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An existing hosted zone (its id) to put the record in; `None`: spotctl makes a private zone
    /// for the name's parent domain, associated with the VPCs of every candidate region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<String>,
    /// Seconds; 1 to [`MAX_TTL`].
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// The regions the application can reach the database in; empty: every candidate region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reachable_regions: Vec<String>,
}

fn default_ttl() -> u32 {
    MAX_TTL
}

impl EndpointSection {
    pub fn defaults() -> EndpointSection {
        EndpointSection { ttl: MAX_TTL, ..EndpointSection::default() }
    }

    /// The record's name for env `env`.
    pub fn name_for(&self, env: &str) -> String {
        self.name.clone().unwrap_or_else(|| format!("db.{env}.spotctl.internal"))
    }

    /// The zone spotctl makes for `name` when none is named: its parent domain.
    pub fn zone_name_for(name: &str) -> String {
        name.split_once('.').map(|(_, parent)| parent.to_string()).unwrap_or_else(|| name.to_string())
    }
}

/// A DNS name spotctl can put a record at: lowercase labels of letters, digits and `-` (not at
/// either end), each 1 to 63 long, at least three of them, 253 characters in all.
pub fn dns_name(name: &str) -> Result<(), String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() > 253 || labels.len() < 3 || !labels.iter().all(label_ok) {
        return Err(format!(
            "`{name}` is not a DNS name spotctl can use: lowercase labels of letters, digits and `-`, at least \
             three (the record and its zone, e.g. \"db.dev.example.internal\"), 253 characters at most"
        ));
    }
    Ok(())
}

pub(super) fn endpoint_section(
    root: &mut Section,
    sink: &mut Sink,
    env_regions: &[String],
) -> EndpointSection {
    let mut e = EndpointSection::defaults();
    let Some(mut t) = root.table(sink, "endpoint", None) else { return e };
    if let Some(v) = t.string(sink, "name", None) {
        report(sink, &v, dns_name(&v.value));
        e.name = Some(v.value.trim_end_matches('.').to_string());
    }
    if let Some(v) = t.string(sink, "zone_id", None) {
        let ok = v.value.starts_with('Z')
            && v.value.len() <= 32
            && v.value.chars().all(|c| c.is_ascii_alphanumeric());
        report(
            sink,
            &v,
            if ok {
                Ok(())
            } else {
                Err(format!("`{}` is not a hosted zone id (such as \"Z0123456789ABCDEFGHIJ\")", v.value))
            },
        );
        e.zone_id = Some(v.value);
    }
    if let Some(v) = t.integer(sink, "ttl", None) {
        match u32::try_from(v.value) {
            Ok(ttl) if (1..=MAX_TTL).contains(&ttl) => e.ttl = ttl,
            _ => sink.problem(
                v.at,
                &v.path,
                format!("a TTL of {} s is out of range: 1 to {MAX_TTL} seconds (a client must resolve the new primary soon after a handoff)", v.value),
            ),
        }
    }
    if let Some(list) = t.strings(sink, "reachable_regions", None) {
        for r in &list.value {
            region(sink, r);
            if !env_regions.is_empty() && !env_regions.contains(&r.value) {
                sink.problem(
                    r.at,
                    &r.path,
                    format!("`{}` is not one of env.regions ({})", r.value, env_regions.join(", ")),
                );
            }
        }
        e.reachable_regions = strings(list);
        e.reachable_regions.sort();
        e.reachable_regions.dedup();
    }
    t.finish(sink);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_defaulted() {
        assert!(dns_name("db.dev.spotctl.internal").is_ok());
        assert!(dns_name("db.dev.example.com.").is_ok());
        for bad in ["db", "dev.internal", "DB.dev.example.com", "db..example.com", "-db.x.com", "db_1.x.com"]
        {
            assert!(dns_name(bad).is_err(), "{bad}");
        }
        assert_eq!(EndpointSection::defaults().name_for("dev"), "db.dev.spotctl.internal");
        assert_eq!(EndpointSection::zone_name_for("db.dev.spotctl.internal"), "dev.spotctl.internal");
    }
}
