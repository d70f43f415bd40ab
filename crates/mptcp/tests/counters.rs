//! The namespace's `MPTcpExt` counters and the passive fallback detector
//! on a real kernel, as root in a network namespace of their own (fresh
//! counters): a normal MPTCP connection, plain-TCP clients, and a
//! middlebox that strips MP_CAPABLE from the server's SYN-ACK.

use std::net::{Ipv4Addr, SocketAddr};

use mptcp::counters::{MptcpCounters, PassiveFallbackDetector};
use mptcp::{MptcpBuilder, MptcpExt, MptcpStatus};

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn detector_sees_a_stripped_syn_ack_in_a_namespace_and_not_a_normal_connection() {
    mptcp_netns::require_root();
    let ns = mptcp_netns::Netns::new("counters").expect("namespace");
    let ns = &ns;
    ns.in_ns(|| {
        assert!(mptcp::host_support().is_available(), "this test needs a kernel with MPTCP");
        let fresh = MptcpCounters::read().unwrap();
        assert_eq!(fresh.mp_capable_syn_rx(), Some(0), "a new namespace starts from zero");
        let listener = MptcpBuilder::new().bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut detector = PassiveFallbackDetector::new().unwrap();
        // Connects (MPTCP or plain TCP), accepts, and says what the server sees.
        let mut one = |mptcp: bool| {
            let client = MptcpBuilder::new().mptcp(mptcp).connect(addr).unwrap();
            let (conn, _) = listener.accept().unwrap();
            let own = conn.mptcp_status().unwrap();
            let seen = detector.classify(own).unwrap();
            (client.mptcp_status().unwrap(), own, seen)
        };
        use MptcpStatus::{Fallback, Mptcp, Tcp};
        assert_eq!(one(true), (Mptcp, Mptcp, Mptcp), "a normal MPTCP connection");
        assert_eq!(one(false), (Tcp, Tcp, Tcp), "a plain-TCP client");
        ns.strip_mptcp(false, mptcp_netns::Strip::SynAck).unwrap();
        assert_eq!(one(true), (Fallback, Tcp, Fallback), "MP_CAPABLE stripped from the SYN-ACK");
        assert_eq!(one(false), (Tcp, Tcp, Tcp), "a plain-TCP client after it");
        ns.unstrip_mptcp(false, mptcp_netns::Strip::SynAck).unwrap();
        assert_eq!(one(true), (Mptcp, Mptcp, Mptcp), "MPTCP again without the middlebox");
        assert_eq!(detector.unclaimed(), 0);
        let total = MptcpCounters::read().unwrap().since(&fresh);
        assert_eq!(total.mp_capable_fallback_ack(), Some(1), "{total:?}");
        assert_eq!(total.mp_capable_syn_rx(), Some(3), "{total:?}");
    })
    .expect("enter the namespace");
}
