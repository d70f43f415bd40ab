//! Parsers for the command line: rates, times, percentages, sizes, loss
//! models, queues, outages and whole link specs, in tc's units where tc
//! has them.
//!
//! | what | forms | notes |
//! |---|---|---|
//! | rate | `10mbit`, `1gbit`, `500kbit`, `64000bit`, `1.5mbit`, `2mibit`, `unlimited`, `trace:FILE` | tc's bit units (k = 1000, ki = 1024). tc's `kbps`/`mbps` mean *bytes* per second: refused, to avoid an 8x mistake |
//! | time | `10ms`, `1.5s`, `250us`, `100ns`, `0` | `s`/`sec`/`secs`, `ms`/`msec`/`msecs`, `us`/`usec`/`usecs`, `ns`; a bare number other than 0 is refused (tc would read it as microseconds) |
//! | percent | `0.5%`, `1%`, `100%` | |
//! | size | `64kb`, `1500b`, `1mb`, `2gb`, `1000` | tc's size units: `k`/`kb` = 1024 bytes, `m`/`mb` = 1024², `g`/`gb` = 1024³ |
//! | loss | `none`, `1%`, `ge:1%,4`, `gemodel:1%,25%[,100%[,0%]]` | `ge:MEAN,BURST`: Gilbert with that mean loss and mean burst length (packets); `gemodel:` is netem's `gemodel p r 1-h 1-k` |
//! | queue | `unlimited`, `64kb`, `50ms` | a size in bytes, or the longest wait before service starts |
//! | outage | `none`, `2s+500ms`, `2s+500ms,10s+1s`, `1s+200ms/5s` | `START+DURATION` windows from the start; `/PERIOD` repeats them |
//!
//! A link spec is `key=value` pairs separated by spaces (or `;`):
//! `rate=`, `delay=`, `jitter=`, `loss=`, `queue=`, `outage=`, `seed=`
//! and the flag `reorder` (or `reorder=yes|no`), e.g.
//! `rate=10mbit delay=20ms jitter=2ms loss=ge:1%,4 queue=50ms seed=7`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::model::{GilbertElliott, LinkConfig, Loss, Outages, QueueLimit, Rate, Trace};
use crate::Error;

fn bad(what: &str, input: &str, reason: impl Into<String>) -> Error {
    Error::Parse { what: what.to_string(), input: input.to_string(), reason: reason.into() }
}

/// Splits `12.5mbit` into (`12.5`, `mbit`).
fn split_number(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// A non-negative decimal number (`12`, `1.5`, `.5`), exactly.
fn number(what: &str, input: &str, digits: &str) -> Result<f64, Error> {
    if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
        return Err(bad(what, input, "expected a number first"));
    }
    digits.parse::<f64>().map_err(|_| bad(what, input, "expected a number first"))
}

fn scaled(what: &str, input: &str, value: f64, scale: f64, max: f64) -> Result<u64, Error> {
    let v = (value * scale).round();
    if !(v.is_finite() && v <= max) {
        return Err(bad(what, input, "too large"));
    }
    Ok(v as u64)
}

