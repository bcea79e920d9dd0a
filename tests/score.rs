//! `spotctl score` over real HTTP: moto for EC2/S3/STS, a stand-in answering
//! GetSpotPlacementScores (moto has none), and a stand-in serving the Spot Advisor feed.
//! Covers the SPS budget and cache, the refused and throttled paths, the advisor fallback chain,
//! and the offline `--sps-file` / `--advisor-file` modes.

mod support;

use serde_json::Value;
use spotctl_testkit::http::StaticServer;
use spotctl_testkit::moto::Moto;
use spotctl_testkit::sps::{SpsBehaviour, SpsServer};
use support::{path_str, spotctl, stderr, stdout, temp_env};

const ADVISOR_SNAPSHOT: &str = "crates/core/data/spot-advisor-data.json";

fn two_regions(text: String) -> String {
    let line = text.lines().find(|l| l.trim_start().starts_with("regions")).expect("regions").to_string();
    text.replace(&line, "regions = [\"ap-northeast-1\", \"ap-northeast-3\"]")
}

fn score_json(moto: &Moto, endpoint: &str, advisor_url: &str, args: &[&str]) -> Value {
    let out = spotctl(moto)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("SPOTCTL_ADVISOR_URL", advisor_url)
        .env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join(format!("spotctl-score-cache-{}", std::process::id())),
        )
        .arg("score")
        .args(args)
        .args(["--output", "json"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "score {args:?}: {}{}", stdout(&out), stderr(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

fn scores_for_tokyo_and_osaka() -> SpsBehaviour {
    SpsBehaviour::Scores(vec![
        ("ap-northeast-1".into(), Some("apne1-az4".into()), 9),
        ("ap-northeast-1".into(), Some("apne1-az1".into()), 3),
        ("ap-northeast-3".into(), Some("apne3-az1".into()), 2),
    ])
}

#[test]
fn sps_is_asked_once_cached_and_ranks_first() {
    let moto = Moto::start();
    let env = temp_env("dev", two_regions);
    let dir = path_str(&env.dir);
    let out = spotctl(&moto).args(["apply", &dir, "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "apply: {}{}", stdout(&out), stderr(&out));

    let sps = SpsServer::start(format!("127.0.0.1:{}", moto.port), scores_for_tokyo_and_osaka());
    let feed =
        StaticServer::start(std::fs::read(ADVISOR_SNAPSHOT).expect("the advisor snapshot in the repository"));
    let first = score_json(&moto, &sps.endpoint(), &feed.url(), &[&dir]);
    assert_eq!(first["sources"]["sps"], "live SPS (a new configuration today)", "{first:#}");
    assert_eq!(first["sources"]["advisor"]["kind"], "live");
    let top = &first["ranking"]["entries"][0];
    assert_eq!(top["candidate"]["az_id"], "apne1-az4", "the zone with SPS 9 wins: {top:#}");
    assert_eq!(top["sps"], 9);

    let asked = sps.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].regions, vec!["ap-northeast-1", "ap-northeast-3"]);
    assert_eq!(asked[0].instance_types, vec!["m5.large", "m6i.large", "r5.large", "r6i.large"]);
    assert_eq!(asked[0].single_az.as_deref(), Some("true"));
    assert_eq!(asked[0].target_capacity.as_deref(), Some("1"));

    // Within the hour the cached answer serves: no new SPS request. The feed is gone now, and
    // the copy cached in the state bucket is used instead.
    let second = score_json(&moto, &sps.endpoint(), "http://127.0.0.1:1/gone", &[&dir]);
    assert_eq!(second["sources"]["sps"], "cached SPS answer");
    assert_eq!(second["sources"]["advisor"]["kind"], "cached");
    assert_eq!(sps.requests().len(), 1, "the cached answer should have served");
    assert_eq!(second["ranking"]["entries"][0], first["ranking"]["entries"][0]);
}

#[test]
fn a_refused_or_throttled_sps_ranks_without_it() {
    let moto = Moto::start();
    let env = temp_env("dev", two_regions);
    let dir = path_str(&env.dir);
    let out = spotctl(&moto).args(["apply", &dir, "--auto-approve"]).output().expect("runs");
    assert!(out.status.success(), "apply: {}{}", stderr(&out), stdout(&out));
    let sps = SpsServer::start(
        format!("127.0.0.1:{}", moto.port),
        SpsBehaviour::Error("MaxConfigLimitExceeded".into(), 400),
    );
    let refused = score_json(&moto, &sps.endpoint(), "http://127.0.0.1:1/gone", &[&dir]);
    let warnings = refused["warnings"].to_string();
    assert!(warnings.contains("MaxConfigLimitExceeded"), "{warnings}");
    assert!(refused["ranking"]["entries"].as_array().is_some_and(|e| !e.is_empty()));
    assert!(refused["ranking"]["entries"][0]["sps"].is_null(), "a missing SPS is shown as missing");
    assert_eq!(refused["sources"]["advisor"]["kind"], "embedded");
    // The refusal is remembered: the next run does not spend another request.
    let again = score_json(&moto, &sps.endpoint(), "http://127.0.0.1:1/gone", &[&dir]);
    assert_eq!(sps.requests().len(), 1);
    assert!(again["warnings"].to_string().contains("not asking SPS"), "{again:#}");

    // Throttling on a fresh env: the SDK retries, then spotctl ranks without SPS.
    let other = temp_env("dev", |t| two_regions(t).replace("name = \"dev\"", "name = \"dev2\""));
    sps.set(SpsBehaviour::Error("RequestLimitExceeded".into(), 503));
    let throttled = score_json(&moto, &sps.endpoint(), "http://127.0.0.1:1/gone", &[&path_str(&other.dir)]);
    assert!(throttled["warnings"].to_string().contains("RequestLimitExceeded"), "{throttled:#}");
}

#[test]
fn offline_files_make_no_sps_call() {
    let moto = Moto::start();
    let env = temp_env("dev", two_regions);
    let dir = path_str(&env.dir);
    let sps = SpsServer::start(format!("127.0.0.1:{}", moto.port), scores_for_tokyo_and_osaka());
    let file = env.root.join("sps.json");
    std::fs::write(
        &file,
        r#"{"SpotPlacementScores":[{"Region":"ap-northeast-3","AvailabilityZoneId":"apne3-az2","Score":10}]}"#,
    )
    .expect("write sps file");
    let j = score_json(
        &moto,
        &sps.endpoint(),
        "http://127.0.0.1:1/gone",
        &[&dir, "--sps-file", &path_str(&file), "--advisor-file", ADVISOR_SNAPSHOT],
    );
    assert!(sps.requests().is_empty(), "--sps-file must not call SPS");
    assert_eq!(j["sources"]["advisor"]["kind"], "file");
    assert_eq!(j["ranking"]["entries"][0]["candidate"]["az_id"], "apne3-az2");
    // Only the env's regions and types ever appear.
    for e in j["ranking"]["entries"].as_array().expect("entries") {
        let region = e["candidate"]["region"].as_str().unwrap_or_default();
        assert!(region == "ap-northeast-1" || region == "ap-northeast-3", "{e}");
    }
}
