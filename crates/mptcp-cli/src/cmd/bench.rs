//! `mptcp bench`: an iperf-style throughput tool that also checks every byte.
//!
//! `mptcp bench server [--bind ADDR]` accepts clients (MPTCP or plain TCP);
//! `mptcp bench client HOST:PORT` sends (or with `--reverse` receives) a
//! deterministic pseudo-random stream for a time or a byte count, shows the
//! aggregate and per-subflow rates live, and reports goodput, per-subflow
//! share, the connection's MPTCP status, retransmits and whether the
//! receiver's checksum of the stream equals the sender's. The transfer
//! itself, and its wire protocol, are in [`crate::transfer`].

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::transfer::opts::{SockArgs, SocketOpts};
use crate::transfer::proto::{self, Direction};
use crate::transfer::report::{Role, SessionReport, Status};
use crate::transfer::session::{self, ClientConfig, FallbackWatch};
use crate::transfer::units::{fmt_bytes, fmt_rate, fmt_rtt, parse_size};
use crate::transfer::{live, plot};
use crate::util::{print_json, usage};

/// Default port, as iperf3's.
pub const DEFAULT_PORT: u16 = 5201;

/// Arguments of `mptcp bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, clap::Subcommand)]
enum Mode {
    /// Accept bench clients and receive (or send) their data.
    Server(ServerArgs),
    /// Connect to a bench server and measure throughput.
    Client(ClientArgs),
}

#[derive(Debug, clap::Args)]
struct ServerArgs {
    /// Address to listen on. Keep the wildcard (the default) when the server
    /// announces other addresses: subflows joining them need a listener there.
    #[arg(long, value_name = "ADDR", default_value = "[::]:5201")]
    bind: String,
    /// Serve one client, then exit (status 1 if its data did not verify).
    #[arg(long)]
    once: bool,
    /// One JSON object per session on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    sock: SockArgs,
}

#[derive(Debug, clap::Args)]
struct ClientArgs {
    /// Server address, HOST:PORT (port 5201 when omitted).
    #[arg(value_name = "HOST:PORT")]
    target: String,
    /// Seconds to send for (default 10 unless --bytes is given).
    #[arg(short = 't', long, value_name = "S")]
    duration: Option<f64>,
    /// Bytes to send, e.g. 100M (K, M, G are powers of 1024).
    #[arg(short = 'n', long, value_name = "N")]
    bytes: Option<String>,
    /// The server sends, the client receives.
    #[arg(short = 'R', long)]
    reverse: bool,
    /// Plain TCP instead of MPTCP.
    #[arg(long)]
    tcp: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write an SVG chart of per-subflow and total throughput over time.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Sampling interval of the per-subflow counters, milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    interval: u64,
    /// Seed of the data stream (default: random).
    #[arg(long)]
    seed: Option<u64>,
    /// No live view.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    sock: SockArgs,
}

/// Adds the default port to a target without one.
pub fn with_port(target: &str) -> String {
    if target.parse::<SocketAddr>().is_ok() {
        return target.to_string();
    }
    if target.parse::<std::net::IpAddr>().is_ok() {
        return SocketAddr::new(target.parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()), DEFAULT_PORT)
            .to_string();
    }
    match target.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains(':') && p.parse::<u16>().is_ok() => target.to_string(),
        _ => format!("{target}:{DEFAULT_PORT}"),
    }
}

/// Runs `mptcp bench`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.mode {
        Mode::Server(a) => server(a),
        Mode::Client(a) => client(a),
    }
}

fn server(a: ServerArgs) -> anyhow::Result<ExitCode> {
    let opts = SocketOpts::from_args(&a.sock)?;
    let addrs: Vec<SocketAddr> = match a.bind.parse::<SocketAddr>() {
        Ok(x) => vec![x],
        Err(_) => match a.bind.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, DEFAULT_PORT)],
            Err(_) => return Err(usage(format!("--bind {:?}: expected ADDR:PORT or ADDR, e.g. 0.0.0.0:5201", a.bind))),
        },
    };
    // Options set on the listener reach every socket it accepts.
    let builder = opts.builder();
    let listener = match builder.bind_addr(&addrs[0]) {
        Ok(l) => l,
        // No IPv6 on this host: the default [::] becomes 0.0.0.0.
        Err(e) if addrs[0].ip().is_unspecified() && addrs[0].is_ipv6() => builder
            .bind_addr(&SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), addrs[0].port()))
            .map_err(|e2| anyhow::anyhow!("cannot listen on {}: {e}; nor on 0.0.0.0: {e2}", a.bind))?,
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot listen on {}", a.bind))),
    };
    let local = listener.local_addr()?;
    if !a.json {
        eprintln!("mptcp bench: listening on {local} (MPTCP and TCP clients)");
    }
    serve(&listener, a.once, a.json)
}

