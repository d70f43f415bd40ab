//! The failover stall, defined once: from the instant a path fails until
//! the receiving application gets [`FRACTION`] of the remaining paths' own
//! rate again, in [`SAMPLE`] samples: the first sample that does, with the
//! mean of the [`HOLD`] samples from it doing so too (the mean absorbs the
//! lumps in which reordered data is delivered after a failover). The
//! remaining paths' rate is measured, not assumed: the median sample of the
//! second half of the window after the failure, its last sample left out.
//!
//! `mptcp lab` (the `failover` phases) and the failover benchmark of
//! `bench/daemon.sh` (crates/mptcp-daemon/benches/daemon) both measure with
//! [`measure`].
//!
//! # Examples
//!
//! A receiver that got 10 Mbit/s, nothing for 300 ms after the failure,
//! then 10 Mbit/s again:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mptcp_transfer::stall;
//!
//! let t = Instant::now();
//! let reads: Vec<(Instant, u64)> = (0..300u64)
//!     .filter(|i| !(100..130).contains(i))
//!     .map(|i| (t + Duration::from_millis(i * 10), 12_500))
//!     .collect();
//! let down = t + Duration::from_secs(1);
//! let s = stall::measure(&reads, down, t + Duration::from_secs(3)).unwrap();
//! assert_eq!(s.ms, Some(300.0));
//! assert_eq!(s.reference_bps, 10e6);
//! ```

use std::time::{Duration, Instant};

/// Length of one sample.
pub const SAMPLE: Duration = Duration::from_millis(50);
/// The share of the remaining paths' rate that ends the stall.
pub const FRACTION: f64 = 0.85;
/// Samples whose mean must reach it too (300 ms).
pub const HOLD: usize = 6;

/// A stall measured by [`measure`].
#[derive(Debug, Clone, PartialEq)]
pub struct Stall {
    /// Milliseconds from the failure to the end of the stall; `None` when
    /// the rate never came back within the window.
    pub ms: Option<f64>,
    /// The remaining paths' measured rate, bits per second (the reference).
    pub reference_bps: f64,
    /// The rate of each sample from the failure on, bits per second.
    pub samples_bps: Vec<f64>,
}

/// Measures the stall from `deliveries` (when, bytes handed to the
/// receiving application then), in the window from `down` (the failure) to
/// `end` (the sender stopped, or the path came back). `None` when the window
/// holds fewer than `2 * HOLD` samples.
pub fn measure(deliveries: &[(Instant, u64)], down: Instant, end: Instant) -> Option<Stall> {
    let n = (end.saturating_duration_since(down).as_nanos() / SAMPLE.as_nanos()) as usize;
    if n < 2 * HOLD {
        return None;
    }
    let mut bytes = vec![0u64; n];
    for (t, b) in deliveries {
        if *t >= down {
            let k = (t.duration_since(down).as_nanos() / SAMPLE.as_nanos()) as usize;
            if let Some(slot) = bytes.get_mut(k) {
                *slot += b;
            }
        }
    }
    let samples_bps: Vec<f64> = bytes.iter().map(|b| *b as f64 * 8.0 / SAMPLE.as_secs_f64()).collect();
    let mut steady = samples_bps[n / 2..n - 1].to_vec();
    steady.sort_by(|a, b| a.total_cmp(b));
    let reference_bps = median(&steady);
    let target = FRACTION * reference_bps;
    let ms = (0..=n - HOLD)
        .find(|&k| {
            let mean = samples_bps[k..k + HOLD].iter().sum::<f64>() / HOLD as f64;
            samples_bps[k] >= target && mean >= target && target > 0.0
        })
        .map(|k| (k as u128 * SAMPLE.as_micros()) as f64 / 1000.0);
    Some(Stall { ms, reference_bps, samples_bps })
}

/// The median of sorted values (0 when empty).
fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// 10 Mbit/s delivered in 10 ms reads (12,500 bytes each) over 3 s,
    /// except in `gap` (ms), where `lump` bytes arrive at its end.
    fn reads(t: Instant, gap: std::ops::Range<u64>, lump: u64) -> Vec<(Instant, u64)> {
        let mut v = Vec::new();
        for i in 0..300u64 {
            let at = i * 10;
            if gap.contains(&at) {
                continue;
            }
            let extra = if at == gap.end { lump } else { 0 };
            v.push((t + MS(at), 12_500 + extra));
        }
        v
    }

    #[test]
    fn the_stall_runs_from_the_failure_to_the_rate_coming_back() {
        let t = Instant::now();
        let s = measure(&reads(t, 1000..1300, 0), t + MS(1000), t + MS(3000)).unwrap();
        assert_eq!(s.ms, Some(300.0));
        assert_eq!(s.reference_bps, 10e6);
        assert_eq!(s.samples_bps.len(), 40);
        assert_eq!(s.samples_bps[0], 0.0);
        assert_eq!(s.samples_bps[6], 10e6);
        // No gap: no stall.
        assert_eq!(measure(&reads(t, 0..0, 0), t + MS(1000), t + MS(3000)).unwrap().ms, Some(0.0));
    }

    #[test]
    fn a_lump_of_reordered_data_does_not_end_the_stall_by_itself() {
        let t = Instant::now();
        // At 400 ms after the failure, 100 kB held back arrive at once, then
        // nothing for another 390 ms: the stall goes on until 800 ms.
        let mut d = reads(t, 1000..1400, 100_000);
        d.retain(|(at, _)| !(t + MS(1410)..t + MS(1800)).contains(at));
        let s = measure(&d, t + MS(1000), t + MS(3000)).unwrap();
        assert_eq!(s.ms, Some(800.0));
    }

    #[test]
    fn no_recovery_and_short_windows_say_so() {
        let t = Instant::now();
        // Nothing at all after the failure: no reference, no end.
        let s = measure(&reads(t, 1000..3000, 0), t + MS(1000), t + MS(3000)).unwrap();
        assert_eq!((s.ms, s.reference_bps), (None, 0.0));
        // Back only at half the rate for the first second, then at full rate:
        // the reference is the full rate (second half), the stall 1 s.
        let mut d = reads(t, 0..0, 0);
        d.retain(|(at, _)| !(t + MS(1000)..t + MS(2000)).contains(at) || at.duration_since(t).as_millis() % 20 == 0);
        let s = measure(&d, t + MS(1000), t + MS(3000)).unwrap();
        assert_eq!(s.ms, Some(1000.0));
        assert!(measure(&d, t + MS(1000), t + MS(1000) + SAMPLE * (2 * HOLD as u32 - 1)).is_none());
        assert!(measure(&d, t + MS(1000), t).is_none());
    }

    #[test]
    fn deliveries_outside_the_window_do_not_count() {
        let t = Instant::now();
        let mut d = reads(t, 1000..1300, 0);
        // A huge read just before the failure and one after the window's end.
        d.push((t + MS(999), 50_000_000));
        d.push((t + MS(3000), 50_000_000));
        let s = measure(&d, t + MS(1000), t + MS(3000)).unwrap();
        assert_eq!(s.ms, Some(300.0));
        assert_eq!(s.samples_bps.iter().cloned().fold(0.0, f64::max), 10e6);
    }
}
