//! One emulated path: client - router - server namespaces, the emulator
//! in the router, a command in the client (and optionally one in the
//! server), then the emulator's counters as JSON.
//!
//! ```text
//! linkem-path --up SPEC --down SPEC [--gso auto|keep|segment] [--kernel-queue N] [--stats FILE]
//!             [--server 'CMD'] [--wait-port PORT] [--no-emulator] [--tcp-buffers MAX]
//!             -- CLIENT-CMD [ARGS...]
//! ```
//!
//! `--tcp-buffers MAX` raises the client's and server's TCP buffer limits
//! (`tcp_rmem`/`tcp_wmem`) to MAX bytes, for paths with a large
//! bandwidth-delay product.
//!
//! `--no-emulator` builds the same topology without the emulator: the
//! baseline of what the machine forwards.
//!
//! Addresses: client 10.77.1.1, router 10.77.1.2 / 10.77.2.1, server
//! 10.77.2.2 (the client reaches the server at 10.77.2.2). SPEC is a link
//! spec (`rate=100mbit delay=10ms loss=1%`, see `mptcp_linkem::parse`).
//! Needs root; everything is removed on exit, also on Ctrl-C.
//!
//! ```text
//! cargo run --release -p mptcp-linkem --example linkem-path -- \
//!     --up "delay=10ms" --down "delay=10ms" -- ping -c 5 10.77.2.2
//! ```

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mptcp_linkem::{Emulator, EmulatorConfig, Gso, LinkConfig};
use mptcp_netns::{Netns, Path};

/// An address literal of this file.
fn ip(s: &str) -> std::net::IpAddr {
    s.parse().expect("a valid address literal")
}

struct Args {
    up: LinkConfig,
    down: LinkConfig,
    gso: Gso,
    kernel_queue: Option<u32>,
    stats: Option<String>,
    server: Option<String>,
    wait_port: Option<u16>,
    no_emulator: bool,
    tcp_buffers: Option<u64>,
    client: Vec<String>,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        up: LinkConfig::default(),
        down: LinkConfig::default(),
        gso: Gso::Auto,
        kernel_queue: None,
        stats: None,
        server: None,
        wait_port: None,
        no_emulator: false,
        tcp_buffers: None,
        client: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--up" => a.up = value("--up")?.parse()?,
            "--down" => a.down = value("--down")?.parse()?,
            "--gso" => {
                a.gso = match value("--gso")?.as_str() {
                    "auto" => Gso::Auto,
                    "keep" => Gso::Keep,
                    "segment" => Gso::Segment,
                    other => bail!("--gso takes auto, keep or segment, not `{other}`"),
                }
            }
            "--no-emulator" => a.no_emulator = true,
            "--tcp-buffers" => a.tcp_buffers = Some(value("--tcp-buffers")?.parse()?),
            "--kernel-queue" => a.kernel_queue = Some(value("--kernel-queue")?.parse()?),
            "--stats" => a.stats = Some(value("--stats")?),
            "--server" => a.server = Some(value("--server")?),
            "--wait-port" => a.wait_port = Some(value("--wait-port")?.parse()?),
            "--" => {
                a.client = it.collect();
                break;
            }
            "-h" | "--help" => {
                println!("{}", include_str!("linkem-path.rs").lines().nth(5).unwrap_or_default());
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (see --help)"),
        }
    }
    if a.client.is_empty() {
        bail!("no client command: linkem-path --up SPEC --down SPEC -- CMD [ARGS...]");
    }
    Ok(a)
}

/// `(rx_packets, tx_packets)` of `dev` in `ns`, from /proc/net/dev.
fn dev_packets(ns: &Netns, dev: &str) -> Result<(u64, u64)> {
    let text = ns.in_ns(|| std::fs::read_to_string("/proc/thread-self/net/dev"))??;
    for line in text.lines() {
        if let Some((name, rest)) = line.split_once(':') {
            if name.trim() == dev {
                let f: Vec<u64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
                if f.len() >= 10 {
                    return Ok((f[1], f[9]));
                }
            }
        }
    }
    bail!("no counters for {dev} in {}", ns.name())
}

