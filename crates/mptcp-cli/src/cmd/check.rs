//! `mptcp check HOST:PORT`: does this server negotiate MPTCP?

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use mptcp::{Mechanism, MptcpBuilder, MptcpExt};
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
}

/// Runs `mptcp check`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.target.contains(':') {
        return Err(usage(format!("{:?} has no port: use HOST:PORT, e.g. example.net:443", args.target)));
    }
    let addrs: Vec<SocketAddr> = args
        .target
        .to_socket_addrs()
        .map_err(|e| usage(format!("cannot resolve {:?}: {e} (expected HOST:PORT)", args.target)))?
        .collect();
    if addrs.is_empty() {
        return Err(usage(format!("{:?} resolves to no address", args.target)));
    }
    let support = mptcp::host_support();
    let builder = MptcpBuilder::new().connect_timeout(Duration::from_secs_f64(args.timeout));
    let mut last = None;
    let mut stream = None;
    for a in &addrs {
        match builder.connect_addr(a) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some((a, e)),
        }
    }
    let stream = match stream {
        Some(s) => s,
        None => {
            let (a, e) = last.expect("at least one address was tried");
            return Err(anyhow::Error::new(e).context(format!("cannot connect to {} ({a})", args.target)));
        }
    };
    if let Some(data) = &args.send {
        use std::io::Write;
        (&stream).write_all(data.as_bytes()).context("sending --send data")?;
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, mechanism) = match args.mechanism {
        Some(m) => (stream.mptcp_status_with(m).with_context(|| format!("status through {m}"))?, m.to_string()),
        None => (
            stream.mptcp_status().context("asking the kernel for the MPTCP status")?,
            support.best_mechanism().map(|m| m.to_string()).unwrap_or_else(|| "so-protocol".into()),
        ),
    };
    let info = stream.mptcp_info().context("reading MPTCP_INFO")?;
    let report = Report {
        target: args.target.clone(),
        remote: stream.peer_addr()?,
        local: stream.local_addr().ok(),
        status,
        mechanism,
        host_mptcp: support.availability.to_string(),
        host_can_mptcp: support.is_available(),
        // The path manager plays no part here.
        notes: crate::cmd::status::missing(support, true),
        token: info.as_ref().and_then(|i| i.token),
        token_hex: info.as_ref().and_then(|i| i.token).map(crate::token::fmt),
        subflows: stream.subflows().context("reading subflows")?,
        info,
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
