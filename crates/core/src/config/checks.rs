//! Checks shared by the sections of the env file and its fleets: regions, instance types, repeats,
//! bounded integers and periods, file paths, CIDR lists. Each records its problem in the sink at the
//! value's position and says what would be valid.

use super::cidr::Cidr;
use super::doc::{Section, Sink, Val};
use super::period::{Period, PERIOD_FORMAT};
use super::{suggest, values};
use crate::config::regions;
use std::collections::{BTreeMap, BTreeSet};

pub(crate) fn report(sink: &mut Sink, v: &Val<String>, result: Result<(), String>) {
    if let Err(message) = result {
        sink.problem(v.at, &v.path, message);
    }
}

pub(crate) fn strings(list: Val<Vec<Val<String>>>) -> Vec<String> {
    list.value.into_iter().map(|v| v.value).collect()
}

/// A known region code, or a problem naming the nearest one (or, with none near, all of them).
pub(crate) fn region(sink: &mut Sink, v: &Val<String>) {
    if regions::is_known_region(&v.value) {
        return;
    }
    let valid = match regions::nearest(&v.value) {
        Some(near) => format!("an AWS commercial region code (did you mean {near:?}?)"),
        None => format!("one of {}", regions::all().join(", ")),
    };
    sink.problem(v.at, &v.path, format!("unknown region {:?}; valid: {valid}", v.value));
}

/// Instance types: well formed, known to the Spot Advisor data, each once, at least `min`.
pub(crate) fn instance_types(
    sink: &mut Sink,
    list: &Val<Vec<Val<String>>>,
    known: &dyn Fn(&str) -> bool,
    min: usize,
    why: &str,
) {
    for v in &list.value {
        if known(&v.value) {
            continue;
        }
        let near = suggest::instance_type(&v.value, known);
        let message = match (values::instance_type_shape(&v.value), near) {
            (true, Some(s)) => format!(
                "unknown instance type {:?}; valid: an instance type the Spot Advisor data knows (did you mean {s:?}?)",
                v.value
            ),
            (true, None) => {
                format!("unknown instance type {:?}; valid: an instance type the Spot Advisor data knows", v.value)
            }
            (false, Some(s)) => format!("{:?} is not an instance type; valid: family.size (did you mean {s:?}?)", v.value),
            (false, None) => format!("{:?} is not an instance type; valid: family.size, e.g. \"m5.large\"", v.value),
        };
        sink.problem(v.at, &v.path, message);
    }
    no_repeats(sink, &list.value, "instance type");
    let distinct: BTreeSet<&str> = list.value.iter().map(|v| v.value.as_str()).collect();
    if distinct.len() < min {
        sink.problem(
            list.at,
            &list.path,
            format!(
                "only {} different instance type{} listed; valid: at least {min} ({why})",
                distinct.len(),
                if distinct.len() == 1 { "" } else { "s" }
            ),
        );
    }
}

/// Each value once: a repeat is reported where it repeats, with the line of the first.
pub(crate) fn no_repeats(sink: &mut Sink, list: &[Val<String>], what: &str) {
    let mut seen: BTreeMap<&str, &Val<String>> = BTreeMap::new();
    for v in list {
        if let Some(first) = seen.get(v.value.as_str()) {
            sink.problem(
                v.at,
                &v.path,
                format!(
                    "{what} {:?} is listed twice (also {}); valid: each {what} once",
                    v.value, first.path
                ),
            );
        } else {
            seen.insert(&v.value, v);
        }
    }
}

impl Section<'_, '_> {
    /// An optional or required integer within `range`, as u32.
    pub(crate) fn whole(
        &mut self,
        sink: &mut Sink,
        key: &'static str,
        required: Option<&str>,
        range: std::ops::RangeInclusive<i64>,
        valid: &str,
    ) -> Option<u32> {
        let v = self.integer(sink, key, required);
        whole(sink, v, range, valid)
    }

    /// An optional period within `secs` seconds.
    pub(crate) fn period(
        &mut self,
        sink: &mut Sink,
        key: &'static str,
        secs: std::ops::RangeInclusive<u64>,
        valid: &str,
    ) -> Option<Period> {
        let v = self.string(sink, key, None);
        period(sink, v, secs, valid)
    }
}

