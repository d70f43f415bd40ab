//! The scale benchmark's driver (run by `bench/scale/run.sh`, as root):
//! our tokio echo server and load client against Go's `net` peers, MPTCP,
//! plain TCP and half and half, each in fresh network namespaces, several
//! runs, one table of medians with their ranges.
//!
//! ```sh
//! sudo target/release/examples/load_bench --ours-server target/release/examples/echo_server \
//!     --ours-client target/release/examples/load_client --go target/scale-go/scale
//! ```
//!
//! Every sample gets two new namespaces (client, server) joined by one
//! unshaped veth pair, so no run inherits another's TIME_WAIT sockets or
//! MPTCP state; sysctls: the client's `net.ipv4.ip_local_port_range` is
//! `1024 65535`, the server's `net.core.somaxconn` and
//! `net.ipv4.tcp_max_syn_backlog` are 8192. Both implementations run with
//! the same connections, requests, frame size and setup concurrency, one
//! after the other, in alternating order from run to run.

use std::io::{self, BufRead, BufReader, Read};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use mptcp_netns::{Netns, Path};

#[path = "echo_common/mod.rs"]
pub mod common;

use common::{ClientReport, Intent, Mode, ServerReport};

#[path = "load_bench/table.rs"]
mod table;

/// Drives the scale benchmark: ours against Go's net, MPTCP and TCP.
#[derive(Debug, Parser)]
#[command(name = "load_bench")]
struct Args {
    /// Our echo server (examples/echo_server, release build).
    #[arg(long, required_unless_present = "from")]
    ours_server: Option<PathBuf>,
    /// Our load client (examples/load_client, release build).
    #[arg(long, required_unless_present = "from")]
    ours_client: Option<PathBuf>,
    /// The Go peer (bench/scale/go, built): `scale server|client`.
    #[arg(long)]
    go: Option<PathBuf>,
    /// Connections per sample, all held open at once.
    #[arg(long, default_value_t = 10_000)]
    connections: u32,
    /// Timed requests per connection.
    #[arg(long, default_value_t = 20)]
    requests: u32,
    /// Frame size in bytes.
    #[arg(long, default_value_t = 64)]
    size: u32,
    /// Connections being set up at once.
    #[arg(long, default_value_t = 256)]
    concurrency: u32,
    /// Runs of every configuration (the table shows the median and the range).
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Modes to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Mode::Mptcp, Mode::Tcp, Mode::Half])]
    modes: Vec<Mode>,
    /// Where the raw JSON of every sample goes.
    #[arg(long, default_value = "/tmp/mptcp-scale")]
    out: PathBuf,
    /// Run nothing: print the table of the samples an earlier run wrote to
    /// this directory (same --runs, --modes and --connections).
    #[arg(long)]
    from: Option<PathBuf>,
}

/// One implementation's pair of programs.
#[derive(Debug, Clone)]
pub struct Peer {
    /// `ours` or `go`.
    pub name: &'static str,
    server: Vec<String>,
    client: Vec<String>,
}

/// One run of one configuration.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Which peer.
    pub peer: &'static str,
    /// Which mode.
    pub mode: Mode,
    /// The client's report.
    pub client: ClientReport,
    /// The server's report.
    pub server: ServerReport,
    /// CPU time of both ends in each phase.
    pub cpu: Cpu,
}

/// CPU seconds (user + system) each end spent in each phase of the client.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Cpu {
    /// Client, from its start to `setup-done`.
    pub setup_client: f64,
    /// Server, from the client's start to `setup-done`.
    pub setup_server: f64,
    /// Client, from `setup-done` to `requests-done` (the hold included).
    pub request_client: f64,
    /// Server, same span.
    pub request_server: f64,
}

impl Sample {
    /// Whether every connection's status was right on both ends: as many
    /// as were asked for, each the expected one.
    pub fn statuses_right(&self, connections: u32) -> (bool, bool) {
        let want_mptcp = (0..connections).filter(|&i| self.mode.intent(i) == Intent::Mptcp).count() as u64;
        let want_tcp = u64::from(connections) - want_mptcp;
        let right = |s: &common::ByIntent| s.wrong() == 0 && s.mptcp.mptcp == want_mptcp && s.tcp.tcp == want_tcp;
        (right(&self.client.status), right(&self.server.status))
    }
}

const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const PORT: u16 = 7000;

