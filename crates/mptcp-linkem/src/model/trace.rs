//! Mahimahi traces: one line per 1500-byte delivery opportunity.

use std::path::Path;

use crate::Error;

/// A mahimahi trace: each line is the time, in milliseconds from the start,
/// of one opportunity to deliver 1500 bytes; several lines may carry the
/// same time (several opportunities in that millisecond). The trace loops:
/// after its last timestamp it starts again, shifted by that timestamp.
///
/// A constant 12 Mbit/s is one line per millisecond (`1`, `2`, ..., `N`):
/// 1500 bytes per ms.
///
/// # Examples
///
/// ```
/// use mptcp_linkem::Trace;
/// let t = Trace::parse("1\n2\n2\n4\n", "example")?;
/// assert_eq!(t.len(), 4);
/// assert_eq!(t.period_ms(), 4);
/// // 4 opportunities per 4 ms: 4 * 1500 * 8 bits / 4 ms.
/// assert_eq!(t.mean_rate_bps(), 12_000_000);
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    name: String,
    /// Opportunity times in ms, non-decreasing, the last one above 0.
    ms: Vec<u64>,
}

impl Trace {
    /// Reads and parses a trace file.
    ///
    /// # Errors
    ///
    /// [`Error::Trace`] naming the file (and the line, for a bad line) when
    /// it cannot be read or is not a mahimahi trace.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let t = mptcp_linkem::Trace::from_file("traces/lte-down.trace")?;
    /// println!("{} opportunities, {} bit/s on average", t.len(), t.mean_rate_bps());
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Trace, Error> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Trace {
            file: name.clone(),
            line: None,
            reason: format!("cannot read it: {e}"),
        })?;
        Trace::parse(&text, &name)
    }

    /// Parses the text of a trace; `name` names it in errors.
    ///
    /// Lines hold one non-negative integer each (milliseconds), in
    /// non-decreasing order; blank lines and lines starting with `#` are
    /// skipped. The last timestamp must be above 0 (it is the period).
    ///
    /// # Errors
    ///
    /// [`Error::Trace`] with the file name, the 1-based line and what is wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp_linkem::Trace;
    /// let e = Trace::parse("1\n2\nthree\n", "my.trace").unwrap_err();
    /// assert_eq!(e.to_string(), "trace my.trace, line 3: `three` is not a time in whole milliseconds");
    /// ```
    pub fn parse(text: &str, name: &str) -> Result<Trace, Error> {
        let err = |line: Option<usize>, reason: String| Error::Trace { file: name.to_string(), line, reason };
        let mut ms = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let t: u64 =
                line.parse().map_err(|_| err(Some(i + 1), format!("`{line}` is not a time in whole milliseconds")))?;
            if let Some(&prev) = ms.last() {
                if t < prev {
                    return Err(err(Some(i + 1), format!("{t} ms comes after {prev} ms: times must not decrease")));
                }
            }
            ms.push(t);
        }
        match ms.last() {
            None => Err(err(None, "it has no delivery opportunity (one time in ms per line)".into())),
            Some(0) => {
                Err(err(None, "its last time is 0 ms: a trace loops at its last time, which must be above 0".into()))
            }
            Some(&last) if last > u64::MAX / 1_000_000 / 4 => {
                Err(err(None, format!("its last time, {last} ms, is too large")))
            }
            Some(_) => Ok(Trace { name: name.to_string(), ms }),
        }
    }

    /// The name given at parse time (the file's path for [`Trace::from_file`]).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mptcp_linkem::Trace::parse("5", "t")?.name(), "t");
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of delivery opportunities in one period.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mptcp_linkem::Trace::parse("1\n1\n3", "t")?.len(), 3);
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.ms.len()
    }

    /// Always false: a trace has at least one opportunity.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!mptcp_linkem::Trace::parse("1", "t")?.is_empty());
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ms.is_empty()
    }

    /// The period (the last timestamp), in ms.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mptcp_linkem::Trace::parse("1\n7", "t")?.period_ms(), 7);
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn period_ms(&self) -> u64 {
        self.ms[self.ms.len() - 1]
    }

    /// The opportunity times of one period, in ms.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mptcp_linkem::Trace::parse("1\n7", "t")?.times_ms(), &[1, 7]);
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn times_ms(&self) -> &[u64] {
        &self.ms
    }

    /// The mean rate over one period, in bits per second.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = mptcp_linkem::Trace::parse(&(1..=1000).map(|i| format!("{i}\n")).collect::<String>(), "12mbit")?;
    /// assert_eq!(t.mean_rate_bps(), 12_000_000);
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn mean_rate_bps(&self) -> u64 {
        (self.ms.len() as u128 * 1500 * 8 * 1000 / u128::from(self.period_ms())) as u64
    }

    /// Time (ns since the start) of opportunity `k`, counting across periods.
    pub(crate) fn opportunity(&self, k: u64) -> u64 {
        let n = self.ms.len() as u64;
        let (cycle, i) = (k / n, (k % n) as usize);
        cycle.saturating_mul(self.period_ms()).saturating_add(self.ms[i]).saturating_mul(1_000_000)
    }

    /// Index of the first opportunity at or after `t` ns.
    pub(crate) fn first_at_or_after(&self, t: u64) -> u64 {
        let n = self.ms.len() as u64;
        let period_ns = self.period_ms() * 1_000_000;
        let (mut cycle, mut offset) = (t / period_ns, t % period_ns);
        if offset == 0 && cycle > 0 {
            // The previous loop's last opportunities (at its period) fall
            // exactly on `t`, and come first.
            cycle -= 1;
            offset = period_ns;
        }
        let i = self.ms.partition_point(|&m| m * 1_000_000 < offset) as u64;
        // `i < n`: the last time is the period, at or above any offset.
        cycle * n + i
    }
}
