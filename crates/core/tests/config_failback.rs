//! `failback` in `[[fleet]]`: the pace reads into the model, is stored only when it is not the
//! default, and reads back from the stored form unchanged.

use spotctl_core::config::{self, EnvFile};
use spotctl_core::fleet::failback::{Failback, FailoverRules};
use std::path::Path;

fn env_with(failback: Option<&str>) -> EnvFile {
    let line = failback.map(|f| format!("failback = \"{f}\"\n")).unwrap_or_default();
    let text = format!(
        r#"[env]
name = "dev"
home_region = "us-east-1"
regions = ["us-east-1"]

[instance]
types = ["m5.large", "m6i.large", "r5.large"]

[access]
ssh_public_key = "key.pub"

[[fleet]]
name = "w"
primary_region = "us-east-1"
fallback_region = "us-west-2"
instance_types = ["g4dn.xlarge"]
queue = "jobs"
max_primary = 4
max_fallback = 3
command = "/opt/worker/run"
{line}"#
    );
    config::parse(&text, Path::new("envs/t/spotctl.toml"), &|_| true).unwrap_or_else(|e| panic!("{e}")).env
}

#[test]
fn each_pace_reads_and_round_trips() {
    for (text, pace) in [
        (None, Failback::Adaptive),
        (Some("adaptive"), Failback::Adaptive),
        (Some("immediate"), Failback::Immediate),
        (Some("20m"), Failback::After { quiet_secs: 1200 }),
    ] {
        let env = env_with(text);
        assert_eq!(env.fleet[0].failback, pace, "{text:?}");
        assert_eq!(FailoverRules::from(&env.fleet[0]), FailoverRules { max_fallback: 3, failback: pace });
        let json = serde_json::to_string(&env).expect("serialises");
        // The default is not written, so a stored env from before the key existed is unchanged.
        assert_eq!(json.contains("failback"), pace != Failback::Adaptive, "{json}");
        assert_eq!(serde_json::from_str::<EnvFile>(&json).ok().as_ref(), Some(&env), "{json}");
        let toml_text = toml::to_string(&env).expect("serialises");
        assert_eq!(toml::from_str::<EnvFile>(&toml_text).ok().as_ref(), Some(&env), "{toml_text}");
    }
}
