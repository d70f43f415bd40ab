//! The echo server and load client of the scale examples on std's
//! blocking sockets, one thread per connection: the same protocol and the
//! same JSON reports as `echo_server` and `load_client`, for programs that
//! do not use tokio.
//!
//! ```sh
//! cargo run --release -p multipath-tcp --example echo_std -- server --listen 127.0.0.1:7000 --connections 200
//! cargo run --release -p multipath-tcp --example echo_std -- client 127.0.0.1:7000 --connections 200 --mode half
//! ```
//!
//! The server listens with [`MptcpListenerExt::bind_mptcp`], accepts
//! `--connections` connections, echoes each on its own thread and checks
//! its status against what the client asked for; the client connects with
//! [`MptcpStreamExt::connect_mptcp`] (or plain TCP), exchanges verified
//! frames and checks its own status. Exit status 1 when a connection failed
//! or had the wrong status.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::Instant;

use clap::{Parser, Subcommand};
use mptcp::{MptcpExt, MptcpListenerExt, MptcpStreamExt};

// tests/echo.rs compiles this file as a module and declares `common` once
// at its root, so that the server's and the client's reports are one type.
#[cfg(not(test))]
#[path = "echo_common/mod.rs"]
pub mod common;
#[cfg(test)]
pub use crate::common;

use common::{ByIntent, ClientReport, Intent, Latency, Mode, ServerReport, HEADER, MIN_FRAME};

/// Blocking echo server and load client (std, one thread per connection).
#[derive(Debug, Parser)]
#[command(name = "echo_std")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// What to run.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Accept `--connections` connections, echo each, report.
    Server {
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:7000")]
        listen: SocketAddr,
        /// Connections to serve before reporting.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
        connections: u32,
    },
    /// Open `--connections` connections and exchange verified frames on each.
    Client {
        /// The echo server's address.
        addr: SocketAddr,
        /// Connections to open and hold.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
        connections: u32,
        /// Requests per connection after the setup exchange.
        #[arg(long, default_value_t = 10)]
        requests: u32,
        /// Frame size in bytes (at least 16).
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(MIN_FRAME as i64..=1 << 20))]
        size: u32,
        /// Which connections ask for MPTCP.
        #[arg(long, value_enum, default_value_t = Mode::Half)]
        mode: Mode,
    },
}

/// Threads need little stack here: a frame buffer and a few locals.
const STACK: usize = 128 * 1024;

/// Serves `connections` connections; calls `ready` once listening.
pub fn server(listen: SocketAddr, connections: u32, ready: impl FnOnce(SocketAddr)) -> io::Result<ServerReport> {
    common::raise_open_files(u64::from(connections))?;
    let listener = TcpListener::bind_mptcp(listen)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))?;
    ready(listener.local_addr()?);
    let base = common::rss_kib().unwrap_or(0);
    let tally = Arc::new(Mutex::new((ByIntent::default(), 0u64, None::<String>)));
    let mut threads = Vec::with_capacity(connections as usize);
    for _ in 0..connections {
        let (stream, _) = listener.accept()?;
        let tally = tally.clone();
        threads.push(std::thread::Builder::new().stack_size(STACK).spawn(move || {
            let mut intent = None;
            let result = echo(stream, &mut intent);
            let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((i, s)) = intent {
                t.0.add(i, s);
            }
            if let Err(e) = result {
                t.1 += 1;
                t.2.get_or_insert(e.to_string());
            }
        })?);
    }
    // Every connection is open or done by now: the peak is close to here.
    let peak = common::rss_kib().unwrap_or(base);
    for t in threads {
        t.join().map_err(|_| io::Error::other("a connection thread panicked"))?;
    }
    let (status, errors, first_error) = tally.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut report = ServerReport {
        implementation: "rust-std".into(),
        connections: u64::from(connections),
        errors,
        first_error,
        peak_live: u64::from(connections),
        rss_base_kib: base,
        rss_peak_kib: peak,
        wrong_status: status.wrong(),
        status,
        ..Default::default()
    };
    report.finish_memory();
    Ok(report)
}

/// Echoes until EOF; the first header says what the client asked for.
fn echo(mut stream: TcpStream, intent: &mut Option<(Intent, &'static str)>) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    let (mut header, mut have) = ([0u8; HEADER], 0);
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if have < HEADER {
            let take = (HEADER - have).min(n);
            header[have..have + take].copy_from_slice(&buf[..take]);
            have += take;
            if have == HEADER {
                let i = Intent::from_byte(header[8]).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("header byte {:#04x} names no intent", header[8]),
                    )
                })?;
                *intent = Some((i, stream.mptcp_status().map_or("unknown", |s| s.as_str())));
            }
        }
        stream.write_all(&buf[..n])?;
    }
}

/// At most `n` holders at once.
struct Gate {
    free: Mutex<u32>,
    cv: Condvar,
}

