//! The status scenario table, in network namespaces, as root.
//!
//! Each scenario builds its own namespaces (removed on drop, also on panic),
//! makes a real connection, moves data, and asserts the status on both ends
//! with every detection mechanism the running kernel offers, plus the
//! automatic choice.
//!
//! The kernel matrix (tests/kernels/run.sh) runs this same binary under
//! other kernels and passes `MPTCP_EXPECT` (e.g.
//! `mptcp=yes tcp_is_mptcp=no full_info=no mptcp_info=yes info_len=48`) so
//! that the probe is checked against what that kernel really has. On a
//! kernel built without MPTCP (`mptcp=not-built`) the matrix runs only the
//! tests that hold everywhere: `probe_matches_kernel` and
//! `default_and_strict_policy_on_this_kernel`.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mptcp::info::SubflowDetail;
use mptcp::{
    host_support, Availability, FallbackPolicy, Mechanism, MptcpBuilder, MptcpExt, MptcpListenerExt, MptcpStatus,
    MptcpStreamExt,
};
use mptcp_netns::{Netns, Path, Strip};

#[path = "support/exchange.rs"]
mod exchange;
#[path = "../../../tests/kernels/expect.rs"]
mod expect;
use exchange::exchange;

/// Two namespaces joined by `paths` veth pairs (10.<base+i>.0.1 client, .2
/// server; fd<base+i>::1/2 for IPv6, base in hex).
struct Net {
    client: Netns,
    server: Netns,
    paths: Vec<Path>,
    /// Listeners stay open as long as the network: MP_JOIN SYNs are
    /// accepted through the listening socket, so closing it after accept()
    /// makes later joins fail with a RST (client: TcpAttemptFails).
    listeners: std::sync::Mutex<Vec<TcpListener>>,
}

fn net(paths: usize, base: u8) -> Net {
    let client = Netns::new("cli").expect("client netns");
    let server = Netns::new("srv").expect("server netns");
    let mut v = Vec::new();
    for i in 0..paths as u8 {
        let p = Path::new(
            &client,
            format!("10.{}.0.1", base + i).parse().unwrap(),
            &server,
            format!("10.{}.0.2", base + i).parse().unwrap(),
            24,
        )
        .expect("veth");
        for (ns, dev, a) in [(&client, &p.a_dev, 1), (&server, &p.b_dev, 2)] {
            ns.ip(&["addr", "add", &format!("fd{:02x}::{a}/64", base + i), "dev", dev, "nodad"]).expect("v6 addr");
        }
        v.push(p);
    }
    Net { client, server, paths: v, listeners: Default::default() }
}

/// Listener in the server namespace, client in the client namespace;
/// returns (client stream, server stream) after `exchange`.
fn connect(net: &Net, addr: &str, client_mptcp: bool, server_mptcp: bool) -> (TcpStream, TcpStream) {
    let bind: SocketAddr = addr.parse().unwrap();
    let listener = net
        .server
        .in_ns(|| if server_mptcp { TcpListener::bind_mptcp(bind) } else { TcpListener::bind(bind) })
        .unwrap()
        .expect("bind");
    assert_eq!(listener.created_as_mptcp().unwrap(), server_mptcp);
    let mut c = net
        .client
        .in_ns(|| if client_mptcp { TcpStream::connect_mptcp(bind) } else { TcpStream::connect(bind) })
        .unwrap()
        .expect("connect");
    let (mut s, _) = listener.accept().expect("accept");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    exchange(&mut c, &mut s, 4096);
    net.listeners.lock().unwrap().push(listener);
    (c, s)
}

