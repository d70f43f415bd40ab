//! The `failover` phase: one path goes down half-way through an MPTCP
//! upload; every byte must still arrive, and the stall until the remaining
//! paths carry 90% of their limit is measured at the receiver.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::peers::{client_session, Server};
use super::phase::{Phase, PhaseReport, INTACT, MISMATCH};
use super::topo::Topology;
use super::Plan;
use crate::transfer::plot::Panel;

/// Runs the phase; the path is brought back up before it returns.
pub fn run(
    topo: &Topology,
    server: &Server,
    plan: &Plan,
    title: &str,
    quiet: bool,
) -> anyhow::Result<(PhaseReport, Panel)> {
    let fail = plan.fail_path;
    let path = topo.paths[fail].clone();
    let down_after = plan.duration / 2;
    let down_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let cancel = Arc::new(AtomicBool::new(false));
    let (d2, c2) = (down_at.clone(), cancel.clone());
    let started = Instant::now();
    let killer = std::thread::spawn(move || {
        // Wait for data to flow, then pull the link.
        while started.elapsed() < down_after + Duration::from_millis(100) {
            if c2.load(Ordering::Acquire) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let now = Instant::now();
        let r = path.down();
        if let Ok(mut d) = d2.lock() {
            *d = Some(now);
        }
        r
    });
    let label = format!("{title}: path {} goes down mid-transfer", fail + 1);
    let res = client_session(topo, plan, true, &label, quiet);
    cancel.store(true, Ordering::Release);
    let down_result = killer.join().map_err(|_| anyhow::anyhow!("the failover thread panicked"))?;
    // Bring it back for the phases that follow.
    let _ = topo.paths[fail].up();
    std::thread::sleep(Duration::from_millis(200));
    down_result.context("taking the path down")?;
    let (c, t0) = res?;
    let s = server.report()?;
    let marks = server.marks();
    let timeline = c.timeline.clone();
    let all: Vec<usize> = (0..topo.paths.len()).collect();
    let mut p = PhaseReport::from_transfer(Phase::Failover, c, s, topo, &all, true);
    p.failed_path = Some(fail + 1);
    // The limit that matters after the failure is that of the remaining paths.
    let remaining: Vec<usize> = all.iter().copied().filter(|i| *i != fail).collect();
    p.remaining_limit_bps = p.limit_of(topo, &remaining);
    p.limit_bps = None;
    p.fraction_of_limit = None;
    let verified = p.verified();
    p.notes.push(if verified { INTACT } else { MISMATCH }.into());
    let down = down_at.lock().ok().and_then(|d| *d);
    let mut markers = vec![];
    match down {
        Some(d) => {
            let at = d.saturating_duration_since(t0).as_secs_f64();
            p.down_at_s = Some(at);
            markers.push((at, format!("path {} down", fail + 1)));
            p.stall_ms = stall_ms(&marks, d, p.remaining_limit_bps);
            if p.stall_ms.is_none() {
                p.notes.push("the remaining paths never reached 90% of their rate".into());
            }
        }
        None => p.notes.push("the transfer ended before the path went down".into()),
    }
    p.ok = verified && down.is_some();
    let panel = Panel { title: format!("failover: path {} down", fail + 1), points: timeline, markers };
    Ok((p, panel))
}

/// Time from `down` until a receiver interval (between two `marks` of
/// (when, bytes so far)) carries >= 90% of `limit` (or, unshaped, of the
/// median rate after the failure).
pub fn stall_ms(marks: &[(Instant, u64)], down: Instant, limit: Option<f64>) -> Option<f64> {
    let rates: Vec<(Instant, f64)> = marks
        .windows(2)
        .filter(|w| w[0].0 >= down)
        .filter_map(|w| {
            let dt = w[1].0.saturating_duration_since(w[0].0).as_secs_f64();
            (dt > 0.02).then(|| (w[0].0, w[1].1.saturating_sub(w[0].1) as f64 * 8.0 / dt))
        })
        .collect();
    let target = match limit {
        Some(l) => 0.9 * l,
        None => {
            let mut v: Vec<f64> = rates.iter().map(|r| r.1).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            0.9 * *v.get(v.len() / 2)?
        }
    };
    rates.iter().find(|r| r.1 >= target).map(|r| r.0.saturating_duration_since(down).as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Marks every 100 ms of a 10 Mbit/s receiver (125,000 bytes per
    /// interval) over 2 s, with nothing moving in the intervals that start
    /// in `gap` (ms).
    fn marks(t: Instant, gap: std::ops::Range<u64>) -> Vec<(Instant, u64)> {
        let mut v = vec![(t, 0u64)];
        let mut bytes = 0u64;
        for i in 1..=20u64 {
            if !gap.contains(&((i - 1) * 100)) {
                bytes += 125_000;
            }
            v.push((t + Duration::from_millis(i * 100), bytes));
        }
        v
    }

    #[test]
    fn stall_is_measured_from_the_failure() {
        let t = Instant::now();
        let ms = |m: u64| t + Duration::from_millis(m);
        let m = marks(t, 1000..1300);
        let s = stall_ms(&m, ms(1000), Some(10e6)).unwrap();
        assert!((290.0..=310.0).contains(&s), "{s}");
        // Never at 90% of a limit ten times the rate.
        assert_eq!(stall_ms(&m, ms(1000), Some(100e6)), None);
        assert_eq!(stall_ms(&[], ms(0), None), None);
    }

    #[test]
    fn unshaped_paths_compare_with_the_median_rate_after_the_failure() {
        let t = Instant::now();
        let m = marks(t, 1000..1200);
        // After 1000 ms: 2 empty intervals, then 8 at 10 Mbit/s; the median is 10 Mbit/s.
        let s = stall_ms(&m, t + Duration::from_millis(1000), None).unwrap();
        assert!((190.0..=210.0).contains(&s), "{s}");
    }

    #[test]
    fn intervals_before_the_failure_do_not_count() {
        let t = Instant::now();
        // Full rate until 1000 ms, nothing after: no recovery, even though
        // earlier intervals met the target.
        let m = marks(t, 1000..2000);
        assert_eq!(stall_ms(&m, t + Duration::from_millis(1000), Some(10e6)), None);
        // Marks too close together (under 20 ms) are no interval.
        let close = vec![(t, 0), (t + Duration::from_millis(5), 1_000_000)];
        assert_eq!(stall_ms(&close, t, Some(1.0)), None);
    }
}
