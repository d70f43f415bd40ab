//! `mptcp bench`: an iperf-style throughput tool that also checks every
//! byte, and a netperf-style request/response tool, MPTCP and TCP side by
//! side.
//!
//! `mptcp bench server` accepts clients (MPTCP or plain TCP);
//! `mptcp bench client HOST` sends (`-R`: receives, `--bidir`: both) a
//! deterministic pseudo-random stream on `-P` connections for a time or a
//! byte count, shows the rates live (`-i`: one line per interval), and
//! reports goodput, per-subflow share, the MPTCP status of both ends,
//! retransmits and whether the receiver's checksum of every stream equals
//! the sender's. `--rr` and `--crr` measure transaction latency and
//! connection rate instead. Every option is checked before anything is
//! sent. The transfers and their wire protocol are in [`mptcp_transfer`].

mod human;

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use mptcp_transfer::aggregate::{TestDirection, TestReport};
use mptcp_transfer::client::{self, Observer, TestConfig};
use mptcp_transfer::proto::{Direction, Mode, MAX_COUNT, MAX_RATE_BPS, MIN_RATE_BPS};
use mptcp_transfer::rr::{self, RrConfig, MAX_MESSAGE};
use mptcp_transfer::sampler::Sample;
use mptcp_transfer::server::{self, Event};
use mptcp_transfer::session::ClientConfig;
use mptcp_transfer::ticker::Interval;
use mptcp_transfer::units::{parse_rate, parse_size};
use mptcp_transfer::{plot, timed};

use crate::args::SockArgs;
use crate::live;
use crate::util::{from_transfer, print_json, stdout, usage, StdoutClosed};

/// Default port, as iperf3's.
pub const DEFAULT_PORT: u16 = 5201;
/// Most connections per direction (`-P`).
pub const MAX_PARALLEL: u16 = 128;

/// Arguments of `mptcp bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    mode: BenchMode,
}

#[derive(Debug, clap::Subcommand)]
enum BenchMode {
    /// Accept bench clients and serve their tests.
    Server(ServerArgs),
    /// Connect to a bench server and measure.
    Client(Box<ClientArgs>),
}

#[derive(Debug, clap::Args)]
struct ServerArgs {
    /// Address to listen on, ADDR or ADDR:PORT. Keep the wildcard (the
    /// default) when the server announces other addresses: subflows joining
    /// them need a listener there.
    #[arg(long, value_name = "ADDR", default_value = "[::]")]
    bind: String,
    /// Port to listen on (default 5201).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// Serve one test, then exit (status 1 if it failed).
    #[arg(long)]
    once: bool,
    /// One JSON object per test on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    sock: SockArgs,
}

