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
