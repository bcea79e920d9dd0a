//! The corpus of bad env files (`tests/bad-envs/<case>/`): each case's env is refused with exactly
//! the text in its `expected.txt`. The CLI runs the same corpus (`tests/bad_envs.rs`) and checks
//! exit code 2 and that no AWS call was made.
//!
//! Paths in the messages are relative to the repository root, as when spotctl runs from there, so
//! this test runs from the root too (it is the only test in this binary, so changing the working
//! directory affects nothing else). `SPOTCTL_BLESS=1` rewrites the expected files instead of
//! comparing; review the diff before committing it.

use std::path::{Path, PathBuf};

/// Fewer cases than this means the corpus went missing, not that everything passed.
const MIN_CASES: usize = 20;

#[test]
fn every_bad_env_is_refused_with_its_expected_message() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::env::set_current_dir(&root).expect("cd to the repository root");
    let bless = std::env::var_os("SPOTCTL_BLESS").is_some();
    let advisor = spotctl_core::placement::advisor::AdvisorData::embedded();

    let mut cases: Vec<PathBuf> = std::fs::read_dir("tests/bad-envs")
        .expect("tests/bad-envs exists")
        .filter_map(Result::ok)
        .map(|e| PathBuf::from("tests/bad-envs").join(e.file_name()))
        .filter(|p| p.join("expected.txt").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= MIN_CASES, "only {} cases in tests/bad-envs", cases.len());

    let mut failures = Vec::new();
    for case in &cases {
        let expected_file = case.join("expected.txt");
        let expected = std::fs::read_to_string(&expected_file).expect("read expected.txt");
        let got = match spotctl_core::config::load(case, &|t| advisor.knows_type(t)) {
            Ok(_) => "(loaded without error)".to_string(),
            Err(e) => e.to_string(),
        };
        if bless {
            std::fs::write(&expected_file, format!("{got}\n")).expect("write expected.txt");
        } else if got != expected.trim_end() {
            failures.push(format!(
                "{}\n--- expected ---\n{}\n--- got ---\n{got}",
                case.display(),
                expected.trim_end()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