#[derive(Debug, clap::Args)]
struct ClientArgs {
    /// Server, HOST or HOST:PORT.
    #[arg(value_name = "HOST[:PORT]")]
    target: String,
    /// Server port when HOST has none (default 5201).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// Seconds to run (default 10 unless --bytes or --count is given; --rr
    /// and --crr run this long per protocol).
    #[arg(short = 't', long, value_name = "S", allow_negative_numbers = true)]
    duration: Option<f64>,
    /// Bytes to send in each direction, shared by the connections, e.g.
    /// 100M (K, M, G are powers of 1024).
    #[arg(short = 'n', long, value_name = "N")]
    bytes: Option<String>,
    /// The server sends, the client receives.
    #[arg(short = 'R', long)]
    reverse: bool,
    /// Both directions at once (-P connections each way).
    #[arg(long, conflicts_with = "reverse")]
    bidir: bool,
    /// Connections at once (per direction), 1 to 128.
    #[arg(short = 'P', long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=MAX_PARALLEL as i64))]
    parallel: u16,
    /// Print one line per interval of this many seconds (0.1 to 3600), also
    /// when stdout is not a terminal.
    #[arg(short = 'i', long, value_name = "S", allow_negative_numbers = true)]
    interval: Option<f64>,
    /// Pace each sending connection at RATE bits per second, e.g. 50M
    /// (k, M, G are powers of 1000). Plain TCP: SO_MAX_PACING_RATE; MPTCP
    /// sockets refuse it, so their writes are paced by the application.
    #[arg(short = 'b', long, value_name = "RATE")]
    bitrate: Option<String>,
    /// Plain TCP instead of MPTCP (with --rr/--crr: TCP only).
    #[arg(long)]
    tcp: bool,
    /// Request/response latency on open connections (like netperf TCP_RR),
    /// MPTCP and TCP side by side.
    #[arg(long, conflicts_with_all = ["crr", "reverse", "bidir", "bytes", "bitrate", "interval", "plot"])]
    rr: bool,
    /// Connections per second, one transaction each (like netperf
    /// TCP_CRR), MPTCP and TCP side by side.
    #[arg(long, conflicts_with_all = ["reverse", "bidir", "bytes", "bitrate", "interval", "plot"])]
    crr: bool,
    /// Request size for --rr/--crr, bytes (default 1; up to 16M).
    #[arg(long, value_name = "BYTES")]
    size: Option<String>,
    /// Response size for --rr/--crr (default: the request size).
    #[arg(long, value_name = "BYTES")]
    response_size: Option<String>,
    /// Transactions (--rr) or connections (--crr) in all, per protocol.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Fail when a connection moves no data for this many seconds (0.5 to 3600).
    #[arg(long, value_name = "S", default_value_t = timed::DEFAULT_STALL.as_secs_f64(), allow_negative_numbers = true)]
    stall_timeout: f64,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write an SVG chart of throughput over time.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Sampling interval of the per-subflow counters, milliseconds (10 to 10000).
    #[arg(long, value_name = "MS", default_value_t = 100)]
    sample_ms: u64,
    /// Seed of the data stream (default: random).
    #[arg(long)]
    seed: Option<u64>,
    /// No live view.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    sock: SockArgs,
}

/// Adds the port to a target without one; `port` (from `-p`) must agree
/// with a port the target names.
pub fn with_port(target: &str, port: Option<u16>) -> anyhow::Result<String> {
    let p = port.unwrap_or(DEFAULT_PORT);
    let named = if let Ok(a) = target.parse::<SocketAddr>() {
        Some(a.port())
    } else if let Ok(ip) = target.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, p).to_string());
    } else {
        match target.rsplit_once(':') {
            Some((h, ps)) if !h.is_empty() && !h.contains(':') => match ps.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(usage(format!("{target:?}: the port must be 1 to 65535"))),
            },
            _ => None,
        }
    };
    match (named, port) {
        (Some(n), Some(q)) if n != q => {
            Err(usage(format!("{target:?} names port {n} but -p says {q}: give the port once")))
        }
        (Some(_), _) => Ok(target.to_string()),
        (None, _) if target.is_empty() => Err(usage("the server address is empty")),
        (None, _) => Ok(format!("{target}:{p}")),
    }
}

/// Runs `mptcp bench`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.mode {
        BenchMode::Server(a) => serve(a),
        BenchMode::Client(a) => match validate(&a)? {
            Plan::Stream(cfg) => stream_client(&a, &cfg),
            Plan::Rr(cfg, protocols) => rr_client(&a, &cfg, &protocols),
        },
    }
}

