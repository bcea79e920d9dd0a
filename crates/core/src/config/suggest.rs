//! "Did you mean …?" for env file values: the nearest valid spelling of a mistyped key, region or
//! instance type.
//!
//! Distances are optimal-string-alignment edit distances (a swap of two neighbours costs one), and
//! ties go to the earliest candidate, so the same typo always gets the same suggestion.

/// Edit distance between `a` and `b`: insertions, deletions, substitutions and swaps of adjacent
/// characters each cost one.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows suffice: the swap looks two rows back.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate nearest to `input` within `max` edits; the first one wins a tie.
pub(crate) fn closest<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c str>,
    max: usize,
) -> Option<&'c str> {
    let mut best: Option<(usize, &'c str)> = None;
    for c in candidates {
        let d = distance(input, c);
        if d <= max && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Instance sizes, smallest first: the order in which equally near sizes are suggested.
const SIZES: [&str; 24] = [
    "nano",
    "micro",
    "small",
    "medium",
    "large",
    "xlarge",
    "2xlarge",
    "3xlarge",
    "4xlarge",
    "6xlarge",
    "8xlarge",
    "9xlarge",
    "10xlarge",
    "12xlarge",
    "16xlarge",
    "18xlarge",
    "24xlarge",
    "32xlarge",
    "48xlarge",
    "metal",
    "metal-16xl",
    "metal-24xl",
    "metal-32xl",
    "metal-48xl",
];

const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz0123456789.-";

/// A known instance type close to `input`, found by asking `known` about likely spellings: the
/// same family in every size, then every string one edit away. The caller only has a membership
/// test (the Spot Advisor's type list), so candidates are generated rather than enumerated.
pub(crate) fn instance_type(original: &str, known: &dyn Fn(&str) -> bool) -> Option<String> {
    let input = original.trim().to_ascii_lowercase();
    let mut candidates: Vec<String> = Vec::new();
    if let Some((family, _)) = input.split_once('.') {
        candidates.extend(SIZES.iter().map(|size| format!("{family}.{size}")));
    }
    candidates.extend(one_edit_away(&input));
    let mut best: Option<(usize, String)> = None;
    for c in candidates {
        if c == original || !known(&c) {
            continue;
        }
        let d = distance(&input, &c);
        if best.as_ref().is_none_or(|(bd, _)| d < *bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Every string one insertion, deletion, substitution or adjacent swap away from `s`, in a fixed
/// order.
fn one_edit_away(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    for i in 0..chars.len() {
        let mut v = chars.clone();
        v.remove(i);
        out.push(v.into_iter().collect());
    }
    for i in 0..chars.len().saturating_sub(1) {
        let mut v = chars.clone();
        v.swap(i, i + 1);
        out.push(v.into_iter().collect());
    }
    for i in 0..chars.len() {
        for c in ALPHABET.chars() {
            let mut v = chars.clone();
            v[i] = c;
            out.push(v.into_iter().collect());
        }
    }
    for i in 0..=chars.len() {
        for c in ALPHABET.chars() {
            let mut v = chars.clone();
            v.insert(i, c);
            out.push(v.into_iter().collect());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("name", "nmae"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("ap-northeast-4", "ap-northeast-1"), 1);
    }

    #[test]
    fn closest_prefers_the_nearest_then_the_first() {
        assert_eq!(closest("nmae", ["regions", "name", "home_region"], 2), Some("name"));
        assert_eq!(closest("b", ["a", "c"], 1), Some("a"));
        assert_eq!(closest("zzzzzz", ["a", "c"], 2), None);
    }

    fn known(t: &str) -> bool {
        ["m5.large", "m5.xlarge", "m5.2xlarge", "m5a.large", "c5.large", "g4dn.xlarge"].contains(&t)
    }

    #[test]
    fn instance_type_suggestions() {
        assert_eq!(instance_type("m5.superlarge", &known).as_deref(), Some("m5.large"));
        assert_eq!(instance_type("m5.lrage", &known).as_deref(), Some("m5.large"));
        assert_eq!(instance_type("m5aa.large", &known).as_deref(), Some("m5a.large"));
        assert_eq!(instance_type("m5b.large", &known).as_deref(), Some("m5.large"));
        assert_eq!(instance_type("g4dn.xlarg", &known).as_deref(), Some("g4dn.xlarge"));
        assert_eq!(instance_type("M5.LARGE", &known).as_deref(), Some("m5.large"));
        assert_eq!(instance_type("zz9.huge", &known), None);
    }
}