impl Gate {
    fn enter(&self) {
        let mut f = self
            .cv
            .wait_while(self.free.lock().unwrap_or_else(|p| p.into_inner()), |f| *f == 0)
            .unwrap_or_else(|p| p.into_inner());
        *f -= 1;
    }
    fn leave(&self) {
        *self.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.cv.notify_one();
    }
}

/// Runs the client: setup (connect, one frame, own status), then `requests` frames.
pub fn client(addr: SocketAddr, connections: u32, requests: u32, size: u32, mode: Mode) -> io::Result<ClientReport> {
    common::raise_open_files(u64::from(connections))?;
    let gate = Arc::new(Gate { free: Mutex::new(256), cv: Condvar::new() });
    let (set_up, go) =
        (Arc::new(Barrier::new(connections as usize + 1)), Arc::new(Barrier::new(connections as usize + 1)));
    let start = Instant::now();
    let mut threads = Vec::with_capacity(connections as usize);
    for id in 0..connections {
        let (gate, set_up, go) = (gate.clone(), set_up.clone(), go.clone());
        threads.push(std::thread::Builder::new().stack_size(STACK).spawn(move || {
            let intent = mode.intent(id);
            let (mut sent, mut back) = (vec![0u8; size as usize], vec![0u8; size as usize]);
            gate.enter();
            let setup = connect(addr, intent)
                .and_then(|mut s| exchange(&mut s, &mut sent, &mut back, id, 0, intent).map(|()| s));
            gate.leave();
            let status = setup.as_ref().ok().map(|s| s.mptcp_status().map_or("unknown", |st| st.as_str()));
            let mut error = setup.as_ref().err().map(|e| e.to_string());
            set_up.wait();
            go.wait();
            let mut latencies = Vec::with_capacity(requests as usize);
            if let Ok(mut s) = setup {
                for seq in 1..=requests {
                    let t = Instant::now();
                    if let Err(e) = exchange(&mut s, &mut sent, &mut back, id, seq, intent) {
                        error = Some(e.to_string());
                        break;
                    }
                    latencies.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                }
            }
            (intent, status, latencies, error)
        })?);
    }
    set_up.wait();
    let setup_secs = start.elapsed().as_secs_f64();
    let requests_start = Instant::now();
    go.wait();
    let mut report = ClientReport {
        implementation: "rust-std".into(),
        mode: mode.as_str().into(),
        connections: u64::from(connections),
        requests: u64::from(requests),
        size: u64::from(size),
        setup_secs,
        ..Default::default()
    };
    let mut latencies = Vec::new();
    for t in threads {
        let (intent, status, l, error) = t.join().map_err(|_| io::Error::other("a connection thread panicked"))?;
        report.established += u64::from(status.is_some());
        report.status.add(intent, status.unwrap_or("unknown"));
        if let Some(e) = error {
            report.errors += 1;
            report.first_error.get_or_insert(e);
        }
        latencies.extend_from_slice(&l);
    }
    report.request_secs = requests_start.elapsed().as_secs_f64();
    report.cps = report.established as f64 / setup_secs;
    report.verified = latencies.len() as u64;
    report.rps = latencies.len() as f64 / report.request_secs;
    report.latency_us = Latency::of(&mut latencies);
    report.wrong_status = report.status.wrong();
    Ok(report)
}

fn connect(addr: SocketAddr, intent: Intent) -> io::Result<TcpStream> {
    let s = match intent {
        Intent::Mptcp => TcpStream::connect_mptcp(addr),
        Intent::Tcp => TcpStream::connect(addr),
    }
    .map_err(|e| io::Error::new(e.kind(), format!("connect: {e}")))?;
    s.set_nodelay(true)?;
    Ok(s)
}

fn exchange(
    s: &mut TcpStream,
    sent: &mut [u8],
    back: &mut [u8],
    conn: u32,
    seq: u32,
    intent: Intent,
) -> io::Result<()> {
    common::encode(conn, seq, intent, sent);
    s.write_all(sent)?;
    s.read_exact(back)?;
    if back != sent {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame {seq} came back changed")));
    }
    Ok(())
}

#[allow(dead_code)] // the test includes this file as a module
fn main() {
    let args = Args::parse();
    let (json, clean) = match args.command {
        Command::Server { listen, connections } => server(listen, connections, |a| {
            println!("ready {a}");
            let _ = io::stdout().flush();
        })
        .map(|r| (serde_json::to_string(&r), r.errors == 0 && r.wrong_status == 0)),
        Command::Client { addr, connections, requests, size, mode } => client(addr, connections, requests, size, mode)
            .map(|r| (serde_json::to_string(&r), r.errors == 0 && r.wrong_status == 0)),
    }
    .unwrap_or_else(|e| {
        eprintln!("echo_std: {e}");
        std::process::exit(2);
    });
    println!("{}", json.expect("a report serializes"));
    if !clean {
        std::process::exit(1);
    }
}
