//! A tokio load client for `echo_server` (and the Go peer in
//! `bench/scale/go`): opens N connections, MPTCP, plain TCP or half and
//! half, holds them all open, then sends M verified request/response
//! frames on each, and prints one JSON report.
//!
//! ```sh
//! cargo run --release -p multipath-tcp --features tokio --example load_client -- \
//!     10.77.0.2:7000 --connections 10000 --requests 20 --mode half
//! ```
//!
//! Phases:
//! 1. setup: every connection connects (at most `--concurrency` at once)
//!    and exchanges one frame; then it checks its own status (`mptcp` for
//!    an MPTCP socket, `tcp` for a plain one). `cps` = connections / the
//!    time until the last one is set up.
//! 2. hold: all connections stay open for `--hold-ms` (the server samples
//!    its memory at the peak).
//! 3. requests: every connection sends `--requests` frames, one at a time,
//!    each checked byte for byte when it comes back. `rps` = frames / the
//!    phase's time; latency = write to echo fully read.
//!
//! It writes `phase setup-done` and `phase requests-done` on stderr as the
//! phases end, so that a driver (`load_bench`) can read both processes' CPU
//! time at those moments. Exit status 1 when a connection failed or had the wrong status.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use mptcp::{MptcpBuilder, MptcpExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Barrier, Semaphore};

// tests/echo.rs compiles this file as a module and declares `common` once
// at its root, so that the server's and the client's reports are one type.
#[cfg(not(test))]
#[path = "echo_common/mod.rs"]
pub mod common;
#[cfg(test)]
pub use crate::common;

use common::{ByIntent, ClientReport, Intent, Latency, Mode, MIN_FRAME};

/// Load client for the scale benchmark.
#[derive(Debug, Clone, Parser)]
#[command(name = "load_client")]
pub struct Config {
    /// The echo server's address.
    pub addr: SocketAddr,
    /// Connections to open and hold.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// Timed requests per connection, after the setup exchange.
    #[arg(long, default_value_t = 10)]
    pub requests: u32,
    /// Frame size in bytes (at least 16).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(MIN_FRAME as i64..=1 << 20))]
    pub size: u32,
    /// Which connections ask for MPTCP.
    #[arg(long, value_enum, default_value_t = Mode::Half)]
    pub mode: Mode,
    /// Connections being set up at once.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// How long all connections stay open between setup and requests, ms.
    #[arg(long, default_value_t = 200)]
    pub hold_ms: u64,
    /// Worker threads (default: one per CPU).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// What one connection did.
struct Outcome {
    intent: Intent,
    status: Option<&'static str>,
    latencies: Vec<u32>,
    error: Option<String>,
}

/// Runs the load and returns the report.
pub fn run(config: &Config) -> io::Result<ClientReport> {
    common::raise_open_files(u64::from(config.connections))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(common::threads(config.threads))
        .enable_all()
        .build()?;
    let limit = Duration::from_secs(config.timeout);
    // On a worker, so that the connection tasks start in its own queue.
    let config = config.clone();
    rt.block_on(async { tokio::spawn(async move { tokio::time::timeout(limit, load(config)).await }).await })
        .map_err(io::Error::other)?
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("the load did not finish in {limit:?}")))?
}

