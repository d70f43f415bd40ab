//! A tokio echo server on an MPTCP listener that accepts MPTCP and plain
//! TCP clients alike, checks every accepted connection's status against
//! what its client asked for, and reports memory per connection.
//!
//! ```sh
//! cargo run --release -p multipath-tcp --features tokio --example echo_server -- \
//!     --listen 0.0.0.0:7000 --connections 10000
//! ```
//!
//! It prints `ready ADDR` once listening, and after `--connections`
//! connections have ended (or at `--timeout`) one JSON report: errors,
//! statuses by intent, peak connections, resident memory before and at the
//! peak. Exit status 1 when a connection failed or had the wrong status.
//! The protocol is in `echo_common/mod.rs`; `load_client` is its client.
//!
//! Each connection is one task that keeps no buffer of its own between
//! reads: it waits for readiness, reads into a buffer on the worker's
//! stack and writes back at once; only a write the socket cannot take
//! whole is copied to the heap until it drains.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use clap::Parser;
use mptcp::{MptcpBuilder, MptcpExt};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

// tests/echo.rs compiles this file as a module and declares `common` once
// at its root, so that the server's and the client's reports are one type.
#[cfg(not(test))]
#[path = "echo_common/mod.rs"]
pub mod common;
#[cfg(test)]
pub use crate::common;

use common::{ByIntent, Intent, ServerReport, HEADER};

/// Echo server for the scale benchmark (MPTCP listener).
#[derive(Debug, Clone, Parser)]
#[command(name = "echo_server")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:7000")]
    pub listen: SocketAddr,
    /// Stop and report after this many connections have ended (0: serve until --timeout, then report).
    #[arg(long, default_value_t = 0)]
    pub connections: u64,
    /// Listen backlog (the kernel caps it at net.core.somaxconn).
    #[arg(long, default_value_t = 4096)]
    pub backlog: i32,
    /// Worker threads (default: one per CPU).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Give up after this many seconds and report what was served.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// Shared by every connection task.
#[derive(Default)]
struct Shared {
    live: AtomicU64,
    peak_live: AtomicU64,
    ended: AtomicU64,
    /// Statuses, errors and the first error message, under one lock taken
    /// once per connection.
    tally: Mutex<Tally>,
    done: tokio::sync::Notify,
}

#[derive(Default)]
struct Tally {
    status: ByIntent,
    errors: u64,
    first_error: Option<String>,
}

/// Serves until `config.connections` connections have ended or the timeout
/// passes; calls `ready` with the bound address once listening.
pub fn run(config: &Config, ready: impl FnOnce(SocketAddr)) -> io::Result<ServerReport> {
    if config.connections > 0 {
        common::raise_open_files(config.connections)?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(common::threads(config.threads))
        .enable_all()
        .build()?;
    let base = common::rss_kib().unwrap_or(0);
    let sampling = Arc::new(AtomicBool::new(true));
    let peak_rss = Arc::new(AtomicU64::new(base));
    let sampler = common::sample_rss(sampling.clone(), peak_rss.clone());
    let shared = Arc::new(Shared::default());
    let timed_out = rt.block_on(async {
        let listener = MptcpBuilder::new()
            .backlog(config.backlog)
            .bind_async(config.listen)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen)))?;
        ready(listener.local_addr()?);
        // The accept loop runs on a worker, so the connections it spawns go
        // to that worker's own queue rather than through the shared one.
        let deadline = Duration::from_secs(config.timeout);
        tokio::spawn(serve(listener, shared.clone(), config.connections, deadline)).await.map_err(io::Error::other)
    })?;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    rt.shutdown_timeout(Duration::from_secs(1));

    let tally = shared.tally.lock().unwrap_or_else(|p| p.into_inner());
    let mut report = ServerReport {
        implementation: "rust-tokio".into(),
        connections: shared.ended.load(Ordering::Relaxed),
        errors: tally.errors,
        first_error: tally.first_error.clone(),
        peak_live: shared.peak_live.load(Ordering::Relaxed),
        rss_base_kib: base,
        rss_peak_kib: peak_rss.load(Ordering::Relaxed),
        status: tally.status.clone(),
        wrong_status: tally.status.wrong(),
        timed_out,
        ..Default::default()
    };
    report.finish_memory();
    Ok(report)
}

