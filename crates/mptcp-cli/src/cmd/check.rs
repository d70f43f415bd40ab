//! `mptcp check HOST:PORT`: does this server negotiate MPTCP?

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use mptcp::{DialError, Mechanism, MptcpBuilder, MptcpExt};
use serde::Serialize;

use crate::util::usage;

/// Arguments of `mptcp check`.
///
/// Exit status: 0 when the server negotiated MPTCP, 3 when the connection
/// runs as plain TCP (fallback, or this host cannot use MPTCP: then the
/// report says so, and nothing about the server), 1 when the connection
/// failed, 2 on bad input.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Server to check, e.g. `example.net:443` or `[2001:db8::1]:80`.
    target: String,
    /// Print one JSON object.
    #[arg(short = 'j', long)]
    pub json: bool,
    /// Connect timeout in seconds (0.001 to 3600).
    #[arg(long, value_name = "SECS", default_value_t = 5.0, allow_negative_numbers = true,
          value_parser = crate::args::connect_timeout)]
    timeout: f64,
    /// Send these bytes after connecting (e.g. "HEAD / HTTP/1.0\r\n\r\n"),
    /// so a late fallback on data shows up too.
    #[arg(long)]
    send: Option<String>,
    /// Detection mechanism to use instead of the best one
    /// (tcp-is-mptcp, mptcp-info, inet-diag, so-protocol).
    #[arg(long)]
    mechanism: Option<Mechanism>,
}

#[derive(Serialize)]
struct Report {
    target: String,
    remote: SocketAddr,
    local: Option<SocketAddr>,
    status: mptcp::MptcpStatus,
    mechanism: String,
    host_mptcp: String,
    /// Whether this host can use MPTCP at all: when not, the check says
    /// nothing about the server.
    host_can_mptcp: bool,
    /// What this kernel lacks that the report depends on.
    notes: Vec<String>,
    /// The connection token (a number; printed as [`crate::token::fmt`] in text).
    token: Option<u32>,
    /// The token as text prints it.
    token_hex: Option<String>,
    subflows: Vec<mptcp::SubflowInfo>,
    info: Option<mptcp::MptcpInfo>,
    /// What the server did with the `--send` data.
    after_send: Option<String>,
    /// When the connection is plain TCP: the command that explains why.
    doctor: Option<String>,
}

/// Runs `mptcp check`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.target.contains(':') {
        return Err(usage(format!("{:?} has no port: use HOST:PORT, e.g. example.net:443", args.target)));
    }
    let support = mptcp::host_support();
    let builder = MptcpBuilder::new().connect_timeout(Duration::from_secs_f64(args.timeout));
    // The address connected to comes back with the stream: a socket the
    // server closed at once has no peer address any more.
    let (stream, remote) = builder.dial(args.target.as_str()).map_err(|e| match e {
        DialError::Resolve(e) => usage(format!("cannot resolve {:?}: {e} (expected HOST:PORT)", args.target)),
        DialError::NoAddress { .. } => usage(format!("{:?} resolves to no address", args.target)),
        // Every address and its error, or the socket that could not be made.
        e => anyhow::Error::new(std::io::Error::from(e)).context(format!("cannot connect to {}", args.target)),
    })?;
    let status_now = || -> anyhow::Result<(mptcp::MptcpStatus, String)> {
        Ok(match args.mechanism {
            Some(m) => {
                (stream.mptcp_status_with(m).with_context(|| format!("status query through {m}"))?, m.to_string())
            }
            None => (
                stream.mptcp_status().context("status query: asking the kernel for the MPTCP status")?,
                support.best_mechanism().map(|m| m.to_string()).unwrap_or_else(|| "so-protocol".into()),
            ),
        })
    };
    let (answer, status_while_open) = match &args.send {
        Some(data) => {
            let (answer, seen) = send_and_listen(&stream, data.as_bytes(), &args.target, remote, &status_now)?;
            (Some(answer), seen)
        }
        None => (None, None),
    };
    // A connection the server has closed (or reset) may no longer say what
    // it was: the status read while it was still open stands then.
    let (status, mechanism) = match status_while_open {
        Some(seen) => seen,
        None => status_now()?,
    };
    let info = stream.mptcp_info().context("reading MPTCP_INFO")?;
    let report = Report {
        target: args.target.clone(),
        remote,
        local: stream.local_addr().ok(),
        status,
        mechanism,
        host_mptcp: support.availability.to_string(),
        host_can_mptcp: support.is_available(),
        // The path manager plays no part here.
        notes: crate::cmd::status::missing(support, true),
        token: info.as_ref().and_then(|i| i.token),
        token_hex: info.as_ref().and_then(|i| i.token).map(crate::token::fmt),
        subflows: stream.subflows_with(mptcp::SubflowDetail::Backup).context("reading subflows")?,
        info,
        after_send: answer,
        doctor: (!status.is_mptcp()).then(|| format!("mptcp doctor {}", args.target)),
    };
    if args.json {
        crate::util::print_json(&report)?;
    } else {
        let verdict = match status {
            mptcp::MptcpStatus::Mptcp => "MPTCP: the server negotiated Multipath TCP".to_string(),
            mptcp::MptcpStatus::Fallback => {
                "fallback: we asked for MPTCP, the connection runs as plain TCP (server without MPTCP, or a middlebox)"
                    .to_string()
            }
            mptcp::MptcpStatus::Tcp if !report.host_can_mptcp => format!(
                "this host cannot use MPTCP ({}): connected over plain TCP, so this says nothing about the server",
                report.host_mptcp
            ),
            mptcp::MptcpStatus::Tcp => format!("tcp: plain TCP socket (MPTCP on this host: {})", report.host_mptcp),
        };
        use std::io::Write;
        let mut out = crate::util::stdout();
        writeln!(out, "{} ({}): {verdict}", args.target, report.remote)?;
        if let Some(a) = &report.after_send {
            writeln!(out, "  after --send: {a}")?;
        }
        if let Some(d) = &report.doctor {
            writeln!(out, "  why: `{d}` explains it")?;
        }
        for n in &report.notes {
            writeln!(out, "  note: {n}")?;
        }
        writeln!(out, "  detected with: {}", report.mechanism)?;
        if let Some(t) = &report.token_hex {
            writeln!(out, "  token: {t}")?;
        }
        for (i, sf) in report.subflows.iter().enumerate() {
            let addr = |a: Option<SocketAddr>| a.map(|a| a.to_string()).unwrap_or_else(|| "?".into());
            writeln!(
                out,
                "  subflow {}: {} -> {} {} rtt {}",
                sf.id.map(|i| i.to_string()).unwrap_or_else(|| i.to_string()),
                addr(sf.local),
                addr(sf.remote),
                sf.tcp.state_name().unwrap_or("?"),
                sf.tcp.rtt_us.map(|r| format!("{:.2}ms", f64::from(r) / 1000.0)).unwrap_or_else(|| "?".into())
            )?;
        }
        out.flush()?;
    }
    Ok(if status.is_mptcp() { ExitCode::SUCCESS } else { ExitCode::from(3) })
}

