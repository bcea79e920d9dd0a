//! Every AWS request the end-to-end tests' spotctl processes sent, evaluated against the policies
//! the env's roles really carry, so a missing permission fails here and never first on AWS.
//!
//! The test kit's moto sets `SPOTCTL_TEST_REQUEST_LOG`; each process logs every request it sends
//! (`spotctl_aws::sdk::calls`). A request is taken as the role that would send it on AWS: the
//! agent's (`spotctl agent …`) as the instance role, the handler's (`spotctl handle`) as the
//! Lambda's, anything else as the operator (allowed everything by their own policy, bounded by the
//! bucket's). The identity policies are the ones `apply` put on the roles (read back from IAM);
//! the bucket policy is rendered from the same template `apply` uses, with its conditional Denies
//! (moto evaluates none). Each request becomes IAM's action, resource and the condition keys AWS
//! would put in its context, and the evaluator in `crates/core/tests/policy` decides. Every
//! instance request must be understood (an operation the mapping does not know fails the check);
//! the Lambda's and the operator's are checked for what they do in the state bucket.
//!
//! An instance's `aws:userid` is its role's id and the instance (`SPOTCTL_TEST_REQUEST_LOG_AS`),
//! as the session moto's STS gave that process. What the request cannot show is assumed, and
//! said here: an instance that tags an instance is
//! promoting its own standby (`ec2:ResourceTag/spotctl:role = standby`); every instance the agent
//! touches is of this env (`ec2:ResourceTag/spotctl:env`).

#[path = "../../crates/core/tests/policy/mod.rs"]
mod policy;

use policy::{decide, Decision, Request};
use serde_json::Value;
use spotctl_core::names::{Names, RoleKind};
use spotctl_testkit::moto::Moto;

