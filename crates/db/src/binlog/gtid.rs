//! MariaDB global transaction ids (`domain-server-seq`) and the binary log state they add up to.
//!
//! In a server with `gtid_strict_mode`, each domain's sequence numbers grow by exactly one per
//! transaction, across files, restarts and (spotctl sees to it) timelines. [`State`] keeps the
//! last GTID of every domain and server, as `gtid_binlog_state` does, and refuses a transaction
//! whose number is not the next one of its domain: a missing transaction is a gap, never skipped.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gtid {
    pub domain: u32,
    pub server: u32,
    pub seq: u64,
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

impl std::str::FromStr for Gtid {
    type Err = String;
    fn from_str(s: &str) -> Result<Gtid, String> {
        let bad = || format!("{s:?} is not a GTID (domain-server-sequence, e.g. 0-1-42)");
        let mut parts = s.trim().splitn(3, '-');
        let mut num = || parts.next().ok_or_else(bad);
        let (d, sv, q) = (num()?, num()?, num()?);
        Ok(Gtid {
            domain: d.parse().map_err(|_| bad())?,
            server: sv.parse().map_err(|_| bad())?,
            seq: q.parse().map_err(|_| bad())?,
        })
    }
}

/// A transaction whose number does not follow its domain's last one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GTID {found} does not follow {last} (a transaction of domain {domain} is missing or repeated)")]
pub struct Discontinuity {
    pub domain: u32,
    pub last: Gtid,
    pub found: Gtid,
}

/// The last GTID of each (domain, server): the binary log state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    last: BTreeMap<(u32, u32), u64>,
}

impl State {
    pub fn from_list(list: &[Gtid]) -> State {
        let mut s = State::default();
        for g in list {
            s.last.insert((g.domain, g.server), g.seq);
        }
        s
    }

    /// Parses `gtid_binlog_state` text (`0-1-10,0-2-12`); empty text is the empty state.
    pub fn parse(text: &str) -> Result<State, String> {
        let list = text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Gtid>, String>>()?;
        Ok(State::from_list(&list))
    }

    /// The last GTID of `domain` (the highest number among its servers), if any.
    pub fn last_in(&self, domain: u32) -> Option<Gtid> {
        self.last
            .iter()
            .filter(|((d, _), _)| *d == domain)
            .map(|(&(domain, server), &seq)| Gtid { domain, server, seq })
            .max_by_key(|g| g.seq)
    }

    /// The position: each domain's last GTID, as `gtid_binlog_pos` and `BINLOG_GTID_POS()` show it.
    pub fn position(&self) -> Vec<Gtid> {
        let domains: std::collections::BTreeSet<u32> = self.last.keys().map(|(d, _)| *d).collect();
        domains.into_iter().filter_map(|d| self.last_in(d)).collect()
    }

    /// Records `g`, which must be its domain's next transaction (any number starts a domain).
    pub fn advance(&mut self, g: Gtid) -> Result<(), Discontinuity> {
        if let Some(last) = self.last_in(g.domain) {
            if g.seq != last.seq + 1 {
                return Err(Discontinuity { domain: g.domain, last, found: g });
            }
        }
        self.last.insert((g.domain, g.server), g.seq);
        Ok(())
    }

    /// Whether both states are at the same place in every domain.
    pub fn same_position(&self, other: &State) -> bool {
        self.position() == other.position()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// Whether this state holds every transaction of `position` (each of its domains reached at
    /// least as far): a replay that reached this state lacks nothing up to that position.
    pub fn covers(&self, position: &State) -> bool {
        position.position().iter().all(|g| self.last_in(g.domain).is_some_and(|mine| mine.seq >= g.seq))
    }
}

impl fmt::Display for State {
    /// `gtid_binlog_state` text: every (domain, server), in order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .last
            .iter()
            .map(|(&(domain, server), &seq)| Gtid { domain, server, seq }.to_string())
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// `0-1-5,1-1-9`: a position as text.
pub fn position_text(position: &[Gtid]) -> String {
    position.iter().map(Gtid::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> Gtid {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_state_covers_a_position_when_every_domain_reached_it() {
        let st = |t: &str| State::parse(t).unwrap_or_else(|e| panic!("{e}"));
        let shipped = st("0-1-10,0-2-12,1-1-5");
        assert!(shipped.covers(&st("0-2-12")));
        assert!(shipped.covers(&st("0-1-11,1-1-5")), "the highest number of a domain counts");
        assert!(shipped.covers(&st("")), "nothing to cover");
        assert!(!shipped.covers(&st("0-2-13")), "one transaction short");
        assert!(!shipped.covers(&st("0-2-12,2-1-1")), "a domain it never saw");
        assert!(!st("").covers(&st("0-1-1")));
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(g("0-1-42"), Gtid { domain: 0, server: 1, seq: 42 });
        assert_eq!(g("3-1001-7").to_string(), "3-1001-7");
        for bad in ["", "0-1", "a-1-2", "0-1-2-3", "-1-1"] {
            assert!(bad.parse::<Gtid>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_domain_moves_by_one_whichever_server_writes() -> Result<(), Discontinuity> {
        let mut s = State::parse("0-1-10").map_err(|_| Discontinuity {
            domain: 0,
            last: g("0-0-0"),
            found: g("0-0-0"),
        })?;
        s.advance(g("0-1-11"))?;
        s.advance(g("0-2-12"))?; // a new timeline's server continues the domain
        s.advance(g("5-2-1"))?; // a new domain starts anywhere
        assert_eq!(s.to_string(), "0-1-11,0-2-12,5-2-1");
        assert_eq!(position_text(&s.position()), "0-2-12,5-2-1");
        let gap = s.advance(g("0-2-14"));
        assert_eq!(gap, Err(Discontinuity { domain: 0, last: g("0-2-12"), found: g("0-2-14") }));
        assert!(s.advance(g("0-2-12")).is_err(), "a repeat is refused too");
        Ok(())
    }
}
