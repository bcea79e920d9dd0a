//! `failback` in `[[fleet]]`: the pace of [`crate::fleet::failback::Failback`] as the env file writes it,
//! `"adaptive"` (the default), `"immediate"` (the seed's) or a quiet period such as `"20m"`.

use super::period::Period;
use crate::fleet::Failback;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The longest fixed quiet period.
const MAX_QUIET_SECS: u64 = 86_400;

/// Reads a pace; the message says what is valid.
pub(crate) fn parse(text: &str) -> Result<Failback, String> {
    let valid = || {
        "valid: \"adaptive\" (the default), \"immediate\", or a quiet period from 0s to 1d written as a whole \
         number and one unit, s, m, h or d (e.g. \"20m\")"
            .to_string()
    };
    match text {
        "adaptive" => Ok(Failback::Adaptive),
        "immediate" => Ok(Failback::Immediate),
        _ => match Period::parse(text) {
            Ok(p) if p.as_secs() <= MAX_QUIET_SECS => {
                Ok(Failback::After { quiet_secs: u32::try_from(p.as_secs()).unwrap_or(u32::MAX) })
            }
            Ok(_) => Err(format!("{text:?} is out of range; {}", valid())),
            Err(_) => Err(format!("{text:?} is not a failback pace; {}", valid())),
        },
    }
}

/// The env file's spelling (here, where periods are spelled), so that a stored env reads back the
/// same and reports name the pace as a user writes it.
impl fmt::Display for Failback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Failback::Adaptive => f.write_str("adaptive"),
            Failback::Immediate => f.write_str("immediate"),
            Failback::After { quiet_secs } => write!(f, "{}", Period::from_secs(u64::from(quiet_secs))),
        }
    }
}

pub(crate) fn is_default(f: &Failback) -> bool {
    *f == Failback::default()
}

pub(crate) fn serialize<S: Serializer>(f: &Failback, s: S) -> Result<S::Ok, S::Error> {
    f.to_string().serialize(s)
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Failback, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pace_reads_back_as_written() {
        for text in ["adaptive", "immediate", "0s", "20m", "1d"] {
            let pace = parse(text).expect(text);
            assert_eq!(pace.to_string(), text);
        }
        assert_eq!(parse("90s"), Ok(Failback::After { quiet_secs: 90 }));
        assert!(parse("2d").is_err_and(|e| e.contains("out of range")));
        assert!(parse("gradual").is_err_and(|e| e.contains("not a failback pace; valid: \"adaptive\"")));
    }
}
