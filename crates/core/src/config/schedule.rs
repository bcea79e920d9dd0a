//! EventBridge schedule expressions (`schedule.relocation`, `schedule.advisor_refresh`), checked
//! here so that a typo is refused with its line before `apply` gets as far as `PutRule`.
//!
//! The grammar is EventBridge's: `rate(N unit)` with a singular unit exactly when N is 1, or
//! `cron(minutes hours day-of-month month day-of-week year)` where one of the two day fields is `?`.

/// What a valid expression looks like, for error messages.
pub const SCHEDULE_FORMAT: &str = "rate(N minute|minutes|hour|hours|day|days) or cron(minutes hours \
                                   day-of-month month day-of-week year), e.g. \"rate(12 hours)\", \"cron(0 3 * * ? *)\"";

/// Checks one schedule expression; the message says what is wrong and what would be valid.
pub fn check(text: &str) -> Result<(), String> {
    let detail = if let Some(inner) = text.strip_prefix("rate(").and_then(|t| t.strip_suffix(')')) {
        rate(inner)
    } else if let Some(inner) = text.strip_prefix("cron(").and_then(|t| t.strip_suffix(')')) {
        cron(inner)
    } else {
        Err("it is neither rate(…) nor cron(…)".to_string())
    };
    detail.map_err(|why| format!("{text:?} is not a schedule expression: {why}; valid: {SCHEDULE_FORMAT}"))
}

fn rate(inner: &str) -> Result<(), String> {
    let Some((n, unit)) = inner.split_once(' ') else {
        return Err("a rate is a number, one space and a unit".to_string());
    };
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{n:?} is not a whole number"));
    }
    let n: u32 = n.parse().map_err(|_| format!("{n} is too large"))?;
    if n == 0 {
        return Err("the rate must be at least 1".to_string());
    }
    let singular = match unit {
        "minute" | "hour" | "day" => true,
        "minutes" | "hours" | "days" => false,
        _ => return Err(format!("{unit:?} is not a unit (minute(s), hour(s) or day(s))")),
    };
    match (n == 1, singular) {
        (true, false) => {
            Err(format!("a rate of 1 takes a singular unit, \"rate(1 {})\"", unit.trim_end_matches('s')))
        }
        (false, true) => Err(format!("a rate of {n} takes a plural unit, \"rate({n} {unit}s)\"")),
        _ => Ok(()),
    }
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names accepted for values, the first standing for `min`.
    names: &'static [&'static str],
    /// Extra characters this field accepts beyond `, - * /`.
    extra: &'static str,
}

const MONTHS: &[&str] = &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [Field; 6] = [
    Field { name: "minutes", min: 0, max: 59, names: &[], extra: "" },
    Field { name: "hours", min: 0, max: 23, names: &[], extra: "" },
    Field { name: "day-of-month", min: 1, max: 31, names: &[], extra: "?LW" },
    Field { name: "month", min: 1, max: 12, names: MONTHS, extra: "" },
    Field { name: "day-of-week", min: 1, max: 7, names: DAYS, extra: "?L#" },
    Field { name: "year", min: 1970, max: 2199, names: &[], extra: "" },
];

fn cron(inner: &str) -> Result<(), String> {
    let parts: Vec<&str> = inner.split_whitespace().collect();
    if parts.len() != FIELDS.len() {
        return Err(format!(
            "a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), found {}",
            parts.len()
        ));
    }
    for (field, text) in FIELDS.iter().zip(&parts) {
        cron_field(field, text).map_err(|why| format!("{} {text:?}: {why}", field.name))?;
    }
    match (parts[2] == "?", parts[4] == "?") {
        (true, false) | (false, true) => Ok(()),
        _ => Err("exactly one of day-of-month and day-of-week must be \"?\"".to_string()),
    }
}

fn cron_field(field: &Field, text: &str) -> Result<(), String> {
    if text == "?" {
        return if field.extra.contains('?') {
            Ok(())
        } else {
            Err("\"?\" is only for the day fields".into())
        };
    }
    let items: Vec<&str> = text.split(',').collect();
    for item in &items {
        if item.contains('#') && items.len() > 1 {
            return Err("\"#\" allows a single expression in the field".into());
        }
        cron_item(field, item)?;
    }
    Ok(())
}