fn main() -> Result<()> {
    let args = parse_args()?;
    if !mptcp_netns::is_root() {
        bail!("linkem-path needs root (network namespaces)");
    }
    mptcp_netns::install_signal_cleanup();
    let client = Netns::new("lkcli")?;
    let router = Netns::new("lkrtr")?;
    let server = Netns::new("lksrv")?;
    let lan = Path::new(&client, ip("10.77.1.1"), &router, ip("10.77.1.2"), 24)?;
    let wan = Path::new(&router, ip("10.77.2.1"), &server, ip("10.77.2.2"), 24)?;
    client.ip(&["route", "add", "default", "via", "10.77.1.2"])?;
    server.ip(&["route", "add", "default", "via", "10.77.2.1"])?;
    router.sysctl("net.ipv4.ip_forward", "1")?;
    // Larger TCP buffers for a long fat path (1 Gbit/s x 20 ms: the
    // defaults' 6 MB, about half of it window, cap one connection near
    // 900 Mbit/s there); left alone otherwise, as a larger send buffer
    // only fills an unbounded queue further. Namespace-local sysctls.
    if let Some(max) = args.tcp_buffers {
        for ns in [&client, &server] {
            ns.sysctl("net.ipv4.tcp_rmem", &format!("4096 131072 {max}"))?;
            ns.sysctl("net.ipv4.tcp_wmem", &format!("4096 16384 {max}"))?;
        }
    }
    let mut cfg = EmulatorConfig::new(&lan.b_dev, &wan.a_dev, args.up, args.down);
    cfg.gso = args.gso;
    if let Some(q) = args.kernel_queue {
        cfg.kernel_queue = q;
    }
    let emu = match args.no_emulator {
        true => None,
        false => Some(Emulator::start(format!("/run/netns/{}", router.name()), cfg)?),
    };
    let mut server_child = match &args.server {
        Some(cmd) => Some(
            server
                .command("sh")
                .args(["-c", cmd])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting the server command")?,
        ),
        None => None,
    };
    if let Some(port) = args.wait_port {
        let deadline = Instant::now() + Duration::from_secs(10);
        let needle = format!(":{port} ");
        loop {
            let out = server.run_status(&["ss", "-Hltn"])?;
            if String::from_utf8_lossy(&out.stdout).contains(&needle) {
                break;
            }
            if Instant::now() > deadline {
                bail!("the server command did not listen on port {port} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Packets the client sent and the server received during the command,
    // counted by their interfaces (so losses in a busy receiver's socket
    // buffer are not blamed on the path).
    let client_tx = dev_packets(&client, &lan.a_dev)?.1;
    let server_rx = dev_packets(&server, &wan.b_dev)?.0;
    let mut cmd: Command = client.command(&args.client[0]);
    cmd.args(&args.client[1..]);
    let status = cmd.status().with_context(|| format!("running {:?}", args.client))?;
    let stats = emu.as_ref().map(Emulator::stats).unwrap_or_default();
    let client_tx = dev_packets(&client, &lan.a_dev)?.1 - client_tx;
    let server_rx = dev_packets(&server, &wan.b_dev)?.0 - server_rx;
    drop(emu);
    if let Some(c) = server_child.as_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
    let json = stats.to_json();
    let json = format!(
        "{},\"client_tx_packets\":{client_tx},\"server_rx_packets\":{server_rx}}}",
        json.strip_suffix('}').unwrap_or(&json)
    );
    match &args.stats {
        Some(f) => std::fs::write(f, json + "\n").with_context(|| format!("writing {f}"))?,
        None => eprintln!("{json}"),
    }
    if !status.success() {
        bail!("the client command failed: {status}");
    }
    Ok(())
}