/// Asserts `expected` through every mechanism this kernel offers and the
/// automatic choice. SO_PROTOCOL can only answer `Tcp`: on an MPTCP socket it
/// must refuse rather than guess.
fn assert_status(what: &str, sock: &TcpStream, expected: MptcpStatus) {
    assert_eq!(sock.mptcp_status().unwrap(), expected, "{what}: automatic");
    for m in host_support().mechanisms() {
        let got = sock.mptcp_status_with(m);
        if m == Mechanism::SoProtocol && sock.created_as_mptcp().unwrap() {
            let e = got.expect_err("SO_PROTOCOL must not confirm MPTCP");
            assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{what}: {m}");
        } else {
            assert_eq!(got.unwrap_or_else(|e| panic!("{what}: {m}: {e}")), expected, "{what}: {m}");
        }
    }
    // Mechanisms this kernel lacks say so instead of guessing.
    for &m in Mechanism::ALL {
        if !host_support().mechanisms().contains(&m) {
            let e = sock.mptcp_status_with(m).expect_err("missing mechanism must fail");
            assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{what}: {m}");
        }
    }
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn probe_matches_kernel() {
    mptcp_netns::require_root();
    let h = host_support();
    println!("{h:?}");
    // The kernel matrix says what each kernel has (tests/kernels/expect.rs).
    for (k, v) in expect::pairs() {
        let yes = v == "yes";
        match k.as_str() {
            "mptcp" => {
                let want = match v.as_str() {
                    "yes" => Availability::Available,
                    "not-built" => Availability::NotBuilt,
                    "too-old" => Availability::KernelTooOld,
                    "disabled" => Availability::DisabledBySysctl,
                    _ => panic!("unknown MPTCP_EXPECT mptcp={v}"),
                };
                assert_eq!(h.availability, want, "availability: {}", h.availability);
            }
            "tcp_is_mptcp" => assert_eq!(h.tcp_is_mptcp, yes, "TCP_IS_MPTCP"),
            "full_info" => assert_eq!(h.mptcp_full_info, yes, "MPTCP_FULL_INFO"),
            "mptcp_info" => assert_eq!(h.mptcp_info, yes, "MPTCP_INFO"),
            "inet_diag" => assert_eq!(
                h.inet_diag, yes,
                "host_support().inet_diag disagrees with MPTCP_EXPECT inet_diag={v} (checked by probe.c); \
                 mind that a dump's error (ENOENT: no inet_diag handler for MPTCP) arrives in NLMSG_DONE's payload"
            ),
            "info_len" if v == "0" => assert_eq!(h.mptcp_info_len, None, "mptcp_info length"),
            "info_len" => assert_eq!(h.mptcp_info_len, Some(v.parse().unwrap()), "mptcp_info length"),
            "best" if v == "none" => assert_eq!(h.best_mechanism(), None, "best mechanism"),
            "best" => {
                assert_eq!(h.best_mechanism().map(|m| m.to_string()).as_deref(), Some(v.as_str()), "best mechanism")
            }
            // The path manager: measured by the probe (probe.c); the pm suite
            // checks what the library and the CLI make of it
            // (pm_commands_on_this_kernel, tokio_api_and_event_stream).
            // MPCurrEstab: measured by the probe; the daemon suite checks
            // the daemon's metrics (metrics_are_prometheus_text).
            // bpf_hook: whether the update_socket_protocol hook takes our
            // program; the run_bpf suite checks what `mptcp run` makes of it.
            "pm" | "pm_userspace" | "pm_events" | "listener_events" | "curr_estab" | "bpf_hook" => {}
            _ => panic!("unknown MPTCP_EXPECT key {k}"),
        }
    }
    if !expect::has_mptcp() {
        // Nothing MPTCP works, and nothing pretends to.
        assert!(!h.is_available());
        assert!(!h.mptcp_info && !h.mptcp_tcpinfo && !h.mptcp_subflow_addrs && !h.mptcp_full_info && !h.tcp_is_mptcp);
        assert_eq!(h.best_mechanism(), None);
        assert_eq!(h.mechanisms(), [Mechanism::SoProtocol]);
        assert_eq!(h.subflow_source(), None);
        return;
    }
    assert!(h.is_available(), "MPTCP must be available on the test kernel: {}", h.availability);
    assert!(h.mptcp_info, "SOL_MPTCP works on every kernel with MPTCP we test (5.16+)");
    assert!(h.best_mechanism().is_some());
    if h.tcp_is_mptcp {
        assert_eq!(h.best_mechanism(), Some(Mechanism::TcpIsMptcp));
    } else {
        assert_eq!(h.best_mechanism(), Some(Mechanism::MptcpInfo), "without TCP_IS_MPTCP, MPTCP_INFO is next");
    }
    assert_eq!(h.mptcp_tcpinfo, h.mptcp_subflow_addrs);
}

/// The default policy connects and listens with exactly one attempt each,
/// the strict one fails before sending anything when MPTCP is missing: on
/// every kernel, with the status that kernel can give (MPTCP where it has
/// it, plain TCP where it was built without).
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn default_and_strict_policy_on_this_kernel() {
    mptcp_netns::require_root();
    let mptcp = expect::has_mptcp();
    let want = if mptcp { MptcpStatus::Mptcp } else { MptcpStatus::Tcp };
    let n = net(1, 33);
    let addr: SocketAddr = "10.33.0.2:7012".parse().unwrap();

    // Default policy: one listening socket, one connection attempt.
    let passive = passive_opens(&n.server);
    let listener = n.server.in_ns(|| TcpListener::bind_mptcp(addr)).unwrap().expect("bind with the default policy");
    assert_eq!(listener.created_as_mptcp().unwrap(), mptcp, "listener created as MPTCP");
    let opens = active_opens(&n.client);
    let mut c = n.client.in_ns(|| TcpStream::connect_mptcp(addr)).unwrap().expect("connect with the default policy");
    let (mut s, _) = listener.accept().unwrap();
    assert_eq!(active_opens(&n.client) - opens, 1, "exactly one connection attempt");
    assert_eq!(passive_opens(&n.server) - passive, 1, "exactly one connection accepted");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    exchange(&mut c, &mut s, 4096);
    assert_eq!(c.created_as_mptcp().unwrap(), mptcp);
    assert_status("client", &c, want);
    assert_status("server", &s, want);
    assert_eq!(c.mptcp_info().unwrap().is_some(), mptcp, "mptcp_info only where MPTCP runs");
    let flows = c.subflows().unwrap();
    assert_eq!(flows.len(), 1, "{flows:#?}");
    assert_eq!(flows[0].remote, Some(addr));

    // Same through tokio.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let opens = active_opens(&n.client);
    let t = n.client.in_ns(|| rt.block_on(mptcp::tokio::connect(addr))).unwrap().expect("tokio connect");
    let _ = listener.accept().unwrap();
    assert_eq!(active_opens(&n.client) - opens, 1, "tokio: exactly one connection attempt");
    let t = t.into_std().unwrap();
    assert_eq!(t.mptcp_status().unwrap(), want, "tokio stream");

    // Strict policy: works where MPTCP exists; elsewhere an error that
    // says why, and nothing sent.
    let opens = active_opens(&n.client);
    let strict = n.client.in_ns(|| MptcpBuilder::new().fallback(FallbackPolicy::Fail).connect(addr)).unwrap();
    let strict_bind =
        n.server.in_ns(|| MptcpBuilder::new().fallback(FallbackPolicy::Fail).bind("10.33.0.2:7013")).unwrap();
    if mptcp {
        let strict = strict.expect("strict policy on a kernel with MPTCP");
        let _ = listener.accept().unwrap();
        assert_eq!(strict.mptcp_status().unwrap(), MptcpStatus::Mptcp);
        assert!(strict_bind.expect("strict bind").created_as_mptcp().unwrap());
    } else {
        for (what, err) in
            [("connect", strict.expect_err("strict connect")), ("bind", strict_bind.expect_err("strict bind"))]
        {
            assert_eq!(err.kind(), io::ErrorKind::Unsupported, "strict {what}: {err}");
            let msg = err.to_string();
            let why = match expect::availability().as_str() {
                "not-built" => "not built into this kernel (CONFIG_MPTCP is off)",
                other => panic!("no message known for mptcp={other}"),
            };
            assert!(msg.contains(why), "strict {what}: `{msg}` should say `{why}`");
        }
        assert_eq!(active_opens(&n.client), opens, "the strict policy sent nothing");
        // host_support() says the same as the error.
        let h = n.client.in_ns(mptcp::HostSupport::probe).unwrap();
        assert_eq!(h.availability.to_string(), "not built into this kernel (CONFIG_MPTCP is off)");
    }

    // A closed port: refused after one attempt, no retry over TCP.
    let opens = active_opens(&n.client);
    let err = n.client.in_ns(|| TcpStream::connect_mptcp("10.33.0.2:7014")).unwrap().expect_err("closed port");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(active_opens(&n.client) - opens, 1, "no second dial over TCP");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn mptcp_to_mptcp_ipv4() {
    mptcp_netns::require_root();
    let n = net(1, 21);
    let (c, s) = connect(&n, "10.21.0.2:7001", true, true);
    assert_status("client", &c, MptcpStatus::Mptcp);
    assert_status("server", &s, MptcpStatus::Mptcp);
    let ci = c.mptcp_info().unwrap().expect("client mptcp_info");
    let si = s.mptcp_info().unwrap().expect("server mptcp_info");
    assert!(ci.token.is_some());
    assert_eq!(ci.is_fallback(), Some(false));
    assert_eq!(Some(ci.reported_len), host_support().mptcp_info_len);
    assert!(si.token.is_some());
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn mptcp_to_mptcp_ipv6() {
    mptcp_netns::require_root();
    let n = net(1, 22);
    let (c, s) = connect(&n, "[fd16::2]:7002", true, true);
    assert_status("client", &c, MptcpStatus::Mptcp);
    assert_status("server", &s, MptcpStatus::Mptcp);
    let sf = c.subflows().unwrap();
    assert_eq!(sf.len(), 1);
    assert_eq!(sf[0].remote, Some("[fd16::2]:7002".parse().unwrap()));
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn mptcp_client_to_tcp_listener() {
    mptcp_netns::require_root();
    let n = net(1, 23);
    let (c, s) = connect(&n, "10.23.0.2:7003", true, false);
    assert_status("client", &c, MptcpStatus::Fallback);
    assert_status("server", &s, MptcpStatus::Tcp);
    assert_eq!(c.mptcp_info().unwrap(), None);
    // The one TCP flow is still described.
    let sf = c.subflows().unwrap();
    assert_eq!(sf.len(), 1);
    assert_eq!(sf[0].remote, Some("10.23.0.2:7003".parse().unwrap()));
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn mptcp_client_to_tcp_listener_ipv6() {
    mptcp_netns::require_root();
    // IPv6 fallback answers MPTCP_INFO with ENOPROTOOPT, not EOPNOTSUPP.
    let n = net(1, 24);
    let (c, s) = connect(&n, "[fd18::2]:7004", true, false);
    assert_status("client", &c, MptcpStatus::Fallback);
    assert_status("server", &s, MptcpStatus::Tcp);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn tcp_client_to_mptcp_listener() {
    mptcp_netns::require_root();
    let n = net(1, 25);
    let (c, s) = connect(&n, "10.25.0.2:7005", false, true);
    assert_status("client", &c, MptcpStatus::Tcp);
    assert_status("server", &s, MptcpStatus::Tcp);
    assert!(!s.created_as_mptcp().unwrap(), "accept() of a TCP client gives a TCP socket");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn middlebox_strips_syn_ack() {
    mptcp_netns::require_root();
    let n = net(1, 26);
    n.server.strip_mptcp(false, Strip::SynAck).expect("TCPOPTSTRIP rule");
    let (c, s) = connect(&n, "10.26.0.2:7006", true, true);
    assert_status("client", &c, MptcpStatus::Fallback);
    assert_eq!(n.client.counter("MPCapableSYNACKRX").unwrap(), 0, "the client saw no MP_CAPABLE SYN-ACK");
    // The server's SYN-ACK offered MPTCP, but the client's ACK came back
    // without it: the kernel hands accept() a plain TCP socket, exactly as
    // for a client without MPTCP (only the MPCapableFallbackACK counter
    // tells the two apart).
    assert!(!s.created_as_mptcp().unwrap());
    assert_status("server", &s, MptcpStatus::Tcp);
    assert!(n.server.counter("MPCapableFallbackACK").unwrap() >= 1);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn late_fallback_after_data() {
    mptcp_netns::require_root();
    let n = net(1, 27);
    let addr: SocketAddr = "10.27.0.2:7007".parse().unwrap();
    let listener = n.server.in_ns(|| TcpListener::bind_mptcp(addr)).unwrap().unwrap();
    let mut c = n.client.in_ns(|| TcpStream::connect_mptcp(addr)).unwrap().unwrap();
    let (mut s, _) = listener.accept().unwrap();
    // Handshake done with MPTCP; the client sees MPTCP before any data.
    assert_eq!(c.mptcp_status().unwrap(), MptcpStatus::Mptcp);
    // A middlebox now strips the option from every non-SYN packet.
    for ns in [&n.client, &n.server] {
        ns.strip_mptcp(false, Strip::NonSyn).unwrap();
    }
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    exchange(&mut c, &mut s, 64 * 1024);
    // Asked now, both ends know the connection fell back.
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.mptcp_status().unwrap() != MptcpStatus::Fallback && Instant::now() < deadline {
        exchange(&mut c, &mut s, 1024);
    }
    assert_status("client", &c, MptcpStatus::Fallback);
    assert_status("server", &s, MptcpStatus::Fallback);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn disabled_by_sysctl_policy() {
    mptcp_netns::require_root();
    let n = net(1, 28);
    n.client.sysctl("net.mptcp.enabled", "0").unwrap();
    let addr: SocketAddr = "10.28.0.2:7008".parse().unwrap();
    let listener = n.server.in_ns(|| TcpListener::bind_mptcp(addr)).unwrap().unwrap();
    // Default policy: a plain TCP socket, status Tcp.
    let c = n.client.in_ns(|| TcpStream::connect_mptcp(addr)).unwrap().expect("fallback to TCP");
    let (s, _) = listener.accept().unwrap();
    assert_status("client", &c, MptcpStatus::Tcp);
    assert_status("server", &s, MptcpStatus::Tcp);
    // Strict policy: a clear error, and no connection attempt.
    let before = active_opens(&n.client);
    let err = n
        .client
        .in_ns(|| MptcpBuilder::new().fallback(FallbackPolicy::Fail).connect(addr))
        .unwrap()
        .expect_err("strict policy must fail");
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    assert!(err.to_string().contains("net.mptcp.enabled=0"), "{err}");
    // The reason is typed, for callers that act on it.
    let why = err.get_ref().and_then(|e| e.downcast_ref::<mptcp::Unavailable>()).expect("an mptcp::Unavailable");
    assert_eq!(why.availability(), mptcp::Availability::DisabledBySysctl);
    assert_eq!(active_opens(&n.client), before, "nothing was sent");
    // The probe, run in that namespace, says why.
    let h = n.client.in_ns(mptcp::HostSupport::probe).unwrap();
    assert_eq!(h.availability, mptcp::Availability::DisabledBySysctl);
}

fn active_opens(ns: &Netns) -> u64 {
    tcp_mib(ns, "ActiveOpens")
}

fn passive_opens(ns: &Netns) -> u64 {
    tcp_mib(ns, "PassiveOpens")
}

/// A `Tcp:` counter of /proc/net/snmp in `ns` (exists on every kernel, with or without MPTCP).
fn tcp_mib(ns: &Netns, name: &str) -> u64 {
    let text = ns.in_ns(|| std::fs::read_to_string("/proc/thread-self/net/snmp")).unwrap().unwrap();
    mptcp_netns::parse_netstat(&text, name).unwrap_or_else(|| panic!("Tcp {name}"))
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn closed_port_is_one_attempt() {
    mptcp_netns::require_root();
    let n = net(1, 29);
    let syn_before = n.client.counter("MPCapableSYNTX").unwrap();
    let opens_before = active_opens(&n.client);
    let err = n.client.in_ns(|| TcpStream::connect_mptcp("10.29.0.2:7009")).unwrap().expect_err("closed port");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(n.client.counter("MPCapableSYNTX").unwrap() - syn_before, 1, "one MPTCP SYN");
    assert_eq!(active_opens(&n.client) - opens_before, 1, "no second dial over TCP");
    // Same through tokio: the error is returned, not hidden.
    let err = n
        .client
        .in_ns(|| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(mptcp::tokio::connect("10.29.0.2:7009"))
        })
        .unwrap()
        .expect_err("tokio: closed port");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(active_opens(&n.client) - opens_before, 2, "one attempt per connect call");
    assert_eq!(n.client.counter("MPCapableSYNTX").unwrap() - syn_before, 2);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn tokio_connect_and_status() {
    mptcp_netns::require_root();
    let n = net(1, 30);
    let addr: SocketAddr = "10.30.0.2:7010".parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // Sockets are created on threads inside each namespace, then driven here.
    let listener = n.server.in_ns(|| rt.block_on(mptcp::tokio::bind(addr))).unwrap().unwrap();
    let std_client =
        n.client.in_ns(|| mptcp::new_socket(socket2::Domain::IPV4, FallbackPolicy::Fail)).unwrap().unwrap();
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        std_client.set_nonblocking(true).unwrap();
        let sock = tokio::net::TcpSocket::from_std_stream(std_client.into());
        let (client, accepted) = tokio::join!(sock.connect(addr), listener.accept());
        let mut client = client.unwrap();
        let (mut s, _) = accepted.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut b = [0u8; 5];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(client.mptcp_status().unwrap(), MptcpStatus::Mptcp);
        assert_eq!(s.mptcp_status().unwrap(), MptcpStatus::Mptcp);
        assert!(client.mptcp_info().unwrap().is_some());
        assert_eq!(client.subflows().unwrap().len(), 1);
    });
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn two_paths_info_and_subflows() {
    mptcp_netns::require_root();
    let n = net(2, 31);
    // Kernel path manager: the client's second address is a subflow
    // endpoint; both sides allow 2 extra subflows.
    n.client.ip(&["mptcp", "endpoint", "add", "10.32.0.1", "dev", &n.paths[1].a_dev, "subflow"]).unwrap();
    for ns in [&n.client, &n.server] {
        ns.ip(&["mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2"]).unwrap();
    }
    let (mut c, mut s) = connect(&n, "10.31.0.2:7011", true, true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.subflows().unwrap().len() < 2 && Instant::now() < deadline {
        exchange(&mut c, &mut s, 64 * 1024);
        std::thread::sleep(Duration::from_millis(50));
    }
    // Move data so both subflows have counters to show.
    for _ in 0..20 {
        exchange(&mut c, &mut s, 64 * 1024);
    }
    let subflows = c.subflows().unwrap();
    assert_eq!(subflows.len(), 2, "{subflows:#?}");
    let mut locals: Vec<String> = subflows.iter().map(|f| f.local.unwrap().ip().to_string()).collect();
    locals.sort();
    assert_eq!(locals, ["10.31.0.1", "10.32.0.1"]);
    for f in &subflows {
        assert_eq!(f.remote.unwrap(), "10.31.0.2:7011".parse().unwrap(), "the server has one address");
        assert_eq!(f.tcp.state, Some(1), "established");
        assert!(f.tcp.rtt_us.is_some() && f.tcp.snd_cwnd.is_some());
    }
    let total_acked: u64 = subflows.iter().map(|f| f.tcp.bytes_acked.unwrap_or(0)).sum();
    assert!(total_acked > 20 * 64 * 1024, "data moved over the subflows: {total_acked}");
    if host_support().mptcp_full_info {
        let mut ids: Vec<u32> = subflows.iter().map(|f| f.id.expect("MPTCP_FULL_INFO gives ids")).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 2);
    }
    // The legacy path (MPTCP_TCPINFO + MPTCP_SUBFLOW_ADDRS) sees the same subflows.
    let legacy = c.subflows_legacy().unwrap();
    let mut a: Vec<_> = legacy.iter().map(|f| (f.local, f.remote)).collect();
    let mut b: Vec<_> = subflows.iter().map(|f| (f.local, f.remote)).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    let info = c.mptcp_info().unwrap().unwrap();
    assert_eq!(info.subflows, Some(1), "one extra subflow");
    if let Some(total) = info.subflows_total {
        assert_eq!(total, 2);
    }
    match info.bytes_sent {
        Some(sent) => assert!(sent >= 20 * 64 * 1024, "{sent}"),
        None => assert!(info.reported_len < 64, "bytes_sent absent only on kernels with a short mptcp_info"),
    }
    // The socket options do not carry the backup flag; inet_diag does, on
    // request (the second subflow is bound to its endpoint's device).
    assert!(subflows.iter().all(|f| f.backup.is_none()), "{subflows:#?}");
    {
        let with_backup = c.subflows_with(SubflowDetail::Backup).unwrap();
        assert!(with_backup.iter().all(|f| f.backup == Some(false)), "{with_backup:#?}");
        n.client.ip(&["mptcp", "endpoint", "change", "id", "1", "backup"]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let backup_of = |c: &TcpStream| -> Vec<(String, Option<bool>)> {
            let flows = c.subflows_with(SubflowDetail::Backup).unwrap();
            let mut v: Vec<_> = flows.iter().map(|f| (f.local.unwrap().ip().to_string(), f.backup)).collect();
            v.sort();
            v
        };
        while backup_of(&c)[1].1 != Some(true) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(backup_of(&c), [("10.31.0.1".to_string(), Some(false)), ("10.32.0.1".to_string(), Some(true))]);
    }
    // The server sees the same connection, with both subflows.
    assert!(s.mptcp_info().unwrap().unwrap().token.is_some());
    assert_eq!(s.subflows().unwrap().len(), 2);
}
