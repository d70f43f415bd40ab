//! Request/response tests, MPTCP and TCP side by side:
//!
//! - `--rr`: fixed-size requests and responses on open connections, one
//!   transaction at a time on each (netperf's `TCP_RR`): latency
//!   percentiles and transactions per second;
//! - `--crr`: a new connection for every transaction, connect to close
//!   (netperf's `TCP_CRR`): connections per second and their latency.
//!
//! The server answers every request; at the end of an rr connection it
//! reports how many it answered, and the client checks it counted the same.

use std::io::Write;
use std::net::TcpStream;
use std::time::Instant;

use mptcp::MptcpExt;
use serde::Serialize;

use super::client::{close_control, control_hello, new_test_id, open_control};
use super::proto::{Hello, Kind, Mode, RrDone, Status, REPLY_LEN};
use super::session::{self, stall_of, ClientConfig, TestRef};
use super::timed::{Limits, Timed};
use crate::error::{bail, Context};
use crate::{Error, Result};

/// Largest request or response (defined with the protocol's other limits).
pub use super::proto::MAX_MESSAGE;

/// A request/response test.
#[derive(Debug, Clone)]
pub struct RrConfig {
    /// Target, socket options, time limit, stall limit.
    pub base: ClientConfig,
    /// [`Mode::Rr`] or [`Mode::Crr`].
    pub mode: Mode,
    /// Connections (rr) or connecting threads (crr) at once.
    pub parallel: u16,
    /// Request size, bytes.
    pub request: u32,
    /// Response size, bytes.
    pub response: u32,
    /// Transactions in all (0: until the time limit).
    pub count: u64,
}

/// Latency of the transactions, microseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    /// Transactions measured.
    pub samples: u64,
    /// Fastest.
    pub min_us: f64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Slowest.
    pub max_us: f64,
}

/// Percentiles (nearest rank) of latencies in nanoseconds; `None` for none.
///
/// # Examples
///
/// ```
/// let l = mptcp_transfer::rr::latency(&mut [3_000, 1_000, 2_000]).unwrap();
/// assert_eq!((l.min_us, l.p50_us, l.max_us), (1.0, 2.0, 3.0));
/// ```
pub fn latency(ns: &mut [u64]) -> Option<Latency> {
    if ns.is_empty() {
        return None;
    }
    ns.sort_unstable();
    let n = ns.len();
    let rank = |p: f64| ns[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1] as f64 / 1e3;
    let sum: u128 = ns.iter().map(|&v| u128::from(v)).sum();
    Some(Latency {
        samples: n as u64,
        min_us: ns[0] as f64 / 1e3,
        mean_us: sum as f64 / n as f64 / 1e3,
        p50_us: rank(50.0),
        p90_us: rank(90.0),
        p99_us: rank(99.0),
        max_us: ns[n - 1] as f64 / 1e3,
    })
}

/// How many connections had each MPTCP status.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Statuses {
    /// MPTCP on the wire.
    pub mptcp: u64,
    /// Asked for MPTCP, ran as TCP.
    pub fallback: u64,
    /// Plain TCP.
    pub tcp: u64,
    /// Not known.
    pub unknown: u64,
}

impl Statuses {
    /// Counts one connection.
    pub fn add(&mut self, s: Status) {
        match s {
            Status::Mptcp => self.mptcp += 1,
            Status::Fallback => self.fallback += 1,
            Status::Tcp => self.tcp += 1,
            Status::Unknown => self.unknown += 1,
        }
    }

    fn merge(&mut self, o: &Statuses) {
        self.mptcp += o.mptcp;
        self.fallback += o.fallback;
        self.tcp += o.tcp;
        self.unknown += o.unknown;
    }

    /// The one status of every connection, or `unknown` when they differ.
    pub fn overall(&self) -> Status {
        match (self.mptcp, self.fallback, self.tcp, self.unknown) {
            (n, 0, 0, 0) if n > 0 => Status::Mptcp,
            (0, n, 0, 0) if n > 0 => Status::Fallback,
            (0, 0, n, 0) if n > 0 => Status::Tcp,
            _ => Status::Unknown,
        }
    }
}

