//! Running one bench session: sending or receiving the data stream while a
//! sampler thread reads per-subflow counters, and building the report.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mptcp::{MptcpBuilder, MptcpExt, MptcpStatus};
use serde::Serialize;

use super::proto::{self, Checksum, DataStream, Direction, Header, HoldbackHasher, Outcome, Trailer, CHUNK};

/// How long a connection may sit without progress before the session fails.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Congestion control used unless the user picks one: it aggregates paths of
/// unequal capacity well (bbr, the default on some hosts, does not).
pub const DEFAULT_CONGESTION: &str = "cubic";

/// Which end of the data stream a socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Writes the data: per-subflow progress is `bytes_acked`.
    Sender,
    /// Reads the data: per-subflow progress is `bytes_received`.
    Receiver,
}

/// Socket options for bulk transfer.
#[derive(Debug, Clone, Default)]
pub struct SocketOpts {
    /// `TCP_CONGESTION`; `None` keeps the system default.
    pub congestion: Option<String>,
    /// `SO_SNDBUF` in bytes; `None` keeps autotuning.
    pub send_buffer: Option<usize>,
    /// `SO_RCVBUF` in bytes; `None` keeps autotuning.
    pub recv_buffer: Option<usize>,
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

/// Counters the data loop shares with the sampler.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes written (sender) or read (receiver) by the application.
    pub app_bytes: AtomicU64,
}

/// Reads the counters of `fd` now.
pub fn sample(fd: BorrowedFd<'_>, side: Side, t: f64, app_bytes: u64) -> Sample {
    let flows: Vec<FlowSample> = fd
        .subflows()
        .unwrap_or_default()
        .into_iter()
        .map(|sf| {
            let key = match (sf.local, sf.remote) {
                (Some(l), Some(r)) => format!("{l} -> {r}"),
                _ => format!("subflow {}", sf.id.unwrap_or(0)),
            };
            let bytes = match side {
                Side::Sender => sf.tcp.bytes_acked,
                Side::Receiver => sf.tcp.bytes_received,
            }
            .unwrap_or(0);
            FlowSample { key, bytes, rtt_us: sf.tcp.rtt_us, retrans: sf.tcp.total_retrans, mss: sf.tcp.snd_mss }
        })
        .collect();
    let total = match side {
        Side::Receiver => app_bytes,
        Side::Sender => {
            let acked = fd.mptcp_info().ok().flatten().and_then(|i| i.bytes_acked);
            match acked {
                Some(a) => a,
                None if !flows.is_empty() => flows.iter().map(|f| f.bytes).sum(),
                None => app_bytes,
            }
        }
    };
    Sample { t, total, flows }
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
    let fd = stream.as_fd();
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            let mut next = Instant::now();
            while !stop.load(Ordering::Acquire) {
                let smp = sample(fd, side, t0.elapsed().as_secs_f64(), progress.app_bytes.load(Ordering::Relaxed));
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
    h.push(sample(fd, side, t0.elapsed().as_secs_f64(), progress.app_bytes.load(Ordering::Relaxed)));
    (r, h)
}

/// Sends the data stream of `seed` until `bytes` (0: no limit) or `duration`
/// (zero: no limit), then the trailer, then `shutdown(SHUT_WR)`.
pub fn send_data(
    mut stream: &TcpStream,
    seed: u64,
    bytes: u64,
    duration: Duration,
    progress: &Progress,
) -> io::Result<Trailer> {
    let mut data = DataStream::new(seed);
    let mut hash = Checksum::new();
    let start = Instant::now();
    let mut sent = 0u64;
    loop {
        if bytes > 0 && sent >= bytes {
            break;
        }
        if !duration.is_zero() && start.elapsed() >= duration {
            break;
        }
        let (chunk, sa, sb) = data.next_chunk();
        let n = if bytes > 0 { (bytes - sent).min(CHUNK as u64) as usize } else { CHUNK };
        let chunk = &chunk[..n];
        stream.write_all(chunk)?;
        // A whole chunk's checksum is known without reading it again.
        if n < CHUNK || !hash.append_sums((CHUNK / proto::BLOCK) as u64, &sa, &sb) {
            hash.update(chunk);
        }
        sent += n as u64;
        progress.app_bytes.store(sent, Ordering::Relaxed);
    }
    let trailer = Trailer { bytes: sent, hash: hash.digest(), elapsed_us: start.elapsed().as_micros() as u64 };
    stream.write_all(&trailer.encode())?;
    stream.shutdown(Shutdown::Write)?;
    Ok(trailer)
}

/// What a receiver saw.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Data bytes.
    pub bytes: u64,
    /// Checksum of the data.
    pub hash: u64,
    /// The sender's trailer, when the stream ended with one.
    pub trailer: Option<Trailer>,
    /// From the start of the receive loop to end of stream.
    pub elapsed: Duration,
}