const ACCOUNT: &str = "123456789012";

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%' && i + 2 < b.len())
            .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()))
            .flatten();
        match (hex, b[i]) {
            (Some(v), _) => {
                out.push(v);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, c) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=b&c=d` as pairs, decoded.
fn form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// The contents of every `<tag>…</tag>` in `xml`, in order.
fn elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open).skip(1).filter_map(|s| s.split_once(&close).map(|(v, _)| v.to_string())).collect()
}

/// One request as IAM sees it.
struct Asked {
    action: String,
    resource: String,
    context: Vec<(String, Vec<String>)>,
}

impl Asked {
    fn new(action: &str, resource: String) -> Asked {
        Asked { action: action.into(), resource, context: Vec::new() }
    }
    fn with(mut self, key: &str, values: Vec<String>) -> Asked {
        self.context.push((key.into(), values));
        self
    }
}

/// What IAM would be asked for request `r` (`None`: an operation the mapping does not know).
fn asked(r: &Value, env: &str) -> Option<Vec<Asked>> {
    let (service, op) = (r["service"].as_str()?.to_ascii_lowercase(), r["operation"].as_str()?);
    let uri = r["uri"].as_str()?;
    let region = r["region"].as_str().unwrap_or("us-east-1");
    let after_host = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let (path, query) = match after_host.split_once('/').map(|(_, p)| p).unwrap_or("").split_once('?') {
        Some((p, q)) => (p.to_string(), form(q)),
        None => (after_host.split_once('/').map(|(_, p)| p).unwrap_or("").to_string(), Vec::new()),
    };
    let body = r["body"].as_str().unwrap_or("");
    let instance = |id: &str| format!("arn:aws:ec2:{region}:{ACCOUNT}:instance/{id}");
    match (service.as_str(), op) {
        ("s3", _) => {
            let (bucket, key) =
                path.split_once('/').map_or((path.clone(), String::new()), |(b, k)| (b.into(), decode(k)));
            let object = format!("arn:aws:s3:::{bucket}/{key}");
            let conditional = |a: Asked| {
                let a = if r["if_none_match"].as_bool() == Some(true) {
                    a.with("s3:if-none-match", vec!["*".into()])
                } else {
                    a
                };
                if r["if_match"].as_bool() == Some(true) {
                    a.with("s3:if-match", vec!["*".into()])
                } else {
                    a
                }
            };
            let one = match op {
                "GetObject" | "HeadObject" => Asked::new("s3:GetObject", object),
                "PutObject" | "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => {
                    conditional(Asked::new("s3:PutObject", object))
                }
                "AbortMultipartUpload" => Asked::new("s3:AbortMultipartUpload", object),
                "DeleteObject" => Asked::new("s3:DeleteObject", object),
                "ListObjectsV2" => {
                    let prefix =
                        query.iter().find(|(k, _)| k == "prefix").map(|(_, v)| v.clone()).unwrap_or_default();
                    Asked::new("s3:ListBucket", format!("arn:aws:s3:::{bucket}"))
                        .with("s3:prefix", vec![prefix])
                }
                _ => return None,
            };
            Some(vec![one.with("aws:SecureTransport", vec!["true".into()])])
        }
        ("ec2", _) => {
            let params = form(body);
            let values = |prefix: &str| -> Vec<String> {
                params
                    .iter()
                    .filter(|(k, _)| {
                        k.starts_with(prefix) && k[prefix.len()..].chars().all(|c| c.is_ascii_digit())
                    })
                    .map(|(_, v)| v.clone())
                    .collect()
            };
            let source = r["as_instance"].as_str().map(|id| vec![instance(id)]);
            let on = |action: &str, id: &str, role: &str| {
                let a = Asked::new(action, instance(id))
                    .with("ec2:InstanceID", vec![id.to_string()])
                    .with("ec2:ResourceTag/spotctl:env", vec![env.to_string()])
                    .with("ec2:ResourceTag/spotctl:role", vec![role.to_string()]);
                match &source {
                    Some(s) => a.with("ec2:SourceInstanceARN", s.clone()),
                    None => a,
                }
            };
            match op {
                o if o.starts_with("Describe") => Some(vec![Asked::new(&format!("ec2:{o}"), "*".into())]),
                "CreateTags" => {
                    let tag = |i: usize, part: &str| {
                        params.iter().find(|(k, _)| *k == format!("Tag.{i}.{part}")).map(|(_, v)| v.clone())
                    };
                    let tags: Vec<(String, String)> = (1..)
                        .map_while(|i| Some((tag(i, "Key")?, tag(i, "Value").unwrap_or_default())))
                        .collect();
                    let keys: Vec<String> = tags.iter().map(|(k, _)| k.clone()).collect();
                    Some(
                        values("ResourceId.")
                            .iter()
                            .map(|id| {
                                let mut a =
                                    on("ec2:CreateTags", id, "standby").with("aws:TagKeys", keys.clone());
                                for (k, v) in &tags {
                                    a = a.with(&format!("aws:RequestTag/{k}"), vec![v.clone()]);
                                }
                                a
                            })
                            .collect(),
                    )
                }
                "TerminateInstances" => Some(
                    values("InstanceId.")
                        .iter()
                        .map(|id| on("ec2:TerminateInstances", id, "primary"))
                        .collect(),
                ),
                _ => None,
            }
        }
        ("ssm", "GetParameter") => {
            let name: Value = serde_json::from_str(body).ok()?;
            let name = name["Name"].as_str()?.trim_start_matches('/').to_string();
            Some(vec![Asked::new(
                "ssm:GetParameter",
                format!("arn:aws:ssm:{region}:{ACCOUNT}:parameter/{name}"),
            )])
        }
        ("route53" | "route 53", _) => {
            let zone = path
                .split('/')
                .skip_while(|s| *s != "hostedzone")
                .nth(1)
                .map(|z| format!("arn:aws:route53:::hostedzone/{z}"));
            match op {
                "ListHostedZonesByName" => {
                    Some(vec![Asked::new("route53:ListHostedZonesByName", "*".into())])
                }
                "ListResourceRecordSets" | "ListTagsForResource" => {
                    Some(vec![Asked::new(&format!("route53:{op}"), zone?)])
                }
                "ChangeResourceRecordSets" => {
                    let names = elements(body, "Name")
                        .iter()
                        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
                        .collect();
                    Some(vec![Asked::new("route53:ChangeResourceRecordSets", zone?)
                        .with("route53:ChangeResourceRecordSetsNormalizedRecordNames", names)
                        .with("route53:ChangeResourceRecordSetsRecordTypes", elements(body, "Type"))
                        .with("route53:ChangeResourceRecordSetsActions", elements(body, "Action"))])
                }
                _ => None,
            }
        }
        ("sts", "GetCallerIdentity") => Some(Vec::new()),
        _ => None,
    }
}

/// The inline policy `apply` put on role `kind`.
async fn role_policy(aws: &spotctl_aws::sdk::Aws, names: &Names, kind: RoleKind) -> Value {
    let out = aws
        .iam()
        .get_role_policy()
        .role_name(names.role(kind))
        .policy_name("spotctl")
        .send()
        .await
        .unwrap_or_else(|e| panic!("the {kind:?} role's policy: {e:?}"));
    let doc = out.policy_document();
    let doc = if doc.starts_with('%') { decode(doc) } else { doc.to_string() };
    serde_json::from_str(&doc)
        .unwrap_or_else(|e| panic!("the {kind:?} role's policy is not JSON ({e}): {doc}"))
}

/// Checks every request logged so far by env `env`'s processes; panics listing each refused or
/// not understood, and returns how many were allowed, by role.
pub async fn check(
    moto: &Moto,
    aws: &spotctl_aws::sdk::Aws,
    env: &str,
    region: &str,
) -> Vec<(String, usize)> {
    let names = Names::new(env, ACCOUNT, region);
    let vars: std::collections::BTreeMap<&str, String> = [
        ("bucket", names.bucket()),
        ("instance_role_arn", names.role_arn(RoleKind::Instance)),
        ("worker_role_arn", names.role_arn(RoleKind::Worker)),
    ]
    .into();
    let bucket: Value =
        serde_json::from_str(&spotctl_core::templates::render("bucket-policy.json", &vars).expect("renders"))
            .expect("json");
    let instance = role_policy(aws, &names, RoleKind::Instance).await;
    // An instance's session is `<role id>:<instance id>` (its `aws:userid`), as the test kit's
    // agents and shippers are given by moto's STS.
    let role_id = aws
        .iam()
        .get_role()
        .role_name(names.role(RoleKind::Instance))
        .send()
        .await
        .ok()
        .and_then(|r| r.role.map(|r| r.role_id))
        .expect("the instance role's id");
    let lambda = role_policy(aws, &names, RoleKind::Lambda).await;
    let admin = serde_json::json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}});
    let operator = format!("arn:aws:iam::{ACCOUNT}:user/operator");
    let (mut refused, mut counts) = (Vec::new(), std::collections::BTreeMap::<String, usize>::new());
    for line in moto.requests() {
        let r: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("a request line ({e}): {line}"));
        let command = r["command"].as_array().and_then(|c| c.first()).and_then(Value::as_str).unwrap_or("");
        let (who, principal, policy) = match command {
            "agent" => ("instance", names.role_arn(RoleKind::Instance), &instance),
            "handle" => ("lambda", names.role_arn(RoleKind::Lambda), &lambda),
            _ => ("operator", operator.clone(), &admin),
        };
        let what = format!("{} {} {}", r["service"], r["operation"], r["uri"]);
        let Some(asked) = asked(&r, env) else {
            if who == "instance" {
                refused.push(format!("{who}: not understood by the check (add it): {what}"));
            }
            continue;
        };
        for a in asked {
            let in_bucket = a.resource.starts_with(&format!("arn:aws:s3:::{}", names.bucket()));
            if who != "instance" && !in_bucket {
                continue;
            }
            let mut req =
                Request::new(&principal, &a.action, &a.resource).with("aws:PrincipalArn", &[&principal]);
            if let (true, Some(id)) = (who == "instance", r["as_instance"].as_str()) {
                req = req.with("aws:userid", &[&format!("{role_id}:{id}")]);
            }
            for (k, v) in &a.context {
                req = req.with(k, &v.iter().map(String::as_str).collect::<Vec<_>>());
            }
            let decision = decide(&[policy], in_bucket.then_some(&bucket), &req);
            if decision == Decision::Allowed {
                *counts.entry(who.to_string()).or_insert(0) += 1;
            } else {
                refused.push(format!(
                    "{who}: {decision:?} for {} on {} {:?} ({what})",
                    a.action, a.resource, a.context
                ));
            }
        }
    }
    refused.sort();
    refused.dedup();
    assert!(
        refused.is_empty(),
        "AWS would refuse these requests of the test's processes:\n  {}",
        refused.join("\n  ")
    );
    counts.into_iter().collect()
}