/// One protocol's result.
#[derive(Debug, Clone, Serialize)]
pub struct RrResult {
    /// `mptcp` or `tcp`: what the client asked for.
    pub protocol: &'static str,
    /// Every transaction completed (and the server counted the same).
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// The connections' MPTCP status (`unknown` when they differ).
    pub status: Status,
    /// Connections per status.
    pub statuses: Statuses,
    /// Connections opened.
    pub connections: u64,
    /// Transactions completed.
    pub transactions: u64,
    /// Transactions the server says it answered (rr).
    pub server_transactions: Option<u64>,
    /// From the first connect to the last response, seconds.
    pub duration_s: f64,
    /// Transactions (rr) or connections (crr) per second; `null` when the
    /// run failed.
    pub rate_per_s: Option<f64>,
    /// Latency of a transaction (crr: connect to response).
    pub latency: Option<Latency>,
}

/// The report of a request/response test.
#[derive(Debug, Clone, Serialize)]
pub struct RrReport {
    /// Every protocol's run succeeded.
    pub ok: bool,
    /// The first error.
    pub error: Option<String>,
    /// `rr` or `crr`.
    pub mode: Mode,
    /// The server.
    pub peer: String,
    /// Request size, bytes.
    pub request_size: u32,
    /// Response size, bytes.
    pub response_size: u32,
    /// Connections (rr) or connecting threads (crr) at once.
    pub parallel: u16,
    /// One result per protocol, in the order run.
    pub results: Vec<RrResult>,
}

/// What one connection (rr) or one connecting thread (crr) did.
#[derive(Debug, Default)]
struct Worker {
    latencies: Vec<u64>,
    connections: u64,
    served: Option<u64>,
    statuses: Statuses,
    error: Option<String>,
}

/// Runs the test once per protocol (`true`: MPTCP), in order.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use mptcp_transfer::proto::{Direction, Mode};
/// use mptcp_transfer::rr::{self, RrConfig};
/// use mptcp_transfer::session::ClientConfig;
///
/// let base = ClientConfig::new("10.0.0.2:5201", Direction::Upload, Duration::from_secs(3));
/// let cfg = RrConfig { base, mode: Mode::Rr, parallel: 1, request: 64, response: 1024, count: 0 };
/// for r in rr::run(&cfg, &[true, false])?.results {
///     println!("{}: p50 {:?} us", r.protocol, r.latency.map(|l| l.p50_us));
/// }
/// # Ok::<(), mptcp_transfer::Error>(())
/// ```
pub fn run(cfg: &RrConfig, protocols: &[bool]) -> Result<RrReport> {
    let mut results = Vec::new();
    for &mptcp in protocols {
        let base = ClientConfig { mptcp, ..cfg.base.clone() };
        results.push(run_one(&RrConfig { base, ..cfg.clone() })?);
    }
    let error = results.iter().find_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.protocol)));
    Ok(RrReport {
        ok: error.is_none(),
        error,
        mode: cfg.mode,
        peer: cfg.base.target.clone(),
        request_size: cfg.request,
        response_size: cfg.response,
        parallel: cfg.parallel,
        results,
    })
}

