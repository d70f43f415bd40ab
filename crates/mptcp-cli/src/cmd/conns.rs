//! `mptcp conns`: MPTCP connections on this host with their subflows
//! grouped under each (inet_diag, like `ss -M` and `ss -ti`).

use std::net::IpAddr;
use std::process::ExitCode;

use mptcp::diag::{connections, Connection, Filter, Subflow};
use mptcp::info::tcp_state_name;
use serde_json::{json, Value};

use crate::cmd::endpoint::no_mptcp_reason;
use crate::util::{print_json, usage};

/// Arguments of `mptcp conns`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(short = 'j', long)]
    json: bool,
    /// Only connections with this local or remote port.
    #[arg(long, short = 'p', value_name = "PORT")]
    port: Option<String>,
    /// Only connections with this local or remote address (on any subflow).
    #[arg(long, value_name = "ADDRESS")]
    addr: Option<String>,
    /// Also list listening sockets.
    #[arg(long, short = 'l')]
    listening: bool,
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
    json!({
        "state": tcp_state_name(c.socket.state),
        "local": c.socket.local.to_string(),
        "remote": c.socket.remote.to_string(),
        "token": c.token,
        "token_hex": c.token.map(|t| format!("{t:08x}")),
        "fallback": c.fallback,
        "inode": c.socket.inode,
        "mptcp_info": c.socket.info,
        "subflows": c.subflows.iter().map(subflow_json).collect::<Vec<_>>(),
    })
}

fn print_text(conns: &[Connection]) {
    for c in conns {
        let mut line = format!("{:<10} {} -> {}", tcp_state_name(c.socket.state), c.socket.local, c.socket.remote);
        if let Some(t) = c.token {
            line.push_str(&format!("  token 0x{t:08x}"));
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
        println!("{line}");
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
            println!("{l}");
        }
    }
}

/// Runs `mptcp conns`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut filter = Filter::default().listening(args.listening);
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
        anyhow::bail!("cannot list MPTCP connections: this kernel has no MPTCP ({})", no_mptcp_reason());
    }
    let conns = connections(&filter).map_err(|e| {
        if !support.inet_diag {
            anyhow::anyhow!(
                "cannot list MPTCP connections: inet_diag does not know MPTCP sockets on this kernel \
                 (mptcp_diag missing: try `modprobe mptcp_diag`): {e}"
            )
        } else {
            anyhow::anyhow!("cannot list MPTCP connections (inet_diag): {e}")
        }
    })?;
    if args.json {
        print_json(&conns.iter().map(conn_json).collect::<Vec<_>>())?;
    } else {
        print_text(&conns);
    }
    Ok(ExitCode::SUCCESS)
}
