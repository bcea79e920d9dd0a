//! Reads `[[fleet]]` tables: spot workers reading an SQS queue, with a primary region and a
//! fallback one. Checked with the same rigour as the database part, before any AWS call.

use super::checks;
use super::doc::{Section, Sink};
use super::files::{FileKind, FileRef};
use super::model::{defaults, Fleet};
use super::values;
use std::collections::BTreeMap;

/// Upper bound on a fleet's size per region: a guard against a typo (2000 for 200) launching a
/// bill. Raise it here if a real fleet needs more.
pub const MAX_FLEET_SIZE: i64 = 1000;

/// Every `[[fleet]]`, sorted by name once valid.
pub(crate) fn fleets(
    root: &mut Section,
    sink: &mut Sink,
    known: &dyn Fn(&str) -> bool,
    refs: &mut Vec<FileRef>,
) -> Vec<Fleet> {
    let mut out = Vec::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut queues: BTreeMap<String, String> = BTreeMap::new();
    for mut t in root.tables(sink, "fleet") {
        let Some((f, name_at, queue_at)) = fleet(&mut t, sink, known, refs) else {
            t.finish(sink);
            continue;
        };
        let unique = [
            (&mut names, &f.name, name_at, "name", "fleet name"),
            (&mut queues, &f.queue, queue_at, "queue", "queue"),
        ];
        for (seen, value, at, key, what) in unique {
            let path = t.key_path(key);
            match seen.get(value) {
                Some(first) => sink.problem(
                    at,
                    &path,
                    format!("{what} {value:?} is used twice (also {first}); valid: a different {what} for each fleet"),
                ),
                None => {
                    seen.insert(value.clone(), path);
                }
            }
        }
        t.finish(sink);
        out.push(f);
    }
    out
}

/// One fleet, with where its name and queue are written (for the uniqueness checks).
fn fleet(
    t: &mut Section,
    sink: &mut Sink,
    known: &dyn Fn(&str) -> bool,
    refs: &mut Vec<FileRef>,
) -> Option<(Fleet, usize, usize)> {
    let name = t.string(sink, "name", Some("a string such as \"workers\""));
    if let Some(n) = &name {
        checks::report(sink, n, values::resource_name(&n.value, "fleet name"));
    }
    let primary = t.string(sink, "primary_region", Some("a region code such as \"us-east-1\""));
    let fallback = t.string(
        sink,
        "fallback_region",
        Some("a region code other than primary_region, e.g. \"us-east-2\""),
    );
    for r in primary.iter().chain(fallback.iter()) {
        checks::region(sink, r);
    }
    if let (Some(p), Some(f)) = (&primary, &fallback) {
        if p.value == f.value {
            sink.problem(
                f.at,
                &f.path,
                format!("{:?} is also the primary region; valid: another region, to fall back to", f.value),
            );
        }
    }
    let types = t.strings(sink, "instance_types", Some("an array of instance types, e.g. [\"g4dn.xlarge\"]"));
    if let Some(list) = &types {
        checks::instance_types(sink, list, known, 1, "a fleet needs something to run on");
        if list.value.len() > 40 {
            sink.problem(
                list.at,
                &list.path,
                "more than 40 instance types; valid: at most 40 (an Auto Scaling group's limit)",
            );
        }
    }
    let queue = t.string(sink, "queue", Some("an SQS queue name such as \"jobs\""));
    if let Some(q) = &queue {
        checks::report(sink, q, values::queue_name(&q.value));
    }
    let backlog = t.whole(sink, "backlog_per_instance", None, 1..=100_000, "1 to 100000 messages per worker");
    let size = format!("0 to {MAX_FLEET_SIZE} instances");
    let max_primary = t.whole(
        sink,
        "max_primary",
        Some("an integer, the most workers in the primary region"),
        1..=MAX_FLEET_SIZE,
        &format!("1 to {MAX_FLEET_SIZE} instances"),
    );
    let max_fallback = t.whole(
        sink,
        "max_fallback",
        Some("an integer, the most workers in the fallback region"),
        0..=MAX_FLEET_SIZE,
        &size,
    );
    let failback = t.string(sink, "failback", None).and_then(|v| match super::failback::parse(&v.value) {
        Ok(pace) => Some(pace),
        Err(message) => {
            sink.problem(v.at, &v.path, message);
            None
        }
    });
    let idle = t.period(sink, "idle_timeout", 1..=86_400, "1s to 1d");
    // SQS: 0 s to 12 h; below 30 s the worker's extensions would race the timeout.
    let visibility = t.period(sink, "visibility_timeout", 30..=43_200, "30s to 12h (SQS's most)");
    let max_receives =
        t.whole(sink, "max_receives", None, 1..=1000, "1 to 1000 receives before the dead-letter queue");
    let command = t.string(sink, "command", None);
    let user_data = t.string(sink, "user_data", None);
    match (&command, &user_data) {
        (Some(c), Some(_)) => sink.problem(c.at, &t.key_path("command"), "both command and user_data are set; valid: exactly one of them"),
        (None, None) => sink.problem(t.at(), &t.key_path("command"), format!("missing in {}; valid: command (what a worker runs per message) or user_data (a script path), exactly one", "[[fleet]]")),
        _ => {}
    }
    if let Some(c) = &command {
        if c.value.trim().is_empty() || c.value.contains(['\n', '\r', '\0']) {
            sink.problem(c.at, &c.path, "valid: a non-empty command on one line, e.g. \"/opt/worker/run\"");
        }
    }
    if let (Some(u), Some(n)) = (&user_data, &name) {
        if checks::file_path(sink, u) {
            refs.push(FileRef {
                kind: FileKind::FleetUserData { fleet: n.value.clone() },
                path: u.value.clone(),
                at: u.at,
                key: u.path.clone(),
            });
        }
    }
    let (name, queue) = (name?, queue?);
    let (name_at, queue_at) = (name.at, queue.at);
    let fleet = Fleet {
        name: name.value,
        primary_region: primary?.value,
        fallback_region: fallback?.value,
        instance_types: checks::strings(types?),
        queue: queue.value,
        backlog_per_instance: backlog.unwrap_or_else(defaults::backlog_per_instance),
        max_primary: max_primary?,
        max_fallback: max_fallback?,
        failback: failback.unwrap_or_default(),
        idle_timeout: idle.unwrap_or_else(defaults::idle_timeout),
        visibility_timeout: visibility.unwrap_or_else(defaults::visibility_timeout),
        max_receives: max_receives.unwrap_or_else(defaults::max_receives),
        command: command.map(|c| c.value),
        user_data: user_data.map(|u| u.value),
    };
    Some((fleet, name_at, queue_at))
}
