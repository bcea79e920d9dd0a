//! A small IAM policy evaluator for the tests: enough of AWS's evaluation logic to ask "may this
//! principal do this action on this resource, with this request context?" of the documents spotctl
//! renders. Explicit Deny wins, then any Allow, else denied. Supported: Action/NotAction,
//! Resource/NotResource (`*` and `?` globs), Principal `*` or `{"AWS": …}`/`{"Service": …}`, and the
//! condition operators spotctl's documents use (String*, Arn*, Bool, Null, Numeric*, with
//! `ForAllValues:`/`ForAnyValue:` and `…IfExists`), and policy variables (`${ec2:SourceInstanceARN}`,
//! `${aws:userid}`) in resources and condition values, taken from the request's context: a variable
//! whose key the context lacks matches nothing, as in AWS. An operator it does not know fails the
//! test rather than being guessed.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
}

/// One request: who, what, on what, and the condition keys AWS would put in its context.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub principal: String,
    pub action: String,
    pub resource: String,
    /// Keys in lowercase; each with its values (single-valued keys have one).
    pub context: BTreeMap<String, Vec<String>>,
}

impl Request {
    pub fn new(principal: &str, action: &str, resource: &str) -> Request {
        Request {
            principal: principal.into(),
            action: action.into(),
            resource: resource.into(),
            ..Default::default()
        }
    }

    pub fn with(mut self, key: &str, values: &[&str]) -> Request {
        self.context.insert(key.to_ascii_lowercase(), values.iter().map(|v| v.to_string()).collect());
        self
    }
}

/// Identity policies of the principal (and, for a resource, its resource policy) together.
pub fn decide(identity: &[&Value], resource_policy: Option<&Value>, req: &Request) -> Decision {
    let mut allowed = false;
    let docs = identity.iter().map(|d| (*d, false)).chain(resource_policy.map(|d| (d, true)));
    for (doc, is_resource) in docs {
        for s in statements(doc) {
            if !applies(s, req, is_resource) {
                continue;
            }
            match s["Effect"].as_str() {
                Some("Deny") => return Decision::ExplicitDeny,
                Some("Allow") => allowed = true,
                other => panic!("statement with effect {other:?}"),
            }
        }
    }
    if allowed {
        Decision::Allowed
    } else {
        Decision::ImplicitDeny
    }
}

fn statements(doc: &Value) -> Vec<&Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.iter().collect(),
        v @ Value::Object(_) => vec![v],
        other => panic!("no Statement in {other}"),
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => {
            a.iter().map(|x| x.as_str().map(String::from).unwrap_or_else(|| x.to_string())).collect()
        }
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        Value::Null => vec![],
        Value::Object(_) => panic!("expected strings, got {v}"),
    }
}

