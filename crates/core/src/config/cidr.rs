//! CIDR blocks for the security group rules (`access.ssh_cidrs`, `access.mysql_cidrs`).
//!
//! Parsed here rather than by EC2 so that a typo is refused with the file and line before any AWS
//! call, and kept in one canonical spelling so that the rules spotctl compares match what EC2 reads
//! back. A block with host bits set is refused with its network form: EC2 would silently widen
//! `10.0.0.1/8` to `10.0.0.0/8`, and spotctl would then see a difference on every plan.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 or IPv6 block whose host bits are all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// What a valid block looks like, for error messages.
const FORMAT: &str = "an IPv4 block a.b.c.d/n (n from 0 to 32) or an IPv6 block such as \"2001:db8::/32\"";

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let Some((addr, prefix)) = text.split_once('/') else {
            return Err(match text.parse::<IpAddr>() {
                Ok(ip) => {
                    let one = if ip.is_ipv4() { 32 } else { 128 };
                    format!("{text:?} has no prefix length; valid: \"{ip}/{one}\" for that one address")
                }
                Err(_) => format!("{text:?} is not a CIDR block; valid: {FORMAT}"),
            });
        };
        let addr: IpAddr =
            addr.parse().map_err(|_| format!("{text:?} is not a CIDR block; valid: {FORMAT}"))?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix.parse::<u8>() {
            Ok(p) if p <= max && !prefix.starts_with('+') => p,
            _ => return Err(format!("{text:?} has a bad prefix length; valid: /0 to /{max}")),
        };
        let network = mask(addr, prefix);
        if network != addr {
            return Err(format!(
                "{text:?} has host bits set; valid: the network address \"{network}/{prefix}\""
            ));
        }
        Ok(Cidr { addr, prefix })
    }

    /// Whether the block is the whole address space (`0.0.0.0/0` or `::/0`).
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }

    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }
}

/// The address families whose whole public space a set of blocks covers (IPv4 first).
///
/// `0.0.0.0/0` is the obvious way to open a port to everybody; `0.0.0.0/1` + `128.0.0.0/1`, or
/// every public /8 listed one by one, is the same thing spelled otherwise. So the blocks are merged
/// and compared with the public space itself: all of IPv4 except the ranges that are never routed
/// on the internet (RFC 6890: this network, private, shared, loopback, link-local, documentation,
/// benchmarking, multicast and reserved), and IPv6's global unicast `2000::/3`.
pub fn covers_public_internet(blocks: &[Cidr]) -> Vec<Family> {
    let v4: Vec<(u128, u128)> = blocks.iter().filter(|c| !c.is_ipv6()).map(Cidr::range).collect();
    let v6: Vec<(u128, u128)> = blocks.iter().filter(|c| c.is_ipv6()).map(Cidr::range).collect();
    let public_v4 = subtract((0, u128::from(u32::MAX)), &NOT_PUBLIC_V4.map(block_range));
    let public_v6 = [block_range(("2000::", 3))];
    let mut out = Vec::new();
    if !v4.is_empty() && covers(&merge(v4), &public_v4) {
        out.push(Family::V4);
    }
    if !v6.is_empty() && covers(&merge(v6), &public_v6) {
        out.push(Family::V6);
    }
    out
}

/// IPv4 or IPv6, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// IPv4 ranges that are not the internet (RFC 6890 special-purpose registry, not forwardable or
/// not global).
const NOT_PUBLIC_V4: [(&str, u8); 14] = [
    ("0.0.0.0", 8),
    ("10.0.0.0", 8),
    ("100.64.0.0", 10),
    ("127.0.0.0", 8),
    ("169.254.0.0", 16),
    ("172.16.0.0", 12),
    ("192.0.0.0", 24),
    ("192.0.2.0", 24),
    ("192.168.0.0", 16),
    ("198.18.0.0", 15),
    ("198.51.100.0", 24),
    ("203.0.113.0", 24),
    ("224.0.0.0", 4),
    ("240.0.0.0", 4),
];

fn block_range((addr, prefix): (&str, u8)) -> (u128, u128) {
    let addr: IpAddr = addr.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    Cidr { addr, prefix }.range()
}

impl Cidr {
    /// First and last address, as integers (IPv4 in the low 32 bits).
    fn range(&self) -> (u128, u128) {
        let (start, bits) = match self.addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
            IpAddr::V6(a) => (u128::from(a), 128),
        };
        let host = bits - u32::from(self.prefix);
        let size_minus_one = if host == 128 { u128::MAX } else { (1u128 << host) - 1 };
        (start, start + size_minus_one)
    }
}

