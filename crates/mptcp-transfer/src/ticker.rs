//! A bench client's view of a running test: every connection's delivered
//! bytes read on a fixed grid from the test's start, summed into the
//! interval report (`-i`, one line per interval), a per-connection timeline
//! and the live view's samples.
//!
//! Delivered means acknowledged by the server for an upload (MPTCP-level
//! `bytes_acked`, so data still in our buffers does not count) and read by
//! the client for a download.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::proto::{Direction, HELLO_LEN};
use super::report::{timeline, TimelinePoint};
use super::sampler::{delivered, FlowSample, Progress, Sample, Side};

/// One connection as the ticker watches it.
#[derive(Debug)]
pub struct Probe {
    /// Its index in the test.
    pub index: u16,
    /// Its data direction.
    pub direction: Direction,
    /// A second handle on its socket (dropped when its data ends).
    pub stream: Option<TcpStream>,
    /// Its data loop's counters.
    pub progress: Arc<Progress>,
}

impl Probe {
    /// Data delivered so far.
    fn delivered(&mut self) -> u64 {
        let app = self.progress.app_bytes.load(Ordering::Relaxed);
        if self.progress.finished.load(Ordering::Acquire) {
            self.stream = None;
            return app;
        }
        let Some(s) = &self.stream else { return app };
        match self.direction {
            Direction::Download => app,
            // The hello is acknowledged too; what is acknowledged was written.
            Direction::Upload => delivered(s, Side::Sender, app, None).saturating_sub(HELLO_LEN as u64).min(app),
        }
    }
}

/// The connections of a test, registered as they connect.
#[derive(Debug, Default)]
pub struct Probes(Mutex<Vec<Probe>>);

impl Probes {
    /// Watches one more connection.
    pub fn add(&self, p: Probe) {
        if let Ok(mut v) = self.0.lock() {
            v.push(p);
        }
    }

    /// (upload, download) totals and one flow per connection.
    fn read(&self) -> (u64, u64, Vec<FlowSample>) {
        let Ok(mut v) = self.0.lock() else { return (0, 0, vec![]) };
        let (mut up, mut down, mut flows) = (0, 0, Vec::with_capacity(v.len()));
        for p in v.iter_mut() {
            let d = p.delivered();
            match p.direction {
                Direction::Upload => up += d,
                Direction::Download => down += d,
            }
            let dir = match p.direction {
                Direction::Upload => "upload",
                Direction::Download => "download",
            };
            let key = format!("connection {} ({dir})", p.index);
            flows.push(FlowSample { key, bytes: d, rtt_us: None, retrans: None, mss: None, cwnd: None });
        }
        (up, down, flows)
    }
}

/// One line of the interval report (`-i`).
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    /// Seconds since the test started.
    pub start_s: f64,
    /// End of the interval.
    pub end_s: f64,
    /// Bytes the server acknowledged (upload) in the interval.
    pub upload_bytes: u64,
    /// Bytes the client read (download) in the interval.
    pub download_bytes: u64,
    /// Upload rate, bits per second.
    pub upload_bps: f64,
    /// Download rate, bits per second.
    pub download_bps: f64,
}

/// What the ticker saw.
#[derive(Debug, Default)]
pub struct Ticks {
    /// The interval report.
    pub intervals: Vec<Interval>,
    /// Per-connection and total rates over time.
    pub timeline: Vec<TimelinePoint>,
}

/// Runs until `stop`: samples every `sample` from `t0`, and at every
/// multiple of `interval` hands a finished [`Interval`] to `on_interval`;
/// `on_sample` gets the history after each sample. At the end a last,
/// partial interval is reported when it is at least a tenth of the interval.
pub fn run(
    probes: &Probes,
    t0: Instant,
    sample: Duration,
    interval: Option<Duration>,
    stop: &AtomicBool,
    on_interval: &mut (dyn FnMut(&Interval) + Send),
    on_sample: &mut (dyn FnMut(&[Sample]) + Send),
) -> Ticks {
    let mut history = vec![Sample { t: 0.0, total: 0, flows: vec![] }];
    let mut intervals = Vec::new();
    let (mut next_sample, mut k) = (t0 + sample, 1u32);
    let mut last = (0.0f64, 0u64, 0u64);
    loop {
        let next_interval = interval.map(|i| t0 + i * k);
        let wake = next_interval.map_or(next_sample, |n| n.min(next_sample));
        while !stop.load(Ordering::Acquire) && Instant::now() < wake {
            std::thread::sleep(wake.saturating_duration_since(Instant::now()).min(Duration::from_millis(20)));
        }
        let finished = stop.load(Ordering::Acquire);
        let now = Instant::now();
        let (up, down, flows) = probes.read();
        let t = now.duration_since(t0).as_secs_f64();
        history.push(Sample { t, total: up + down, flows });
        on_sample(&history);
        if now >= next_sample {
            next_sample += sample;
        }
        let boundary = next_interval.is_some_and(|n| now >= n);
        let tail = interval.is_some_and(|i| finished && t - last.0 >= i.as_secs_f64() / 10.0);
        if boundary || tail {
            let (start, dt) = (last.0, (t - last.0).max(1e-6));
            let (ub, db) = (up.saturating_sub(last.1), down.saturating_sub(last.2));
            let i = Interval {
                start_s: start,
                end_s: t,
                upload_bytes: ub,
                download_bytes: db,
                upload_bps: ub as f64 * 8.0 / dt,
                download_bps: db as f64 * 8.0 / dt,
            };
            on_interval(&i);
            intervals.push(i);
            last = (t, up, down);
            k += 1;
        }
        if finished {
            break;
        }
    }
    Ticks { intervals, timeline: timeline(&history) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A finished connection counts what its data loop counted, whatever
    /// its socket says; intervals follow the clock from the start.
    #[test]
    fn intervals_follow_the_clock_and_sum_the_connections() {
        let probes = Probes::default();
        let progress = Arc::new(Progress::default());
        progress.app_bytes.store(1_000_000, Ordering::Relaxed);
        progress.finished.store(true, Ordering::Release);
        probes.add(Probe { index: 0, direction: Direction::Download, stream: None, progress: progress.clone() });
        probes.add(Probe { index: 1, direction: Direction::Upload, stream: None, progress });
        let stop = AtomicBool::new(false);
        let mut seen = Vec::new();
        let t0 = Instant::now();
        let ticks = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(350));
                stop.store(true, Ordering::Release);
            });
            run(
                &probes,
                t0,
                Duration::from_millis(50),
                Some(Duration::from_millis(100)),
                &stop,
                &mut |i| seen.push(i.clone()),
                &mut |_| {},
            )
        });
        let iv = &ticks.intervals;
        assert!(!iv.is_empty());
        assert_eq!(seen.len(), iv.len());
        assert_eq!(iv[0].start_s, 0.0);
        assert!(iv.windows(2).all(|w| w[0].end_s == w[1].start_s), "contiguous: {iv:?}");
        assert_eq!(iv.iter().map(|i| i.upload_bytes).sum::<u64>(), 1_000_000);
        assert_eq!(iv.iter().map(|i| i.download_bytes).sum::<u64>(), 1_000_000);
        assert!(ticks.timeline.iter().all(|p| p.flows.len() <= 2));
    }
}