fn serve(a: ServerArgs) -> anyhow::Result<ExitCode> {
    let opts = a.sock.opts()?;
    let bind = a.bind.trim_start_matches('[').trim_end_matches(']');
    let addr = match (a.bind.parse::<SocketAddr>(), bind.parse::<IpAddr>()) {
        (Ok(x), _) => match a.port {
            Some(p) if p != x.port() => {
                return Err(usage(format!(
                    "--bind {} names port {} but -p says {p}: give the port once",
                    a.bind,
                    x.port()
                )))
            }
            _ => x,
        },
        (_, Ok(ip)) => SocketAddr::new(ip, a.port.unwrap_or(DEFAULT_PORT)),
        _ => return Err(usage(format!("--bind {:?}: expected ADDR or ADDR:PORT, e.g. 0.0.0.0 or [::]:5201", a.bind))),
    };
    // Options set on the listener reach every socket it accepts.
    let builder = opts.builder();
    let listener: TcpListener = match builder.bind_addr(&addr) {
        Ok(l) => l,
        // No IPv6 on this host: the default [::] becomes 0.0.0.0.
        Err(e) if addr.ip().is_unspecified() && addr.is_ipv6() => builder
            .bind_addr(&SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), addr.port()))
            .map_err(|e2| anyhow::anyhow!("cannot listen on {addr}: {e}; nor on 0.0.0.0: {e2}"))?,
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot listen on {addr}"))),
    };
    let local = listener.local_addr()?;
    if !a.json {
        eprintln!("mptcp bench: listening on {local} (MPTCP and TCP clients)");
    }
    let closed = AtomicBool::new(false);
    let print = |text: &str| {
        let mut out = stdout();
        if out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_err() {
            closed.store(true, Ordering::Relaxed);
        }
    };
    let on_event = |ev: &Event| match ev {
        Event::Test(t) if a.json => emit_json(t, &closed),
        Event::Rr(r) if a.json => emit_json(r, &closed),
        Event::Session(r) if a.json => emit_json(r, &closed),
        Event::Test(t) => print(&human::test(t, None)),
        Event::Rr(r) => print(&human::server_rr(r)),
        Event::Session(r) => print(&human::session(r)),
        Event::SessionFailed(e) | Event::Error(e) => eprintln!("mptcp bench: {e}"),
    };
    let sample = Duration::from_millis(100);
    let ok = server::serve(&listener, a.once, sample, &on_event).map_err(from_transfer)?;
    if closed.load(Ordering::Relaxed) {
        return Err(anyhow::Error::new(StdoutClosed));
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Prints a report as JSON; notes a closed stdout in `closed`.
fn emit_json<T: serde::Serialize>(v: &T, closed: &AtomicBool) {
    if print_json(v).is_err() {
        closed.store(true, Ordering::Relaxed);
    }
}

/// A validated client command.
enum Plan {
    Stream(TestConfig),
    Rr(RrConfig, Vec<bool>),
}

fn seconds(v: f64, what: &str, lo: f64, hi: f64) -> anyhow::Result<Duration> {
    if v.is_finite() && v >= lo && v <= hi {
        return Ok(Duration::from_secs_f64(v));
    }
    let shown = if v != 0.0 && !(1e-3..1e9).contains(&v.abs()) { format!("{v:e}") } else { format!("{v}") };
    Err(usage(format!("{what} {shown}: expected seconds from {lo} to {hi}")))
}

fn message_size(v: &str, what: &str) -> anyhow::Result<u32> {
    match parse_size(v) {
        Some(n) if n >= 1 && n <= u64::from(MAX_MESSAGE) => Ok(n as u32),
        _ => Err(usage(format!("{what} {v:?}: expected 1 byte to 16M"))),
    }
}

/// Checks every option; nothing is sent before this returns.
fn validate(a: &ClientArgs) -> anyhow::Result<Plan> {
    let target = with_port(&a.target, a.port)?;
    let opts = a.sock.opts()?;
    let rr = a.rr || a.crr;
    let bytes = match &a.bytes {
        None => 0,
        Some(s) => match parse_size(s) {
            Some(n) if n >= u64::from(a.parallel) => n,
            Some(n) if n > 0 => {
                return Err(usage(format!("--bytes {s:?}: {n} bytes cannot be shared by {} connections", a.parallel)))
            }
            _ => return Err(usage(format!("--bytes {s:?}: expected a positive size such as 100M"))),
        },
    };
    if !rr && (a.size.is_some() || a.response_size.is_some() || a.count.is_some()) {
        return Err(usage("--size, --response-size and --count apply to --rr and --crr"));
    }
    let count = match a.count {
        Some(c) if c < u64::from(a.parallel) && c >= 1 => {
            // Each connection runs its share of the transactions: a share
            // of none would be a connection without an end.
            return Err(usage(format!(
                "--count {c}: {c} transactions cannot be shared by {} connections (give at least -P's number)",
                a.parallel
            )));
        }
        Some(c) if (1..=MAX_COUNT).contains(&c) => c,
        Some(c) => return Err(usage(format!("--count {c}: expected 1 to {MAX_COUNT}"))),
        None => 0,
    };
    let duration = match a.duration {
        Some(d) => seconds(d, "--duration", 0.001, 86400.0)?,
        None if bytes > 0 || count > 0 => Duration::ZERO,
        None => Duration::from_secs(10),
    };
    let report_interval = a.interval.map(|i| seconds(i, "--interval", 0.1, 3600.0)).transpose()?;
    let rate_bps = match &a.bitrate {
        None => 0,
        Some(s) => match parse_rate(s) {
            Some(r) if (MIN_RATE_BPS..=MAX_RATE_BPS).contains(&r) => r,
            _ => {
                return Err(usage(format!(
                    "--bitrate {s:?}: expected a rate from 1k to 10T bits per second, e.g. 50M (omit -b for no limit)"
                )))
            }
        },
    };
    let stall = seconds(a.stall_timeout, "--stall-timeout", 0.5, 3600.0)?;
    if !(10..=10_000).contains(&a.sample_ms) {
        return Err(usage(format!("--sample-ms {}: expected 10 to 10000", a.sample_ms)));
    }
    if let Some(p) = &a.plot {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(usage(format!("--plot {}: directory {} does not exist", p.display(), dir.display())));
            }
        }
    }
    let base = ClientConfig {
        target,
        direction: if a.reverse { Direction::Download } else { Direction::Upload },
        bytes,
        duration,
        seed: a.seed.unwrap_or_else(client::new_test_id),
        mptcp: !a.tcp,
        opts,
        interval: Duration::from_millis(a.sample_ms),
        connect_timeout: Duration::from_secs(10),
        rate_bps,
        stall,
        test: None,
    };
    if rr {
        let request = a.size.as_deref().map(|s| message_size(s, "--size")).transpose()?.unwrap_or(1);
        let response = a.response_size.as_deref().map(|s| message_size(s, "--response-size")).transpose()?;
        let cfg = RrConfig {
            base,
            mode: if a.crr { Mode::Crr } else { Mode::Rr },
            parallel: a.parallel,
            request,
            response: response.unwrap_or(request),
            count,
        };
        let protocols = if a.tcp { vec![false] } else { vec![true, false] };
        return Ok(Plan::Rr(cfg, protocols));
    }
    Ok(Plan::Stream(TestConfig { base, parallel: a.parallel, bidir: a.bidir, report_interval }))
}