/// What [`send_and_listen`] found: what the server did, and the status read
/// while the connection was still open when the server then closed it.
type Listened = (String, Option<(mptcp::MptcpStatus, String)>);

/// The `--send` steps: send the data, then read what the server answers for
/// up to half a second. Returns what the server did and, when the server
/// closed the connection, the status `status_now` read just before the
/// close was seen (after it, the socket may no longer say what it was); a
/// step that fails is named with what its error means.
fn send_and_listen(
    stream: &TcpStream,
    data: &[u8],
    target: &str,
    remote: SocketAddr,
    status_now: &dyn Fn() -> anyhow::Result<(mptcp::MptcpStatus, String)>,
) -> anyhow::Result<Listened> {
    let failed = |step: &str, e: std::io::Error| {
        let what = match e.kind() {
            ErrorKind::ConnectionReset => {
                "the server reset the connection: it closed it without reading our data (a server that closes \
                 connections at once, or one that rejects this request)"
            }
            ErrorKind::BrokenPipe => "the server had already closed the connection",
            ErrorKind::NotConnected => "the connection is no longer open: the server closed or reset it",
            _ => "the connection failed",
        };
        anyhow::anyhow!("{target} ({remote}): step {step} failed: {what}, so MPTCP on data cannot be checked ({e})")
    };
    (&*stream).write_all(data).map_err(|e| failed("send (writing the --send data)", e))?;
    let until = Instant::now() + Duration::from_millis(500);
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let (mut buf, mut got) = (vec![0u8; 64 * 1024], 0);
    // Read after the data went out and after each answer: a late fallback
    // shows up once data has crossed, and the last reading before a close
    // is what the connection was.
    let mut seen = status_now()?;
    let closed = loop {
        match (&*stream).read(&mut buf[got..]) {
            Ok(0) => {
                // A server that closed without reading our data resets the
                // connection when the data arrives: look once more.
                std::thread::sleep(Duration::from_millis(100));
                match (&*stream).read(&mut buf[got..]) {
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                        return Err(failed("receive (reading the server's answer)", e))
                    }
                    _ => break true,
                }
            }
            Ok(n) => {
                got += n;
                seen = status_now()?;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(e) => return Err(failed("receive (reading the server's answer)", e)),
        }
        if got == buf.len() || Instant::now() >= until {
            break false;
        }
    };
    let what = match (got, closed) {
        (0, true) => "the server closed the connection without answering".to_string(),
        (n, true) => format!("the server answered {n} bytes and closed the connection"),
        (0, false) => "the server has not answered (yet)".to_string(),
        (n, false) => format!("the server answered {n} bytes"),
    };
    Ok((what, closed.then_some(seen)))
}