/// Parses a rate in bits per second: `10mbit`, `1gbit`, `500kbit`, `100bit`.
///
/// # Errors
///
/// [`Error::Parse`] naming the input and what was expected.
///
/// # Examples
///
/// ```
/// use mptcp_linkem::parse::rate_bps;
/// assert_eq!(rate_bps("10mbit")?, 10_000_000);
/// assert_eq!(rate_bps("1.5Gbit")?, 1_500_000_000);
/// assert_eq!(rate_bps("2kibit")?, 2048);
/// assert!(rate_bps("10mbps").unwrap_err().to_string().contains("bytes per second"));
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
pub fn rate_bps(s: &str) -> Result<u64, Error> {
    const WHAT: &str = "rate";
    let t = s.trim().to_ascii_lowercase();
    let (digits, unit) = split_number(&t);
    let scale = match unit {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "tbit" => 1e12,
        "kibit" => 1024.0,
        "mibit" => 1024.0 * 1024.0,
        "gibit" => 1024.0 * 1024.0 * 1024.0,
        "tibit" => 1024.0f64.powi(4),
        "bps" | "kbps" | "mbps" | "gbps" | "tbps" | "kibps" | "mibps" | "gibps" => {
            return Err(bad(
                WHAT,
                s,
                format!(
                    "tc reads `{unit}` as bytes per second, others as bits: write bits, e.g. `{}{}bit`",
                    digits,
                    &unit[..unit.len() - 3]
                ),
            ))
        }
        "" => return Err(bad(WHAT, s, "a unit is needed: bit, kbit, mbit, gbit (e.g. `10mbit`)")),
        _ => return Err(bad(WHAT, s, format!("unknown unit `{unit}`: use bit, kbit, mbit or gbit (e.g. `10mbit`)"))),
    };
    let v = scaled(WHAT, s, number(WHAT, s, digits)?, scale, u64::MAX as f64 / 2.0)?;
    if v == 0 {
        return Err(bad(WHAT, s, "a rate must be above 0 (use `unlimited` for no limit)"));
    }
    Ok(v)
}

/// Parses a time: `10ms`, `1.5s`, `250us`, `100ns`, `0`.
///
/// # Errors
///
/// [`Error::Parse`] for a missing or unknown unit, or a bad number.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mptcp_linkem::parse::duration;
/// assert_eq!(duration("10ms")?, Duration::from_millis(10));
/// assert_eq!(duration("0.5ms")?, Duration::from_micros(500));
/// assert_eq!(duration("2sec")?, Duration::from_secs(2));
/// assert!(duration("10").is_err());
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
pub fn duration(s: &str) -> Result<Duration, Error> {
    const WHAT: &str = "time";
    let t = s.trim().to_ascii_lowercase();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let (digits, unit) = split_number(&t);
    let scale = match unit {
        "s" | "sec" | "secs" => 1e9,
        "ms" | "msec" | "msecs" => 1e6,
        "us" | "usec" | "usecs" => 1e3,
        "ns" | "nsec" | "nsecs" => 1.0,
        "" => return Err(bad(WHAT, s, "a unit is needed: s, ms, us or ns (e.g. `10ms`)")),
        _ => return Err(bad(WHAT, s, format!("unknown unit `{unit}`: use s, ms, us or ns (e.g. `10ms`)"))),
    };
    // At most about 4.6 years: far beyond any emulation, and no overflow.
    let ns = scaled(WHAT, s, number(WHAT, s, digits)?, scale, (u64::MAX / 4) as f64)?;
    Ok(Duration::from_nanos(ns))
}

/// Parses a percentage into a probability: `0.5%` -> 0.005.
///
/// # Errors
///
/// [`Error::Parse`] without `%`, or outside 0%..100%.
///
/// # Examples
///
/// ```
/// assert_eq!(mptcp_linkem::parse::percent("1%")?, 0.01);
/// assert!(mptcp_linkem::parse::percent("101%").is_err());
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
pub fn percent(s: &str) -> Result<f64, Error> {
    const WHAT: &str = "percentage";
    let t = s.trim();
    let Some(digits) = t.strip_suffix('%') else {
        return Err(bad(WHAT, s, "expected a percentage such as `0.5%`"));
    };
    let v = number(WHAT, s, digits)?;
    if v > 100.0 {
        return Err(bad(WHAT, s, "must be between 0% and 100%"));
    }
    Ok(v / 100.0)
}

