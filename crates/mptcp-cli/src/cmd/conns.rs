//! `mptcp conns`: MPTCP connections on this host with their subflows
//! grouped under each (inet_diag, like `ss -M` and `ss -ti`).
//!
//! The flags mean what they mean to `ss`: `-l` lists listening sockets
//! only, `-a` connections and listening sockets; `-p` (processes in `ss`)
//! is not taken, the port filter is `--port`.

use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::process::ExitCode;

use mptcp::diag::{connections, Connection, Filter, Subflow};
use mptcp::info::tcp_state_name;
use serde_json::{json, Value};

use crate::cmd::endpoint::no_mptcp_reason;
use crate::errors::{failure, Kind};
use crate::util::{print_json, usage};

/// Arguments of `mptcp conns`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(short = 'j', long)]
    pub json: bool,
    /// Only connections with this local or remote port.
    #[arg(long, value_name = "PORT")]
    port: Option<String>,
    /// Only connections with this local or remote address (on any subflow).
    #[arg(long, value_name = "ADDRESS")]
    addr: Option<String>,
    /// Only listening sockets (as `ss -l`).
    #[arg(long, short = 'l', conflicts_with = "all")]
    listening: bool,
    /// Connections and listening sockets (as `ss -a`).
    #[arg(long, short = 'a')]
    all: bool,
}

/// `TCP_LISTEN`, the state of a listening socket.
const TCP_LISTEN: u8 = 10;

fn is_listener(c: &Connection) -> bool {
    c.socket.state == TCP_LISTEN
}

fn subflow_json(s: &Subflow) -> Value {
    json!({
        "state": tcp_state_name(s.state),
        "local": s.local.to_string(),
        "remote": s.remote.to_string(),
        "token_local": s.token_local,
        "token_remote": s.token_remote,
        "id_local": s.id_local,
        "id_remote": s.id_remote,
        "flags": s.flags,
        "backup": s.is_backup(),
        "join": s.is_join(),
        "ifindex": s.ifindex,
        "tcp_info": s.tcp,
    })
}

fn conn_json(c: &Connection) -> Value {
    if is_listener(c) {
        return json!({
            "state": tcp_state_name(c.socket.state),
            "local": c.socket.local.to_string(),
            "inode": c.socket.inode,
        });
    }
    json!({
        "state": tcp_state_name(c.socket.state),
        "local": c.socket.local.to_string(),
        "remote": c.socket.remote.to_string(),
        "token": c.token,
        "token_hex": c.token.map(crate::token::fmt),
        "fallback": c.fallback,
        "inode": c.socket.inode,
        "mptcp_info": c.socket.info,
        "subflows": c.subflows.iter().map(subflow_json).collect::<Vec<_>>(),
    })
}

fn print_text(out: &mut impl Write, conns: &[Connection]) -> std::io::Result<()> {
    for c in conns {
        if is_listener(c) {
            writeln!(out, "{:<10} {}", tcp_state_name(c.socket.state), c.socket.local)?;
            continue;
        }
        let mut line = format!("{:<10} {} -> {}", tcp_state_name(c.socket.state), c.socket.local, c.socket.remote);
        if let Some(t) = c.token {
            line.push_str(&format!("  token {}", crate::token::fmt(t)));
        }
        if c.fallback == Some(true) {
            line.push_str("  fallback");
        }
        line.push_str(&format!("  subflows {}", c.subflows.len()));
        if let Some(i) = &c.socket.info {
            if let (Some(s), Some(r)) = (i.bytes_sent, i.bytes_received) {
                line.push_str(&format!("  sent {s} received {r}"));
            }
        }
        writeln!(out, "{line}")?;
        for s in &c.subflows {
            let mut l = format!("    {:<10} {} -> {}", tcp_state_name(s.state), s.local, s.remote);
            if let (Some(a), Some(b)) = (s.id_local, s.id_remote) {
                l.push_str(&format!("  id {a}/{b}"));
            }
            if s.is_join() {
                l.push_str("  join");
            }
            if s.is_backup() {
                l.push_str("  backup");
            }
            if let Some(rtt) = s.tcp.as_ref().and_then(|t| t.rtt_us) {
                l.push_str(&format!("  rtt {:.1}ms", f64::from(rtt) / 1000.0));
            }
            writeln!(out, "{l}")?;
        }
    }
    Ok(())
}

/// Runs `mptcp conns`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut filter = Filter::default().listening(args.listening || args.all);
    if let Some(p) = &args.port {
        match p.parse::<u16>() {
            Ok(p) if p != 0 => filter = filter.port(p),
            _ => return Err(usage(format!("invalid port `{p}` (expected 1-65535)"))),
        }
    }
    if let Some(a) = &args.addr {
        let a: IpAddr = a.parse().map_err(|_| usage(format!("invalid address `{a}`")))?;
        filter = filter.addr(a);
    }
    // A kernel without MPTCP has no MPTCP connection to list: say so
    // rather than print an empty list. (`net.mptcp.enabled=0` is not that:
    // connections made before it was set live on.)
    let support = mptcp::host_support();
    if matches!(support.availability, mptcp::Availability::NotBuilt | mptcp::Availability::KernelTooOld) {
        return Err(failure(
            Kind::Unsupported,
            format!("cannot list MPTCP connections: this kernel has no MPTCP ({})", no_mptcp_reason()),
        ));
    }
    let mut conns = connections(&filter).map_err(|e| {
        if !support.inet_diag {
            failure(
                Kind::Unsupported,
                format!(
                    "cannot list MPTCP connections: inet_diag does not know MPTCP sockets on this kernel \
                     (mptcp_diag missing: try `modprobe mptcp_diag`): {e}"
                ),
            )
        } else {
            anyhow::Error::new(e).context("cannot list MPTCP connections (inet_diag)")
        }
    })?;
    if args.listening {
        conns.retain(is_listener);
    }
    if args.json {
        return print_json(&conns.iter().map(conn_json).collect::<Vec<_>>()).map(|()| ExitCode::SUCCESS);
    }
    let mut out = crate::util::stdout();
    if conns.is_empty() && std::io::stdout().is_terminal() {
        let what = if args.listening { "no MPTCP listening sockets" } else { "no MPTCP connections" };
        let filtered = args.port.is_some() || args.addr.is_some();
        writeln!(out, "{what}{}", if filtered { " match" } else { "" })?;
    }
    print_text(&mut out, &conns)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
