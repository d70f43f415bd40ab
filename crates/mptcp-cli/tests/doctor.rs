//! `mptcp doctor`, run as the built binary in network namespaces: each
//! cause it names is built for real (a sysctl, a limit, a firewall rule, a
//! route, a second endpoint manager), and the doctor must report exactly
//! that cause as its error, and no error on a healthy two-path connection.
//!
//! The lab: a client and a server namespace joined by two paths,
//! 10.71.1.0/24 (the one connected to) and 10.71.2.0/24.
//!
//! With `MPTCP_DOCTOR_RECORD=DIR`, every run also writes its observations
//! to `DIR/<name>.json` (`--record`): the library's reasoning tests
//! (crates/mptcp/src/diagnose/fixtures) are such recordings.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::text;
use mptcp::{MptcpListenerExt, MptcpStreamExt};
use mptcp_netns::{Netns, Path, Strip};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mptcp");
const SERVER: &str = "10.71.1.2";
const PORT: u16 = 8080;
/// Watch long enough for a join SYN's first retransmission (1 s).
const WATCH: &str = "1.5";

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

/// Client and server namespaces with two paths.
struct Lab {
    client: Netns,
    server: Netns,
    paths: Vec<Path>,
}

impl Lab {
    fn new() -> Lab {
        mptcp_netns::require_root();
        let client = Netns::new("dcli").unwrap();
        let server = Netns::new("dsrv").unwrap();
        let paths = (1..=2)
            .map(|i| Path::new(&client, ip(&format!("10.71.{i}.1")), &server, ip(&format!("10.71.{i}.2")), 24).unwrap())
            .collect();
        Lab { client, server, paths }
    }

    /// The client's device of path 2.
    fn client_dev2(&self) -> &str {
        &self.paths[1].a_dev
    }

    /// The server's device of path 2.
    fn server_dev2(&self) -> &str {
        &self.paths[1].b_dev
    }

    /// A `subflow` endpoint for the client's path-2 address, bound to its device.
    fn client_endpoint(&self) {
        self.client.ip(&["mptcp", "endpoint", "add", "10.71.2.1", "dev", self.client_dev2(), "subflow"]).unwrap();
    }
}

/// An echo server in a namespace, stopped (and its sockets closed) on drop.
struct Echo {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    fn start(ns: &Netns, mptcp: bool) -> Echo {
        Echo::start_on(ns, format!("0.0.0.0:{PORT}").parse().unwrap(), mptcp)
    }

    fn start_on(ns: &Netns, addr: SocketAddr, mptcp: bool) -> Echo {
        let l = ns
            .in_ns(|| if mptcp { TcpListener::bind_mptcp(addr) } else { TcpListener::bind(addr) })
            .unwrap()
            .unwrap_or_else(|e| panic!("echo server on {addr} (mptcp {mptcp}) in {}: {e}", ns.name()));
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        let flag = flag.clone();
                        conns.push(std::thread::spawn(move || echo(s, flag)));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
                    Err(_) => break,
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        Echo { stop, thread: Some(thread) }
    }
}

fn echo(s: TcpStream, stop: Arc<AtomicBool>) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match (&s).read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if (&s).write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `mptcp doctor ARGS --json` in `ns` (recording the observations as
/// `NAME.json` when `MPTCP_DOCTOR_RECORD` names a directory); returns the
/// exit status and the report.
fn doctor(ns: &Netns, args: &[&str], name: &str) -> (i32, Value) {
    let mut cmd = ns.command(BIN);
    cmd.arg("doctor").args(args).arg("--json");
    if let Some(dir) = std::env::var_os("MPTCP_DOCTOR_RECORD") {
        cmd.arg("--record").arg(std::path::Path::new(&dir).join(format!("{name}.json")));
    }
    let (status, out, err) = common::output(&mut cmd, Duration::from_secs(60));
    let status = status.unwrap_or_else(|| panic!("mptcp doctor {args:?} did not finish: {}", text(&err)));
    let v: Value = serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("mptcp doctor {args:?}: not JSON ({e}): {}\n{}", text(&out), text(&err)));
    (status.code().expect("an exit status"), v)
}