/// Parses a size in bytes, tc's way: `64kb` = 65536, `1500b`, `1mb`, `1000`.
///
/// # Errors
///
/// [`Error::Parse`] for an unknown unit or a bad number.
///
/// # Examples
///
/// ```
/// assert_eq!(mptcp_linkem::parse::size_bytes("64kb")?, 65536);
/// assert_eq!(mptcp_linkem::parse::size_bytes("1500")?, 1500);
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
pub fn size_bytes(s: &str) -> Result<u64, Error> {
    const WHAT: &str = "size";
    let t = s.trim().to_ascii_lowercase();
    let (digits, unit) = split_number(&t);
    let scale = match unit {
        "" | "b" => 1.0,
        "k" | "kb" => 1024.0,
        "m" | "mb" => 1024.0 * 1024.0,
        "g" | "gb" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad(WHAT, s, format!("unknown unit `{unit}`: use b, kb, mb or gb (tc's: kb = 1024 bytes)"))),
    };
    scaled(WHAT, s, number(WHAT, s, digits)?, scale, (u64::MAX / 4) as f64)
}

/// Parses a loss model: `none`, `1%`, `ge:1%,4` (mean loss, mean burst
/// length in packets) or `gemodel:P,R[,1-H[,1-K]]` (netem's form, percentages).
///
/// # Errors
///
/// [`Error::Parse`] or [`Error::Config`] saying what is wrong.
///
/// # Examples
///
/// ```
/// use mptcp_linkem::{parse::loss, GilbertElliott, Loss};
/// assert_eq!(loss("0.1%")?, Loss::Bernoulli(0.001));
/// assert_eq!(loss("ge:1%,4")?, Loss::GilbertElliott(GilbertElliott::from_mean(0.01, 4.0)?));
/// assert_eq!(loss("gemodel:1%,25%")?, Loss::GilbertElliott(GilbertElliott::new(0.01, 0.25, 1.0, 0.0)?));
/// assert!(loss("gemodel:1%,4").unwrap_err().to_string().contains("write `ge:1%,4`"));
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
pub fn loss(s: &str) -> Result<Loss, Error> {
    const WHAT: &str = "loss";
    let t = s.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(Loss::None);
    }
    if let Some(rest) = t.strip_prefix("ge:") {
        let parts: Vec<&str> = rest.split(',').collect();
        let [mean, burst] = parts[..] else {
            return Err(bad(
                WHAT,
                s,
                "expected `ge:MEAN%,BURST`, e.g. `ge:1%,4` (1% loss in bursts of 4 packets on average)",
            ));
        };
        let burst: f64 = burst
            .trim()
            .parse()
            .map_err(|_| bad(WHAT, s, format!("`{burst}` is not a mean burst length in packets (e.g. 4)")))?;
        return Ok(Loss::GilbertElliott(GilbertElliott::from_mean(percent(mean)?, burst)?));
    }
    if let Some(rest) = t.strip_prefix("gemodel:") {
        let parts: Vec<&str> = rest.split(',').collect();
        if !(2..=4).contains(&parts.len()) {
            return Err(bad(WHAT, s, "expected `gemodel:P%,R%[,1-H%[,1-K%]]`, e.g. `gemodel:1%,25%`"));
        }
        if parts.len() == 2 && !parts[1].trim().ends_with('%') {
            return Err(bad(
                WHAT,
                s,
                format!(
                    "gemodel takes netem's probabilities (`gemodel:P%,R%`); for a mean loss and a mean burst \
                     length write `ge:{},{}`",
                    parts[0].trim(),
                    parts[1].trim()
                ),
            ));
        }
        let v: Vec<f64> = parts.iter().map(|p| percent(p)).collect::<Result<_, _>>()?;
        let lb = v.get(2).copied().unwrap_or(1.0);
        let lg = v.get(3).copied().unwrap_or(0.0);
        return Ok(Loss::GilbertElliott(GilbertElliott::new(v[0], v[1], lb, lg)?));
    }
    if t.ends_with('%') {
        let p = percent(t)?;
        return Ok(if p == 0.0 { Loss::None } else { Loss::Bernoulli(p) });
    }
    Err(bad(WHAT, s, "expected `none`, a percentage (`1%`), `ge:MEAN%,BURST` or `gemodel:P%,R%[,1-H%[,1-K%]]`"))
}

