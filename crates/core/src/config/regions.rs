//! The AWS commercial regions spotctl can place things in.
//!
//! A static list rather than a call to `DescribeRegions`, so that an env file naming a region that
//! does not exist is refused before anything talks to AWS. The list is exactly the regions the
//! embedded Spot Advisor data covers (a test keeps the two in step): a candidate region without
//! advisor data could not be ranked, so it would be no candidate at all.

/// Every known region code, sorted.
pub const ALL: [&str; 33] = [
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// Every known region code, sorted.
pub fn all() -> &'static [&'static str] {
    &ALL
}

/// Whether `code` is a known region code (exact, lowercase).
pub fn is_known_region(code: &str) -> bool {
    ALL.binary_search(&code).is_ok()
}

/// The known region closest in spelling to `code`, if one is close enough to be a likely typo.
/// Ties go to the first in sorted order, so the answer is stable.
pub fn nearest(code: &str) -> Option<&'static str> {
    super::suggest::closest(&code.to_ascii_lowercase(), ALL.iter().copied(), 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_has_no_duplicates() {
        assert!(ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_list_is_exactly_the_regions_of_the_spot_advisor_data() {
        let data: serde_json::Value =
            serde_json::from_str(include_str!("../../data/spot-advisor-data.json")).expect("embedded json");
        let advisor = data["spot_advisor"].as_object().expect("spot_advisor is an object");
        let mut keys: Vec<&str> = advisor.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ALL.to_vec());
    }

    #[test]
    fn known_and_unknown_codes() {
        assert!(is_known_region("ap-northeast-1"));
        assert!(is_known_region("us-east-2"));
        assert!(!is_known_region("ap-northeast-4"));
        assert!(!is_known_region("AP-NORTHEAST-1"));
        assert!(!is_known_region("cn-north-1"));
        assert!(!is_known_region(""));
    }

    #[test]
    fn nearest_suggests_a_likely_typo_and_nothing_for_nonsense() {
        assert_eq!(nearest("ap-northeast-4"), Some("ap-northeast-1"));
        assert_eq!(nearest("us-east1"), Some("us-east-1"));
        assert_eq!(nearest("US-WEST-2"), Some("us-west-2"));
        assert_eq!(nearest("eu-westt-3"), Some("eu-west-3"));
        assert_eq!(nearest("tokyo"), None);
    }
}
