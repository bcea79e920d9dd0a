//! Lengths of time in the env file, written as a whole number and one unit: `30s`, `15m`, `6h`,
//! `1d`.
//!
//! One unit only (no `1h30m`): the values spotctl needs are round, and one form per value keeps the
//! stored env canonical, so rewriting `360m` as `6h` changes nothing that is compared.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A length of time, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    secs: u64,
}

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// What a valid period looks like, for error messages.
pub const PERIOD_FORMAT: &str = "a whole number and one unit, s, m, h or d (e.g. \"30s\", \"6h\")";

impl Period {
    pub const fn from_secs(secs: u64) -> Period {
        Period { secs }
    }

    pub const fn as_secs(self) -> u64 {
        self.secs
    }

    pub const fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.secs)
    }

    /// Parses `30s`, `15m`, `6h` or `1d`. The message says what was wrong and what is valid.
    pub fn parse(text: &str) -> Result<Period, String> {
        let invalid = || format!("{text:?} is not a duration; valid: {PERIOD_FORMAT}");
        let mut chars = text.chars();
        let unit = chars.next_back().ok_or_else(invalid)?;
        let digits = chars.as_str();
        let per = UNITS.iter().find(|(u, _)| *u == unit).map(|(_, s)| *s).ok_or_else(invalid)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let n: u64 = digits.parse().map_err(|_| invalid())?;
        let secs = n.checked_mul(per).ok_or_else(|| format!("{text:?} is too long to be a duration"))?;
        Ok(Period { secs })
    }
}

impl fmt::Display for Period {
    /// The canonical form: the largest unit that divides the length exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (unit, per) =
            UNITS.iter().copied().find(|(_, per)| self.secs > 0 && self.secs % per == 0).unwrap_or(('s', 1));
        write!(f, "{}{unit}", self.secs / per)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Period, D::Error> {
        let text = String::deserialize(d)?;
        Period::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(Period::parse("30s").map(Period::as_secs), Ok(30));
        assert_eq!(Period::parse("15m").map(Period::as_secs), Ok(900));
        assert_eq!(Period::parse("6h").map(Period::as_secs), Ok(21_600));
        assert_eq!(Period::parse("1d").map(Period::as_secs), Ok(86_400));
        assert_eq!(Period::parse("0s").map(Period::as_secs), Ok(0));
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "s",
            "6",
            "6 h",
            "6hours",
            "1h30m",
            "-1h",
            "+1h",
            "1.5h",
            "6H",
            "h6",
            "99999999999999999999d",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(
            Period::parse("6 hours"),
            Err("\"6 hours\" is not a duration; valid: a whole number and one unit, s, m, h or d (e.g. \"30s\", \"6h\")"
                .to_string())
        );
    }

    #[test]
    fn displays_in_the_largest_exact_unit() {
        assert_eq!(Period::from_secs(21_600).to_string(), "6h");
        assert_eq!(Period::from_secs(90).to_string(), "90s");
        assert_eq!(Period::from_secs(0).to_string(), "0s");
        assert_eq!(Period::parse("360m").map(|p| p.to_string()), Ok("6h".to_string()));
    }

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_length(secs in 0u64..10_000_000_000) {
            let p = Period::from_secs(secs);
            prop_assert_eq!(Period::parse(&p.to_string()), Ok(p));
        }
    }
}
