//! Times as people and AWS write them: RFC 3339 in UTC (`2025-12-31T07:15:00Z`), from and to the
//! unix seconds every state object records, and "how long ago" for `status`.
//!
//! May use: nothing else of this crate.

/// Seconds since the epoch of an RFC 3339 UTC time as EventBridge writes it
/// (`2025-12-31T07:15:00Z`, fractions allowed); `None` for anything else.
pub fn parse_rfc3339(t: &str) -> Option<i64> {
    let t = t.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut h = time.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (h.next()??, h.next()??, h.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's well-known method).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (the inverse of `days_from_civil`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2025-12-31T07:15:00Z` for a unix time.
pub fn rfc3339(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// How long before `now` the time `then` was, in the largest unit that fits: `42s`, `7m 3s`,
/// `3h 12m`, `2d 4h`; a time in the future reads `in 5s`.
pub fn ago(now: i64, then: i64) -> String {
    let d = now - then;
    if d < 0 {
        return format!("in {}", span(-d));
    }
    format!("{} ago", span(d))
}

fn span(s: i64) -> String {
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s / 60 % 60),
        s => format!("{}d {}h", s / 86_400, s / 3600 % 24),
    }
}

/// `2025-12-31T07:15:00Z (3m 2s ago)`: what `status` prints for a time.
pub fn when(now: i64, then: i64) -> String {
    format!("{} ({})", rfc3339(then), ago(now, then))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_event_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2025-12-31T07:15:00Z"), Some(1_767_165_300));
        assert_eq!(parse_rfc3339("2024-02-29T23:59:59.123Z"), Some(1_709_251_199));
        assert_eq!(parse_rfc3339("2025-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn writes_what_it_reads() {
        for t in [0, 1_767_165_300, 1_709_251_199, 951_782_400, -86_400, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t), "{}", rfc3339(t));
        }
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn says_how_long_ago() {
        assert_eq!(ago(100, 58), "42s ago");
        assert_eq!(ago(1000, 577), "7m 3s ago");
        assert_eq!(ago(20_000, 8_480), "3h 12m ago");
        assert_eq!(ago(200_000, 12_800), "2d 4h ago");
        assert_eq!(ago(10, 15), "in 5s");
        assert_eq!(when(1_767_165_302, 1_767_165_300), "2025-12-31T07:15:00Z (2s ago)");
    }
}
