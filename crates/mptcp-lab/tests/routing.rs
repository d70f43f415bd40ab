//! The lab's routed topology in network namespaces: each subflow takes its
//! path through that path's router (and its emulator), and what policy
//! routing the client needs for it: endpoints bound to their interface
//! (what `mptcp daemon` makes) need none; endpoints without a device need
//! the per-path source rules, without which the routers' strict
//! reverse-path filter drops their joins.
//!
//! They never assert a speed.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mptcp::{MptcpBuilder, MptcpExt};
use mptcp_lab::spec::PathFlags;
use mptcp_lab::topo::{Routing, Topology};

/// `TCP_ESTABLISHED` in `tcp_info.tcpi_state`.
const ESTABLISHED: u8 = 1;

fn two_paths() -> Vec<mptcp_lab::spec::PathSpec> {
    PathFlags { delays: Some(vec!["2ms".into(), "5ms".into()]), ..PathFlags::default() }.paths().unwrap()
}

/// An MPTCP upload from the client to the server's first address for up to
/// `secs` (less once every path has had an established subflow for a
/// second): the local addresses of the subflows established at the end.
fn upload(topo: &Topology, secs: u64) -> Vec<IpAddr> {
    let port = 5301;
    let listener = topo.server.in_ns(move || MptcpBuilder::new().bind(("0.0.0.0", port))).unwrap().unwrap();
    let sink = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        while c.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
    });
    let to = SocketAddr::new(topo.paths[0].server_addr(), port);
    let npaths = topo.paths.len();
    let seen = topo
        .client
        .in_ns(move || {
            let mut s = MptcpBuilder::new().connect(to).unwrap();
            s.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
            let chunk = vec![7u8; 64 << 10];
            let started = Instant::now();
            let mut seen = Vec::new();
            // Once every path has its subflow, another second of data, so
            // that each path carries more than its handshake.
            let mut all_since: Option<Instant> = None;
            while started.elapsed() < Duration::from_secs(secs) {
                let _ = s.write(&chunk);
                seen = s
                    .subflows()
                    .unwrap_or_default()
                    .iter()
                    .filter(|sf| sf.tcp.state == Some(ESTABLISHED))
                    .filter_map(|sf| sf.local.map(|l| l.ip()))
                    .collect();
                if seen.len() == npaths {
                    if all_since.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(1) {
                        break;
                    }
                } else {
                    all_since = None;
                }
            }
            assert_eq!(s.mptcp_status().unwrap(), mptcp::MptcpStatus::Mptcp, "the connection is MPTCP");
            drop(s);
            seen
        })
        .unwrap();
    sink.join().unwrap();
    seen
}

fn sorted(mut v: Vec<IpAddr>) -> Vec<IpAddr> {
    v.sort();
    v
}

fn client_addrs(topo: &Topology) -> Vec<IpAddr> {
    sorted(topo.paths.iter().map(|p| p.client_addr()).collect())
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn every_path_carries_one_subflow_through_its_router() {
    mptcp_netns::require_root();
    let topo = Topology::build(&two_paths()).unwrap();
    assert_eq!(sorted(upload(&topo, 10)), client_addrs(&topo), "one subflow from each of the client's addresses");
    // Each subflow went through its own router, both ways.
    for p in &topo.paths {
        let s = p.emulator_stats().unwrap();
        assert!(s.up.packets_out > 10 && s.down.packets_out > 10, "path {}: {s:?}", p.index + 1);
    }
    // The client's routes say the same: the server's address on path N
    // through router N, from the client's address on N.
    for p in &topo.paths {
        let out = topo.client.ip(&["route", "get", &p.server_addr().to_string()]).unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let want = format!("via {} dev {} src {}", p.gateway(), p.client_dev(), p.client_addr());
        assert!(text.contains(&want), "{text}");
    }
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn bound_endpoints_need_no_source_rules() {
    mptcp_netns::require_root();
    let routing = Routing { source_rules: false, endpoints_bound: true };
    let topo = Topology::build_with(&two_paths(), routing).unwrap();
    let rules = String::from_utf8_lossy(&topo.client.ip(&["rule", "show"]).unwrap().stdout).to_string();
    assert!(!rules.contains("lookup 10"), "no per-path rule: {rules}");
    assert_eq!(sorted(upload(&topo, 10)), client_addrs(&topo));
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn endpoints_without_a_device_need_the_source_rules() {
    mptcp_netns::require_root();
    // Without the rules: the join from the second address leaves by the
    // main table's route (path 1), and router 1 drops it (its source belongs
    // to path 2): sent, never answered.
    let routing = Routing { source_rules: false, endpoints_bound: false };
    let topo = Topology::build_with(&two_paths(), routing).unwrap();
    let (tx, ack) = (topo.client.counter("MPJoinSynTx").unwrap(), topo.client.counter("MPJoinSynAckRx").unwrap());
    let seen = upload(&topo, 2);
    assert_eq!(seen, vec![topo.paths[0].client_addr()], "only the initial subflow");
    assert!(topo.client.counter("MPJoinSynTx").unwrap() > tx, "the join was sent");
    assert_eq!(topo.client.counter("MPJoinSynAckRx").unwrap(), ack, "and never answered");
    drop(topo);
    // With them: a packet from address 2 leaves through path 2.
    let routing = Routing { source_rules: true, endpoints_bound: false };
    let topo = Topology::build_with(&two_paths(), routing).unwrap();
    assert_eq!(sorted(upload(&topo, 10)), client_addrs(&topo));
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn mptcp_daemon_s_endpoints_need_no_source_rules() {
    mptcp_netns::require_root();
    let routing = Routing { source_rules: false, endpoints_bound: true };
    let topo = Topology::build_with(&two_paths(), routing).unwrap();
    // The daemon makes the endpoints from the interfaces, with its default
    // policy (a default route of the family in the main table: the client
    // has one per path, at NetworkManager's metrics).
    mptcp_lab::topo::configure_pm(&topo.client, &[], mptcp::pm::EndpointFlags::SUBFLOW, (1, 0)).unwrap();
    let mut cfg = mptcp_daemon::Config::default();
    cfg.runtime_dir = None;
    cfg.on_exit = mptcp_daemon::OnExit::Flush;
    let daemon = topo.client.in_ns(|| mptcp_daemon::spawn(cfg)).unwrap().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut eps = Vec::new();
    while Instant::now() < deadline {
        eps = topo.client.in_ns(|| mptcp::pm::PathManager::new().and_then(|mut pm| pm.endpoints())).unwrap().unwrap();
        if eps.len() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(eps.len(), 2, "the daemon made one endpoint per address: {eps:?}");
    assert!(eps.iter().all(|e| e.ifindex.is_some()), "bound to their interface: {eps:?}");
    assert_eq!(sorted(upload(&topo, 10)), client_addrs(&topo));
    daemon.stop().unwrap();
}
