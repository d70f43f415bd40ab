//! Data sessions: a client's (connect, send the hello, run its end of the
//! data) and a server's (one data connection), each ending in a
//! [`SessionReport`], or in an error that says which step failed and what
//! the peer did.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mptcp::counters::PassiveFallbackDetector;
use mptcp::{MptcpExt, MptcpStatus};

use super::checksum::random_seed;
use super::data::{ended_early, read_outcome, recv_data, send_data, send_outcome, SendPlan};
use super::opts::{congestion_of, SocketOpts};
use super::pacing::{self, Pacer, Pacing, PacingMethod};
use super::proto::{Direction, Hello, Kind, Paced, Status, HELLO_LEN};
use super::report::{Delivery, Role, SessionInfo, SessionReport, Tally};
use super::sampler::{with_sampler, Progress, Sample, Side};
use super::timed::{self, Limits, Timed};
use crate::error::Context;
use crate::{Error, Result};

/// How long a server waits for a new connection's hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Called with the sample history after each sample (the live view).
pub type OnSample<'a> = &'a mut (dyn FnMut(&[Sample]) + Send);

/// A connection's place in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRef {
    /// The test id the control connection announced.
    pub id: u64,
    /// This connection's index.
    pub index: u16,
    /// Connections in the test.
    pub streams: u16,
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
    /// Sender's pacing rate, bits per second (0: none).
    pub rate_bps: u64,
    /// Give up after this long without progress.
    pub stall: Duration,
    /// The test this connection belongs to (`None`: a standalone one).
    pub test: Option<TestRef>,
}

impl ClientConfig {
    /// A standalone MPTCP session with `target` (`HOST:PORT`) for
    /// `duration`, with the defaults of `mptcp bench client`: a random
    /// seed, the system's socket options, 100 ms samples, a 10 s connect
    /// timeout, no pacing, the [default stall limit](timed::DEFAULT_STALL).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mptcp_transfer::proto::Direction;
    /// use mptcp_transfer::session::ClientConfig;
    ///
    /// let base = ClientConfig::new("[::1]:5201", Direction::Download, Duration::from_secs(5));
    /// let cfg = ClientConfig { mptcp: false, ..base };
    /// assert_eq!(cfg.hello().duration_ms, 5000);
    /// ```
    pub fn new(target: impl Into<String>, direction: Direction, duration: Duration) -> ClientConfig {
        ClientConfig {
            target: target.into(),
            direction,
            bytes: 0,
            duration,
            seed: random_seed(),
            mptcp: true,
            opts: SocketOpts::default(),
            interval: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(10),
            rate_bps: 0,
            stall: timed::DEFAULT_STALL,
            test: None,
        }
    }

    /// The hello this configuration sends.
    pub fn hello(&self) -> Hello {
        let mut h = Hello::data(self.direction, self.seed, self.bytes, millis(self.duration));
        h.rate_bps = self.rate_bps;
        h.stall_ms = millis(self.stall).min(u64::from(u32::MAX)) as u32;
        if let Some(t) = self.test {
            (h.test_id, h.index, h.streams) = (t.id, t.index, t.streams);
        }
        h
    }
}