/// The accept loop; `true` when it stopped at the deadline.
async fn serve(listener: TcpListener, shared: Arc<Shared>, target: u64, deadline: Duration) -> bool {
    let deadline = tokio::time::sleep(deadline);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Like Go's net, which sets TCP_NODELAY on every connection.
                    let _ = stream.set_nodelay(true);
                    let live = shared.live.fetch_add(1, Ordering::Relaxed) + 1;
                    shared.peak_live.fetch_max(live, Ordering::Relaxed);
                    tokio::spawn(connection(stream, shared.clone(), target));
                }
                // Out of descriptors or memory: the connection stays in the
                // backlog; note it and try again shortly rather than spin.
                Err(e) => {
                    note_error(&shared, format!("accept: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = shared.done.notified() => return false,
            _ = &mut deadline => return true,
        }
    }
}

fn note_error(shared: &Shared, msg: String) {
    let mut t = shared.tally.lock().unwrap_or_else(|p| p.into_inner());
    t.errors += 1;
    t.first_error.get_or_insert(msg);
}

/// One connection: echo until EOF, status checked at the first header.
async fn connection(mut stream: TcpStream, shared: Arc<Shared>, target: u64) {
    let mut conn = Conn { header: [0; HEADER], have: 0, intent: None };
    let result = echo(&mut stream, &mut conn).await;
    {
        let mut t = shared.tally.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((intent, status)) = conn.intent {
            t.status.add(intent, status);
        }
        if let Err(e) = result {
            t.errors += 1;
            t.first_error.get_or_insert(e.to_string());
        }
    }
    drop(stream);
    shared.live.fetch_sub(1, Ordering::Relaxed);
    if shared.ended.fetch_add(1, Ordering::Relaxed) + 1 == target {
        shared.done.notify_one();
    }
}

/// Per-connection state: the first frame's header and what it said.
struct Conn {
    header: [u8; HEADER],
    have: usize,
    intent: Option<(Intent, &'static str)>,
}

/// What one read did.
enum Step {
    /// Echoed everything read (or nothing was ready).
    Echoed,
    /// The socket took only part: this rest must still be written.
    Pending(Vec<u8>),
    /// The client closed.
    Eof,
}

async fn echo(stream: &mut TcpStream, conn: &mut Conn) -> io::Result<()> {
    loop {
        match std::future::poll_fn(|cx| pump(cx, stream, conn)).await? {
            Step::Echoed => {}
            Step::Pending(rest) => stream.write_all(&rest).await?,
            Step::Eof => return Ok(()),
        }
    }
}

/// Reads what is there into a buffer on this poll's stack and writes it
/// straight back: the buffer never becomes part of the task. A read that
/// does not fill the buffer tells tokio the socket is drained, so the next
/// poll waits for readiness without a `read` that would fail with `EAGAIN`.
fn pump(cx: &mut Context<'_>, stream: &mut TcpStream, conn: &mut Conn) -> Poll<io::Result<Step>> {
    let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
    let mut buf = ReadBuf::uninit(&mut buf);
    ready!(Pin::new(&mut *stream).poll_read(cx, &mut buf))?;
    let data = buf.filled();
    if data.is_empty() {
        return Poll::Ready(Ok(Step::Eof));
    }
    if conn.have < HEADER {
        let take = (HEADER - conn.have).min(data.len());
        conn.header[conn.have..conn.have + take].copy_from_slice(&data[..take]);
        conn.have += take;
        if conn.have == HEADER {
            let Some(intent) = Intent::from_byte(conn.header[8]) else {
                let msg = format!("header byte {:#04x} names no intent", conn.header[8]);
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, msg)));
            };
            let status = stream.mptcp_status().map_or("unknown", |s| s.as_str());
            conn.intent = Some((intent, status));
        }
    }
    Poll::Ready(match stream.try_write(data) {
        Ok(w) if w == data.len() => Ok(Step::Echoed),
        Ok(w) => Ok(Step::Pending(data[w..].to_vec())),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Step::Pending(data.to_vec())),
        Err(e) => Err(e),
    })
}

#[allow(dead_code)] // the test includes this file as a module
fn main() {
    let config = Config::parse();
    let report = run(&config, |addr| {
        println!("ready {addr}");
        use std::io::Write;
        let _ = io::stdout().flush();
    });
    match report {
        Ok(report) => {
            println!("{}", serde_json::to_string(&report).expect("a report serializes"));
            if report.errors > 0 || report.wrong_status > 0 || report.timed_out {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("echo_server: {e}");
            std::process::exit(2);
        }
    }
}