fn stream_client(a: &ClientArgs, cfg: &TestConfig) -> anyhow::Result<ExitCode> {
    let direction = if cfg.bidir {
        TestDirection::Bidir
    } else if a.reverse {
        TestDirection::Download
    } else {
        TestDirection::Upload
    };
    let title = format!(
        "{} {}",
        if a.tcp { "TCP" } else { "MPTCP" },
        match direction {
            TestDirection::Upload => "upload",
            TestDirection::Download => "download",
            TestDirection::Bidir => "both ways",
        }
    );
    // Interval lines and the live view would fight over the terminal.
    let mut live = live::Live::new(&title, a.quiet || a.json || a.interval.is_some());
    let closed = AtomicBool::new(false);
    let mut on_interval = |i: &Interval| {
        if !a.json && !closed.load(Ordering::Relaxed) {
            let mut out = stdout();
            let line = human::interval_line(i, direction);
            if out.write_all(line.as_bytes()).and_then(|_| out.flush()).is_err() {
                closed.store(true, Ordering::Relaxed);
            }
        }
    };
    let mut on_sample = |s: &[Sample]| {
        if let Some(l) = live.as_mut() {
            l.update(s)
        }
    };
    let r = client::run_test(cfg, Observer { on_interval: &mut on_interval, on_sample: &mut on_sample });
    if let Some(l) = live {
        l.finish();
    }
    if closed.load(Ordering::Relaxed) {
        return Err(anyhow::Error::new(StdoutClosed));
    }
    let rep = match r {
        Ok(rep) => rep,
        Err(e) => return Err(failed_before_start(a.json, from_transfer(e))),
    };
    if let Some(p) = &a.plot {
        write_plot(p, &rep, &title)?;
    }
    if a.json {
        print_json(&rep)?;
    } else {
        let mut out = stdout();
        out.write_all(human::test(&rep, a.plot.as_deref()).as_bytes())?;
        out.flush()?;
    }
    failed_if(a.json, rep.error.as_deref())
}

