//! Renders a `Plan` for people: `+` create, `~` update, `-/+` replace, `-` delete, with the
//! attributes that differ. Colour only when asked (the caller knows whether stdout is a terminal).
//! The same `Plan` serialises as JSON for machines; this module never computes anything.

use super::diff::{Action, Change, Plan};
use std::fmt::Write;

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

/// Values longer than this are shown shortened: a policy document does not help a diff read.
const MAX_VALUE: usize = 96;

pub fn render(plan: &Plan, env: &str, color: bool) -> String {
    let mut out = String::new();
    for note in &plan.notes {
        let _ = writeln!(out, "{} {note}", paint(color, YELLOW, "note:"));
    }
    if !plan.notes.is_empty() {
        out.push('\n');
    }
    if plan.is_empty() {
        let _ = writeln!(out, "No changes. Env `{env}` matches its env file.");
        return out;
    }
    let _ = writeln!(out, "spotctl will make these changes to env `{env}`:\n");
    for change in &plan.changes {
        render_change(&mut out, change, color);
    }
    if let Some(r) = &plan.recovery {
        let _ = writeln!(
            out,
            "  {}   recover the primary from {} (data-loss window {})\n        the recorded primary {} is gone; a standby restores it, verifies it and is promoted\n",
            paint(color, YELLOW, "~"),
            r.from,
            crate::handoff::window_text(r.data_loss_window_s),
            r.lost
        );
    }
    let s = plan.summary();
    let _ = writeln!(
        out,
        "Plan: {} to add, {} to change, {} to replace, {} to destroy{}.",
        s.create,
        s.update,
        s.replace,
        s.delete,
        if plan.recovery.is_some() { ", 1 recovery" } else { "" }
    );
    out
}

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("{code}{text}{RESET}")
    } else {
        text.to_string()
    }
}

fn render_change(out: &mut String, c: &Change, color: bool) {
    let code = match c.action {
        Action::Create => GREEN,
        Action::Update => YELLOW,
        Action::Replace => CYAN,
        Action::Delete => RED,
    };
    let id = c.id.as_deref().map(|i| format!("  ({i})")).unwrap_or_default();
    let _ = writeln!(
        out,
        "  {:<3} {} {} in {}{}",
        paint(color, code, c.action.symbol()),
        c.address.kind,
        c.address.name,
        c.address.region,
        id
    );
    for d in &c.diffs {
        let new = d.new.as_deref().map(short).unwrap_or_else(|| "(none)".into());
        let line = match (&c.action, &d.old) {
            (Action::Create, _) => format!("{} = {}", d.key, new),
            (_, Some(old)) => format!("{}: {} -> {}", d.key, short(old), new),
            (_, None) => format!("{}: (none) -> {}", d.key, new),
        };
        let tag = if d.forces_replacement { "  # forces replacement" } else { "" };
        let _ = writeln!(out, "        {line}{tag}");
    }
    let _ = writeln!(out);
}

fn short(v: &str) -> String {
    let one_line = v.replace('\n', "\\n");
    if one_line.chars().count() <= MAX_VALUE {
        format!("{one_line:?}")
    } else {
        let head: String = one_line.chars().take(MAX_VALUE).collect();
        format!("{head:?}… ({} bytes)", v.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, Address, Kind, LiveResource, Resource};

    #[test]
    fn renders_every_action_without_colour() {
        let desired = vec![
            Resource::new(Kind::Bucket, "global", "b").with("encryption", "AES256"),
            Resource::new(Kind::SecurityGroup, "r1", "db").with("ingress", "[]"),
            Resource::new(Kind::KeyPair, "r1", "k").forces("public_key_sha256", "new"),
        ];
        let live = vec![
            LiveResource::new(Address::new(Kind::SecurityGroup, "r1", "db"), "sg-1")
                .with("ingress", "[\"0.0.0.0/0\"]"),
            LiveResource::new(Address::new(Kind::KeyPair, "r1", "k"), "key-1")
                .with("public_key_sha256", "old"),
            LiveResource::new(Address::new(Kind::EventRule, "r1", "gone"), "arn:rule"),
        ];
        let text = render(&plan(&desired, &live), "dev", false);
        assert!(text.contains("  -   event_rule gone in r1  (arn:rule)"), "{text}");
        assert!(text.contains("  +   bucket b in global"), "{text}");
        assert!(text.contains("encryption = \"AES256\""), "{text}");
        assert!(text.contains("  ~   security_group db in r1  (sg-1)"), "{text}");
        assert!(text.contains("ingress: \"[\\\"0.0.0.0/0\\\"]\" -> \"[]\""), "{text}");
        assert!(text.contains("  -/+ key_pair k in r1"), "{text}");
        assert!(text.contains("# forces replacement"), "{text}");
        assert!(text.ends_with("Plan: 1 to add, 1 to change, 1 to replace, 1 to destroy.\n"));
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn empty_plan_says_so() {
        assert!(render(&Plan::default(), "dev", true).starts_with("No changes."));
    }

    #[test]
    fn long_values_are_shortened() {
        let long = "x".repeat(500);
        assert!(short(&long).ends_with("(500 bytes)"));
    }
}