fn run_one(cfg: &RrConfig) -> Result<RrResult> {
    let test_id = new_test_id();
    let mut hello = control_hello(&cfg.base, cfg.mode, test_id, cfg.parallel);
    (hello.request_size, hello.response_size, hello.count) = (cfg.request, cfg.response, cfg.count);
    let control = open_control(&cfg.base, &hello)?;
    let t0 = Instant::now();
    let end = (!cfg.base.duration.is_zero()).then(|| t0 + cfg.base.duration);
    let p = u64::from(cfg.parallel.max(1));
    let workers: Vec<Worker> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cfg.parallel.max(1))
            .map(|i| {
                let count = match cfg.count {
                    0 => 0,
                    c => c / p + u64::from(u64::from(i) < c % p),
                };
                let mut h = hello;
                (h.kind, h.index, h.count) = (cfg.mode.kind(), i, count);
                s.spawn(move || match cfg.mode {
                    Mode::Crr => crr_worker(cfg, h, end),
                    _ => rr_worker(cfg, h, end),
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| Worker { error: Some("a worker panicked".into()), ..Worker::default() })
            })
            .collect()
    });
    let duration_s = t0.elapsed().as_secs_f64();
    close_control(&control);
    let mut all = Vec::new();
    let mut statuses = Statuses::default();
    let (mut connections, mut served, mut error) = (0, Some(0u64), None);
    for w in workers {
        all.extend_from_slice(&w.latencies);
        statuses.merge(&w.statuses);
        connections += w.connections;
        served = served.zip(w.served).map(|(a, b)| a + b);
        error = error.or(w.error);
    }
    let transactions = all.len() as u64;
    if cfg.mode == Mode::Crr {
        served = None;
    } else if error.is_none() && served != Some(transactions) {
        error = Some(format!(
            "the server answered {} transactions, the client counted {transactions}",
            served.unwrap_or(0)
        ));
    }
    if error.is_none() && transactions == 0 {
        error = Some("no transaction completed".into());
    }
    Ok(RrResult {
        protocol: if cfg.base.mptcp { "mptcp" } else { "tcp" },
        ok: error.is_none(),
        rate_per_s: (error.is_none() && duration_s > 0.0).then(|| transactions as f64 / duration_s),
        error,
        status: statuses.overall(),
        statuses,
        connections,
        transactions,
        server_transactions: served,
        duration_s,
        latency: latency(&mut all),
    })
}

fn status_of(s: &TcpStream) -> Status {
    s.mptcp_status().ok().into()
}

/// One rr connection: transactions until its count or the time is up, then
/// the server's count.
fn rr_worker(cfg: &RrConfig, hello: Hello, end: Option<Instant>) -> Worker {
    let mut w = Worker::default();
    if let Err(e) = rr_connection(cfg, &hello, end, &mut w) {
        w.error = Some(format!("connection {}: {}", hello.index, e.chain()));
    }
    w
}

fn rr_connection(cfg: &RrConfig, hello: &Hello, end: Option<Instant>, w: &mut Worker) -> Result<()> {
    let base = ClientConfig {
        test: Some(TestRef { id: hello.test_id, index: hello.index, streams: hello.streams }),
        ..cfg.base.clone()
    };
    let stream = session::connect(&base)?;
    stream.set_nodelay(true)?;
    w.connections = 1;
    let mut timed = Timed::new(&stream, Limits { stall: base.stall, deadline: None });
    timed.write_all(&hello.encode()).context("sending the request header")?;
    let (req, mut resp) = (vec![0x5a; cfg.request as usize], vec![0u8; cfg.response as usize]);
    while (hello.count == 0 || (w.latencies.len() as u64) < hello.count) && end.is_none_or(|e| Instant::now() < e) {
        let t = Instant::now();
        timed.write_all(&req).with_context(|| format!("sending request {}", w.latencies.len() + 1))?;
        timed.read_exact(&mut resp).with_context(|| format!("reading response {}", w.latencies.len() + 1))?;
        w.latencies.push(t.elapsed().as_nanos() as u64);
    }
    w.statuses.add(status_of(&stream));
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut done = [0u8; REPLY_LEN];
    timed.read_exact(&mut done).context("reading the server's count")?;
    let d = RrDone::decode(&done).ok_or_else(|| Error::Protocol("the server's count is malformed".into()))?;
    w.served = Some(d.served);
    Ok(())
}

/// One crr thread: a connection per transaction, until its count or the
/// time is up. The server closes first, so the client's port is free again
/// at once (no `TIME_WAIT` here).
fn crr_worker(cfg: &RrConfig, hello: Hello, end: Option<Instant>) -> Worker {
    let mut w = Worker { served: Some(0), ..Worker::default() };
    let base = ClientConfig {
        test: Some(TestRef { id: hello.test_id, index: hello.index, streams: hello.streams }),
        ..cfg.base.clone()
    };
    let mut msg = hello.encode().to_vec();
    msg.resize(msg.len() + cfg.request as usize, 0x5a);
    let mut resp = vec![0u8; cfg.response as usize];
    while (hello.count == 0 || w.connections < hello.count) && end.is_none_or(|e| Instant::now() < e) {
        if let Err(e) = crr_once(&base, &msg, &mut resp, &mut w) {
            w.error = Some(format!("connection {} of thread {}: {}", w.connections, hello.index, e.chain()));
            break;
        }
    }
    w
}