fn main() {
    let args = Args::parse();
    if let Some(dir) = &args.from {
        return replay(&args, dir);
    }
    if !mptcp_netns::is_root() {
        eprintln!("load_bench: network namespaces need root: run it with sudo (bench/scale/run.sh does)");
        std::process::exit(2);
    }
    mptcp_netns::install_signal_cleanup();
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("load_bench: cannot create {}: {e}", args.out.display());
        std::process::exit(2);
    }
    let mut peers = vec![ours(&args)];
    if let Some(go) = &args.go {
        peers.push(go_peer(&args, go));
    }
    println!("{}", table::header(args.connections, args.requests, args.size, args.concurrency, args.runs));
    for p in &peers {
        println!("    {}: server `{}`, client `{}`", p.name, p.server.join(" "), p.client.join(" "));
    }
    let mut samples = Vec::new();
    for run in 1..=args.runs {
        for &mode in &args.modes {
            let mut order: Vec<&Peer> = peers.iter().collect();
            if run % 2 == 0 {
                order.reverse();
            }
            for peer in order {
                match sample(&args, peer, mode, run) {
                    Ok(s) => {
                        eprintln!(
                            "run {run} {} {}: {:.0} rps, {:.0} cps, {:.1} µs CPU/request on {:.2} cores, {:.0} B/conn, \
                             errors {}/{}, wrong status {}/{}",
                            peer.name,
                            mode.as_str(),
                            s.client.rps,
                            s.client.cps,
                            table::cpu_per_request(&s),
                            table::cores(&s),
                            s.server.bytes_per_conn,
                            s.client.errors,
                            s.server.errors,
                            s.client.wrong_status,
                            s.server.wrong_status
                        );
                        samples.push(s);
                    }
                    Err(e) => {
                        eprintln!("load_bench: run {run} {} {}: {e}", peer.name, mode.as_str());
                        std::process::exit(1);
                    }
                }
            }
        }
    }
    let names: Vec<&str> = peers.iter().map(|p| p.name).collect();
    let (text, all_met) = table::render(&samples, &names, &args.modes, args.connections);
    println!("{text}");
    if !all_met {
        std::process::exit(1);
    }
}

/// Prints the table of the samples in `dir`, as `sample` wrote them.
fn replay(args: &Args, dir: &std::path::Path) {
    let mut samples = Vec::new();
    let mut names = Vec::new();
    for peer in ["ours", "go"] {
        for run in 1..=args.runs {
            for &mode in &args.modes {
                let file = dir.join(format!("{peer}-{}-{run}.json", mode.as_str()));
                let Ok(text) = std::fs::read_to_string(&file) else { continue };
                let lines: Vec<&str> = text.lines().collect();
                let parsed = (|| -> serde_json::Result<Sample> {
                    let cpu: serde_json::Value = serde_json::from_str(lines.get(2).copied().unwrap_or("{}"))?;
                    Ok(Sample {
                        peer,
                        mode,
                        client: serde_json::from_str(lines.first().copied().unwrap_or(""))?,
                        server: serde_json::from_str(lines.get(1).copied().unwrap_or(""))?,
                        cpu: serde_json::from_value(cpu["cpu_secs"].clone())?,
                    })
                })();
                match parsed {
                    Ok(s) => samples.push(s),
                    Err(e) => {
                        eprintln!("load_bench: {}: {e}", file.display());
                        std::process::exit(2);
                    }
                }
                if !names.contains(&peer) {
                    names.push(peer);
                }
            }
        }
    }
    if samples.is_empty() {
        eprintln!("load_bench: no samples in {} (files PEER-MODE-RUN.json)", dir.display());
        std::process::exit(2);
    }
    let (text, all_met) = table::render(&samples, &names, &args.modes, args.connections);
    println!("{text}");
    if !all_met {
        std::process::exit(1);
    }
}

fn ours(args: &Args) -> Peer {
    let server = vec![
        args.ours_server.as_deref().unwrap_or(std::path::Path::new("echo_server")).display().to_string(),
        "--listen".into(),
        format!("0.0.0.0:{PORT}"),
        "--connections".into(),
        args.connections.to_string(),
    ];
    let client = args.ours_client.as_deref().unwrap_or(std::path::Path::new("load_client"));
    Peer { name: "ours", server, client: client_args(client.display().to_string(), args) }
}

fn go_peer(args: &Args, go: &std::path::Path) -> Peer {
    let bin = go.display().to_string();
    let server = vec![
        bin.clone(),
        "server".into(),
        "-listen".into(),
        format!("0.0.0.0:{PORT}"),
        "-connections".into(),
        args.connections.to_string(),
    ];
    let mut client = client_args(bin, args);
    client.insert(1, "client".into());
    Peer { name: "go", server, client }
}

/// The client's arguments, flags first (Go's flag package stops at the address).
fn client_args(bin: String, args: &Args) -> Vec<String> {
    let mut v = vec![bin];
    for (k, val) in [
        ("--connections", args.connections),
        ("--requests", args.requests),
        ("--size", args.size),
        ("--concurrency", args.concurrency),
    ] {
        v.push(k.into());
        v.push(val.to_string());
    }
    v.push("--mode".into());
    v.push("MODE".into());
    v.push(format!("{SERVER_ADDR}:{PORT}"));
    v
}