/// Parses a queue bound: `unlimited`, a size (`64kb`) or a time (`50ms`).
///
/// # Errors
///
/// [`Error::Parse`] when it is neither.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mptcp_linkem::{parse::queue, QueueLimit};
/// assert_eq!(queue("64kb")?, QueueLimit::Bytes(65536));
/// assert_eq!(queue("50ms")?, QueueLimit::Time(Duration::from_millis(50)));
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
pub fn queue(s: &str) -> Result<QueueLimit, Error> {
    let t = s.trim().to_ascii_lowercase();
    if t == "unlimited" {
        return Ok(QueueLimit::Unlimited);
    }
    let (_, unit) = split_number(&t);
    let q = if matches!(unit, "s" | "sec" | "secs" | "ms" | "msec" | "msecs" | "us" | "usec" | "usecs" | "ns") {
        QueueLimit::Time(duration(s)?)
    } else {
        QueueLimit::Bytes(
            size_bytes(s)
                .map_err(|_| bad("queue", s, "expected `unlimited`, a size (`64kb`, `1500b`) or a time (`50ms`)"))?,
        )
    };
    match q {
        QueueLimit::Bytes(0) | QueueLimit::Time(Duration::ZERO) => {
            Err(bad("queue", s, "must be above 0 (or `unlimited`)"))
        }
        q => Ok(q),
    }
}

/// Parses outages: `none`, `START+DURATION[,START+DURATION...][/PERIOD]`.
///
/// # Errors
///
/// [`Error::Parse`] for a malformed window, [`Error::Config`] for a window
/// that does not fit in its period.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let o = mptcp_linkem::parse::outages("1s+200ms/5s")?;
/// assert_eq!(o.windows, vec![(Duration::from_secs(1), Duration::from_millis(200))]);
/// assert_eq!(o.period, Some(Duration::from_secs(5)));
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
pub fn outages(s: &str) -> Result<Outages, Error> {
    const WHAT: &str = "outage";
    let t = s.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(Outages::default());
    }
    let (list, period) = match t.split_once('/') {
        Some((l, p)) => (l, Some(duration(p)?)),
        None => (t, None),
    };
    let mut windows = Vec::new();
    for w in list.split(',') {
        let Some((start, dur)) = w.split_once('+') else {
            return Err(bad(WHAT, s, format!("`{w}` is not START+DURATION (e.g. `2s+500ms`)")));
        };
        let (start, dur) = (duration(start)?, duration(dur)?);
        if dur.is_zero() {
            return Err(bad(WHAT, s, format!("`{w}` lasts 0")));
        }
        windows.push((start, dur));
    }
    let o = Outages { windows, period };
    LinkConfig { outages: o.clone(), ..LinkConfig::default() }.validate()?;
    Ok(o)
}

/// Parses a rate spec: `unlimited`, `trace:FILE` (read now) or a rate.
fn rate(s: &str) -> Result<Rate, Error> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("unlimited") {
        Ok(Rate::Unlimited)
    } else if let Some(path) = t.strip_prefix("trace:") {
        Ok(Rate::Trace(Arc::new(Trace::from_file(path)?)))
    } else {
        Ok(Rate::Fixed(rate_bps(t)?))
    }
}

const KEYS: &str = "rate, delay, jitter, loss, queue, outage, seed, reorder";

impl FromStr for LinkConfig {
    type Err = Error;