/// Sorted, non-overlapping, non-adjacent ranges.
fn merge(mut ranges: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    ranges.sort();
    let mut out: Vec<(u128, u128)> = Vec::new();
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// `whole` minus the holes, as sorted ranges.
fn subtract(whole: (u128, u128), holes: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    let mut next = whole.0;
    for &(lo, hi) in &merge(holes.to_vec()) {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = next.max(hi.saturating_add(1));
    }
    if next <= whole.1 {
        out.push((next, whole.1));
    }
    out
}

/// Whether every range of `wanted` lies inside one of the merged `have`.
fn covers(have: &[(u128, u128)], wanted: &[(u128, u128)]) -> bool {
    wanted.iter().all(|&(lo, hi)| have.iter().any(|&(a, b)| a <= lo && hi <= b))
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_network_block_reads_back_as_itself(bits: u32, prefix in 0u8..=32, bits6: u128, prefix6 in 0u8..=128) {
            for (addr, prefix) in [(IpAddr::V4(Ipv4Addr::from(bits)), prefix), (IpAddr::V6(Ipv6Addr::from(bits6)), prefix6)] {
                let network = Cidr { addr: mask(addr, prefix), prefix };
                prop_assert_eq!(Cidr::parse(&network.to_string()), Ok(network));
                if mask(addr, prefix) != addr {
                    let with_host_bits = format!("{addr}/{prefix}");
                    prop_assert!(Cidr::parse(&with_host_bits).is_err_and(|e| e.contains(&network.to_string())));
                }
            }
        }
    }

    fn blocks(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|t| Cidr::parse(t).unwrap_or_else(|e| panic!("{e}"))).collect()
    }

    #[test]
    fn any_spelling_of_the_whole_internet_is_seen() {
        let whole = |l: &[&str]| covers_public_internet(&blocks(l)).first().copied();
        assert_eq!(whole(&["0.0.0.0/0"]), Some(Family::V4));
        assert_eq!(whole(&["0.0.0.0/1", "128.0.0.0/1"]), Some(Family::V4));
        assert_eq!(whole(&["::/0"]), Some(Family::V6));
        assert_eq!(whole(&["2000::/4", "3000::/4"]), Some(Family::V6));
        assert_eq!(whole(&["10.0.0.0/8", "2000::/3"]), Some(Family::V6));
        // Every public /8, leaving out only what is never routed: still everybody.
        let eights: Vec<String> =
            (1..224u32).filter(|o| ![10, 127].contains(o)).map(|o| format!("{o}.0.0.0/8")).collect();
        let refs: Vec<&str> = eights.iter().map(String::as_str).collect();
        assert_eq!(whole(&refs), Some(Family::V4));
        // Half of it, or all of it but one public /24, is not the whole internet.
        assert_eq!(whole(&["0.0.0.0/1"]), None);
        assert_eq!(whole(&["0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/3"]), Some(Family::V4));
        assert_eq!(whole(&["0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/4"]), None);
        assert_eq!(whole(&["10.0.0.0/8", "192.168.0.0/16", "203.0.113.7/32"]), None);
        assert_eq!(whole(&[]), None);
        assert_eq!(covers_public_internet(&blocks(&["::/0", "0.0.0.0/0"])), [Family::V4, Family::V6]);
    }

    fn ok(text: &str) -> String {
        Cidr::parse(text).map(|c| c.to_string()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn accepts_network_blocks_in_canonical_form() {
        assert_eq!(ok("203.0.113.7/32"), "203.0.113.7/32");
        assert_eq!(ok("10.0.0.0/8"), "10.0.0.0/8");
        assert_eq!(ok("0.0.0.0/0"), "0.0.0.0/0");
        assert_eq!(ok("2001:DB8::/32"), "2001:db8::/32");
        assert_eq!(ok("2001:db8:0:0::/64"), "2001:db8::/64");
        assert_eq!(ok("::/0"), "::/0");
        assert!(Cidr::parse("::/0").is_ok_and(|c| c.is_everything() && c.is_ipv6()));
        assert!(Cidr::parse("10.0.0.0/8").is_ok_and(|c| !c.is_everything() && !c.is_ipv6()));
    }

    #[test]
    fn host_bits_are_refused_with_the_network_form() {
        assert_eq!(
            Cidr::parse("10.0.0.1/8"),
            Err("\"10.0.0.1/8\" has host bits set; valid: the network address \"10.0.0.0/8\"".into())
        );
        assert_eq!(
            Cidr::parse("2001:db8::1/32"),
            Err("\"2001:db8::1/32\" has host bits set; valid: the network address \"2001:db8::/32\"".into())
        );
    }

    #[test]
    fn malformed_blocks_are_refused() {
        assert_eq!(
            Cidr::parse("203.0.113.7"),
            Err("\"203.0.113.7\" has no prefix length; valid: \"203.0.113.7/32\" for that one address".into())
        );
        assert_eq!(
            Cidr::parse("10.0.0.0/33"),
            Err("\"10.0.0.0/33\" has a bad prefix length; valid: /0 to /32".into())
        );
        for bad in [
            "10.0.0/24",
            "10.0.0.256/32",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "/8",
            "",
            " 10.0.0.0/8",
            "x/1",
            "::/129",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
