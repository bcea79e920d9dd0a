//! Checks of single values whose rules come from AWS or MySQL naming limits. Each returns a message
//! that says what is wrong and what would be valid.

/// Fleet names: they go into queue, group and template names, whose tightest limits (S3 and SQS:
/// lowercase, 63 and 80 characters in all) fix the charset and the length.
pub fn resource_name(text: &str, what: &str) -> Result<(), String> {
    let ok = (1..=24).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not a valid {what}; valid: 1 to 24 characters of a-z, 0-9 and \"-\", not starting or \
             ending with \"-\""
        ))
    }
}

/// Env names: lowercase letters and digits only, starting with a letter. Every name an env owns is
/// `spotctl-<env>-…` (and `/spotctl/<env>/` in IAM), and IAM policies, rule and queue look-ups match
/// `spotctl-<env>-*`: with no `-` in any env name, that prefix can never reach into another env
/// whose name extends this one (`dev` and `dev-2` would share `spotctl-dev-*`). 24 characters keep
/// the bucket `spotctl-<env>-<account>-<region>` within S3's 63 (ARD.md, Trust boundaries).
pub fn env_name(text: &str) -> Result<(), String> {
    let ok = (1..=24).contains(&text.len())
        && text.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        return Ok(());
    }
    let hint = if text.contains('-') {
        format!(" (did you mean {:?}?)", text.replace('-', ""))
    } else {
        String::new()
    };
    Err(format!(
        "{text:?} is not a valid env name; valid: 1 to 24 characters of a-z and 0-9, starting with a letter \
         (no \"-\": spotctl-<env>- must not be the start of another env's names){hint}"
    ))
}

/// The schemas MariaDB keeps for itself.
const SYSTEM_SCHEMAS: [&str; 4] = ["information_schema", "mysql", "performance_schema", "sys"];

/// A database name: an unquoted MySQL identifier, lowercase so that it means the same on every
/// file system.
pub fn database_name(text: &str) -> Result<(), String> {
    let valid = "valid: 1 to 64 characters of a-z, 0-9 and \"_\", starting with a letter or \"_\"";
    let mut bytes = text.bytes();
    let ok = text.len() <= 64
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(format!("{text:?} is not a database name; {valid}"));
    }
    if SYSTEM_SCHEMAS.contains(&text) {
        return Err(format!(
            "{text:?} is a system schema of the server; valid: any other name, e.g. \"appdb\""
        ));
    }
    Ok(())
}

/// The shape of an instance type, `family.size`, before asking whether it is known.
pub fn instance_type_shape(text: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    text.split_once('.').is_some_and(|(family, size)| part(family) && part(size))
}

/// The shortest and longest `durationBeforeInterruption` AWS FIS accepts, in seconds.
pub const FIS_LEAD_SECS: std::ops::RangeInclusive<u64> = 120..=900;

/// An ISO-8601 duration of hours, minutes and seconds (`PT2M`, `PT150S`, `PT2M30S`) within what
/// AWS FIS accepts for `durationBeforeInterruption`: 2 to 15 minutes.
pub fn fis_lead(text: &str) -> Result<u64, String> {
    let valid = "valid: an ISO-8601 duration from PT2M to PT15M, e.g. \"PT2M\", \"PT150S\"";
    let bad = || format!("{text:?} is not an ISO-8601 duration; {valid}");
    let mut rest = text.strip_prefix("PT").ok_or_else(bad)?;
    if rest.is_empty() {
        return Err(bad());
    }
    let mut secs: u64 = 0;
    let mut units = [('H', 3600u64), ('M', 60), ('S', 1)].into_iter();
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (n, tail) = rest.split_at(digits);
        let unit = tail.chars().next().ok_or_else(bad)?;
        // Units must come in order H, M, S, each at most once.
        let per = units.by_ref().find(|(u, _)| *u == unit).map(|(_, p)| p).ok_or_else(bad)?;
        let n: u64 = n.parse().map_err(|_| bad())?;
        secs = n.checked_mul(per).and_then(|s| s.checked_add(secs)).ok_or_else(bad)?;
        rest = &tail[unit.len_utf8()..];
    }
    if FIS_LEAD_SECS.contains(&secs) {
        Ok(secs)
    } else {
        Err(format!("{text:?} is {secs} seconds, outside what AWS FIS accepts; {valid}"))
    }
}