fn cron_item(field: &Field, item: &str) -> Result<(), String> {
    let special = |c: char| field.extra.contains(c);
    if item == "*" {
        return Ok(());
    }
    if special('L') && (item == "L" || (field.name == "day-of-month" && item == "LW")) {
        return Ok(());
    }
    if special('W') {
        if let Some(day) = item.strip_suffix('W') {
            return value(field, day).map(|_| ());
        }
    }
    if special('L') && field.name == "day-of-week" {
        if let Some(day) = item.strip_suffix('L') {
            return value(field, day).map(|_| ());
        }
    }
    if special('#') {
        if let Some((day, nth)) = item.split_once('#') {
            value(field, day)?;
            return match nth.parse::<u32>() {
                Ok(1..=5) => Ok(()),
                _ => Err(format!("{nth:?} after \"#\" must be 1 to 5")),
            };
        }
    }
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base, Some(step)),
        None => (item, None),
    };
    if let Some(step) = step {
        match step.parse::<u32>() {
            Ok(s) if s >= 1 && step.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err(format!("{step:?} is not a step (a whole number from 1)")),
        }
        if base == "*" {
            return Ok(());
        }
    }
    match base.split_once('-') {
        Some((from, to)) => {
            value(field, from)?;
            value(field, to)?;
            Ok(())
        }
        None => value(field, base).map(|_| ()),
    }
}

fn value(field: &Field, text: &str) -> Result<u32, String> {
    let valid = if field.names.is_empty() {
        format!("{}-{}", field.min, field.max)
    } else {
        format!("{}-{} or {}-{}", field.min, field.max, field.names[0], field.names[field.names.len() - 1])
    };
    if let Some(i) = field.names.iter().position(|n| *n == text) {
        return Ok(field.min + i as u32);
    }
    match text.parse::<u32>() {
        Ok(v) if (field.min..=field.max).contains(&v) && text.bytes().all(|b| b.is_ascii_digit()) => Ok(v),
        _ => Err(format!("{text:?} is not a value; valid: {valid}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_eventbridge_expressions() {
        for good in [
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(1 hour)",
            "rate(12 hours)",
            "rate(1 day)",
            "rate(7 days)",
            "cron(0 3 * * ? *)",
            "cron(15 10 ? * 6L 2022-2023)",
            "cron(0/15 * * * ? *)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 8 1 * ? *)",
            "cron(0 0 L * ? *)",
            "cron(0 0 3W * ? *)",
            "cron(0 0 LW * ? *)",
            "cron(0 9 ? * 3#2 *)",
            "cron(0,30 1-5 ? JAN,JUL SUN 2030)",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn refuses_with_the_reason() {
        let why = |t: &str| check(t).err().unwrap_or_default();
        assert!(why("rate(1 hours)").contains("a rate of 1 takes a singular unit, \"rate(1 hour)\""));
        assert!(why("rate(12 hour)").contains("a rate of 12 takes a plural unit, \"rate(12 hours)\""));
        assert!(why("rate(0 hours)").contains("at least 1"));
        assert!(why("rate(1 week)").contains("\"week\" is not a unit"));
        assert!(why("every 12 hours").contains("neither rate(…) nor cron(…)"));
        assert!(why("cron(0 12 * * *)").contains("6 fields"));
        assert!(why("cron(0 12 * * * *)").contains("exactly one of day-of-month and day-of-week"));
        assert!(why("cron(0 12 ? * ? *)").contains("exactly one of day-of-month and day-of-week"));
        assert!(why("cron(60 12 * * ? *)").contains("minutes \"60\": \"60\" is not a value; valid: 0-59"));
        assert!(why("cron(0 12 ? * 8 *)").contains("valid: 1-7 or SUN-SAT"));
        assert!(why("cron(0 12 ? * 3#2,4#1 *)").contains("single expression"));
        assert!(why("cron(0 ? * * ? *)").contains("only for the day fields"));
        assert!(why("cron(0/0 * * * ? *)").contains("not a step"));
        assert!(why("rate(12 hours)x").contains("valid: rate(N"));
    }
}