fn crr_once(base: &ClientConfig, msg: &[u8], resp: &mut [u8], w: &mut Worker) -> Result<()> {
    let t = Instant::now();
    let stream = session::connect(base)?;
    w.connections += 1;
    (&stream).write_all(msg).context("sending the request")?;
    let mut timed = Timed::new(&stream, Limits::stall(base.stall));
    timed.read_exact(resp).context("reading the response")?;
    w.latencies.push(t.elapsed().as_nanos() as u64);
    w.statuses.add(status_of(&stream));
    // The server closes first; wait for it so the close here is the passive one.
    let mut b = [0u8; 1];
    match timed.read(&mut b).context("waiting for the server to close")? {
        0 => Ok(()),
        _ => bail!("the server sent more than the response"),
    }
}

/// The server's side of an rr connection: answers each request until the
/// client closes its half, then reports its count. Returns the count.
pub fn serve_rr(stream: &TcpStream, hello: &Hello) -> Result<u64> {
    check_sizes(hello)?;
    stream.set_nodelay(true)?;
    let mut timed = Timed::new(stream, Limits::stall(stall_of(hello)));
    let (mut req, resp) = (vec![0u8; hello.request_size as usize], vec![0u8; hello.response_size as usize]);
    let mut served = 0u64;
    loop {
        // End of stream between two requests is the client's end.
        let first = timed.read(&mut req).with_context(|| format!("reading request {}", served + 1))?;
        if first == 0 {
            break;
        }
        timed.read_exact(&mut req[first..]).with_context(|| format!("reading request {}", served + 1))?;
        timed.write_all(&resp).with_context(|| format!("sending response {}", served + 1))?;
        served += 1;
    }
    timed.write_all(&RrDone { served }.encode()).context("sending the count")?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(served)
}

/// The server's side of a crr connection (its hello read): one request,
/// one response, and the server closes first.
pub fn serve_crr(stream: &TcpStream, hello: &Hello) -> Result<()> {
    check_sizes(hello)?;
    let mut timed = Timed::new(stream, Limits::stall(stall_of(hello)));
    let mut req = vec![0u8; hello.request_size as usize];
    timed.read_exact(&mut req).context("reading the request")?;
    timed.write_all(&vec![0u8; hello.response_size as usize]).context("sending the response")?;
    Ok(())
}

fn check_sizes(hello: &Hello) -> Result<()> {
    if hello.kind != Kind::Rr && hello.kind != Kind::Crr {
        bail!("not a request/response connection");
    }
    for (what, n) in [("request", hello.request_size), ("response", hello.response_size)] {
        if n == 0 || n > MAX_MESSAGE {
            bail!("{what} size {n} out of range (1 to {MAX_MESSAGE} bytes)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut ns: Vec<u64> = (1..=100).rev().map(|v| v * 1000).collect();
        let l = latency(&mut ns).unwrap();
        assert_eq!((l.samples, l.min_us, l.p50_us, l.p90_us, l.p99_us, l.max_us), (100, 1.0, 50.0, 90.0, 99.0, 100.0));
        assert_eq!(l.mean_us, 50.5);
        let one = latency(&mut [7000]).unwrap();
        assert_eq!((one.p50_us, one.p99_us, one.max_us), (7.0, 7.0, 7.0));
        assert_eq!(latency(&mut []), None);
    }

    #[test]
    fn statuses_agree_or_say_unknown() {
        let mut s = Statuses::default();
        assert_eq!(s.overall(), Status::Unknown);
        s.add(Status::Mptcp);
        s.add(Status::Mptcp);
        assert_eq!(s.overall(), Status::Mptcp);
        s.add(Status::Fallback);
        assert_eq!(s.overall(), Status::Unknown);
    }
}
