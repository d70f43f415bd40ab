//! What the daemon's endpoint changes do to live connections: a dead
//! path's subflows close (also the initial one), a path that comes back
//! carries data again.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;

use common::*;
use mptcp::diag::{connections, Filter};
use mptcp::{MptcpListenerExt, MptcpStreamExt};

const PORT: u16 = 5099;

/// A two-path host with a default route through each path (the second
/// with a higher metric), as a multi-homed client has, and a server in the
/// peer namespace that reads everything and returns the byte count.
fn setup() -> (Lab, JoinHandle<u64>) {
    let lab = Lab::new(2);
    // Shaped, so that one path alone cannot take everything.
    for p in &lab.paths {
        p.shape(50_000_000).unwrap();
    }
    lab.ip("route add default via 10.60.0.2 dev p0 metric 100");
    lab.ip("route add default via 10.61.0.2 dev p1 metric 200");
    lab.peer.in_ns(|| mptcp::pm::PathManager::new().unwrap().set_limits(Some(8), Some(8)).unwrap()).unwrap();
    let listener = lab.peer.in_ns(|| TcpListener::bind_mptcp(("0.0.0.0", PORT)).unwrap()).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            match s.read(&mut buf) {
                Ok(0) => return total,
                Ok(n) => total += n as u64,
                Err(e) => panic!("server read: {e}"),
            }
        }
    });
    (lab, server)
}

fn connect(lab: &Lab) -> TcpStream {
    lab.dut.in_ns(|| TcpStream::connect_mptcp(("10.60.0.2", PORT)).unwrap()).unwrap()
}

/// Local addresses of the established subflows of the host's connection to the server.
fn subflow_addrs(lab: &Lab) -> Vec<IpAddr> {
    let conns = lab.dut.in_ns(|| connections(&Filter::default().port(PORT)).unwrap()).unwrap();
    // A closed subflow lingers in FIN_WAIT1 while its link is down: only
    // established ones (state 1) carry the connection.
    conns.iter().flat_map(|c| c.subflows.iter().filter(|s| s.state == 1).map(|s| s.local.ip())).collect()
}

fn send(s: &mut TcpStream, bytes: usize) {
    let chunk = vec![0x5au8; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        s.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
}

/// Bytes sent through `dev` (`/proc/net/dev` of the host namespace).
fn tx_bytes(lab: &Lab, dev: &str) -> u64 {
    let text = lab.dut.in_ns(|| std::fs::read_to_string("/proc/thread-self/net/dev").unwrap()).unwrap();
    let line = text.lines().find(|l| l.trim_start().starts_with(&format!("{dev}:"))).unwrap();
    // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit bytes.
    line.split_once(':').unwrap().1.split_whitespace().nth(8).unwrap().parse().unwrap()
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn the_initial_subflow_of_a_dead_path_is_closed_too() {
    let (lab, server) = setup();
    // A connection opened before any endpoint existed. (On 6.18 deleting
    // p0's endpoint closes every subflow from its address, the initial one
    // included; the daemon also sends `delete id 0 ADDR`, which closes the
    // initial subflows from ADDR on kernels where only an endpoint that
    // existed before the connection "owns" it.)
    let mut c = connect(&lab);
    send(&mut c, 256 * 1024);
    let d = spawn(&lab, config(""));
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow"]);
    send(&mut c, 256 * 1024);
    assert!(wait_for(|| subflow_addrs(&lab).contains(&ip_of("10.61.0.1"))), "{:?}", subflow_addrs(&lab));
    assert!(subflow_addrs(&lab).contains(&ip_of("10.60.0.1")));

    lab.ip("link set p0 down");
    // The initial subflow is closed at once, not left to time out.
    assert!(wait_for(|| !subflow_addrs(&lab).contains(&ip_of("10.60.0.1"))), "{:?}", subflow_addrs(&lab));
    assert!(wait_for(|| d
        .status()
        .last_actions
        .iter()
        .any(|a| a.op == "delete id 0" && a.endpoint == "10.60.0.1" && a.result == "ok")));
    // The connection lives on over p1: everything arrives.
    send(&mut c, 1024 * 1024);
    drop(c);
    assert_eq!(server.join().unwrap(), 1536 * 1024);
    d.stop().unwrap();
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_path_that_comes_back_carries_data_again() {
    let (lab, server) = setup();
    let d = spawn(&lab, config(""));
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow"]);
    let mut c = connect(&lab);
    send(&mut c, 256 * 1024);
    assert!(wait_for(|| subflow_addrs(&lab).contains(&ip_of("10.61.0.1"))), "{:?}", subflow_addrs(&lab));

    lab.ip("link set p1 down");
    assert!(wait_for(|| !subflow_addrs(&lab).contains(&ip_of("10.61.0.1"))), "{:?}", subflow_addrs(&lab));
    send(&mut c, 256 * 1024);
    lab.ip("link set p1 up");
    // The endpoint comes back, and with it a subflow of this connection.
    assert!(wait_for(|| subflow_addrs(&lab).contains(&ip_of("10.61.0.1"))), "{:?}", subflow_addrs(&lab));
    let before = tx_bytes(&lab, "p1");
    send(&mut c, 4 * 1024 * 1024);
    drop(c);
    assert_eq!(server.join().unwrap(), (512 + 4 * 1024) * 1024);
    let sent_on_p1 = tx_bytes(&lab, "p1") - before;
    assert!(sent_on_p1 > 1024 * 1024, "only {sent_on_p1} bytes of 4 MiB went through p1");
    d.stop().unwrap();
}