/// `*` any run, `?` one character.
pub fn glob(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if case_insensitive {
        (pattern.to_lowercase().chars().collect(), text.to_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// `text` with every `${key}` replaced by that key's (single) value in the request's context;
/// `None` when a key is absent (the pattern then matches nothing).
pub fn substitute(text: &str, req: &Request) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}').unwrap_or_else(|| panic!("unclosed policy variable in {text}"));
        let key = rest[i + 2..i + end].to_ascii_lowercase();
        out.push_str(req.context.get(&key)?.first()?);
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn applies(s: &Value, req: &Request, is_resource: bool) -> bool {
    let matches_any = |key: &str, text: &str, ci: bool| {
        strings(&s[key]).iter().filter_map(|p| substitute(p, req)).any(|p| glob(&p, text, ci))
    };
    let action = if s.get("Action").is_some() {
        matches_any("Action", &req.action, true)
    } else {
        !matches_any("NotAction", &req.action, true)
    };
    let resource = if s.get("Resource").is_some() {
        matches_any("Resource", &req.resource, false)
    } else if s.get("NotResource").is_some() {
        !matches_any("NotResource", &req.resource, false)
    } else {
        true // a trust policy names no resource: the role itself
    };
    let principal = !is_resource || principal_matches(&s["Principal"], &req.principal);
    action && resource && principal && conditions_hold(s.get("Condition"), req)
}

fn principal_matches(p: &Value, who: &str) -> bool {
    match p {
        Value::String(s) => s == "*",
        Value::Object(m) => m.values().flat_map(strings).any(|x| x == "*" || glob(&x, who, false)),
        _ => false,
    }
}

fn conditions_hold(c: Option<&Value>, req: &Request) -> bool {
    let Some(Value::Object(ops)) = c else { return true };
    ops.iter().all(|(op, keys)| {
        let Value::Object(keys) = keys else { panic!("condition {op} is not a map") };
        keys.iter().all(|(key, wanted)| {
            let wanted = strings(wanted).iter().filter_map(|w| substitute(w, req)).collect::<Vec<_>>();
            holds(op, &req.context.get(&key.to_ascii_lowercase()).cloned(), &wanted)
        })
    })
}

fn holds(op: &str, have: &Option<Vec<String>>, wanted: &[String]) -> bool {
    let (set, op) = match op.split_once(':') {
        Some((set, rest)) => (Some(set), rest),
        None => (None, op),
    };
    let (op, if_exists) = match op.strip_suffix("IfExists") {
        Some(o) => (o, true),
        None => (op, false),
    };
    if op == "Null" {
        let absent = have.as_ref().is_none_or(Vec::is_empty);
        return wanted.iter().any(|w| (w == "true") == absent);
    }
    let negated = op.contains("Not");
    let Some(values) = have.as_ref().filter(|v| !v.is_empty()) else {
        return match set {
            Some("ForAllValues") => true,
            Some(_) => false,
            None => if_exists || negated,
        };
    };
    let one = |v: &str| -> bool {
        let hit = wanted.iter().any(|w| match op.replace("Not", "").as_str() {
            "StringEquals" | "ArnEquals" => v == w,
            "StringEqualsIgnoreCase" => v.eq_ignore_ascii_case(w),
            "StringLike" | "ArnLike" => glob(w, v, false),
            "Bool" => v.eq_ignore_ascii_case(w),
            "NumericEquals" => num(v) == num(w),
            "NumericLessThanEquals" => num(v) <= num(w),
            "NumericLessThan" => num(v) < num(w),
            "NumericGreaterThanEquals" => num(v) >= num(w),
            other => panic!("the test evaluator does not know condition operator {other}"),
        });
        hit != negated
    };
    match set {
        Some("ForAllValues") => values.iter().all(|v| one(v)),
        Some("ForAnyValue") => values.iter().any(|v| one(v)),
        Some(other) => panic!("unknown set operator {other}"),
        None => values.iter().any(|v| one(v)),
    }
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("{s:?} is not a number"))
}

#[test]
fn the_evaluator_itself() {
    assert!(glob("arn:aws:s3:::b/state/*", "arn:aws:s3:::b/state/x/y", false));
    assert!(!glob("arn:aws:s3:::b/state/*", "arn:aws:s3:::b/backups/x", false));
    assert!(glob("s3:*", "S3:PutObject", true));
    assert!(glob("backups/*/manifest.json", "backups/epoch-1/manifest.json", false));
    assert!(!glob("spotctl-dev-*", "spotctl-dev2-jobs", false));
    let deny_untls: Value = serde_json::json!({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]});
    let allow: Value = serde_json::json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}});
    let req = Request::new("p", "s3:GetObject", "arn:aws:s3:::b/k");
    assert_eq!(
        decide(&[&allow], Some(&deny_untls), &req.clone().with("aws:SecureTransport", &["true"])),
        Decision::Allowed
    );
    assert_eq!(
        decide(&[&allow], Some(&deny_untls), &req.clone().with("aws:SecureTransport", &["false"])),
        Decision::ExplicitDeny
    );
    assert_eq!(decide(&[], None, &req), Decision::ImplicitDeny);
    assert!(holds("Null", &None, &["true".into()]));
    assert!(!holds("Null", &Some(vec!["*".into()]), &["true".into()]));
    assert!(holds("ForAllValues:StringEquals", &Some(vec!["a".into()]), &["a".into(), "b".into()]));
    assert!(!holds(
        "ForAllValues:StringEquals",
        &Some(vec!["a".into(), "c".into()]),
        &["a".into(), "b".into()]
    ));
    assert!(!holds("StringEquals", &None, &["a".into()]));
    let own: Value = serde_json::json!({"Statement": {"Effect": "Allow", "Action": "ec2:TerminateInstances",
        "Resource": "arn:aws:ec2:*:1:instance/*",
        "Condition": {"ArnLike": {"ec2:SourceInstanceARN": "arn:aws:ec2:*:1:instance/${ec2:InstanceID}"}}}});
    let me = "arn:aws:ec2:r:1:instance/i-1";
    let req = Request::new("p", "ec2:TerminateInstances", me).with("ec2:InstanceID", &["i-1"]);
    assert_eq!(decide(&[&own], None, &req.clone().with("ec2:SourceInstanceARN", &[me])), Decision::Allowed);
    let other = Request::new("p", "ec2:TerminateInstances", "arn:aws:ec2:r:1:instance/i-2")
        .with("ec2:InstanceID", &["i-2"]);
    assert_eq!(decide(&[&own], None, &other.with("ec2:SourceInstanceARN", &[me])), Decision::ImplicitDeny);
    assert_eq!(decide(&[&own], None, &req), Decision::ImplicitDeny, "no source instance: no match");
}