    /// Parses a link spec: `key=value` pairs separated by spaces or `;`
    /// (see the [module docs](crate::parse)); unset keys keep their
    /// defaults (no limit, no delay, no loss). `rate=trace:FILE` reads the
    /// file now.
    fn from_str(s: &str) -> Result<LinkConfig, Error> {
        let mut c = LinkConfig::default();
        let mut seen: Vec<&str> = Vec::new();
        for item in s.split(|ch: char| ch.is_whitespace() || ch == ';').filter(|i| !i.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k, v),
                None if item == "reorder" => ("reorder", "yes"),
                None => {
                    return Err(bad("link spec", s, format!("`{item}` is not key=value (keys: {KEYS})")));
                }
            };
            let canonical = if key == "outages" { "outage" } else { key };
            if seen.contains(&canonical) {
                return Err(bad("link spec", s, format!("`{canonical}` is given twice")));
            }
            seen.push(canonical);
            match key {
                "rate" => c.rate = rate(value)?,
                "delay" => c.delay = duration(value)?,
                "jitter" => c.jitter = duration(value)?,
                "loss" => c.loss = loss(value)?,
                "queue" => c.queue = queue(value)?,
                "outage" | "outages" => c.outages = outages(value)?,
                "seed" => {
                    c.seed = value
                        .parse()
                        .map_err(|_| bad("seed", value, "expected a whole number from 0 to 18446744073709551615"))?
                }
                "reorder" => {
                    c.reorder = match value {
                        "yes" | "true" | "1" | "on" => true,
                        "no" | "false" | "0" | "off" => false,
                        _ => return Err(bad("reorder", value, "expected yes or no")),
                    }
                }
                _ => return Err(bad("link spec", s, format!("unknown key `{key}` (keys: {KEYS})"))),
            }
        }
        c.validate()?;
        Ok(c)
    }
}

/// Writes a duration in the largest unit that keeps it exact.
struct Time(Duration);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        if ns == 0 {
            f.write_str("0")
        } else if ns % 1_000_000_000 == 0 {
            write!(f, "{}s", ns / 1_000_000_000)
        } else if ns % 1_000_000 == 0 {
            write!(f, "{}ms", ns / 1_000_000)
        } else if ns % 1_000 == 0 {
            write!(f, "{}us", ns / 1_000)
        } else {
            write!(f, "{ns}ns")
        }
    }
}

/// A probability as a percentage that parses back to the same value.
struct Pct(f64);

impl fmt::Display for Pct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0 * 100.0)
    }
}

impl fmt::Display for LinkConfig {
    /// The spec form, which [`LinkConfig::from_str`](#impl-FromStr-for-LinkConfig)
    /// parses back (a trace as `rate=trace:NAME`, its file's path).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rate {
            Rate::Unlimited => f.write_str("rate=unlimited")?,
            Rate::Fixed(bps) => write!(f, "rate={bps}bit")?,
            Rate::Trace(t) => write!(f, "rate=trace:{}", t.name())?,
        }
        write!(f, " delay={} jitter={}", Time(self.delay), Time(self.jitter))?;
        match &self.loss {
            Loss::None => f.write_str(" loss=none")?,
            Loss::Bernoulli(p) => write!(f, " loss={}", Pct(*p))?,
            Loss::GilbertElliott(g) => {
                write!(f, " loss=gemodel:{},{},{},{}", Pct(g.p), Pct(g.r), Pct(g.loss_bad), Pct(g.loss_good))?
            }
        }
        match self.queue {
            QueueLimit::Unlimited => f.write_str(" queue=unlimited")?,
            QueueLimit::Bytes(b) => write!(f, " queue={b}b")?,
            QueueLimit::Time(t) => write!(f, " queue={}", Time(t))?,
        }
        if !self.outages.is_empty() {
            f.write_str(" outage=")?;
            for (i, (s, d)) in self.outages.windows.iter().enumerate() {
                write!(f, "{}{}+{}", if i > 0 { "," } else { "" }, Time(*s), Time(*d))?;
            }
            if let Some(p) = self.outages.period {
                write!(f, "/{}", Time(p))?;
            }
        }
        if self.reorder {
            f.write_str(" reorder")?;
        }
        write!(f, " seed={}", self.seed)
    }
}

#[cfg(test)]
#[path = "parse_props.rs"]
mod props;