/// Two fresh namespaces and one unshaped veth path between them.
fn network() -> mptcp_netns::Result<(Netns, Netns, Path)> {
    let client = Netns::new("scli")?;
    let server = Netns::new("ssrv")?;
    let path = Path::new(&client, Ipv4Addr::new(10, 77, 0, 1).into(), &server, SERVER_ADDR.into(), 24)?;
    client.sysctl("net.ipv4.ip_local_port_range", "1024 65535")?;
    server.sysctl("net.core.somaxconn", "8192")?;
    server.sysctl("net.ipv4.tcp_max_syn_backlog", "8192")?;
    Ok((client, server, path))
}

fn sample(args: &Args, peer: &Peer, mode: Mode, run: u32) -> io::Result<Sample> {
    let (client_ns, server_ns, _path) = network().map_err(io::Error::other)?;
    let mut server = launch(&server_ns, &peer.server).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let lines = read_lines(&mut server);
    match lines.recv_timeout(Duration::from_secs(10)) {
        Ok(l) if l.starts_with("ready ") => {}
        other => {
            let _ = server.kill();
            let _ = server.wait();
            return Err(io::Error::other(format!("{} server did not get ready: {other:?}", peer.name)));
        }
    }
    let client_args: Vec<String> =
        peer.client.iter().map(|a| if a == "MODE" { mode.as_str().to_string() } else { a.clone() }).collect();
    let server_pid = server.id();
    let server_start = cpu_secs(server_pid).unwrap_or(0.0);
    let mut client =
        launch(&client_ns, &client_args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let marks = read_marks(&mut client, server_pid);
    let mut client_out = String::new();
    if let Some(mut o) = client.stdout.take() {
        o.read_to_string(&mut client_out)?;
    }
    // Join the marks before reaping the client: its CPU time is read from
    // /proc while it is at most a zombie.
    let (marks, client_err) = marks.join().map_err(|_| io::Error::other("the stderr reader panicked"))?;
    let status = client.wait()?;
    let client_json = client_out.lines().last().unwrap_or("").to_string();
    let client: ClientReport = serde_json::from_str(&client_json).map_err(|e| {
        let _ = server.kill();
        io::Error::other(format!("{} client gave no report ({e}; exit {status}): {}", peer.name, client_err.trim()))
    })?;
    let cpu = match (marks.iter().find(|m| m.0 == "setup-done"), marks.iter().find(|m| m.0 == "requests-done")) {
        (Some(a), Some(b)) => Cpu {
            setup_client: a.1,
            setup_server: a.2 - server_start,
            request_client: b.1 - a.1,
            request_server: b.2 - a.2,
        },
        _ => return Err(io::Error::other(format!("{} client wrote no phase marks: {}", peer.name, client_err.trim()))),
    };
    // The server exits once every connection has ended.
    let server_json = lines.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
    let _ = server.kill();
    let mut stderr = String::new();
    if let Some(mut e) = server.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let _ = server.wait();
    let server_report: ServerReport = serde_json::from_str(&server_json)
        .map_err(|e| io::Error::other(format!("{} server gave no report ({e}): {}", peer.name, stderr.trim())))?;
    let file = args.out.join(format!("{}-{}-{run}.json", peer.name, mode.as_str()));
    let cpu_json = serde_json::json!({ "cpu_secs": cpu });
    std::fs::write(&file, format!("{client_json}\n{server_json}\n{cpu_json}\n"))?;
    Ok(Sample { peer: peer.name, mode, client, server: server_report, cpu })
}

/// `argv` inside `ns` (`ip netns exec` execs it: the child's id is the program's).
fn launch(ns: &Netns, argv: &[String]) -> std::process::Command {
    let mut c = ns.command(&argv[0]);
    c.args(&argv[1..]);
    c
}

/// CPU seconds (user + system, all threads) of process `pid`, from
/// `/proc/PID/stat` (fields 14 and 15, in USER_HZ = 100 ticks per second,
/// Linux's value on every architecture this runs on).
fn cpu_secs(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// One phase mark: its name, then client and server CPU seconds when it came.
type Mark = (String, f64, f64);

/// Reads the client's stderr: each `phase NAME` line is stamped with both
/// processes' CPU time; the rest is kept for error messages.
fn read_marks(client: &mut Child, server_pid: u32) -> std::thread::JoinHandle<(Vec<Mark>, String)> {
    let pid = client.id();
    let err = client.stderr.take();
    std::thread::spawn(move || {
        let (mut marks, mut rest) = (Vec::new(), String::new());
        if let Some(err) = err {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                match line.strip_prefix("phase ") {
                    Some(name) => marks.push((
                        name.to_string(),
                        cpu_secs(pid).unwrap_or(f64::NAN),
                        cpu_secs(server_pid).unwrap_or(f64::NAN),
                    )),
                    None => {
                        rest.push_str(&line);
                        rest.push('\n');
                    }
                }
            }
        }
        (marks, rest)
    })
}

/// The child's stdout, line by line, through a channel (so waiting can time out).
fn read_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    rx
}