impl Received {
    /// Whether byte count and checksum match the sender's trailer.
    pub fn verified(&self) -> bool {
        matches!(self.trailer, Some(t) if t.bytes == self.bytes && t.hash == self.hash)
    }
}

/// The receiver's side of the end of a transfer: tells the sender what
/// arrived ([`Outcome`]), closes our half, and returns the sender's trailer
/// (zeros when the stream ended without one).
fn send_outcome(stream: &TcpStream, rec: &Received, status: Option<MptcpStatus>) -> Trailer {
    let sf = stream.subflows().map(|v| v.len()).unwrap_or(0);
    let outcome = Outcome {
        bytes: rec.bytes,
        hash: rec.hash,
        elapsed_us: rec.elapsed.as_micros() as u64,
        verified: rec.verified(),
        status: proto::status_code(status),
        subflows: sf.min(255) as u8,
    };
    let _ = outcome.write_to(&mut &*stream);
    let _ = stream.shutdown(Shutdown::Write);
    rec.trailer.unwrap_or(Trailer { bytes: 0, hash: 0, elapsed_us: 0 })
}

/// Reads the data stream to its end, hashing it.
pub fn recv_data(mut stream: &TcpStream, start: Instant, progress: &Progress) -> io::Result<Received> {
    let mut buf = vec![0u8; 4 * CHUNK];
    let mut h = HoldbackHasher::new();
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        progress.app_bytes.store(h.bytes(), Ordering::Relaxed);
    }
    let elapsed = start.elapsed();
    let (bytes, hash, trailer) = h.finish();
    Ok(Received { bytes, hash, trailer, elapsed })
}

/// Per-subflow line of the final report.
#[derive(Debug, Clone, Serialize)]
pub struct FlowReport {
    /// `local -> remote`.
    pub path: String,
    /// Bytes carried (acked by the peer, or received), during the session.
    pub bytes: u64,
    /// Fraction of all subflow bytes.
    pub share: f64,
    /// Mean rate while the session ran, bits per second.
    pub rate_bps: f64,
    /// Last smoothed RTT, microseconds.
    pub rtt_us: Option<u32>,
    /// Retransmitted segments.
    pub retransmits: Option<u32>,
    /// Sender MSS.
    pub mss: Option<u32>,
    /// Whether the subflow still existed at the end.
    pub open_at_end: bool,
}

/// The checksum verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Integrity {
    /// `true` when the receiver's byte count and checksum equal the sender's.
    pub verified: bool,
    /// Checksum algorithm.
    pub checksum: &'static str,
    /// Bytes the sender wrote.
    pub sender_bytes: u64,
    /// Bytes the receiver read.
    pub receiver_bytes: u64,
    /// Sender's checksum (hex).
    pub sender_hash: String,
    /// Receiver's checksum (hex).
    pub receiver_hash: String,
}

/// One point of the throughput timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelinePoint {
    /// Seconds since the session started (end of the interval).
    pub t: f64,
    /// Total rate over the interval, bits per second.
    pub total_bps: f64,
    /// Rate of each subflow present at both ends of the interval.
    pub flows: BTreeMap<String, f64>,
}

/// The report of one session, as printed and as `--json` gives it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    /// `client` or `server`.
    pub role: &'static str,
    /// `upload` (client sends) or `download` (server sends).
    pub direction: Direction,
    /// The other end.
    pub peer: String,
    /// Whether this end asked for MPTCP.
    pub requested_mptcp: bool,
    /// Congestion control in use on this end.
    pub congestion: Option<String>,
    /// MPTCP status of the connection on this end, when the data ended.
    pub status: String,
    /// MPTCP status the other end reported.
    pub peer_status: String,
    /// Data bytes the receiver got.
    pub bytes: u64,
    /// Receiver's time from start to end of stream, seconds.
    pub duration_s: f64,
    /// `bytes * 8 / duration_s`.
    pub goodput_bps: f64,
    /// Checksum verdict.
    pub integrity: Integrity,
    /// Segments retransmitted, all subflows.
    pub retransmits: u64,
    /// MPTCP-level retransmissions (Linux 6.5+).
    pub mptcp_retransmits: Option<u32>,
    /// Most subflows seen at once.
    pub max_subflows: usize,
    /// Every subflow seen.
    pub subflows: Vec<FlowReport>,
    /// Throughput over time.
    pub timeline: Vec<TimelinePoint>,
}