async fn load(config: Config) -> io::Result<ClientReport> {
    let n = config.connections;
    let gate = Arc::new(Semaphore::new(config.concurrency as usize));
    let set_up = Arc::new(Barrier::new(n as usize + 1));
    let go = Arc::new(Barrier::new(n as usize + 1));
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|id| tokio::spawn(connection(id, config.clone(), gate.clone(), set_up.clone(), go.clone())))
        .collect();
    set_up.wait().await;
    let setup_secs = start.elapsed().as_secs_f64();
    // Phase marks on stderr, for a driver that reads both ends' CPU time.
    eprintln!("phase setup-done");
    tokio::time::sleep(Duration::from_millis(config.hold_ms)).await;
    let requests_start = Instant::now();
    go.wait().await;
    let mut outcomes = Vec::with_capacity(n as usize);
    for t in tasks {
        outcomes.push(t.await.map_err(io::Error::other)?);
    }
    let request_secs = requests_start.elapsed().as_secs_f64();
    eprintln!("phase requests-done");

    let mut report = ClientReport {
        implementation: "rust-tokio".into(),
        mode: config.mode.as_str().into(),
        connections: u64::from(n),
        requests: u64::from(config.requests),
        size: u64::from(config.size),
        setup_secs,
        request_secs,
        ..Default::default()
    };
    let mut status = ByIntent::default();
    let mut latencies = Vec::with_capacity(n as usize * config.requests as usize);
    for o in outcomes {
        // A connection that never got set up has no status: it counts as wrong.
        report.established += u64::from(o.status.is_some());
        status.add(o.intent, o.status.unwrap_or("unknown"));
        if let Some(e) = o.error {
            report.errors += 1;
            report.first_error.get_or_insert(e);
        }
        latencies.extend_from_slice(&o.latencies);
    }
    report.cps = report.established as f64 / setup_secs;
    report.verified = latencies.len() as u64;
    report.rps = latencies.len() as f64 / request_secs;
    report.latency_us = Latency::of(&mut latencies);
    report.wrong_status = status.wrong();
    report.status = status;
    Ok(report)
}

/// One connection through all three phases. Always waits at both barriers,
/// also after an error, so the others never wait for it forever.
async fn connection(id: u32, config: Config, gate: Arc<Semaphore>, set_up: Arc<Barrier>, go: Arc<Barrier>) -> Outcome {
    let intent = config.mode.intent(id);
    let mut frame = Frame::new(config.size as usize);
    let setup = async {
        let _permit = gate.acquire().await.map_err(io::Error::other)?;
        let mut stream = MptcpBuilder::new()
            .mptcp(intent == Intent::Mptcp)
            .nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .connect_async(config.addr)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("connect: {e}")))?;
        frame.exchange(&mut stream, id, 0, intent).await?;
        io::Result::Ok(stream)
    }
    .await;
    let mut outcome = Outcome { intent, status: None, latencies: Vec::new(), error: None };
    let stream = match setup {
        Ok(s) => {
            outcome.status = Some(s.mptcp_status().map_or("unknown", |st| st.as_str()));
            Some(s)
        }
        Err(e) => {
            outcome.error = Some(e.to_string());
            None
        }
    };
    set_up.wait().await;
    go.wait().await;
    if let Some(mut stream) = stream {
        outcome.latencies.reserve_exact(config.requests as usize);
        for seq in 1..=config.requests {
            let t = Instant::now();
            if let Err(e) = frame.exchange(&mut stream, id, seq, intent).await {
                outcome.error = Some(e.to_string());
                break;
            }
            outcome.latencies.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        }
    }
    outcome
}

/// A frame to send and the buffer its echo comes back into.
struct Frame {
    sent: Vec<u8>,
    /// One byte longer than a frame: a read that returns the whole echo
    /// leaves it partly empty, which tells tokio the socket is drained, so
    /// the next request's read waits for readiness instead of first making
    /// a `read` that fails with `EAGAIN`. A byte landing there is an error:
    /// the server sent more than it was sent.
    back: Vec<u8>,
}

impl Frame {
    fn new(size: usize) -> Frame {
        Frame { sent: vec![0; size], back: vec![0; size + 1] }
    }

    /// Sends frame `seq` and checks that the same bytes, and no more, come back.
    async fn exchange(&mut self, stream: &mut TcpStream, conn: u32, seq: u32, intent: Intent) -> io::Result<()> {
        common::encode(conn, seq, intent, &mut self.sent);
        stream.write_all(&self.sent).await?;
        let size = self.sent.len();
        let mut got = 0;
        while got < size {
            match stream.read(&mut self.back[got..]).await? {
                0 => {
                    let msg = format!("the server closed before echoing frame {seq}");
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg));
                }
                n => got += n,
            }
        }
        if got > size || self.back[..size] != self.sent[..] {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame {seq} came back changed")));
        }
        Ok(())
    }
}

#[allow(dead_code)] // the test includes this file as a module
fn main() {
    let config = Config::parse();
    match run(&config) {
        Ok(report) => {
            println!("{}", serde_json::to_string(&report).expect("a report serializes"));
            if report.errors > 0 || report.wrong_status > 0 {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("load_client: {e}");
            std::process::exit(2);
        }
    }
}
