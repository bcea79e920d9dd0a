//! The files under `templates/` (IAM policies, user-data, the FIS template body), built into the
//! binary and rendered by `{{name}}` substitution.
//!
//! Rendering is strict: a placeholder with no value, or a value nobody asked for, is an error, so a
//! renamed placeholder cannot silently ship a literal `{{bucket}}` to AWS.
//!
//! May use: nothing else of this crate.

use std::collections::BTreeMap;

macro_rules! template {
    ($name:literal) => {
        ($name, include_str!(concat!("../../../templates/", $name)))
    };
}

/// Every template, by its path under `templates/`.
pub const ALL: &[(&str, &str)] = &[
    template!("iam/lambda-trust.json"),
    template!("iam/lambda-policy.json"),
    template!("iam/fis-trust.json"),
    template!("iam/fis-policy.json"),
    template!("iam/instance-trust.json"),
    template!("iam/instance-policy.json"),
    template!("iam/events-trust.json"),
    template!("iam/events-policy.json"),
    template!("iam/worker-trust.json"),
    template!("iam/worker-policy.json"),
    template!("user-data.sh"),
    template!("worker-user-data.sh"),
    template!("fis-template.json"),
    template!("bucket-policy.json"),
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("no template named {0}")]
    Unknown(String),
    #[error("template {template}: placeholder {{{{{name}}}}} has no value")]
    Missing { template: String, name: String },
    #[error("template {template}: value {name} is not used by the template")]
    Unused { template: String, name: String },
    #[error("template {template}: unclosed placeholder at byte {at}")]
    Unclosed { template: String, at: usize },
}

/// Renders template `name` with `vars`.
pub fn render(name: &str, vars: &BTreeMap<&str, String>) -> Result<String, TemplateError> {
    let text = ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| TemplateError::Unknown(name.to_string()))?;
    render_text(name, text, vars)
}

pub fn render_text(name: &str, text: &str, vars: &BTreeMap<&str, String>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut used = std::collections::BTreeSet::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or(TemplateError::Unclosed { template: name.to_string(), at: offset + start })?;
        let key = &after[..end];
        let value = vars
            .get(key)
            .ok_or_else(|| TemplateError::Missing { template: name.to_string(), name: key.to_string() })?;
        out.push_str(value);
        used.insert(key.to_string());
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    if let Some(unused) = vars.keys().find(|k| !used.contains(**k)) {
        return Err(TemplateError::Unused { template: name.to_string(), name: unused.to_string() });
    }
    Ok(out)
}

/// Parses and re-serialises JSON so that two documents that mean the same compare equal
/// (key order, white space). Used on policy documents before they are compared.
pub fn canonical_json(text: &str) -> Result<String, serde_json::Error> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    serde_json::to_string(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn substitutes_and_checks_both_ways() {
        let v = vars(&[("a", "1"), ("b", "2")]);
        assert_eq!(render_text("t", "x{{a}}y{{b}}{{a}}", &v).as_deref(), Ok("x1y21"));
        assert!(matches!(render_text("t", "{{c}}", &v), Err(TemplateError::Missing { .. })));
        assert!(matches!(render_text("t", "{{a}}", &v), Err(TemplateError::Unused { .. })));
        assert!(matches!(render_text("t", "{{a", &v), Err(TemplateError::Unclosed { .. })));
    }

    #[test]
    fn every_json_template_renders_to_valid_json() {
        let v = vars(&[
            ("account", "123456789012"),
            ("bucket", "spotctl-dev-123456789012-ap-northeast-1"),
            ("env", "dev"),
            ("home_region", "ap-northeast-1"),
            ("function", "spotctl-dev-handler"),
            ("instance_types", "[\"m5.large\"]"),
            ("instance_role_arn", "arn:aws:iam::123456789012:role/spotctl/dev/spotctl-dev-instance"),
            ("worker_role_arn", "arn:aws:iam::123456789012:role/spotctl/dev/spotctl-dev-worker"),
            ("endpoint_name", "db.dev.spotctl.internal"),
            ("endpoint_zone", "*"),
            ("image_owner", "amazon"),
            ("image_parameter_arn", "arn:aws:ssm:*::parameter/aws/service/ami-amazon-linux-latest/*"),
        ]);
        for (name, text) in ALL.iter().filter(|(n, _)| n.starts_with("iam/") || *n == "bucket-policy.json") {
            // Each policy uses a subset of the variables: give it exactly those it names.
            let wanted: BTreeMap<&str, String> = v
                .iter()
                .filter(|(k, _)| text.contains(&format!("{{{{{k}}}}}")))
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            let rendered = render(name, &wanted).unwrap_or_else(|e| panic!("{e}"));
            canonical_json(&rendered).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn canonical_json_ignores_layout_and_key_order() {
        assert_eq!(canonical_json("{\"b\":1,\n \"a\":2}").ok(), canonical_json("{\"a\":2,\"b\":1}").ok());
    }
}