/// An SQS standard queue name. spotctl may prefix it with `spotctl-<env>-`, so it is kept to 40
/// characters (SQS allows 80 in all).
pub fn queue_name(text: &str) -> Result<(), String> {
    if text.ends_with(".fifo") {
        return Err(format!(
            "{text:?} names a FIFO queue; valid: a standard queue name (spotctl creates standard queues)"
        ));
    }
    if text.ends_with("-dead") || text == "dead-letters" {
        return Err(format!(
            "{text:?} is a name spotctl gives dead-letter queues (a fleet's `<queue>-dead`, the handler's \
             `dead-letters`); valid: any other queue name"
        ));
    }
    let ok = (1..=40).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not a queue name; valid: 1 to 40 characters of A-Z, a-z, 0-9, \"-\" and \"_\""
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_cannot_form_another_envs_prefix() {
        for good in ["dev", "a", "prod2", "x23456789012345678901234"] {
            assert_eq!(env_name(good), Ok(()), "{good}");
        }
        for bad in ["", "Dev", "dev_1", "dev-2", "-dev", "dev-", "2dev", "x234567890123456789012345", "dév"]
        {
            assert!(env_name(bad).is_err(), "{bad}");
        }
        assert!(env_name("dev-2").is_err_and(|e| e.contains("did you mean \"dev2\"")));
    }

    #[test]
    fn resource_names() {
        for good in ["dev", "a", "prod-2", "x23456789012345678901234"] {
            assert_eq!(resource_name(good, "env name"), Ok(()), "{good}");
        }
        for bad in ["", "Dev", "dev_1", "-dev", "dev-", "x234567890123456789012345", "dév"] {
            assert!(resource_name(bad, "env name").is_err(), "{bad}");
        }
    }

    #[test]
    fn database_names() {
        assert_eq!(database_name("appdb"), Ok(()));
        assert_eq!(database_name("_x9"), Ok(()));
        assert!(database_name("9x").is_err());
        assert!(database_name("App").is_err());
        assert!(database_name("app-db").is_err());
        assert!(database_name("").is_err());
        assert!(database_name(&"a".repeat(65)).is_err());
        assert_eq!(
            database_name("mysql"),
            Err("\"mysql\" is a system schema of the server; valid: any other name, e.g. \"appdb\"".into())
        );
    }

    #[test]
    fn instance_type_shapes() {
        assert!(instance_type_shape("m5.large"));
        assert!(instance_type_shape("u-6tb1.metal"));
        assert!(instance_type_shape("c7i.metal-24xl"));
        for bad in ["m5", "m5.", ".large", "M5.large", "m5.large.x", "m5 .large"] {
            assert!(!instance_type_shape(bad), "{bad}");
        }
    }

    #[test]
    fn fis_leads() {
        assert_eq!(fis_lead("PT2M"), Ok(120));
        assert_eq!(fis_lead("PT15M"), Ok(900));
        assert_eq!(fis_lead("PT150S"), Ok(150));
        assert_eq!(fis_lead("PT2M30S"), Ok(150));
        assert_eq!(
            fis_lead("PT1M"),
            Err("\"PT1M\" is 60 seconds, outside what AWS FIS accepts; valid: an ISO-8601 duration from PT2M to \
                 PT15M, e.g. \"PT2M\", \"PT150S\""
                .into())
        );
        assert!(fis_lead("PT16M").is_err());
        assert!(fis_lead("PT1H").is_err());
        for bad in ["", "PT", "2M", "PT2", "PTM", "PT2M2M", "PT30S2M", "P1D", "pt2m", "PT2.5M", "PT-2M"] {
            assert!(fis_lead(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn queue_names() {
        assert_eq!(queue_name("jobs"), Ok(()));
        assert_eq!(queue_name("Jobs_2-x"), Ok(()));
        assert!(queue_name("jobs.fifo").is_err_and(|e| e.contains("FIFO")));
        assert!(queue_name("").is_err());
        assert!(queue_name("a b").is_err());
        assert!(queue_name(&"q".repeat(41)).is_err());
        assert!(queue_name("jobs-dead").is_err_and(|e| e.contains("dead-letter")));
        assert!(queue_name("dead-letters").is_err());
        assert_eq!(queue_name("deadline"), Ok(()));
    }
}