/// `mptcp doctor SERVER:PORT --watch 1.5` in the client namespace.
fn doctor_client(lab: &Lab, name: &str) -> (i32, Value) {
    doctor(&lab.client, &[&format!("{SERVER}:{PORT}"), "--watch", WATCH], name)
}

fn error_ids(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

/// Exactly `want` as errors, and the exit status that goes with them.
fn assert_errors(run: &(i32, Value), want: &[&str]) {
    let (code, v) = run;
    assert_eq!(error_ids(v), want, "{v:#}");
    assert_eq!(*code, if want.is_empty() { 0 } else { 3 }, "{v:#}");
    for f in v["findings"].as_array().unwrap() {
        assert!(!f["message"].as_str().unwrap().is_empty(), "{f}");
        assert!(f["observed"].is_object(), "{f}");
    }
}

fn subflows(v: &Value) -> (u64, u64) {
    (v["subflows"]["established"].as_u64().unwrap(), v["subflows"]["possible"].as_u64().unwrap())
}

#[test]
fn bad_input_exits_2() {
    for args in [
        &["doctor", "no-port"][..],
        &["doctor", "host:notaport"],
        &["doctor", "--listen", "0"],
        &["doctor", "127.0.0.1:1", "--listen", "8080"],
        &["doctor", "127.0.0.1:1", "--watch", "0"],
        &["doctor", "127.0.0.1:1", "--send", "x", "--no-send"],
        &["doctor", "--send", "x"],
        &["doctor", "--count", "1"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("error"), "{args:?}: {err}");
    }
    let out = Command::new(BIN).args(["doctor", "127.0.0.1:1", "--watch", "-1", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), v["kind"].as_str()), (Some(2), Some("usage")), "{v}");
    assert!(v["error"].as_str().unwrap().contains("expected 0.1 to 3600 seconds"), "{v}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn healthy_two_path_connection_has_no_error() {
    let lab = Lab::new();
    lab.client_endpoint();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "healthy");
    assert_errors(&run, &[]);
    let v = &run.1;
    assert_eq!(v["mptcp"], true, "{v:#}");
    assert_eq!(subflows(v), (2, 2), "{v:#}");
    assert_eq!(v["target"], format!("{SERVER}:{PORT}"));
    assert!(v["verdict"].as_str().unwrap().starts_with("healthy: MPTCP with 2 of 2 possible subflows"), "{v:#}");
    // What was sent and waited for is said.
    let c = &v["connection"];
    assert!(c["payload"].as_str().unwrap().starts_with("HEAD / HTTP/1.1\r\nHost: 10.71.1.2\r\n"), "{c}");
    assert_eq!(c["sent"], c["received"], "the echo server sent it all back: {c}");
    assert_eq!(c["acked"], true, "{c}");
    assert_eq!(c["subflows"].as_array().unwrap().len(), 2, "{c}");
    // The text report says the same.
    let out = lab.client.command(BIN).args(["doctor", &format!("{SERVER}:{PORT}"), "--watch", WATCH]).output().unwrap();
    let t = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.starts_with("10.71.1.2:8080: healthy: MPTCP with 2 of 2 possible subflows"), "{t}");
    assert!(t.contains("subflow 10.71.2.1:"), "{t}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn mptcp_disabled() {
    let lab = Lab::new();
    lab.client.sysctl("net.mptcp.enabled", "0").unwrap();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "mptcp-disabled");
    assert_errors(&run, &["mptcp-disabled"]);
    assert_eq!(run.1["mptcp"], false);
    assert_eq!(run.1["findings"][0]["fix"], "sysctl -w net.mptcp.enabled=1");
    // The host alone says it too.
    assert_errors(&doctor(&lab.client, &[], "mptcp-disabled-host"), &["mptcp-disabled"]);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn no_mptcp_answer() {
    // A server that does not speak MPTCP.
    let lab = Lab::new();
    lab.client_endpoint();
    let srv = Echo::start(&lab.server, false);
    let run = doctor_client(&lab, "no-mptcp-answer");
    assert_errors(&run, &["no-mptcp-answer"]);
    assert_eq!(run.1["mptcp"], false);
    let f = &run.1["findings"][0];
    assert_eq!(f["observed"]["MPCapableFallbackSYNACK"], 1, "{f}");
    assert!(f["message"].as_str().unwrap().contains("mptcp doctor --listen 8080"), "how to tell them apart: {f}");
    drop(srv);
    // An MPTCP server behind a middlebox that strips MP_CAPABLE from its SYN-ACK: the same answer.
    let _srv = Echo::start(&lab.server, true);
    lab.server.strip_mptcp(false, Strip::SynAck).unwrap();
    assert_errors(&doctor_client(&lab, "no-mptcp-answer-middlebox"), &["no-mptcp-answer"]);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn late_fallback() {
    // The handshake keeps MPTCP; a middlebox strips it from every later
    // packet the server sends.
    let lab = Lab::new();
    lab.server.strip_mptcp(false, Strip::NonSyn).unwrap();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "late-fallback");
    assert_errors(&run, &["late-fallback"]);
    assert_eq!(run.1["mptcp"], false);
    assert_eq!(run.1["findings"][0]["observed"]["MPCapableSYNACKRX"], 1);
}

