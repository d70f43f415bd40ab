//! `mptcp::listener`, as root in network namespaces: an MPTCP client is
//! `Mptcp`, a plain-TCP client `Tcp`, and a client whose MP_CAPABLE was
//! stripped from the server's SYN-ACK by a middlebox `Fallback`, although
//! `accept()` returned a plain TCP socket for both of the last two. The std
//! and tokio listeners, one client at a time (where attribution is exact).

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use mptcp::listener::{AcceptedStatus, AsyncMptcpListener, MptcpListener};
use mptcp::{MptcpBuilder, MptcpExt, MptcpStatus};
use mptcp_netns::{Netns, Strip};
use support::TwoPaths;

/// Connects from the client namespace, MPTCP or plain TCP.
fn connect(ns: &Netns, addr: SocketAddr, mptcp: bool) -> TcpStream {
    ns.in_ns(|| MptcpBuilder::new().mptcp(mptcp).connect_timeout(Duration::from_secs(5)).connect(addr))
        .expect("enter the client namespace")
        .expect("connect")
}

/// One scenario: what the client and the listener see, for each kind of
/// client, with and without the middlebox. `accept` runs the listener's.
fn scenario(net: &TwoPaths, addr: SocketAddr, mut accept: impl FnMut() -> (MptcpStatus, AcceptedStatus)) {
    use AcceptedStatus as A;
    let mut one = |mptcp: bool| {
        let client = connect(&net.client, addr, mptcp);
        let (server_socket, accepted) = accept();
        (client.mptcp_status().unwrap(), server_socket, accepted)
    };
    assert_eq!(one(true), (MptcpStatus::Mptcp, MptcpStatus::Mptcp, A::Mptcp), "an MPTCP client");
    assert_eq!(one(false), (MptcpStatus::Tcp, MptcpStatus::Tcp, A::Tcp), "a plain-TCP client");
    net.server.strip_mptcp(false, Strip::SynAck).expect("middlebox");
    assert_eq!(
        one(true),
        (MptcpStatus::Fallback, MptcpStatus::Tcp, A::Fallback),
        "MP_CAPABLE stripped from the SYN-ACK: the socket says TCP, the listener fallback"
    );
    assert_eq!(one(false), (MptcpStatus::Tcp, MptcpStatus::Tcp, A::Tcp), "a plain-TCP client behind the middlebox");
    assert_eq!(one(true), (MptcpStatus::Fallback, MptcpStatus::Tcp, A::Fallback), "and another stripped one");
    net.server.unstrip_mptcp(false, Strip::SynAck).expect("middlebox off");
    assert_eq!(one(true), (MptcpStatus::Mptcp, MptcpStatus::Mptcp, A::Mptcp), "MPTCP again");
    assert_eq!(one(false), (MptcpStatus::Tcp, MptcpStatus::Tcp, A::Tcp), "plain TCP again");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn std_listener_tells_mptcp_tcp_and_passive_fallback_apart() {
    mptcp_netns::require_root();
    let net = TwoPaths::new(81);
    let addr: SocketAddr = format!("{}:7000", net.server_v4()).parse().unwrap();
    // Made in the server namespace: the counters it reads are that one's.
    let listener = net.server.in_ns(|| MptcpListener::bind(addr)).unwrap().expect("bind");
    scenario(&net, addr, || {
        // Accepted here, on a thread of the test's namespace.
        let (stream, peer, status) = listener.accept().expect("accept");
        assert_eq!(peer.ip().to_string(), "10.81.0.1");
        (stream.mptcp_status().unwrap(), status)
    });
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn tokio_listener_tells_mptcp_tcp_and_passive_fallback_apart() {
    mptcp_netns::require_root();
    let net = TwoPaths::new(83);
    let addr: SocketAddr = format!("{}:7000", net.server_v4()).parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let listener = net
        .server
        .in_ns(|| {
            let _enter = rt.enter();
            let std = MptcpBuilder::new().bind(addr)?;
            std.set_nonblocking(true)?;
            Ok::<_, std::io::Error>(AsyncMptcpListener::from_tokio(tokio::net::TcpListener::from_std(std)?))
        })
        .unwrap()
        .expect("bind");
    scenario(&net, addr, || {
        let (stream, _, status) = rt.block_on(listener.accept()).expect("accept");
        (stream.mptcp_status().unwrap(), status)
    });
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_plain_tcp_listener_reports_tcp_for_an_mptcp_client() {
    mptcp_netns::require_root();
    let net = TwoPaths::new(85);
    let addr: SocketAddr = format!("{}:7000", net.server_v4()).parse().unwrap();
    let listener =
        net.server.in_ns(|| MptcpBuilder::new().mptcp(false).bind(addr).map(MptcpListener::from_std)).unwrap().unwrap();
    let client = connect(&net.client, addr, true);
    let (_, _, status) = listener.accept().unwrap();
    // The client asked and was turned down by the server itself: to the
    // server that is plain TCP, not a fallback on the path.
    assert_eq!(status, AcceptedStatus::Tcp);
    assert_eq!(client.mptcp_status().unwrap(), MptcpStatus::Fallback);
}
