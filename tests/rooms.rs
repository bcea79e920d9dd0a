//! The room rules, kept: every top-level module of `crates/aws`, `crates/db`, `crates/core` and
//! `crates/layout` (a room: a folder, or a file beside the rooms) says in its header which of its
//! crate's rooms and which spotctl crates it may use (`May use: …`), and no file of the room
//! reaches past that list.
//! The declared rules are also acyclic, so the arrows point one way.
//!
//! The rules are read from the `//!` header of the room's `mod.rs` (or of its `.rs` file); every
//! backticked name in the `May use:` paragraph is allowed (`spotctl_core` for the crate,
//! `handoff` for a room; a path counts by its first segment). "every other room" allows all of
//! them. Uses are read from the code as text: `crate::room`, `super::room` where `super` is the
//! crate, and `spotctl_x::` (comments are skipped; tests count, since a room's tests build on what
//! the room may use).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: [&str; 4] = ["crates/aws", "crates/db", "crates/core", "crates/layout"];

/// One top-level module and what it declared.
struct Room {
    name: String,
    files: Vec<PathBuf>,
    /// `None`: the header has no `May use:` paragraph.
    may_use: Option<BTreeSet<String>>,
    everything: bool,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The `May use:` paragraph of a file's `//!` header: the backticked names' first segments.
fn declared(header: &Path) -> (Option<BTreeSet<String>>, bool) {
    let doc: Vec<String> = read(header)
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.trim_start_matches("//!").trim().to_string())
        .collect();
    let Some(start) = doc.iter().position(|l| l.starts_with("May use:")) else { return (None, false) };
    let paragraph: Vec<&String> = doc[start..].iter().take_while(|l| !l.is_empty()).collect();
    let text = paragraph.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(" ");
    let mut names = BTreeSet::new();
    for (i, quoted) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let first = quoted.trim_start_matches("crate::").split("::").next().unwrap_or_default();
            names.insert(first.to_string());
        }
    }
    (Some(names), text.contains("every other room"))
}

fn rooms(src: &Path) -> Vec<Room> {
    let mut by_name: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("src").filter_map(Result::ok) {
        let p = entry.path();
        let name = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if name == "lib" || name == "snapshots" {
            continue;
        }
        let files = by_name.entry(name).or_default();
        if p.is_dir() {
            rust_files(&p, files);
        } else if p.extension().is_some_and(|e| e == "rs") {
            files.push(p);
        }
    }
    by_name
        .into_iter()
        .filter(|(_, files)| !files.is_empty())
        .map(|(name, files)| {
            let header = [src.join(&name).join("mod.rs"), src.join(format!("{name}.rs"))]
                .into_iter()
                .find(|p| p.exists())
                .unwrap_or_else(|| panic!("room {name} in {} has no mod.rs or {name}.rs", src.display()));
            let (may_use, everything) = declared(&header);
            Room { name, files, may_use, everything }
        })
        .collect()
}

/// Each `prefix<name>::` in the code of `text` (comment lines skipped), with its line number.
fn uses<'a>(text: &'a str, prefix: &str) -> Vec<(usize, &'a str)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().next_back();
            let after = &rest[at + prefix.len()..];
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            let path = after[end..].starts_with("::");
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') && end > 0 && path {
                out.push((n + 1, &after[..end]));
            }
            rest = &after[end..];
        }
    }
    out
}

/// How many `super::` in a row lead from `file` to the crate's root.
fn depth_to_root(src: &Path, file: &Path) -> usize {
    let rel = file.strip_prefix(src).expect("under src");
    let dirs = rel.components().count() - 1;
    match rel.file_name().and_then(|n| n.to_str()) {
        Some("mod.rs") => dirs,
        _ => dirs + 1,
    }
}

/// Every crossing of a room's rule in one crate, as readable lines.
fn violations(krate: &str) -> (Vec<String>, BTreeMap<String, BTreeSet<String>>) {
    // Another checkout's rooms may be read instead (`SPOTCTL_ROOMS_ROOT=DIR`), to compare.
    let root = std::env::var_os("SPOTCTL_ROOMS_ROOT").map(PathBuf::from);
    let src = root.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR"))).join(krate).join("src");
    let rooms = rooms(&src);
    let names: BTreeSet<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
    let mut found = Vec::new();
    let mut graph = BTreeMap::new();
    for room in &rooms {
        let Some(allowed) = &room.may_use else {
            found.push(format!("{krate}: room `{}` declares no `May use:` in its header", room.name));
            continue;
        };
        let mut edges = BTreeSet::new();
        for file in &room.files {
            let text = read(file);
            let root = "super::".repeat(depth_to_root(&src, file));
            let local = uses(&text, "crate::").into_iter().chain(uses(&text, &root));
            for (line, used) in local {
                if used == room.name || !names.contains(used) {
                    continue;
                }
                edges.insert(used.to_string());
                if !room.everything && !allowed.contains(used) {
                    found.push(format!("{}:{line}: room `{}` uses `{used}`", file.display(), room.name));
                }
            }
            for (line, used) in uses(&text, "spotctl_") {
                let dep = format!("spotctl_{used}");
                if !allowed.contains(&dep) && !room.everything {
                    found.push(format!("{}:{line}: room `{}` uses `{dep}`", file.display(), room.name));
                }
            }
        }
        graph.insert(room.name.clone(), edges);
    }
    (found, graph)
}

/// A cycle among the rooms' uses, if any (depth-first, in name order).
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == n) {
            let mut c = path[at..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for next in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn every_room_keeps_its_declared_rules() {
    let mut all = Vec::new();
    for krate in CRATES {
        let (found, graph) = violations(krate);
        all.extend(found);
        if let Some(c) = cycle(&graph) {
            all.push(format!("{krate}: rooms use each other: {}", c.join(" → ")));
        }
    }
    assert!(all.is_empty(), "{} crossings of the room rules:\n  {}", all.len(), all.join("\n  "));
}

/// The reader itself: a rule it cannot see broken proves nothing.
#[test]
fn the_reader_sees_uses_and_rules() {
    let text = "use crate::state::X;\n// crate::sdk in a comment\nlet a = super::dns::f(); spotctl_db::x();\nmy_crate::y; spotctl_version(\"spotctl_probe_\");";
    assert_eq!(uses(text, "crate::"), vec![(1, "state")]);
    assert_eq!(uses(text, "super::"), vec![(3, "dns")]);
    assert_eq!(uses(text, "spotctl_"), vec![(3, "db")]);
    let g: BTreeMap<String, BTreeSet<String>> =
        [("a".to_string(), ["b".to_string()].into()), ("b".to_string(), ["a".to_string()].into())].into();
    assert_eq!(cycle(&g), Some(vec!["a".into(), "b".into(), "a".into()]));
    let dir = std::env::temp_dir().join(format!("spotctl-rooms-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let header = dir.join("mod.rs");
    std::fs::write(
        &header,
        "//! A room.\n//!\n//! May use: `sdk`, `spotctl_core::names`,\n//! `state`.\n//!\n//! Not `dns`.\n",
    )
    .expect("write");
    let (names, everything) = declared(&header);
    assert_eq!(names, Some(["sdk", "spotctl_core", "state"].map(String::from).into()));
    assert!(!everything);
    std::fs::remove_dir_all(&dir).ok();
}