/// The outcome of a test whose report was printed: an error when it failed
/// (with `--json` the report already says so: no second JSON object).
fn failed_if(json: bool, error: Option<&str>) -> anyhow::Result<ExitCode> {
    match error {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => {
            if json {
                crate::errors::mark_json_failure_printed();
            }
            Err(anyhow::anyhow!("{e}"))
        }
    }
}

/// A test that failed before it started (no server, not a bench server):
/// with `--json` the JSON object says so like a report would (`"ok":
/// false`), with the error and its kind as every command's JSON error.
fn failed_before_start(json: bool, e: anyhow::Error) -> anyhow::Error {
    if json {
        let je = crate::errors::JsonError::of(&e);
        let _ = print_json(&serde_json::json!({ "ok": false, "error": je.error, "kind": je.kind }));
        crate::errors::mark_json_failure_printed();
    }
    e
}

fn write_plot(p: &std::path::Path, rep: &TestReport, title: &str) -> anyhow::Result<()> {
    let panel = plot::Panel {
        title: format!("mptcp bench: {title} with {} ({})", rep.peer, rep.status),
        points: rep.timeline.clone(),
        ..Default::default()
    };
    plot::write(p, &[panel]).with_context(|| format!("writing {}", p.display()))
}

fn rr_client(a: &ClientArgs, cfg: &RrConfig, protocols: &[bool]) -> anyhow::Result<ExitCode> {
    if !a.quiet && !a.json && std::io::stderr().is_terminal() {
        let each = if cfg.base.duration.is_zero() { String::new() } else { format!(" ({:?} each)", cfg.base.duration) };
        eprintln!("mptcp bench: {} then TCP{each}...", if protocols.len() > 1 { "MPTCP" } else { "TCP" });
    }
    let rep = rr::run(cfg, protocols).map_err(|e| failed_before_start(a.json, from_transfer(e)))?;
    if a.json {
        print_json(&rep)?;
    } else {
        let mut out = stdout();
        out.write_all(human::rr(&rep).as_bytes())?;
        out.flush()?;
    }
    failed_if(a.json, rep.error.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        let p = |t: &str, port: Option<u16>| with_port(t, port).map_err(|e| e.to_string());
        assert_eq!(p("10.0.0.1", None).unwrap(), "10.0.0.1:5201");
        assert_eq!(p("10.0.0.1", Some(9)).unwrap(), "10.0.0.1:9");
        assert_eq!(p("10.0.0.1:80", None).unwrap(), "10.0.0.1:80");
        assert_eq!(p("10.0.0.1:80", Some(80)).unwrap(), "10.0.0.1:80");
        assert!(p("10.0.0.1:80", Some(81)).unwrap_err().contains("give the port once"));
        assert_eq!(p("::1", None).unwrap(), "[::1]:5201");
        assert_eq!(p("[::1]:9", None).unwrap(), "[::1]:9");
        assert_eq!(p("example.org", Some(7)).unwrap(), "example.org:7");
        assert_eq!(p("example.org:9", None).unwrap(), "example.org:9");
        assert!(p("example.org:99999", None).unwrap_err().contains("1 to 65535"));
        assert!(p("example.org:0", None).is_err());
    }
}
