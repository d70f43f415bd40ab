//! The sampler: a thread that reads a connection's per-subflow counters
//! (`MPTCP_FULL_INFO`/`TCP_INFO` through the library) at a fixed interval
//! while the data loop runs.

use std::net::TcpStream;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mptcp::MptcpExt;

/// Which end of the data stream a socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Writes the data: per-subflow progress is `bytes_acked`.
    Sender,
    /// Reads the data: per-subflow progress is `bytes_received`.
    Receiver,
}

/// One reading of a subflow.
#[derive(Debug, Clone)]
pub struct FlowSample {
    /// `local -> remote`.
    pub key: String,
    /// Bytes acked (sender) or received (receiver) on this subflow.
    pub bytes: u64,
    /// Smoothed RTT.
    pub rtt_us: Option<u32>,
    /// Retransmitted segments.
    pub retrans: Option<u32>,
    /// Sender MSS.
    pub mss: Option<u32>,
    /// Congestion window, segments.
    pub cwnd: Option<u32>,
}

/// One reading of the connection.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds since the session started.
    pub t: f64,
    /// Data delivered so far: MPTCP-level bytes acked (sender) or bytes
    /// read by the application (receiver).
    pub total: u64,
    /// Every subflow present at that moment.
    pub flows: Vec<FlowSample>,
}

/// Counters the data loop shares with the sampler (and, on a bench client,
/// with the interval reports).
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes written (sender) or read (receiver) by the application.
    pub app_bytes: AtomicU64,
    /// Set when the data has ended (delivered or not): `app_bytes` is final.
    pub finished: AtomicBool,
}

/// The name of a connection's only flow: `local -> remote`, read once while
/// the connection is up (a closed socket has no peer address any more).
pub fn connection_key(stream: &TcpStream) -> Option<String> {
    Some(format!("{} -> {}", stream.local_addr().ok()?, stream.peer_addr().ok()?))
}

/// Data delivered so far: MPTCP-level bytes acked (sender; the subflows'
/// TCP `bytes_acked` where the kernel has no MPTCP counter) or bytes read by
/// the application (receiver).
pub fn delivered(fd: &TcpStream, side: Side, app_bytes: u64, flows: Option<&[FlowSample]>) -> u64 {
    if side == Side::Receiver {
        return app_bytes;
    }
    if let Some(a) = fd.mptcp_info().ok().flatten().and_then(|i| i.bytes_acked) {
        return a;
    }
    let read;
    let flows = match flows {
        Some(f) => f,
        None => {
            read = flows_of(fd, side, None);
            &read
        }
    };
    if flows.is_empty() {
        app_bytes
    } else {
        flows.iter().map(|f| f.bytes).sum()
    }
}

/// Reads the counters of `fd` now. `conn_key` names a flow whose addresses
/// the kernel no longer gives (the connection's own, once it has closed).
pub fn sample(fd: &TcpStream, side: Side, t: f64, app_bytes: u64, conn_key: Option<&str>) -> Sample {
    let flows = flows_of(fd, side, conn_key);
    let total = delivered(fd, side, app_bytes, Some(&flows));
    Sample { t, total, flows }
}

fn flows_of(fd: &TcpStream, side: Side, conn_key: Option<&str>) -> Vec<FlowSample> {
    let subflows = fd.subflows().unwrap_or_default();
    let only = subflows.len() == 1;
    subflows
        .into_iter()
        .map(|sf| {
            let key = match (sf.local, sf.remote, conn_key) {
                (Some(l), Some(r), _) => format!("{l} -> {r}"),
                // A plain TCP connection after close: still the same flow.
                (_, _, Some(k)) if only && sf.id.is_none() => k.to_string(),
                _ => format!("subflow {}", sf.id.unwrap_or(0)),
            };
            let bytes = match side {
                Side::Sender => sf.tcp.bytes_acked,
                Side::Receiver => sf.tcp.bytes_received,
            }
            .unwrap_or(0);
            // A subflow without an RTT sample yet reports 0.
            let rtt_us = sf.tcp.rtt_us.filter(|&r| r > 0);
            FlowSample { key, bytes, rtt_us, retrans: sf.tcp.total_retrans, mss: sf.tcp.snd_mss, cwnd: sf.tcp.snd_cwnd }
        })
        .collect()
}

/// Runs `work` while a thread samples `stream` every `interval`, calling
/// `on_sample` with the history after each sample. Returns the work's result
/// and the history (with a last sample taken when the work ended).
pub fn with_sampler<R>(
    stream: &TcpStream,
    side: Side,
    t0: Instant,
    interval: Duration,
    progress: &Progress,
    on_sample: &mut (dyn FnMut(&[Sample]) + Send),
    work: impl FnOnce() -> R,
) -> (R, Vec<Sample>) {
    let stop = AtomicBool::new(false);
    let history = Mutex::new(Vec::<Sample>::new());
    let fd = stream;
    let key = connection_key(stream);
    let key = key.as_deref();
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            let mut next = Instant::now();
            while !stop.load(Ordering::Acquire) {
                let smp = sample(fd, side, t0.elapsed().as_secs_f64(), progress.app_bytes.load(Ordering::Relaxed), key);
                let mut h = history.lock().unwrap_or_else(|p| p.into_inner());
                h.push(smp);
                on_sample(&h);
                drop(h);
                next += interval;
                let now = Instant::now();
                if next > now {
                    // Sleep in small steps so the end of the work is seen quickly.
                    let mut left = next - now;
                    while left > Duration::ZERO && !stop.load(Ordering::Acquire) {
                        let step = left.min(Duration::from_millis(20));
                        std::thread::sleep(step);
                        left = left.saturating_sub(step);
                    }
                } else {
                    next = now;
                }
            }
        });
        let r = work();
        stop.store(true, Ordering::Release);
        r
    });
    let mut h = history.into_inner().unwrap_or_else(|p| p.into_inner());
    h.push(sample(fd, side, t0.elapsed().as_secs_f64(), progress.app_bytes.load(Ordering::Relaxed), key));
    (r, h)
}
