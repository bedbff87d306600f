//! IP addresses and CIDR blocks, following event-ruler's rules: a string is treated as an
//! IP address only if it looks like dotted IPv4 (`d+.d+.d+.d+`) or like IPv6 (hex digits and
//! colons with at least one colon).

use std::net::IpAddr;

/// An address as (is_v6, 128-bit value).
pub(crate) type Ip = (bool, u128);

fn looks_v4(s: &str) -> bool {
    let mut parts = 0;
    for p in s.split('.') {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        parts += 1;
    }
    parts == 4
}

fn looks_v6(s: &str) -> bool {
    s.contains(':') && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
}

/// Does the string have the shape of an IP address (before full parsing)?
pub(crate) fn looks_like_ip(s: &str) -> bool {
    looks_v4(s) || looks_v6(s)
}

/// Parse an address that has IP shape; `None` if it is not one.
pub(crate) fn parse_ip(s: &str) -> Option<Ip> {
    if !looks_like_ip(s) {
        return None;
    }
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some((false, u32::from(a) as u128)),
        IpAddr::V6(a) => Some((true, u128::from(a))),
    }
}

/// An inclusive address range from a CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpRange {
    v6: bool,
    lo: u128,
    hi: u128,
}

impl IpRange {
    /// Parse `addr/bits` with AWS's error reasons.
    pub(crate) fn parse_cidr(text: &str) -> Result<IpRange, String> {
        // Java's String.split drops trailing empty strings.
        let mut parts: Vec<&str> = text.split('/').collect();
        while parts.len() > 1 && parts.last() == Some(&"") {
            parts.pop();
        }
        if parts.len() != 2 {
            return Err("Malformed CIDR, one '/' required".into());
        }
        let bits: i64 =
            parse_java_int(parts[1]).ok_or("Malformed CIDR, mask bits must be an integer")?;
        if bits < 0 {
            return Err("Malformed CIDR, mask bits must not be negative".into());
        }
        let addr = parts[0];
        if !looks_like_ip(addr) {
            return Err(format!("Nonstandard IP address: {addr}"));
        }
        let (v6, value) = parse_ip(addr).ok_or_else(|| format!("Invalid IP address: {addr}"))?;
        let width: u32 = if v6 { 128 } else { 32 };
        if !v6 && bits > 31 {
            return Err("IPv4 mask bits must be < 32".into());
        }
        if v6 && bits > 127 {
            return Err("IPv6 mask bits must be < 128".into());
        }
        let variable = width - bits as u32;
        let mask: u128 = if variable == 0 {
            0
        } else {
            (1u128 << variable) - 1
        };
        Ok(IpRange {
            v6,
            lo: value & !mask,
            hi: value | mask,
        })
    }

    /// Is the address inside the block?
    pub(crate) fn contains(&self, ip: Ip) -> bool {
        ip.0 == self.v6 && ip.1 >= self.lo && ip.1 <= self.hi
    }
}

fn parse_java_int(s: &str) -> Option<i64> {
    let digits = s
        .strip_prefix('+')
        .or_else(|| s.strip_prefix('-'))
        .unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 10 {
        return None;
    }
    let v: i64 = s.parse().ok()?;
    if v > i32::MAX as i64 || v < i32::MIN as i64 {
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr() {
        let r = IpRange::parse_cidr("10.0.0.0/24").unwrap();
        assert!(r.contains(parse_ip("10.0.0.255").unwrap()));
        assert!(!r.contains(parse_ip("10.0.1.0").unwrap()));
        let r6 = IpRange::parse_cidr("2001:db8:1234:1a00::/64").unwrap();
        assert!(r6.contains(parse_ip("2001:db8:1234:1a00::1").unwrap()));
        assert!(!r6.contains(parse_ip("10.0.0.1").unwrap()));
        assert_eq!(
            IpRange::parse_cidr("10.0.0.0").unwrap_err(),
            "Malformed CIDR, one '/' required"
        );
        assert_eq!(
            IpRange::parse_cidr("10.0.0.0/x").unwrap_err(),
            "Malformed CIDR, mask bits must be an integer"
        );
        assert_eq!(
            IpRange::parse_cidr("xx.11.xx/8").unwrap_err(),
            "Nonstandard IP address: xx.11.xx"
        );
        assert_eq!(
            IpRange::parse_cidr("999.1.1.1/8").unwrap_err(),
            "Invalid IP address: 999.1.1.1"
        );
    }
}