/// Whole milliseconds of `d`, saturated.
pub fn millis(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

/// Connects as `cfg` says: the socket options, MPTCP or not, the connect
/// timeout; errors name the target.
pub fn connect(cfg: &ClientConfig) -> Result<TcpStream> {
    let stream = cfg
        .opts
        .builder()
        .mptcp(cfg.mptcp)
        .connect_timeout(cfg.connect_timeout)
        .connect(cfg.target.as_str())
        .with_context(|| format!("cannot connect to {}", cfg.target))?;
    timed::prepare(&stream)?;
    Ok(stream)
}

/// Runs a standalone client session against an `mptcp bench server`.
pub fn run_client(cfg: &ClientConfig, on_sample: OnSample<'_>) -> Result<SessionReport> {
    run_client_with(cfg, &Progress::default(), &mut |_| {}, on_sample)
}

/// Runs a client session, sharing its progress and handing the connected
/// socket to `on_connect` (the interval reports watch it).
pub fn run_client_with(
    cfg: &ClientConfig,
    progress: &Progress,
    on_connect: &mut dyn FnMut(&TcpStream),
    on_sample: OnSample<'_>,
) -> Result<SessionReport> {
    let r = transfer_as_client(cfg, progress, on_connect, on_sample);
    progress.finished.store(true, Ordering::Release);
    r
}

/// Connects, sends the hello, runs the client's end of the data (sending
/// for an upload, receiving for a download) and assembles its report.
fn transfer_as_client(
    cfg: &ClientConfig,
    progress: &Progress,
    on_connect: &mut dyn FnMut(&TcpStream),
    on_sample: OnSample<'_>,
) -> Result<SessionReport> {
    let hello = cfg.hello();
    hello
        .validate()
        .map_err(|reason| Error::Protocol(format!("cannot ask {} for this transfer: {reason}", cfg.target)))?;
    let stream = connect(cfg)?;
    on_connect(&stream);
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| cfg.target.clone());
    (&stream).write_all(&hello.encode()).with_context(|| format!("sending the request to {peer}"))?;
    let congestion = congestion_of(&stream);
    let end = End { stream: &stream, interval: cfg.interval, passive_fallback: false, progress, peer: "server" };
    let (delivery, samples, pacing) = match cfg.direction {
        Direction::Upload => end.send(&hello, on_sample).with_context(|| format!("upload to {peer} failed"))?,
        Direction::Download => {
            end.receive(&hello, on_sample).with_context(|| format!("download from {peer} failed"))?
        }
    };
    let info = session_info(&stream, Role::Client, cfg.direction, peer, cfg.mptcp, congestion, pacing);
    Ok(SessionReport::assemble(info, &delivery, &samples))
}

/// Reads a connection's hello (the server's first step) and checks what it
/// asks for ([`Hello::validate`]): a hello out of range is an error that
/// says which value and what is allowed.
pub fn read_hello(stream: &TcpStream) -> Result<Hello> {
    let hello = read_raw_hello(stream)?;
    hello.validate().map_err(|reason| Error::Protocol(format!("refused the request: {reason}")))?;
    Ok(hello)
}

/// Reads and decodes a connection's hello without checking its values
/// (the server does, and answers a control connection's bad hello with a
/// refusal).
pub fn read_raw_hello(stream: &TcpStream) -> Result<Hello> {
    timed::prepare(stream)?;
    let mut b = [0u8; HELLO_LEN];
    Timed::new(stream, Limits::stall(HELLO_TIMEOUT)).read_exact(&mut b).context("reading the request")?;
    Hello::decode(&b).map_err(Error::Protocol)
}

/// Serves one standalone data connection (reads its hello first), sharing
/// its progress. Socket options come from the listener, which passes them
/// on. `passive_fallback` says the kernel counted a fallback for it (see
/// [`FallbackWatch`]): its TCP socket is then reported as `fallback`.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use mptcp_transfer::sampler::Progress;
/// use mptcp_transfer::session::{self, FallbackWatch};
///
/// let listener = mptcp::MptcpBuilder::new().bind("[::]:5201")?;
/// let mut fallbacks = FallbackWatch::new();
/// let (conn, _) = listener.accept()?;
/// let passive_fallback = fallbacks.check(&conn);
/// let report = session::serve_connection(conn, Duration::from_millis(100), passive_fallback, &Progress::default(), &mut |_| {})?;
/// println!("{} bytes, verified: {}", report.bytes, report.integrity.verified);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn serve_connection(
    stream: TcpStream,
    interval: Duration,
    passive_fallback: bool,
    progress: &Progress,
    on_sample: OnSample<'_>,
) -> Result<SessionReport> {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    let hello = read_hello(&stream).with_context(|| peer.clone())?;
    if hello.kind != Kind::Data {
        return Err(Error::Protocol(format!("{peer}: expected a data connection, got a {:?} one", hello.kind)));
    }
    serve_data(&stream, &hello, interval, passive_fallback, progress, on_sample)
}

