//! Reads the env file's text into an [`EnvFile`], checking every key against what AWS, MySQL and
//! spotctl accept, and collecting every problem with its position.
//!
//! Pure: the text and a membership test for instance types go in; the model, the problems, the
//! warnings and the files the env names (checked by the caller, at the edge) come out.

use super::checks::{
    cidrs, file_path, instance_types, no_repeats, public_reach, region, report, strings, Blocks,
};
use super::doc::{self, Section, Sink};
use super::files::{FileKind, FileRef};
use super::model::*;
use super::{fleet, schedule, values};
use crate::config::regions;
use crate::placement::advisor::InterruptionBucket;
use toml::de::DeTable;

/// What reading found: the model (only when there is no problem), problems, warnings, files named.
pub(crate) struct Checked {
    pub env: Option<EnvFile>,
    pub sink: Sink,
    pub refs: Vec<FileRef>,
}

pub(crate) fn check(text: &str, known_types: &dyn Fn(&str) -> bool) -> Checked {
    let mut sink = Sink::default();
    let mut refs = Vec::new();
    let (doc, errors) = DeTable::parse_recoverable(text);
    // Past the first syntax error the parser is guessing; report only that one.
    if let Some(first) = errors.iter().min_by_key(|e| e.span().map_or(0, |s| s.start)) {
        let at = first.span().map_or(0, |s| s.start);
        sink.problem(at, "", format!("invalid TOML: {}", first.message()));
        return Checked { env: None, sink, refs };
    }
    doc::secrets(&doc, &mut sink);
    let mut root = Section::root(&doc);
    let env = env_section(&mut root, &mut sink);
    let instance = instance_section(&mut root, &mut sink, known_types);
    let placement = placement_section(&mut root, &mut sink);
    let database = database_section(&mut root, &mut sink, &mut refs);
    let access = access_section(&mut root, &mut sink, &mut refs);
    let schedule = schedule_section(&mut root, &mut sink);
    let fis = fis_section(&mut root, &mut sink);
    let regions = env.as_ref().map(|e| e.regions.clone()).unwrap_or_default();
    let endpoint = super::endpoint::endpoint_section(&mut root, &mut sink, &regions);
    let backup = super::backup::section(&mut root, &mut sink);
    let health = super::health::section(&mut root, &mut sink);
    let fleets = fleet::fleets(&mut root, &mut sink, known_types, &mut refs);
    root.finish(&mut sink);
    let env = match (env, instance, access) {
        (Some(env), Some(instance), Some(access)) if sink.problems.is_empty() => Some(
            EnvFile {
                env,
                instance,
                placement,
                database,
                access,
                schedule,
                fis,
                endpoint,
                backup,
                health,
                fleet: fleets,
            }
            .canonical(),
        ),
        _ => None,
    };
    Checked { env, sink, refs }
}

fn env_section(root: &mut Section, sink: &mut Sink) -> Option<EnvSection> {
    let mut t = root.table(sink, "env", Some("a table with name, home_region and regions"))?;
    let name = t.string(sink, "name", Some("a string such as \"dev\""));
    if let Some(n) = &name {
        report(sink, n, values::env_name(&n.value));
    }
    let home = t.string(sink, "home_region", Some("a region code such as \"ap-northeast-1\""));
    if let Some(h) = &home {
        region(sink, h);
    }
    let regions = t.strings(sink, "regions", Some("an array of region codes that includes home_region"));
    if let Some(list) = &regions {
        if list.value.is_empty() {
            sink.problem(
                list.at,
                &list.path,
                "no region listed; valid: an array of region codes that includes home_region",
            );
        }
        for r in &list.value {
            region(sink, r);
        }
        no_repeats(sink, &list.value, "region");
    }
    if let (Some(h), Some(list)) = (&home, &regions) {
        let listed: Vec<String> = list.value.iter().map(|r| format!("{:?}", r.value)).collect();
        if regions::is_known_region(&h.value)
            && !list.value.is_empty()
            && !list.value.iter().any(|r| r.value == h.value)
        {
            sink.problem(
                h.at,
                &h.path,
                format!(
                    "{:?} is not among env.regions; valid: one of {} (or add it to env.regions)",
                    h.value,
                    listed.join(", ")
                ),
            );
        }
    }
    t.finish(sink);
    Some(EnvSection { name: name?.value, home_region: home?.value, regions: strings(regions?) })
}

fn instance_section(
    root: &mut Section,
    sink: &mut Sink,
    known: &dyn Fn(&str) -> bool,
) -> Option<InstanceSection> {
    let mut t = root.table(sink, "instance", Some("a table with types (at least 3 instance types)"))?;
    let types = t.strings(
        sink,
        "types",
        Some("an array of at least 3 instance types, e.g. [\"m5.large\", \"m5a.large\", \"m6i.large\"]"),
    );
    if let Some(list) = &types {
        instance_types(sink, list, known, 3, "Spot Placement Score gives uselessly low scores for fewer");
    }
    let target_capacity = t
        .whole(sink, "target_capacity", None, 1..=2_000_000_000, "1 to 2000000000 instances")
        .unwrap_or_else(defaults::target_capacity);
    let volume_gb = t
        .whole(sink, "volume_gb", None, 8..=16_384, "8 to 16384 (GiB of gp3)")
        .unwrap_or_else(defaults::volume_gb);
    let image_parameter = t.string(sink, "image_parameter", None).and_then(|v| {
        let ok = v.value.starts_with('/')
            && v.value.len() <= 1011
            && v.value.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
        if !ok {
            sink.problem(
                v.at,
                &v.path,
                format!(
                    "{:?} is not an SSM parameter path; valid: /a/path of letters, digits and _.-/ naming \
                     a prepared image's id in each region, e.g. \"/my-org/spotctl-mariadb-ami\"",
                    v.value
                ),
            );
        }
        ok.then_some(v.value)
    });
    t.finish(sink);
    Some(InstanceSection { types: strings(types?), target_capacity, volume_gb, image_parameter })
}