/// Rates between consecutive samples.
pub fn timeline(samples: &[Sample]) -> Vec<TimelinePoint> {
    samples
        .windows(2)
        .filter_map(|w| {
            let dt = w[1].t - w[0].t;
            if dt <= 1e-3 {
                return None;
            }
            let mut flows = BTreeMap::new();
            for f in &w[1].flows {
                if let Some(p) = w[0].flows.iter().find(|p| p.key == f.key) {
                    flows.insert(f.key.clone(), f.bytes.saturating_sub(p.bytes) as f64 * 8.0 / dt);
                }
            }
            Some(TimelinePoint { t: w[1].t, total_bps: w[1].total.saturating_sub(w[0].total) as f64 * 8.0 / dt, flows })
        })
        .collect()
}

/// Per-subflow totals over the whole history.
pub fn flow_reports(samples: &[Sample], duration_s: f64) -> Vec<FlowReport> {
    let mut order: Vec<String> = Vec::new();
    let mut first: BTreeMap<String, u64> = BTreeMap::new();
    let mut last: BTreeMap<String, FlowSample> = BTreeMap::new();
    for s in samples {
        for f in &s.flows {
            if !first.contains_key(&f.key) {
                order.push(f.key.clone());
                // A subflow seen first mid-session started from zero.
                let base = if std::ptr::eq(s, &samples[0]) { f.bytes } else { 0 };
                first.insert(f.key.clone(), base);
            }
            last.insert(f.key.clone(), f.clone());
        }
    }
    let end_keys: Vec<&str> =
        samples.last().map(|s| s.flows.iter().map(|f| f.key.as_str()).collect()).unwrap_or_default();
    let bytes: Vec<u64> = order.iter().map(|k| last[k].bytes.saturating_sub(first[k])).collect();
    let sum: u64 = bytes.iter().sum();
    order
        .iter()
        .zip(bytes)
        .map(|(k, b)| {
            let l = &last[k];
            FlowReport {
                path: k.clone(),
                bytes: b,
                share: if sum > 0 { b as f64 / sum as f64 } else { 0.0 },
                rate_bps: if duration_s > 0.0 { b as f64 * 8.0 / duration_s } else { 0.0 },
                rtt_us: l.rtt_us,
                retransmits: l.retrans,
                mss: l.mss,
                open_at_end: end_keys.contains(&k.as_str()),
            }
        })
        .collect()
}

fn hex(h: u64) -> String {
    format!("{h:016x}")
}

fn status_of(s: &TcpStream) -> Option<MptcpStatus> {
    s.mptcp_status().ok()
}

fn status_str(s: Option<MptcpStatus>) -> String {
    s.map(|s| s.as_str().to_string()).unwrap_or_else(|| "unknown".into())
}

/// Reads `TCP_CONGESTION` of a socket.
pub fn congestion_of(s: &TcpStream) -> Option<String> {
    let name = socket2::SockRef::from(s).tcp_congestion().ok()?;
    let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    Some(String::from_utf8_lossy(&name[..end]).into_owned())
}

/// Names the option in the error the kernel gave for it.
fn named(opt: &str, r: io::Result<()>) -> io::Result<()> {
    r.map_err(|e| io::Error::new(e.kind(), format!("setting {opt} failed: {e}")))
}

/// Applies `opts` to an accepted or connected socket.
pub fn apply_opts(s: &TcpStream, opts: &SocketOpts) -> io::Result<()> {
    let sock = socket2::SockRef::from(s);
    if let Some(cc) = &opts.congestion {
        named(&format!("TCP_CONGESTION={cc}"), sock.set_tcp_congestion(cc.as_bytes()))?;
    }
    if let Some(b) = opts.send_buffer {
        named("SO_SNDBUF", sock.set_send_buffer_size(b))?;
    }
    if let Some(b) = opts.recv_buffer {
        named("SO_RCVBUF", sock.set_recv_buffer_size(b))?;
    }
    Ok(())
}

/// What the client asks for.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `HOST:PORT`.
    pub target: String,
    /// Data direction.
    pub direction: Direction,
    /// Byte limit (0: none).
    pub bytes: u64,
    /// Time limit (zero: none).
    pub duration: Duration,
    /// Seed of the data stream.
    pub seed: u64,
    /// Use MPTCP (else plain TCP).
    pub mptcp: bool,
    /// Socket options.
    pub opts: SocketOpts,
    /// Sampling interval.
    pub interval: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