fn serve(listener: &TcpListener, once: bool, json: bool) -> anyhow::Result<ExitCode> {
    let mut fallbacks = FallbackWatch::new();
    loop {
        let (conn, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("accept failed"),
        };
        let fell_back = fallbacks.check(&conn);
        let handle = std::thread::spawn(move || {
            let r = session::serve_connection(conn, Duration::from_millis(100), fell_back, &mut |_| {});
            match &r {
                Ok(rep) if json => {
                    let _ = print_json(rep);
                }
                Ok(rep) => eprint!("{}", human(rep, None)),
                Err(e) => eprintln!("mptcp bench: {peer}: {e:#}"),
            }
            r.map(|rep| rep.integrity.verified).unwrap_or(false)
        });
        if once {
            let ok = handle.join().unwrap_or(false);
            return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
    }
}

fn client(a: ClientArgs) -> anyhow::Result<ExitCode> {
    let opts = SocketOpts::from_args(&a.sock)?;
    let bytes = match &a.bytes {
        None => 0,
        Some(s) => match parse_size(s) {
            Some(n) if n > 0 => n,
            _ => return Err(usage(format!("--bytes {s:?}: expected a positive size such as 100M"))),
        },
    };
    let duration = match a.duration {
        Some(d) if !(d > 0.0 && d <= 86400.0) => {
            return Err(usage(format!("--duration {d}: expected seconds in (0, 86400]")))
        }
        Some(d) => Duration::from_secs_f64(d),
        None if bytes > 0 => Duration::ZERO,
        None => Duration::from_secs(10),
    };
    if !(10..=10_000).contains(&a.interval) {
        return Err(usage(format!("--interval {}: expected 10 to 10000 ms", a.interval)));
    }
    if let Some(p) = &a.plot {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(usage(format!("--plot {}: directory {} does not exist", p.display(), dir.display())));
            }
        }
    }
    let cfg = ClientConfig {
        target: with_port(&a.target),
        direction: if a.reverse { Direction::Download } else { Direction::Upload },
        bytes,
        duration,
        seed: a.seed.unwrap_or_else(random_seed),
        mptcp: !a.tcp,
        opts,
        interval: Duration::from_millis(a.interval),
        connect_timeout: Duration::from_secs(10),
    };
    let title = format!("{} {}", if a.tcp { "TCP" } else { "MPTCP" }, if a.reverse { "download" } else { "upload" });
    let mut live = live::Live::new(&title, a.quiet || a.json);
    let rep = session::run_client(&cfg, &mut |s| {
        if let Some(l) = live.as_mut() {
            l.update(s)
        }
    });
    if let Some(l) = live {
        l.finish();
    }
    let rep = rep?;
    if let Some(p) = &a.plot {
        let panel = plot::Panel {
            title: format!("mptcp bench: {title} to {} ({})", rep.peer, rep.status),
            points: rep.timeline.clone(),
            markers: vec![],
        };
        plot::write(p, &[panel]).with_context(|| format!("writing {}", p.display()))?;
    }
    if a.json {
        print_json(&rep)?;
    } else {
        print!("{}", human(&rep, a.plot.as_deref()));
    }
    Ok(if rep.integrity.verified { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn random_seed() -> u64 {
    let t =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    proto::WyRand::new(t ^ (u64::from(std::process::id()) << 32)).next_u64()
}

/// The human-readable report.
pub fn human(r: &SessionReport, plot: Option<&std::path::Path>) -> String {
    let mut s = String::new();
    let dir = match (r.direction, r.role) {
        (Direction::Upload, Role::Client) => format!("upload to {}", r.peer),
        (Direction::Upload, Role::Server) => format!("upload from {}", r.peer),
        (Direction::Download, Role::Client) => format!("download from {}", r.peer),
        (Direction::Download, Role::Server) => format!("download to {}", r.peer),
    };
    s.push_str(&format!("mptcp bench {}: {dir}\n", r.role));
    let peer = if r.peer_status == Status::Unknown { String::new() } else { format!(" (peer: {})", r.peer_status) };
    s.push_str(&format!("  status       {}{peer}, congestion {}\n", r.status, r.congestion.as_deref().unwrap_or("?")));
    s.push_str(&format!("  data         {} in {:.2} s\n", fmt_bytes(r.bytes), r.duration_s));
    s.push_str(&format!("  goodput      {}\n", fmt_rate(r.goodput_bps)));
    let i = &r.integrity;
    if i.verified {
        s.push_str(&format!(
            "  integrity    verified: {} bytes, {} {} on both ends\n",
            i.receiver_bytes, i.checksum, i.receiver_hash
        ));
    } else {
        s.push_str(&format!(
            "  integrity    MISMATCH: sent {} bytes ({} {}), received {} bytes ({})\n",
            i.sender_bytes, i.checksum, i.sender_hash, i.receiver_bytes, i.receiver_hash
        ));
    }
    let mr = r.mptcp_retransmits.map(|m| format!(", MPTCP level {m}")).unwrap_or_default();
    s.push_str(&format!("  retransmits  {} segments{mr}\n", r.retransmits));
    s.push_str(&format!("  subflows     {} seen, at most {} at once\n", r.subflows.len(), r.max_subflows));
    for f in &r.subflows {
        let rtt = f.rtt_us.map(|u| format!("rtt {}", fmt_rtt(u))).unwrap_or_default();
        let closed = if f.open_at_end { "" } else { "  (closed)" };
        s.push_str(&format!(
            "    {:<44} {:>10} {:>6.1}% {:>12}  {rtt}  retrans {}{closed}\n",
            f.path,
            fmt_bytes(f.bytes),
            f.share * 100.0,
            fmt_rate(f.rate_bps),
            f.retransmits.unwrap_or(0)
        ));
    }
    if let Some(p) = plot {
        s.push_str(&format!("  plot         {}\n", p.display()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(with_port("10.0.0.1"), "10.0.0.1:5201");
        assert_eq!(with_port("10.0.0.1:80"), "10.0.0.1:80");
        assert_eq!(with_port("::1"), "[::1]:5201");
        assert_eq!(with_port("[::1]:9"), "[::1]:9");
        assert_eq!(with_port("example.org"), "example.org:5201");
        assert_eq!(with_port("example.org:9"), "example.org:9");
    }
}
