//! Times in continuous protection's records and reports (RFC 3339, UTC, milliseconds) and the ids
//! of base backups, which are times too and sort by them.

/// A base backup's id: the UTC time it was taken, `YYYYMMDDTHHMMSSZ`, which sorts by time.
pub fn base_id(unix_ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix_ms / 1000);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// RFC 3339 in UTC with milliseconds, for records and reports.
pub fn utc(unix_ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix_ms / 1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z", unix_ms % 1000)
}

/// Year, month, day, hour, minute, second of a Unix time (UTC; Howard Hinnant's days-to-civil).
fn civil(unix: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs / 3600, secs / 60 % 60, secs % 60)
}

/// Milliseconds since 1970 now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_ids() {
        assert_eq!(utc(1_795_947_300_123), "2026-11-29T10:15:00.123Z");
        assert_eq!(base_id(1_795_947_300_123), "20261129T101500Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