/// An integer within `range`, as u32.
fn whole(
    sink: &mut Sink,
    v: Option<Val<i64>>,
    range: std::ops::RangeInclusive<i64>,
    valid: &str,
) -> Option<u32> {
    let v = v?;
    if range.contains(&v.value) {
        u32::try_from(v.value).ok()
    } else {
        sink.problem(v.at, &v.path, format!("{} is out of range; valid: {valid}", v.value));
        None
    }
}

/// A period within `secs` seconds.
fn period(
    sink: &mut Sink,
    v: Option<Val<String>>,
    secs: std::ops::RangeInclusive<u64>,
    valid: &str,
) -> Option<Period> {
    let v = v?;
    match Period::parse(&v.value) {
        Ok(p) if secs.contains(&p.as_secs()) => Some(p),
        Ok(_) => {
            sink.problem(v.at, &v.path, format!("{:?} is out of range; valid: {valid}", v.value));
            None
        }
        Err(_) => {
            sink.problem(
                v.at,
                &v.path,
                format!("{:?} is not a duration; valid: {PERIOD_FORMAT}, from {valid}", v.value),
            );
            None
        }
    }
}

/// A path to a file, relative to the env dir: present and without NUL.
pub(crate) fn file_path(sink: &mut Sink, v: &Val<String>) -> bool {
    if v.value.trim().is_empty() || v.value.contains('\0') {
        sink.problem(v.at, &v.path, "empty path; valid: a file path, relative to the env dir");
        return false;
    }
    true
}

/// CIDR blocks of one list, each parsed, with where the list itself is written.
pub(crate) struct Blocks {
    pub list: Option<(usize, String)>,
    pub blocks: Vec<(Cidr, Val<String>)>,
}

/// CIDR blocks, each parsed to its canonical form, each once.
pub(crate) fn cidrs(sink: &mut Sink, list: Option<Val<Vec<Val<String>>>>) -> Blocks {
    let Some(list) = list else { return Blocks { list: None, blocks: Vec::new() } };
    let at = Some((list.at, list.path.clone()));
    let mut out: Vec<(Cidr, Val<String>)> = Vec::new();
    for v in list.value {
        match Cidr::parse(&v.value) {
            Ok(c) => {
                if let Some((_, first)) = out.iter().find(|(seen, _)| *seen == c) {
                    sink.problem(
                        v.at,
                        &v.path,
                        format!(
                            "{:?} is listed twice (also {}); valid: each block once",
                            v.value, first.path
                        ),
                    );
                } else {
                    out.push((c, v));
                }
            }
            Err(message) => sink.problem(v.at, &v.path, message),
        }
    }
    Blocks { list: at, blocks: out }
}

/// Refuses a list of blocks that together reach the whole internet, unless the env says it means
/// it (then warns). One block that is everything is reported where it is written; blocks that only
/// together cover it (`0.0.0.0/1` + `128.0.0.0/1`) are reported at the list.
pub(crate) fn public_reach(sink: &mut Sink, found: &Blocks, port: &str, allow_key: &str, allowed: bool) {
    let Some((list_at, list_path)) = &found.list else { return };
    let all: Vec<Cidr> = found.blocks.iter().map(|(c, _)| *c).collect();
    for family in super::cidr::covers_public_internet(&all) {
        let v6 = family == super::cidr::Family::V6;
        let single = found.blocks.iter().find(|(c, _)| c.is_everything() && c.is_ipv6() == v6);
        let (at, path, what) = match single {
            Some((_, v)) => (v.at, v.path.as_str(), format!("{:?} opens", v.value)),
            None => {
                let shown: Vec<String> = found
                    .blocks
                    .iter()
                    .filter(|(c, _)| c.is_ipv6() == v6)
                    .map(|(_, v)| format!("{:?}", v.value))
                    .collect();
                let what = format!("{} together open", shown.join(" + "));
                (*list_at, list_path.as_str(), what)
            }
        };
        if allowed {
            sink.warning(
                at,
                path,
                format!("{what} {port} to the whole {family} internet ({allow_key} = true)"),
            );
        } else {
            sink.problem(
                at,
                path,
                format!(
                    "{what} {port} to the whole {family} internet; valid: blocks that leave most of it out \
                     (your own addresses, e.g. \"203.0.113.7/32\"), or set {allow_key} = true to mean it"
                ),
            );
        }
    }
}
