//! Record formats across versions. Agents take their binary at boot, so after an `apply` with a
//! new version a new handler runs beside old agents (and a person may run an older or newer
//! `spotctl` than either). Every protocol record carries the `format` it was written in; a build
//! reads every format up to its own and refuses one that is newer: it neither acts on it (no
//! promotion, no retirement, no drain) nor writes it back (a rewrite would drop what it does not
//! know). A record is written in the lowest format that holds what it says, so a new handler
//! with old agents keeps working until a new feature is used (ARD.md, *Upgrading a running env*).

use super::health::{HealthReport, HEALTH_FORMAT};
use super::primary::{PrimaryRecord, RECORD_FORMAT_KEPT};
use super::record::{Handoff, HANDOFF_FORMAT};

/// A protocol record: the newest format this build reads.
pub trait RecordFormat {
    const READS: u32;
}

impl RecordFormat for PrimaryRecord {
    const READS: u32 = RECORD_FORMAT_KEPT;
}

impl RecordFormat for Handoff {
    const READS: u32 = HANDOFF_FORMAT;
}

impl RecordFormat for HealthReport {
    const READS: u32 = HEALTH_FORMAT;
}

// A build reads every format it writes.
const _: () = assert!(RECORD_FORMAT_KEPT >= super::primary::RECORD_FORMAT);

/// A record written by a newer spotctl than this one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{key} is format {found}, newer than this spotctl reads (up to {reads}): a newer version wrote it, \
     and this one acts on nothing it cannot read; run the version that wrote it (an env's agents: \
     MEMO.md, \"Upgrading a running env\")"
)]
pub struct NewerFormat {
    pub key: String,
    pub found: u32,
    pub reads: u32,
}

/// Whether a record at `key` in format `found` (1 when it says none) can be read by a build
/// that reads up to `reads`.
pub fn check_format(key: &str, found: Option<u64>, reads: u32) -> Result<(), NewerFormat> {
    let found = found.map_or(1, |f| u32::try_from(f).unwrap_or(u32::MAX));
    if found > reads {
        return Err(NewerFormat { key: key.to_string(), found, reads });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_up_to_the_build_s_format_is_read_and_a_newer_one_is_refused_naming_both() {
        let reads = <PrimaryRecord as RecordFormat>::READS;
        assert_eq!(check_format("state/primary.json", None, reads), Ok(()));
        assert_eq!(check_format("state/primary.json", Some(u64::from(reads)), reads), Ok(()));
        let newer = check_format("state/primary.json", Some(u64::from(reads) + 1), reads).expect_err("newer");
        assert_eq!((newer.found, newer.reads), (reads + 1, reads));
        let said = newer.to_string();
        assert!(said.contains("state/primary.json is format 5") && said.contains("up to 4"), "{said}");
        let huge = check_format("k", Some(u64::MAX), 3).expect_err("newer");
        assert_eq!(huge.found, u32::MAX);
    }
}
