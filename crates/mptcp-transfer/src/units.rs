//! Rates, sizes and round-trip times for people.

/// Formats bits per second (`47.8 Mbit/s`).
///
/// # Examples
///
/// ```
/// use mptcp_transfer::units::fmt_rate;
///
/// assert_eq!(fmt_rate(47.85e6), "47.9 Mbit/s");
/// assert_eq!(fmt_rate(21.3e9), "21.30 Gbit/s");
/// ```
pub fn fmt_rate(bps: f64) -> String {
    if bps >= 1e9 {
        format!("{:.2} Gbit/s", bps / 1e9)
    } else if bps >= 1e6 {
        format!("{:.1} Mbit/s", bps / 1e6)
    } else if bps >= 1e3 {
        format!("{:.1} kbit/s", bps / 1e3)
    } else {
        format!("{bps:.0} bit/s")
    }
}

/// Formats a byte count (`12.3 MiB`).
///
/// # Examples
///
/// ```
/// assert_eq!(mptcp_transfer::units::fmt_bytes(3_000_001), "2.9 MiB");
/// ```
pub fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b} B")
    }
}

/// Formats an RTT in microseconds: `42 us` below a millisecond, else `12.3 ms`.
///
/// # Examples
///
/// ```
/// use mptcp_transfer::units::fmt_rtt;
///
/// assert_eq!((fmt_rtt(42).as_str(), fmt_rtt(12_345).as_str()), ("42 us", "12.3 ms"));
/// ```
pub fn fmt_rtt(us: u32) -> String {
    if us < 1000 {
        format!("{us} us")
    } else {
        format!("{:.1} ms", f64::from(us) / 1000.0)
    }
}

/// Parses a size: digits with an optional K, M, G or T suffix (powers of
/// 1024, an optional trailing `B` or `iB` is accepted).
///
/// # Examples
///
/// ```
/// use mptcp_transfer::units::parse_size;
///
/// assert_eq!(parse_size("1.5M"), Some(1_572_864));
/// assert_eq!(parse_size("2GiB"), Some(2 << 30));
/// assert_eq!(parse_size("lots"), None);
/// ```
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let t = t.strip_suffix("iB").or_else(|| t.strip_suffix('B')).unwrap_or(t);
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_lowercase() {
                'k' => 1 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                't' => 1 << 40,
                _ => return None,
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let r = v * mult as f64;
    (r <= u64::MAX as f64).then_some(r as u64)
}

/// Parses a rate in bits per second: a number with an optional k, M, G or T
/// (powers of 1000, as iperf3's `-b`) and an optional `bit`, `bit/s`,
/// `bps` or `b` after it: `100M`, `1.5Gbit/s`, `500kbps`.
///
/// # Examples
///
/// ```
/// use mptcp_transfer::units::parse_rate;
///
/// assert_eq!(parse_rate("1.5Gbit/s"), Some(1_500_000_000));
/// assert_eq!(parse_rate("500kbps"), Some(500_000));
/// ```
pub fn parse_rate(s: &str) -> Option<u64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let t = ["bit/s", "bits/s", "bps", "bit", "b"].iter().find_map(|u| lower.strip_suffix(u)).unwrap_or(&lower);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1e3),
        Some('m') => (&t[..t.len() - 1], 1e6),
        Some('g') => (&t[..t.len() - 1], 1e9),
        Some('t') => (&t[..t.len() - 1], 1e12),
        _ => (t, 1.0),
    };
    let v: f64 = num.trim().parse().ok()?;
    let r = v * mult;
    (r.is_finite() && r >= 0.0 && r <= u64::MAX as f64).then_some(r as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_is_readable_on_loopback_and_wan() {
        assert_eq!(fmt_rtt(42), "42 us");
        assert_eq!(fmt_rtt(12_345), "12.3 ms");
    }

    #[test]
    fn rates_and_bytes() {
        assert_eq!(fmt_rate(47.85e6), "47.9 Mbit/s");
        assert_eq!(fmt_rate(21.3e9), "21.30 Gbit/s");
        assert_eq!(fmt_rate(800.0), "800 bit/s");
        assert_eq!(fmt_bytes(3_000_001), "2.9 MiB");
        assert_eq!(fmt_bytes(512), "512 B");
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("100M"), Some(100_000_000));
        assert_eq!(parse_rate("1.5Gbit/s"), Some(1_500_000_000));
        assert_eq!(parse_rate("500kbps"), Some(500_000));
        assert_eq!(parse_rate("10mbit"), Some(10_000_000));
        assert_eq!(parse_rate("64000"), Some(64_000));
        assert_eq!(parse_rate("garbage"), None);
        assert_eq!(parse_rate("-5M"), None);
        assert_eq!(parse_rate("1e30"), None);
        assert_eq!(parse_rate(""), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("4K"), Some(4096));
        assert_eq!(parse_size("1.5M"), Some(1_572_864));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("3MB"), Some(3 << 20));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("5Q"), None);
        assert_eq!(parse_size(""), None);
    }
}