fn connect(cfg: &ClientConfig) -> anyhow::Result<TcpStream> {
    let addrs: Vec<SocketAddr> =
        cfg.target.to_socket_addrs().with_context(|| format!("cannot resolve {}", cfg.target))?.collect();
    let mut last = None;
    for a in &addrs {
        let r = if cfg.mptcp {
            let mut b = MptcpBuilder::new().connect_timeout(cfg.connect_timeout);
            if let Some(cc) = &cfg.opts.congestion {
                b = b.congestion(cc);
            }
            if let Some(n) = cfg.opts.send_buffer {
                b = b.send_buffer(n);
            }
            if let Some(n) = cfg.opts.recv_buffer {
                b = b.recv_buffer(n);
            }
            b.connect_addr(a)
        } else {
            TcpStream::connect_timeout(a, cfg.connect_timeout).and_then(|s| apply_opts(&s, &cfg.opts).map(|_| s))
        };
        match r {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(anyhow::Error::new(e).context(format!("cannot connect to {}", cfg.target))),
        None => bail!("{} resolved to no address", cfg.target),
    }
}

/// Runs a client session against an `mptcp bench server`.
pub fn run_client(cfg: &ClientConfig, on_sample: &mut (dyn FnMut(&[Sample]) + Send)) -> anyhow::Result<SessionReport> {
    let stream = connect(cfg)?;
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| cfg.target.clone());
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let header = Header {
        direction: cfg.direction,
        seed: cfg.seed,
        bytes: cfg.bytes,
        duration_ms: cfg.duration.as_millis().min(u64::MAX as u128) as u64,
    };
    (&stream).write_all(&header.encode()).context("sending the request")?;
    let t0 = Instant::now();
    let progress = Progress::default();
    let congestion = congestion_of(&stream);
    match cfg.direction {
        Direction::Upload => {
            let (r, samples) = with_sampler(&stream, Side::Sender, t0, cfg.interval, &progress, on_sample, || {
                let trailer = send_data(&stream, cfg.seed, cfg.bytes, cfg.duration, &progress)?;
                let status = status_of(&stream);
                let outcome = Outcome::read_from(&mut &stream)?;
                Ok::<_, io::Error>((trailer, status, outcome))
            });
            let (trailer, status, outcome) = r.context("upload failed")?;
            let duration_s = outcome.elapsed_us as f64 / 1e6;
            Ok(build_report(
                "client",
                cfg.direction,
                peer,
                cfg.mptcp,
                congestion,
                status,
                proto::status_name(outcome.status).to_string(),
                (trailer.bytes, trailer.hash),
                (outcome.bytes, outcome.hash),
                outcome.verified,
                duration_s,
                &stream,
                &samples,
            ))
        }
        Direction::Download => {
            let (r, samples) = with_sampler(&stream, Side::Receiver, t0, cfg.interval, &progress, on_sample, || {
                let rec = recv_data(&stream, t0, &progress)?;
                let status = status_of(&stream);
                Ok::<_, io::Error>((rec, status))
            });
            let (rec, status) = r.context("download failed")?;
            // The sender learns the verdict; it closes after reading it.
            let t = send_outcome(&stream, &rec, status);
            Ok(build_report(
                "client",
                cfg.direction,
                peer,
                cfg.mptcp,
                congestion,
                status,
                "unknown".into(),
                (t.bytes, t.hash),
                (rec.bytes, rec.hash),
                rec.verified(),
                rec.elapsed.as_secs_f64(),
                &stream,
                &samples,
            ))
        }
    }
}

/// Reads a `/proc/net/netstat` counter of the calling thread's network
/// namespace (`MPCapableFallbackACK`, ...).
pub fn netstat_counter(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/net/netstat").ok()?;
    mptcp_netns::parse_netstat(&text, name)
}

/// Tells, on an MPTCP listener, whether a connection accepted as plain TCP
/// fell back (the client sent MP_CAPABLE but the handshake lost it) rather
/// than came from a plain-TCP client: the kernel then counts
/// `MPCapableFallbackACK`. The socket itself cannot tell: the kernel hands
/// such a connection over as a TCP socket.
#[derive(Debug)]
pub struct PassiveFallback {
    last: Option<u64>,
}

impl PassiveFallback {
    /// Starts tracking (call in the listener's network namespace).
    pub fn new() -> PassiveFallback {
        PassiveFallback { last: netstat_counter("MPCapableFallbackACK") }
    }

    /// Call right after each accept: whether the counter rose since the
    /// previous accept (exact when connections arrive one at a time).
    pub fn check(&mut self) -> bool {
        let now = netstat_counter("MPCapableFallbackACK");
        let rose = matches!((self.last, now), (Some(a), Some(b)) if b > a);
        self.last = now;
        rose
    }
}