fn placement_section(root: &mut Section, sink: &mut Sink) -> PlacementSection {
    let mut p = PlacementSection::default();
    let Some(mut t) = root.table(sink, "placement", None) else { return p };
    p.min_sps = t
        .whole(sink, "min_sps", None, 1..=10, "1 to 10 (a Spot Placement Score)")
        .and_then(|v| u8::try_from(v).ok());
    if let Some(v) = t.string(sink, "max_interruption", None) {
        p.max_interruption = v.value.parse::<InterruptionBucket>().ok();
        if p.max_interruption.is_none() {
            let valid: Vec<String> =
                InterruptionBucket::ALL.iter().map(|r| format!("{:?}", r.label())).collect();
            sink.problem(
                v.at,
                &v.path,
                format!(
                    "{:?} is not a Spot Advisor interruption range; valid: one of {}",
                    v.value,
                    valid.join(", ")
                ),
            );
        }
    }
    if let Some(v) = t.number(sink, "max_price", None) {
        if v.value <= 0.001 {
            sink.problem(
                v.at,
                &v.path,
                format!(
                    "{} is too low; valid: more than 0.001 (USD per instance-hour; EC2 refuses less)",
                    v.value
                ),
            );
        }
        p.max_price = Some(v.value);
    }
    if let Some(v) = t.number(sink, "relocation_margin", None) {
        if !(0.0..1.0).contains(&v.value) {
            sink.problem(
                v.at,
                &v.path,
                format!(
                    "{} is out of range; valid: 0 or more and less than 1 (a fraction, e.g. 0.10)",
                    v.value
                ),
            );
        }
        p.relocation_margin = v.value;
    }
    if let Some(v) = t.period(sink, "interruption_cooldown", 0..=30 * 86_400, "0s to 30d") {
        p.interruption_cooldown = v;
    }
    t.finish(sink);
    p
}

fn database_section(root: &mut Section, sink: &mut Sink, refs: &mut Vec<FileRef>) -> DatabaseSection {
    let mut d = DatabaseSection::default();
    let Some(mut t) = root.table(sink, "database", None) else { return d };
    if let Some(v) = t.string(sink, "name", None) {
        report(sink, &v, values::database_name(&v.value));
        d.name = v.value;
    }
    if let Some(v) = t.string(sink, "schema", None) {
        if file_path(sink, &v) {
            refs.push(FileRef {
                kind: FileKind::Schema,
                path: v.value.clone(),
                at: v.at,
                key: v.path.clone(),
            });
        }
        d.schema = Some(v.value);
    }
    t.finish(sink);
    d
}

fn access_section(root: &mut Section, sink: &mut Sink, refs: &mut Vec<FileRef>) -> Option<AccessSection> {
    let mut t = root.table(
        sink,
        "access",
        Some("a table with ssh_public_key (and, optionally, ssh_cidrs and mysql_cidrs)"),
    )?;
    let key = t.string(
        sink,
        "ssh_public_key",
        Some("the path of an OpenSSH public key, e.g. \"../../key/spotctl.pub\""),
    );
    if let Some(k) = &key {
        if !k.value.ends_with(".pub") {
            sink.problem(k.at, &k.path, format!("{:?} does not end in .pub; valid: the path of an OpenSSH public key (ssh-keygen writes it as <name>.pub), never the private key", k.value));
        } else if file_path(sink, k) {
            refs.push(FileRef {
                kind: FileKind::SshPublicKey,
                path: k.value.clone(),
                at: k.at,
                key: k.path.clone(),
            });
        }
    }
    let ssh = t.strings(sink, "ssh_cidrs", None);
    let ssh = cidrs(sink, ssh);
    let mysql = t.strings(sink, "mysql_cidrs", None);
    let mysql = cidrs(sink, mysql);
    let allow_public = t.boolean(sink, "allow_public_mysql").is_some_and(|v| v.value);
    let allow_public_ssh = t.boolean(sink, "allow_public_ssh").is_some_and(|v| v.value);
    public_reach(sink, &ssh, "SSH", "access.allow_public_ssh", allow_public_ssh);
    public_reach(sink, &mysql, "MySQL", "access.allow_public_mysql", allow_public);
    t.finish(sink);
    let canonical = |list: Blocks| list.blocks.into_iter().map(|(c, _)| c.to_string()).collect();
    Some(AccessSection {
        ssh_public_key: key?.value,
        ssh_cidrs: canonical(ssh),
        mysql_cidrs: canonical(mysql),
        allow_public_mysql: allow_public,
        allow_public_ssh,
    })
}

fn schedule_section(root: &mut Section, sink: &mut Sink) -> ScheduleSection {
    let mut s = ScheduleSection::default();
    let Some(mut t) = root.table(sink, "schedule", None) else { return s };
    for (key, slot) in [("relocation", &mut s.relocation), ("advisor_refresh", &mut s.advisor_refresh)] {
        if let Some(v) = t.string(sink, key, None) {
            report(sink, &v, schedule::check(&v.value));
            *slot = v.value;
        }
    }
    t.finish(sink);
    s
}

fn fis_section(root: &mut Section, sink: &mut Sink) -> FisSection {
    let mut f = FisSection::default();
    let Some(mut t) = root.table(sink, "fis", None) else { return f };
    if let Some(v) = t.string(sink, "interruption_lead", None) {
        report(sink, &v, values::fis_lead(&v.value).map(|_| ()));
        f.interruption_lead = v.value;
    }
    t.finish(sink);
    f
}