/// A firewall on the server that drops SYNs carrying MPTCP (option 30),
/// and a client that falls back after one retransmission.
fn syn_blackhole(lab: &Lab) {
    lab.client.sysctl("net.mptcp.syn_retrans_before_tcp_fallback", "1").unwrap();
    lab.server.iptables(false, &["-A", "INPUT", "-p", "tcp", "--tcp-option", "30", "--syn", "-j", "DROP"]).unwrap();
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn syn_dropped_fallback() {
    let lab = Lab::new();
    syn_blackhole(&lab);
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "syn-dropped-fallback");
    assert_errors(&run, &["syn-dropped-fallback"]);
    let o = &run.1["findings"][0]["observed"];
    assert_eq!((o["MPCapableSYNTXDrop"].as_u64(), o["Blackhole"].as_u64()), (Some(1), Some(1)), "{o}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn blackhole() {
    let lab = Lab::new();
    syn_blackhole(&lab);
    let _srv = Echo::start(&lab.server, true);
    // The first connection trips the blackhole detection ...
    assert_errors(&doctor_client(&lab, "blackhole-first"), &["syn-dropped-fallback"]);
    // ... and the next one does not even ask for MPTCP.
    let run = doctor_client(&lab, "blackhole");
    assert_errors(&run, &["blackhole"]);
    let f = &run.1["findings"][0];
    assert_eq!(f["observed"]["MPCapableSYNTXDisabled"], 1, "{f}");
    assert!(f["fix"].as_str().unwrap().starts_with("sysctl -w net.mptcp.blackhole_timeout=3600"), "{f}");
    // The host alone remembers it, as a warning.
    let (code, v) = doctor(&lab.client, &[], "blackhole-host");
    assert_eq!(code, 0, "{v:#}");
    assert!(v["findings"].as_array().unwrap().iter().any(|f| f["id"] == "blackhole" && f["severity"] == "warning"));
    // The fix works: writing the sysctl re-enables MPTCP at once.
    lab.server.run(&["iptables", "-w", "-F", "INPUT"]).unwrap();
    lab.client.sysctl("net.mptcp.blackhole_timeout", "3600").unwrap();
    lab.client_endpoint();
    assert_errors(&doctor_client(&lab, "blackhole-fixed"), &[]);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn limit_subflows_zero() {
    let lab = Lab::new();
    lab.client_endpoint();
    lab.client.ip(&["mptcp", "limits", "set", "subflows", "0"]).unwrap();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "limit-subflows-zero");
    assert_errors(&run, &["limit-subflows-zero"]);
    assert_eq!(subflows(&run.1), (1, 2));
    assert_eq!(run.1["findings"][0]["fix"], "ip mptcp limits set subflows 1");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn no_subflow_endpoints() {
    let lab = Lab::new();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "no-subflow-endpoints");
    assert_errors(&run, &["no-subflow-endpoints"]);
    let fix = format!("ip mptcp endpoint add 10.71.2.1 dev {} subflow", lab.client_dev2());
    assert_eq!(run.1["findings"][0]["fix"], fix.as_str());
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn add_addr_not_accepted() {
    let lab = Lab::new();
    lab.server.ip(&["mptcp", "endpoint", "add", "10.71.2.2", "dev", lab.server_dev2(), "signal"]).unwrap();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "add-addr-not-accepted");
    assert_errors(&run, &["add-addr-not-accepted"]);
    let f = &run.1["findings"][0];
    assert_eq!(f["observed"]["announced"], serde_json::json!(["10.71.2.2"]), "{f}");
    assert_eq!(f["fix"], "ip mptcp limits set add_addr_accepted 1");
    // With the fix, the announced address carries a subflow.
    lab.client.ip(&["mptcp", "limits", "set", "add_addr_accepted", "1"]).unwrap();
    let run = doctor_client(&lab, "add-addr-accepted");
    assert_errors(&run, &[]);
    assert_eq!(subflows(&run.1), (2, 2));
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn endpoint_address_gone() {
    let lab = Lab::new();
    lab.client_endpoint();
    lab.client.ip(&["addr", "del", "10.71.2.1/24", "dev", lab.client_dev2()]).unwrap();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "endpoint-address-gone");
    assert_errors(&run, &["endpoint-address-gone"]);
    assert_eq!(run.1["findings"][0]["observed"]["MPJoinSynTxBindErr"], 1);
    // The host alone too.
    assert_errors(&doctor(&lab.client, &[], "endpoint-address-gone-host"), &["endpoint-address-gone"]);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn endpoint_interface_down() {
    let lab = Lab::new();
    lab.client_endpoint();
    lab.client.ip(&["link", "set", lab.client_dev2(), "down"]).unwrap();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "endpoint-interface-down");
    assert_errors(&run, &["endpoint-interface-down"]);
    assert_eq!(run.1["findings"][0]["fix"], format!("ip link set {} up", lab.client_dev2()).as_str());
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn endpoint_no_route() {
    let lab = Lab::new();
    // No device: the route comes from the tables, and a rule sends that
    // source to an unreachable route.
    lab.client.ip(&["mptcp", "endpoint", "add", "10.71.2.1", "subflow"]).unwrap();
    lab.client.ip(&["rule", "add", "from", "10.71.2.1", "table", "100"]).unwrap();
    lab.client.ip(&["route", "add", "unreachable", "default", "table", "100"]).unwrap();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "endpoint-no-route");
    assert_errors(&run, &["endpoint-no-route"]);
    let o = &run.1["findings"][0]["observed"];
    assert_eq!(o["MPJoinSynTxConnectErr"], 1, "{o}");
    assert_eq!(o["src"], "10.71.2.1", "{o}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn endpoint_no_route_ipv6() {
    // IPv6 makes no on-link guess: an endpoint bound to path 2 has no route
    // to the server's path-1 address, although a lookup bound to that
    // device answers with path 1's route.
    mptcp_netns::require_root();
    let client = Netns::new("dcli6").unwrap();
    let server = Netns::new("dsrv6").unwrap();
    let _p1 = Path::new(&client, ip("fd00:71:1::1"), &server, ip("fd00:71:1::2"), 64).unwrap();
    let p2 = Path::new(&client, ip("fd00:71:2::1"), &server, ip("fd00:71:2::2"), 64).unwrap();
    client.ip(&["mptcp", "endpoint", "add", "fd00:71:2::1", "dev", &p2.a_dev, "subflow"]).unwrap();
    let _srv = Echo::start_on(&server, format!("[::]:{PORT}").parse().unwrap(), true);
    let run = doctor(&client, &[&format!("[fd00:71:1::2]:{PORT}"), "--watch", WATCH], "endpoint-no-route-ipv6");
    assert_errors(&run, &["endpoint-no-route"]);
    let o = &run.1["findings"][0]["observed"];
    assert_eq!(o["MPJoinSynTxConnectErr"], 1, "{o}");
    assert!(o["lookup"].as_str().unwrap().contains("not through the endpoint's device"), "{o}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn join_unanswered() {
    let lab = Lab::new();
    lab.client_endpoint();
    // The server drops the joins arriving on path 2 (MP_JOIN is option 30 too).
    let dev = lab.server_dev2().to_string();
    lab.server
        .iptables(false, &["-A", "INPUT", "-i", &dev, "-p", "tcp", "--tcp-option", "30", "--syn", "-j", "DROP"])
        .unwrap();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "join-unanswered");
    assert_errors(&run, &["join-unanswered"]);
    let o = &run.1["findings"][0]["observed"];
    assert_eq!((o["MPJoinSynTx"].as_u64(), o["MPJoinSynAckRx"].as_u64()), (Some(1), Some(0)), "{o}");
    let states: Vec<&str> =
        run.1["connection"]["subflows"].as_array().unwrap().iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["ESTAB", "SYN-SENT"]);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn join_unanswered_on_link() {
    // No route to 10.71.1.2 through path 2: the kernel takes it to be on
    // that link and asks with ARP, which the server (arp_ignore=1: only for
    // the addresses of the asked interface) leaves unanswered, as a router
    // would without proxy ARP.
    let lab = Lab::new();
    lab.client_endpoint();
    lab.server.sysctl("net.ipv4.conf.all.arp_ignore", "1").unwrap();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "join-unanswered-on-link");
    assert_errors(&run, &["join-unanswered"]);
    let f = &run.1["findings"][0];
    assert!(f["message"].as_str().unwrap().contains("got no answer (neighbour"), "{f}");
    assert!(f["fix"].as_str().unwrap().contains("ip rule add from 10.71.2.1 table 100"), "{f}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn join_rejected() {
    // The server's subflow limit is 0: it accepts the join's SYN and
    // resets the subflow at the handshake's end.
    let lab = Lab::new();
    lab.client_endpoint();
    lab.server.ip(&["mptcp", "limits", "set", "subflows", "0"]).unwrap();
    let _srv = Echo::start(&lab.server, true);
    assert_errors(&doctor_client(&lab, "join-rejected"), &["join-rejected"]);
    // A server that denies joins to its initial address, and announces no other.
    let lab = Lab::new();
    lab.client_endpoint();
    lab.server.sysctl("net.mptcp.allow_join_initial_addr_port", "0").unwrap();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "join-rejected-id0");
    assert_errors(&run, &["join-rejected"]);
    assert_eq!(run.1["findings"][0]["observed"]["deny_join_id0"], true);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn rp_filter() {
    // The join leaves through path 2 (the endpoint's device) towards the
    // server's path-1 address; its SYN-ACK comes back on path 2, where
    // strict reverse-path filtering expects 10.71.1.2 on path 1.
    let lab = Lab::new();
    lab.client_endpoint();
    lab.client.sysctl("net.ipv4.conf.all.rp_filter", "1").unwrap();
    lab.client.sysctl(&format!("net.ipv4.conf.{}.rp_filter", lab.client_dev2()), "1").unwrap();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "rp-filter");
    assert_errors(&run, &["rp-filter"]);
    let f = &run.1["findings"][0];
    assert!(f["observed"]["IPReversePathFilter"].as_u64().unwrap() >= 1, "{f}");
    assert_eq!(f["observed"]["reverse_route_dev"], lab.paths[0].a_dev.as_str(), "{f}");
    assert!(f["fix"].as_str().unwrap().starts_with("sysctl -w net.ipv4.conf.all.rp_filter=2"), "{f}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn userspace_pm_idle() {
    let lab = Lab::new();
    lab.client_endpoint();
    lab.client.sysctl("net.mptcp.path_manager", "userspace").unwrap();
    let _srv = Echo::start(&lab.server, true);
    let run = doctor_client(&lab, "userspace-pm-idle");
    assert_errors(&run, &["userspace-pm-idle"]);
    assert_eq!(run.1["findings"][0]["observed"]["event_listeners"], 0);
    assert_errors(&doctor(&lab.client, &[], "userspace-pm-idle-host"), &["userspace-pm-idle"]);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn endpoint_limit() {
    let lab = Lab::new();
    let dev = lab.client_dev2().to_string();
    let mut refused = 0;
    for i in 10..=18 {
        let addr = format!("10.71.2.{i}");
        lab.client.ip(&["addr", "add", &format!("{addr}/24"), "dev", &dev]).unwrap();
        let out = lab.client.run_status(&["ip", "mptcp", "endpoint", "add", &addr, "dev", &dev, "subflow"]).unwrap();
        if !out.status.success() {
            refused += 1;
            assert!(text(&out.stderr).contains("-34"), "the kernel's ERANGE: {}", text(&out.stderr));
        }
    }
    assert_eq!(refused, 1, "the ninth endpoint is refused");
    let run = doctor(&lab.client, &[], "endpoint-limit");
    assert_errors(&run, &["endpoint-limit"]);
    let left = &run.1["findings"][0]["observed"]["addresses_without_endpoint"];
    assert!(left.as_array().unwrap().iter().any(|a| a.as_str().unwrap().starts_with("10.71.2.18 ")), "{left}");
}

/// The process `p` runs `program` (after `ip netns exec` replaced itself).
fn wait_exec(p: &common::Proc, program: &str) {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", p.pid())).unwrap_or_default();
        if text(&cmdline).split('\0').next().is_some_and(|a| a.ends_with(program)) {
            return;
        }
        assert!(Instant::now() < end, "{program} did not start: {}", text(&cmdline));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[ignore = "needs root: network namespaces and mptcpd (scripts/test.sh runs it)"]
fn another_manager() {
    const MPTCPD: &str = "/usr/libexec/mptcpd";
    let lab = Lab::new();
    assert!(
        std::path::Path::new(MPTCPD).exists(),
        "this test needs mptcpd: apt-get install mptcpd mptcpd-plugins (scripts/test.sh does)"
    );
    let dir = std::env::temp_dir().join(format!("mptcp-doctor-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _rm = common::RemoveOnDrop(dir.clone());
    std::fs::write(dir.join("daemon.toml"), "").unwrap();
    let mut c = lab.client.command(MPTCPD);
    c.args(["--log=stderr", "--addr-flags=subflow"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mptcpd = common::Proc::spawn(&mut c);
    let mut c = lab.client.command(BIN);
    c.arg("daemon").arg("--config").arg(dir.join("daemon.toml")).arg("--runtime-dir").arg(dir.join("run"));
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let daemon = common::Proc::spawn(&mut c);
    wait_exec(&mptcpd, "mptcpd");
    wait_exec(&daemon, "mptcp");
    let run = doctor(&lab.client, &[], "another-manager");
    assert_errors(&run, &["another-manager"]);
    let managers: Vec<&str> =
        run.1["findings"][0]["observed"]["managers"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert_eq!(managers.len(), 2, "{managers:?}");
    assert!(managers[0].starts_with("mptcpd (pid ") || managers[1].starts_with("mptcpd (pid "), "{managers:?}");
    // One manager alone is a warning, not an error.
    let (_, _, _) = daemon.terminate(Duration::from_secs(10));
    let run = doctor(&lab.client, &[], "another-manager-one");
    assert!(!error_ids(&run.1).contains(&"another-manager".to_string()), "{:#}", run.1);
    assert!(run.1["findings"].as_array().unwrap().iter().any(|f| f["id"] == "another-manager"), "{:#}", run.1);
    drop(mptcpd);
}

/// `mptcp doctor --listen PORT --count 1` in the server namespace while
/// `connect` runs in the client's; returns its exit status and report.
fn listen_while(lab: &Lab, name: &str, connect: impl FnOnce()) -> (i32, Value) {
    let mut cmd = lab.server.command(BIN);
    cmd.args(["doctor", "--listen", &PORT.to_string(), "--count", "1", "--watch", "10", "--json"]);
    if let Some(dir) = std::env::var_os("MPTCP_DOCTOR_RECORD") {
        cmd.arg("--record").arg(std::path::Path::new(&dir).join(format!("{name}.json")));
    }
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let p = common::Proc::spawn(&mut cmd);
    common::wait_listening(&lab.server, PORT, Duration::from_secs(10));
    connect();
    let (status, out, err) = p.wait(Duration::from_secs(30));
    let status = status.unwrap_or_else(|| panic!("mptcp doctor --listen did not finish: {err}"));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    (status.code().unwrap(), v)
}

/// A client in the lab's client namespace: connects (MPTCP or not), sends,
/// reads the echo, waits a little (joins), closes.
fn client_once(lab: &Lab, mptcp: bool) {
    let addr: SocketAddr = format!("{SERVER}:{PORT}").parse().unwrap();
    lab.client
        .in_ns(|| {
            let s = if mptcp { TcpStream::connect_mptcp(addr) } else { TcpStream::connect(addr) };
            let mut s = s.unwrap();
            s.write_all(b"hello").unwrap();
            let mut b = [0u8; 5];
            s.read_exact(&mut b).unwrap();
            std::thread::sleep(Duration::from_millis(500));
        })
        .unwrap();
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn listen_sees_plain_tcp_clients() {
    let lab = Lab::new();
    let run = listen_while(&lab, "client-no-mptcp", || client_once(&lab, false));
    assert_errors(&run, &["client-no-mptcp"]);
    assert_eq!(run.1["mode"], "server");
    assert_eq!(run.1["mptcp"], false);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn listen_sees_a_stripped_syn_ack() {
    let lab = Lab::new();
    lab.server.strip_mptcp(false, Strip::SynAck).unwrap();
    let run = listen_while(&lab, "passive-fallback", || client_once(&lab, true));
    assert_errors(&run, &["passive-fallback"]);
    assert_eq!(run.1["findings"][0]["observed"]["MPCapableFallbackACK"], 1);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn listen_sees_joins_refused_and_healthy_clients() {
    let lab = Lab::new();
    lab.client_endpoint();
    let run = listen_while(&lab, "listen-healthy", || client_once(&lab, true));
    assert_errors(&run, &[]);
    assert_eq!(run.1["mptcp"], true);
    lab.server.ip(&["mptcp", "limits", "set", "subflows", "0"]).unwrap();
    let run = listen_while(&lab, "listen-join-rejected", || client_once(&lab, true));
    assert_errors(&run, &["join-rejected"]);
    assert_eq!(run.1["findings"][0]["observed"]["MPJoinRejected"], 1);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn check_points_at_doctor_on_plain_tcp() {
    let lab = Lab::new();
    let _srv = Echo::start(&lab.server, false);
    let target = format!("{SERVER}:{PORT}");
    let out = lab.client.command(BIN).args(["check", &target, "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["doctor"], format!("mptcp doctor {target}"), "{v:#}");
    let out = lab.client.command(BIN).args(["check", &target]).output().unwrap();
    assert!(text(&out.stdout).contains(&format!("why: `mptcp doctor {target}` explains it")), "{}", text(&out.stdout));
    // Where MPTCP works, no pointer.
    drop(_srv);
    let _srv = Echo::start(&lab.server, true);
    let out = lab.client.command(BIN).args(["check", &target, "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["doctor"], Value::Null, "{v:#}");
}
