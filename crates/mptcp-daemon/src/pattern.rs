//! Interface-name patterns and address prefixes of the configuration.

use std::fmt;
use std::net::IpAddr;

/// An interface-name pattern: `*` matches any run of characters, `?` one
/// character, everything else itself (`wlan*`, `eth?`, `eno1`).
///
/// # Examples
///
/// ```
/// use mptcp_daemon::Glob;
///
/// assert!(Glob::new("wlan*").matches("wlan0"));
/// assert!(Glob::new("eth?").matches("eth1") && !Glob::new("eth?").matches("eth10"));
/// assert!(!Glob::new("eth0").matches("eth01"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    /// A pattern.
    pub fn new(pattern: &str) -> Glob {
        Glob(pattern.to_string())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let (p, n): (Vec<char>, Vec<char>) = (self.0.chars().collect(), name.chars().collect());
        // Iterative matcher with one backtracking point (the last `*`).
        let (mut pi, mut ni) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
                pi += 1;
                ni += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ni));
                pi += 1;
            } else if let Some((sp, sn)) = star {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An address prefix (`192.0.2.0/24`, `2001:db8::/32`; a bare address is a
/// host prefix).
///
/// # Examples
///
/// ```
/// use mptcp_daemon::Prefix;
///
/// let p = Prefix::parse("192.0.2.0/24").unwrap();
/// assert!(p.contains("192.0.2.7".parse().unwrap()));
/// assert!(!p.contains("192.0.3.1".parse().unwrap()));
/// assert!(!p.contains("2001:db8::1".parse().unwrap()));
/// assert!(Prefix::parse("192.0.2.0/33").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// Parses `ADDR/LEN` or `ADDR`.
    pub fn parse(s: &str) -> Result<Prefix, String> {
        let bad = || format!("\"{s}\": expected an address or a prefix, e.g. 192.0.2.0/24 or 2001:db8::/32");
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            Some(l) => l.trim().parse::<u8>().ok().filter(|&n| n <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Prefix { addr, len })
    }

    /// Whether `a` lies inside the prefix (same family only).
    pub fn contains(&self, a: IpAddr) -> bool {
        match (self.addr, a) {
            (IpAddr::V4(p), IpAddr::V4(x)) => prefix_eq(&p.octets(), &x.octets(), self.len),
            (IpAddr::V6(p), IpAddr::V6(x)) => prefix_eq(&p.octets(), &x.octets(), self.len),
            _ => false,
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

fn prefix_eq(a: &[u8], b: &[u8], len: u8) -> bool {
    let (full, rest) = ((len / 8) as usize, len % 8);
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[full] & mask == b[full] & mask
    }
}

#[cfg(test)]
#[path = "pattern_tests.rs"]
mod tests;