/// Serves a data connection whose hello has been read.
pub fn serve_data(
    stream: &TcpStream,
    hello: &Hello,
    interval: Duration,
    passive_fallback: bool,
    progress: &Progress,
    on_sample: OnSample<'_>,
) -> Result<SessionReport> {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    let congestion = congestion_of(stream);
    let requested = stream.created_as_mptcp().unwrap_or(false) || passive_fallback;
    let end = End { stream, interval, passive_fallback, progress, peer: "client" };
    let r = match hello.direction {
        Direction::Upload => end.receive(hello, on_sample).with_context(|| format!("receiving from {peer}")),
        Direction::Download => end.send(hello, on_sample).with_context(|| format!("sending to {peer}")),
    };
    progress.finished.store(true, Ordering::Release);
    let (delivery, samples, pacing) = r?;
    let info = session_info(stream, Role::Server, hello.direction, peer, requested, congestion, pacing);
    Ok(SessionReport::assemble(info, &delivery, &samples))
}

fn session_info(
    stream: &TcpStream,
    role: Role,
    direction: Direction,
    peer: String,
    requested_mptcp: bool,
    congestion: Option<String>,
    pacing: Option<Pacing>,
) -> SessionInfo {
    let mptcp_retransmits = stream.mptcp_info().ok().flatten().and_then(|i| i.retransmits);
    SessionInfo { role, direction, peer, requested_mptcp, congestion, mptcp_retransmits, pacing }
}

/// This end's status now; with `passive_fallback` its TCP socket counts as
/// fallen back.
fn status_now(stream: &TcpStream, passive_fallback: bool) -> Status {
    match stream.mptcp_status().ok() {
        Some(MptcpStatus::Tcp) if passive_fallback => Status::Fallback,
        s => s.into(),
    }
}

/// The stall limit a hello asks for (the default when it names none).
pub fn stall_of(hello: &Hello) -> Duration {
    match hello.stall_ms {
        0 => timed::DEFAULT_STALL,
        ms => Duration::from_millis(u64::from(ms)),
    }
}

/// The latest a receiver waits for the end of a time-limited stream: the
/// time limit plus half of it, at least 10 s more (a drain after the limit
/// moves data; a sender that keeps going well past it misbehaves).
pub fn receive_deadline(start: Instant, hello: &Hello) -> Option<Instant> {
    if hello.duration_ms == 0 {
        return None;
    }
    let d = Duration::from_millis(hello.duration_ms.min(1 << 40));
    Some(start + d + (d / 2).max(Duration::from_secs(10)))
}

type Ended = (Delivery, Vec<Sample>, Option<Pacing>);

/// One end of a data connection.
struct End<'a> {
    stream: &'a TcpStream,
    interval: Duration,
    passive_fallback: bool,
    progress: &'a Progress,
    /// What the other end is called in messages.
    peer: &'static str,
}

