//! MPTCP connection tokens: printed one way, read in every way a tool
//! prints them.
//!
//! Printed: `0x` and eight lowercase hex digits (`0x5c11f85e`) in text,
//! a number in JSON (`"token": 1544681566`, with `"token_hex"` where a
//! command prints one). iproute2 prints the same hex digits without the
//! prefix (`ss -M`: `token:5c11f85e`, `ip mptcp monitor`: `token=5c11f85e`).
//!
//! Read: `0x…` is hexadecimal; a token with a hex letter is hexadecimal;
//! eight digits with a leading zero are hexadecimal (iproute2's `%08x`);
//! other digits are ambiguous (a JSON number, or iproute2's hex without
//! letters): the reading that names a live connection of this network
//! namespace wins, decimal when the connections cannot be listed.

use crate::errors::{failure, Kind};
use crate::util::usage;

/// The printed form of a token.
pub fn fmt(token: u32) -> String {
    format!("0x{token:08x}")
}

/// What a token argument can mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Only one reading.
    Exact(u32),
    /// Digits only: decimal or iproute2's hexadecimal.
    Either {
        /// Read as decimal.
        decimal: u32,
        /// Read as hexadecimal.
        hex: u32,
    },
}

/// Reads a token argument; bad input is a usage error.
pub fn parse(s: &str) -> anyhow::Result<Reading> {
    let bad = || usage(format!("invalid token `{s}` (expected 0x and up to 8 hex digits, or a decimal number)"));
    let hex = |h: &str| if h.is_empty() || h.len() > 8 { None } else { u32::from_str_radix(h, 16).ok() };
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return hex(h).map(Reading::Exact).ok_or_else(bad);
    }
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) || s.is_empty() {
        return Err(bad());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() == 8 && s.starts_with('0')) {
        return hex(s).map(Reading::Exact).ok_or_else(bad);
    }
    Ok(match (s.parse::<u32>().ok(), hex(s)) {
        (Some(d), Some(h)) if d == h => Reading::Exact(d),
        (Some(decimal), Some(hex)) => Reading::Either { decimal, hex },
        (Some(d), None) => Reading::Exact(d),
        (None, Some(h)) => Reading::Exact(h),
        (None, None) => return Err(bad()),
    })
}

/// Reads a token argument, settling an ambiguous one with `live`: the
/// tokens of this namespace's connections (`None`: cannot be listed).
pub fn resolve(s: &str, live: impl FnOnce() -> Option<Vec<u32>>) -> anyhow::Result<u32> {
    let (decimal, hex) = match parse(s)? {
        Reading::Exact(t) => return Ok(t),
        Reading::Either { decimal, hex } => (decimal, hex),
    };
    let Some(live) = live() else { return Ok(decimal) };
    match (live.contains(&decimal), live.contains(&hex)) {
        (true, false) => Ok(decimal),
        (false, true) => Ok(hex),
        (true, true) => Err(usage(format!(
            "token `{s}` names two connections: {decimal} read as decimal and {} read as hex; write {} or {decimal}",
            fmt(hex),
            fmt(hex)
        ))),
        (false, false) => Err(failure(
            Kind::NotFound,
            format!("no MPTCP connection has token `{s}`, read as decimal ({decimal}) or as hex ({})", fmt(hex)),
        )),
    }
}

/// The tokens of the MPTCP connections in the calling thread's network
/// namespace; `None` when inet_diag cannot list them.
pub fn live_tokens() -> Option<Vec<u32>> {
    let conns = mptcp::diag::connections(&mptcp::diag::Filter::default()).ok()?;
    Some(conns.iter().filter_map(|c| c.token).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_with_prefix_and_eight_digits() {
        assert_eq!(fmt(0x5c11f85e), "0x5c11f85e");
        assert_eq!(fmt(16), "0x00000010");
    }

    #[test]
    fn every_printed_form_reads_back() {
        for t in [0u32, 7, 16, 0x5c11f85e, 0x9bff4e71, u32::MAX, 12345678] {
            // Ours, iproute2's (`%08x` and `%x`), and JSON's number.
            assert_eq!(resolve(&fmt(t), || None).unwrap(), t);
            assert_eq!(resolve(&format!("{t:08x}"), || Some(vec![t])).unwrap(), t, "{t:08x}");
            assert_eq!(resolve(&format!("{t:x}"), || Some(vec![t])).unwrap(), t, "{t:x}");
            assert_eq!(resolve(&t.to_string(), || Some(vec![t])).unwrap(), t, "{t}");
        }
    }

    #[test]
    fn digits_only_are_settled_by_the_live_connections() {
        assert_eq!(parse("12").unwrap(), Reading::Either { decimal: 12, hex: 0x12 });
        assert_eq!(parse("9").unwrap(), Reading::Exact(9));
        assert_eq!(parse("0x12").unwrap(), Reading::Exact(0x12));
        assert_eq!(parse("00000012").unwrap(), Reading::Exact(0x12), "iproute2's %08x");
        assert_eq!(parse("123456789").unwrap(), Reading::Exact(123_456_789), "too long for hex");
        assert_eq!(resolve("12", || Some(vec![0x12])).unwrap(), 0x12);
        assert_eq!(resolve("12", || Some(vec![12])).unwrap(), 12);
        assert_eq!(resolve("12", || None).unwrap(), 12, "decimal when nothing can be listed");
        let none = resolve("12", || Some(vec![])).unwrap_err();
        assert_eq!(crate::errors::kind_of(&none), Kind::NotFound);
        assert!(none.to_string().contains("0x00000012"), "{none}");
        let both = resolve("12", || Some(vec![12, 0x12])).unwrap_err();
        assert_eq!(crate::errors::kind_of(&both), Kind::Usage);
    }

    #[test]
    fn bad_tokens_are_usage_errors() {
        for s in ["", "0x", "zz", "0x1ffffffff", "-1", "1 2", "0x-1", "99999999999", "4294967296"] {
            let e = parse(s).unwrap_err();
            assert_eq!(crate::errors::kind_of(&e), Kind::Usage, "{s:?}");
        }
    }
}
