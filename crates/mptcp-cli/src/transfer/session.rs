//! Sessions: a client's (connect, send the request, run its end of the
//! data) and a server's (one accepted connection), each ending in a
//! [`SessionReport`].

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::Context;
use mptcp::counters::PassiveFallbackDetector;
use mptcp::{MptcpExt, MptcpStatus};

use super::data::{recv_data, send_data, send_outcome};
use super::opts::{congestion_of, SocketOpts};
use super::proto::{Direction, Header, Outcome};
use super::report::{Delivery, Role, SessionInfo, SessionReport, Status, Tally};
use super::sampler::{with_sampler, Progress, Sample, Side};

/// How long a connection may sit without progress before the session fails.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Called with the sample history after each sample (the live view).
pub type OnSample<'a> = &'a mut (dyn FnMut(&[Sample]) + Send);

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

/// Runs a client session against an `mptcp bench server`.
pub fn run_client(cfg: &ClientConfig, on_sample: OnSample<'_>) -> anyhow::Result<SessionReport> {
    let stream = cfg
        .opts
        .builder()
        .mptcp(cfg.mptcp)
        .connect_timeout(cfg.connect_timeout)
        .connect(cfg.target.as_str())
        .with_context(|| format!("cannot connect to {}", cfg.target))?;
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
    let congestion = congestion_of(&stream);
    let (delivery, samples) = match cfg.direction {
        Direction::Upload => send_end(&stream, &header, cfg.interval, false, on_sample).context("upload failed")?,
        Direction::Download => receive_end(&stream, cfg.interval, false, on_sample).context("download failed")?,
    };
    let info = session_info(&stream, Role::Client, cfg.direction, peer, cfg.mptcp, congestion);
    Ok(SessionReport::assemble(info, &delivery, &samples))
}

/// Serves one accepted connection. Socket options come from the listener,
/// which passes them on. `passive_fallback` says the kernel counted a
/// fallback for it (see [`FallbackWatch`]): its TCP socket is then reported
/// as `fallback`.
pub fn serve_connection(
    stream: TcpStream,
    interval: Duration,
    passive_fallback: bool,
    on_sample: OnSample<'_>,
) -> anyhow::Result<SessionReport> {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let header = Header::read_from(&mut &stream).with_context(|| format!("reading the request of {peer}"))?;
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let congestion = congestion_of(&stream);
    let requested = stream.created_as_mptcp().unwrap_or(false) || passive_fallback;
    let (delivery, samples) = match header.direction {
        Direction::Upload => receive_end(&stream, interval, passive_fallback, on_sample)
            .with_context(|| format!("receiving from {peer}"))?,
        Direction::Download => send_end(&stream, &header, interval, passive_fallback, on_sample)
            .with_context(|| format!("sending to {peer}"))?,
    };
    let info = session_info(&stream, Role::Server, header.direction, peer, requested, congestion);
    Ok(SessionReport::assemble(info, &delivery, &samples))
}

fn session_info(
    stream: &TcpStream,
    role: Role,
    direction: Direction,
    peer: String,
    requested_mptcp: bool,
    congestion: Option<String>,
) -> SessionInfo {
    let mptcp_retransmits = stream.mptcp_info().ok().flatten().and_then(|i| i.retransmits);
    SessionInfo { role, direction, peer, requested_mptcp, congestion, mptcp_retransmits }
}

/// This end's status now; with `passive_fallback` its TCP socket counts as
/// fallen back.
fn status_now(stream: &TcpStream, passive_fallback: bool) -> Status {
    match stream.mptcp_status().ok() {
        Some(MptcpStatus::Tcp) if passive_fallback => Status::Fallback,
        s => s.into(),
    }
}

/// The sending end: the stream of `request` with its trailer, then the
/// receiver's [`Outcome`].
fn send_end(
    stream: &TcpStream,
    request: &Header,
    interval: Duration,
    passive_fallback: bool,
    on_sample: OnSample<'_>,
) -> io::Result<(Delivery, Vec<Sample>)> {
    let t0 = Instant::now();
    let progress = Progress::default();
    let limit = Duration::from_millis(request.duration_ms);
    let (r, samples) = with_sampler(stream, Side::Sender, t0, interval, &progress, on_sample, || {
        let trailer = send_data(stream, request.seed, request.bytes, limit, &progress)?;
        let status = status_now(stream, passive_fallback);
        let outcome = Outcome::read_from(&mut &*stream)?;
        Ok::<_, io::Error>((trailer, status, outcome))
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
    Ok((delivery, samples))
}

/// The receiving end: the stream to its end, checked, then the [`Outcome`]
/// to the sender (which closes after reading it).
fn receive_end(
    stream: &TcpStream,
    interval: Duration,
    passive_fallback: bool,
    on_sample: OnSample<'_>,
) -> io::Result<(Delivery, Vec<Sample>)> {
    let t0 = Instant::now();
    let progress = Progress::default();
    let (r, samples) = with_sampler(stream, Side::Receiver, t0, interval, &progress, on_sample, || {
        let rec = recv_data(stream, t0, &progress)?;
        Ok::<_, io::Error>((rec, status_now(stream, passive_fallback)))
    });
    let (rec, status) = r?;
    let trailer = send_outcome(stream, &rec, status);
    let delivery = Delivery {
        sender: Tally { bytes: trailer.bytes, hash: trailer.hash },
        receiver: Tally { bytes: rec.bytes, hash: rec.hash },
        verified: rec.verified(),
        duration_s: rec.elapsed.as_secs_f64(),
        status,
        peer_status: Status::Unknown,
    };
    Ok((delivery, samples))
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