impl End<'_> {
    /// The sending end: the stream of `hello` with its trailer, then the
    /// receiver's outcome.
    fn send(&self, hello: &Hello, on_sample: OnSample<'_>) -> std::io::Result<Ended> {
        let (stream, t0) = (self.stream, Instant::now());
        let (pacing, pacer) = match hello.rate_bps {
            0 => (None, Pacer::none()),
            r => {
                let (p, pacer) = pacing::apply(stream, r);
                (Some(p), pacer)
            }
        };
        let paced = match pacing.as_ref().map(|p| p.method) {
            None => Paced::No,
            Some(PacingMethod::SoMaxPacingRate) => Paced::Kernel,
            Some(PacingMethod::Application) => Paced::Application,
        };
        let stall = stall_of(hello);
        let plan = SendPlan {
            seed: hello.seed,
            bytes: hello.bytes,
            duration: Duration::from_millis(hello.duration_ms.min(1 << 40)),
            pacer,
            paced,
            stall,
        };
        let (r, samples) = with_sampler(stream, Side::Sender, t0, self.interval, self.progress, on_sample, || {
            let trailer = send_data(stream, &plan, self.progress)?;
            let status = status_now(stream, self.passive_fallback);
            let outcome = read_outcome(stream, stall, trailer.bytes)?;
            Ok::<_, std::io::Error>((trailer, status, outcome))
        });
        let (trailer, status, outcome) = r?;
        let delivery = Delivery {
            sender: Tally { bytes: trailer.bytes, hash: trailer.hash },
            receiver: Tally { bytes: outcome.bytes, hash: outcome.hash },
            verified: outcome.verified,
            duration_s: outcome.elapsed_us as f64 / 1e6,
            status,
            peer_status: outcome.status,
        };
        Ok((delivery, samples, pacing))
    }

    /// The receiving end: the stream to its end, checked, then the outcome
    /// to the sender (which closes after reading it).
    fn receive(&self, hello: &Hello, on_sample: OnSample<'_>) -> std::io::Result<Ended> {
        let (stream, t0) = (self.stream, Instant::now());
        let limits = Limits { stall: stall_of(hello), deadline: receive_deadline(t0, hello) };
        let (r, samples) = with_sampler(stream, Side::Receiver, t0, self.interval, self.progress, on_sample, || {
            let rec = recv_data(stream, t0, self.progress, limits)?;
            Ok::<_, std::io::Error>((rec, status_now(stream, self.passive_fallback)))
        });
        let (rec, status) = r?;
        send_outcome(stream, &rec, status);
        let Some(trailer) = rec.trailer else { return Err(ended_early(&rec, self.peer)) };
        let method = match trailer.paced {
            Paced::No => None,
            Paced::Kernel => Some(PacingMethod::SoMaxPacingRate),
            Paced::Application => Some(PacingMethod::Application),
        };
        let pacing = method.map(|method| Pacing {
            rate_bps: hello.rate_bps,
            method,
            socket_rate_bps: None,
            note: Some(format!("paced by the {}", self.peer)),
        });
        let delivery = Delivery {
            sender: Tally { bytes: trailer.bytes, hash: trailer.hash },
            receiver: Tally { bytes: rec.bytes, hash: rec.hash },
            verified: rec.verified(),
            duration_s: rec.elapsed.as_secs_f64(),
            status,
            peer_status: Status::Unknown,
        };
        Ok((delivery, samples, pacing))
    }
}

/// A server's view of passive fallbacks: clients that asked for MPTCP and
/// were accepted as plain TCP because a middlebox stripped it (see
/// [`PassiveFallbackDetector`]). Create it and call
/// [`check`](FallbackWatch::check) on the accepting thread, in the
/// listener's network namespace.
#[derive(Debug)]
pub struct FallbackWatch {
    detector: Option<PassiveFallbackDetector>,
}

impl Default for FallbackWatch {
    fn default() -> FallbackWatch {
        FallbackWatch::new()
    }
}

impl FallbackWatch {
    /// Starts watching; without the kernel's counters it warns once and
    /// reports no passive fallback.
    pub fn new() -> FallbackWatch {
        let detector = PassiveFallbackDetector::new()
            .map_err(|e| eprintln!("mptcp: warning: {e}; clients whose MPTCP was stripped will show as tcp"))
            .ok();
        FallbackWatch { detector }
    }

    /// Whether `conn`, just accepted, is a passive fallback.
    pub fn check(&mut self, conn: &TcpStream) -> bool {
        let (Some(detector), Ok(own)) = (self.detector.as_mut(), conn.mptcp_status()) else { return false };
        match detector.classify(own) {
            Ok(seen) => own == MptcpStatus::Tcp && seen == MptcpStatus::Fallback,
            Err(e) => {
                eprintln!("mptcp: warning: {e}");
                false
            }
        }
    }
}