impl Default for PassiveFallback {
    fn default() -> Self {
        PassiveFallback::new()
    }
}

/// Serves one accepted connection. `opts` are applied to it first.
/// `passive_fallback` says the kernel counted a fallback for it (see
/// [`PassiveFallback`]): a TCP socket is then reported as `fallback`.
pub fn serve_connection(
    stream: TcpStream,
    opts: &SocketOpts,
    interval: Duration,
    passive_fallback: bool,
    on_sample: &mut (dyn FnMut(&[Sample]) + Send),
) -> anyhow::Result<SessionReport> {
    let status_of = |s: &TcpStream| match status_of(s) {
        Some(MptcpStatus::Tcp) if passive_fallback => Some(MptcpStatus::Fallback),
        x => x,
    };
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let header = Header::read_from(&mut &stream).with_context(|| format!("reading the request of {peer}"))?;
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    if let Err(e) = apply_opts(&stream, opts) {
        eprintln!("mptcp bench: warning: {e}");
    }
    let congestion = congestion_of(&stream);
    let requested = stream.created_as_mptcp().unwrap_or(false) || passive_fallback;
    let t0 = Instant::now();
    let progress = Progress::default();
    match header.direction {
        Direction::Upload => {
            let (r, samples) = with_sampler(&stream, Side::Receiver, t0, interval, &progress, on_sample, || {
                let rec = recv_data(&stream, t0, &progress)?;
                Ok::<_, io::Error>((rec, status_of(&stream)))
            });
            let (rec, status) = r.with_context(|| format!("receiving from {peer}"))?;
            // The sender learns the verdict; it closes after reading it.
            let t = send_outcome(&stream, &rec, status);
            Ok(build_report(
                "server",
                header.direction,
                peer,
                requested,
                congestion,
                status,
                "unknown".into(),
                (t.bytes, t.hash),
                (rec.bytes, rec.hash),
                rec.verified(),
                rec.elapsed.as_secs_f64(),
                &stream,
                &samples,
            ))
        }
        Direction::Download => {
            let duration = Duration::from_millis(header.duration_ms);
            let (r, samples) = with_sampler(&stream, Side::Sender, t0, interval, &progress, on_sample, || {
                let trailer = send_data(&stream, header.seed, header.bytes, duration, &progress)?;
                let status = status_of(&stream);
                let outcome = Outcome::read_from(&mut &stream)?;
                Ok::<_, io::Error>((trailer, status, outcome))
            });
            let (trailer, status, outcome) = r.with_context(|| format!("sending to {peer}"))?;
            Ok(build_report(
                "server",
                header.direction,
                peer,
                requested,
                congestion,
                status,
                proto::status_name(outcome.status).to_string(),
                (trailer.bytes, trailer.hash),
                (outcome.bytes, outcome.hash),
                outcome.verified,
                outcome.elapsed_us as f64 / 1e6,
                &stream,
                &samples,
            ))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    role: &'static str,
    direction: Direction,
    peer: String,
    requested_mptcp: bool,
    congestion: Option<String>,
    status: Option<MptcpStatus>,
    peer_status: String,
    sender: (u64, u64),
    receiver: (u64, u64),
    verified: bool,
    duration_s: f64,
    stream: &TcpStream,
    samples: &[Sample],
) -> SessionReport {
    let subflows = flow_reports(samples, duration_s);
    let retransmits = subflows.iter().filter_map(|f| f.retransmits).map(u64::from).sum();
    let mptcp_retransmits = stream.mptcp_info().ok().flatten().and_then(|i| i.retransmits);
    let max_subflows = samples.iter().map(|s| s.flows.len()).max().unwrap_or(0);
    SessionReport {
        role,
        direction,
        peer,
        requested_mptcp,
        congestion,
        status: status_str(status),
        peer_status,
        bytes: receiver.0,
        duration_s,
        goodput_bps: if duration_s > 0.0 { receiver.0 as f64 * 8.0 / duration_s } else { 0.0 },
        integrity: Integrity {
            verified,
            checksum: Checksum::NAME,
            sender_bytes: sender.0,
            receiver_bytes: receiver.0,
            sender_hash: hex(sender.1),
            receiver_hash: hex(receiver.1),
        },
        retransmits,
        mptcp_retransmits,
        max_subflows,
        subflows,
        timeline: timeline(samples),
    }
}

/// Formats bits per second for people (`47.8 Mbit/s`).
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

/// Formats a byte count for people (`12.3 MiB`).
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
