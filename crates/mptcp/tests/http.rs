//! The HTTP stack over MPTCP, as root in network namespaces: the example
//! binaries (axum server, hyper client over HTTP and HTTPS, tonic server and
//! client) against each other over two paths, and `MptcpConnector`'s
//! address handling (happy eyeballs, timeouts, refused connects, fallback
//! policy) against real sockets. The URI checks need no root.

mod support;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::dns::Name;
use mptcp::hyper::{ConnectError, MptcpConnector};
use mptcp::{FallbackPolicy, MptcpBuilder, MptcpStatus};
use mptcp_netns::{Netns, Strip};
use support::{example, last_line, run, Server, TempDir, TwoPaths};
use tower_service::Service;

/// A resolver that answers the same addresses for every name.
#[derive(Clone)]
struct Fixed(Vec<SocketAddr>);

impl Service<Name> for Fixed {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = std::future::Ready<io::Result<Self::Response>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        std::future::ready(Ok(self.0.clone().into_iter()))
    }
}

/// Runs `f` on a current-thread runtime inside `ns` (sockets made there
/// belong to it), with a bound so a broken connect cannot hang the suite.
fn block_on_in<F, T>(ns: &Netns, f: impl FnOnce() -> F + Send) -> T
where
    F: std::future::Future<Output = T>,
    T: Send,
{
    ns.in_ns(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), f()).await.expect("bounded at 60 s") })
    })
    .expect("enter the namespace")
}

/// `curl`-like call of the http_client example; returns its output.
fn http_client(net: &TwoPaths, args: &[&str]) -> String {
    run(&net.client, &example("http_client"), args)
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn http_server_reports_mptcp_and_two_subflows_and_tcp_for_a_tcp_client() {
    mptcp_netns::require_root();
    let net = TwoPaths::new(61);
    let server = Server::start(&net.server, &example("http_server"), &["--listen", "0.0.0.0:8080"]);
    let url = format!("http://{}:8080/", net.server_v4());
    let out = http_client(&net, &[&url, "--until-subflows", "2"]);
    assert_eq!(last_line(&out, "x-mptcp: "), "mptcp; subflows=2", "{out}");
    assert_eq!(last_line(&out, "client: "), "mptcp; subflows=2", "the client sees the same connection: {out}");
    // A plain-TCP client on the same server.
    let out = http_client(&net, &[&url, "--tcp"]);
    assert_eq!(last_line(&out, "x-mptcp: "), "tcp; subflows=1", "{out}");
    assert_eq!(last_line(&out, "client: "), "tcp; subflows=1", "{out}");
    let log = server.stderr();
    assert!(log.contains("accepted, mptcp") && log.contains("accepted, tcp"), "{log}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn https_through_hyper_rustls_over_two_subflows() {
    mptcp_netns::require_root();
    let net = TwoPaths::new(63);
    let dir = TempDir::new("https");
    let ip = net.server_v4();
    let cert = rcgen::generate_simple_self_signed(vec![ip.clone()]).expect("self-signed certificate");
    let (cert_pem, key_pem) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.signing_key.serialize_pem()).unwrap();
    let (cert_pem, key_pem) = (cert_pem.to_str().unwrap(), key_pem.to_str().unwrap());
    let _server = Server::start(
        &net.server,
        &example("http_server"),
        &["--listen", "0.0.0.0:8443", "--tls-cert", cert_pem, "--tls-key", key_pem],
    );
    let url = format!("https://{ip}:8443/");
    let out = http_client(&net, &[&url, "--ca", cert_pem, "--until-subflows", "2"]);
    assert_eq!(last_line(&out, "x-mptcp: "), "mptcp; subflows=2", "{out}");
    assert_eq!(last_line(&out, "client: "), "mptcp; subflows=2", "the info passes through TLS: {out}");
    // Without the certificate the TLS handshake fails: TLS is really in use.
    let refused = net.client.command(example("http_client").to_str().unwrap()).arg(&url).output().unwrap();
    assert!(!refused.status.success(), "{}", String::from_utf8_lossy(&refused.stdout));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("UnknownIssuer"), "{refused:?}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn grpc_over_mptcp_with_two_subflows() {
    mptcp_netns::require_root();
    let net = TwoPaths::new(65);
    let _server = Server::start(&net.server, &example("grpc_server"), &["--listen", "0.0.0.0:50051"]);
    let url = format!("http://{}:50051", net.server_v4());
    let grpc_client = example("grpc_client");
    let out = run(&net.client, &grpc_client, &[&url, "--name", "test", "--until-subflows", "2"]);
    assert!(out.contains("hello test, from"), "{out}");
    assert_eq!(last_line(&out, "server sees: "), "mptcp; subflows=2", "{out}");
    let out = run(&net.client, &grpc_client, &[&url, "--tcp"]);
    assert_eq!(last_line(&out, "server sees: "), "tcp; subflows=1", "{out}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_stripped_syn_ack_is_a_fallback_on_both_ends() {
    mptcp_netns::require_root();
    let net = TwoPaths::new(67);
    net.server.strip_mptcp(false, Strip::SynAck).expect("middlebox");
    let _server = Server::start(&net.server, &example("http_server"), &["--listen", "0.0.0.0:8080"]);
    let out = http_client(&net, &[&format!("http://{}:8080/", net.server_v4())]);
    // The server's accept() returned a plain TCP socket: only the listener's
    // counters tell it that the client had asked for MPTCP.
    assert_eq!(last_line(&out, "x-mptcp: "), "fallback; subflows=1", "{out}");
    assert_eq!(last_line(&out, "client: "), "fallback; subflows=1", "{out}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn happy_eyeballs_starts_ipv4_while_ipv6_gets_no_answer() {
    mptcp_netns::require_root();
    let net = TwoPaths::new(69);
    let (v4, v6) = (net.server_v4(), net.server_v6());
    let listener = net.server.in_ns(|| MptcpBuilder::new().bind("[::]:9000")).unwrap().expect("listen");
    // fd<base>::99 is on the link but answered by no one: a static neighbour
    // entry sends its SYNs to a MAC address nobody has, so they vanish.
    let silent = format!("fd{:02x}::99", 69);
    let dev = &net.paths[0].a_dev;
    net.client
        .ip(&["-6", "neigh", "add", &silent, "lladdr", "02:00:00:00:00:99", "dev", dev, "nud", "permanent"])
        .unwrap();
    let addr = |ip: &str| SocketAddr::new(ip.parse().unwrap(), 9000);
    let uri: hyper::Uri = "http://server.test:9000/".parse().unwrap();

    // Both families answer: the first address's family wins.
    for (order, want) in [([addr(&v6), addr(&v4)], addr(&v6)), ([addr(&v4), addr(&v6)], addr(&v4))] {
        let mut c = MptcpConnector::with_resolver(Fixed(order.to_vec()));
        let conn = block_on_in(&net.client, || c.call(uri.clone())).expect("connect");
        assert_eq!(conn.info().remote_addr(), want);
        assert_eq!(conn.info().initial_status(), MptcpStatus::Mptcp);
    }
    // IPv6 first but silent: IPv4 starts after the happy-eyeballs delay and
    // wins, while the IPv6 attempt still waits (no timeout is set).
    let mut c = MptcpConnector::with_resolver(Fixed(vec![addr(&silent), addr(&v4)]));
    let conn = block_on_in(&net.client, || c.call(uri.clone())).expect("IPv4 while IPv6 is silent");
    assert_eq!(conn.info().remote_addr(), addr(&v4));
    // Without happy eyeballs, the silent address takes its share of the
    // connect timeout (half of it, for two addresses) before IPv4 is tried.
    let mut c = MptcpConnector::with_resolver(Fixed(vec![addr(&silent), addr(&v4)]))
        .happy_eyeballs_timeout(None)
        .connect_timeout(Some(Duration::from_secs(2)));
    let conn = block_on_in(&net.client, || c.call(uri.clone())).expect("IPv4 after IPv6 timed out");
    assert_eq!(conn.info().remote_addr(), addr(&v4));
    // Only the silent address: one attempt, timed out.
    let mut c = MptcpConnector::with_resolver(Fixed(vec![addr(&silent)])).connect_timeout(Some(Duration::from_secs(1)));
    match block_on_in(&net.client, || c.call(uri.clone())) {
        Err(ConnectError::Connect { attempts, .. }) => {
            assert_eq!(attempts.len(), 1, "{attempts:?}");
            assert_eq!(attempts[0].addr, addr(&silent));
            assert_eq!(attempts[0].error.kind(), io::ErrorKind::TimedOut, "{attempts:?}");
        }
        other => panic!("expected a timed-out attempt, got {other:?}"),
    }
    drop(listener);
}

/// A `Tcp:` counter of /proc/net/snmp in `ns`.
fn tcp_mib(ns: &Netns, name: &str) -> u64 {
    let text = ns.in_ns(|| std::fs::read_to_string("/proc/thread-self/net/snmp")).unwrap().unwrap();
    mptcp_netns::parse_netstat(&text, name).unwrap_or_else(|| panic!("Tcp {name}"))
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn refused_connects_are_tried_once_per_address_and_never_over_tcp() {
    mptcp_netns::require_root();
    let net = TwoPaths::new(71);
    let addrs: Vec<SocketAddr> =
        [net.server_v6(), net.server_v4()].iter().map(|ip| SocketAddr::new(ip.parse().unwrap(), 9)).collect();
    let before = tcp_mib(&net.client, "ActiveOpens");
    let mut c = MptcpConnector::with_resolver(Fixed(addrs.clone()));
    let err = block_on_in(&net.client, || c.call("http://server.test:9/".parse().unwrap())).unwrap_err();
    match &err {
        ConnectError::Connect { host, attempts } => {
            assert_eq!(host, "server.test");
            let mut tried: Vec<SocketAddr> = attempts.iter().map(|a| a.addr).collect();
            tried.sort();
            let mut want = addrs.clone();
            want.sort();
            assert_eq!(tried, want, "each address once: {err}");
            assert!(attempts.iter().all(|a| a.error.kind() == io::ErrorKind::ConnectionRefused), "{err}");
        }
        other => panic!("expected refused attempts, got {other:?}"),
    }
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(tcp_mib(&net.client, "ActiveOpens") - before, 2, "two SYNs: no retry over plain TCP");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn fallback_policy_where_mptcp_is_disabled() {
    mptcp_netns::require_root();
    let net = TwoPaths::new(73);
    net.client.sysctl("net.mptcp.enabled", "0").unwrap();
    let listener = net.server.in_ns(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, 9000))).unwrap().unwrap();
    let uri: hyper::Uri = format!("http://{}:9000/", net.server_v4()).parse().unwrap();
    // The default: plain TCP, and the info says so.
    let mut c = MptcpConnector::new();
    let conn = block_on_in(&net.client, || c.call(uri.clone())).expect("plain TCP");
    assert_eq!(conn.info().initial_status(), MptcpStatus::Tcp);
    assert_eq!(conn.info().subflow_count().unwrap(), 1);
    // Strict: an error before any SYN, with the typed reason.
    let mut c = MptcpConnector::new().fallback(FallbackPolicy::Fail);
    match block_on_in(&net.client, || c.call(uri.clone())) {
        Err(ConnectError::Setup { source, .. }) => {
            assert_eq!(source.kind(), io::ErrorKind::Unsupported);
            let why = source.get_ref().and_then(|e| e.downcast_ref::<mptcp::Unavailable>()).expect("typed reason");
            assert_eq!(why.availability(), mptcp::Availability::DisabledBySysctl);
        }
        other => panic!("expected a setup error, got {other:?}"),
    }
    drop(listener);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn connection_info_ends_with_the_connection_and_local_address_is_used() {
    mptcp_netns::require_root();
    let net = TwoPaths::new(75);
    let listener = net.server.in_ns(|| MptcpBuilder::new().bind("0.0.0.0:9000")).unwrap().expect("listen");
    // A second client address on the first path, which the kernel would not pick.
    let local = "10.75.0.11";
    net.client.ip(&["addr", "add", &format!("{local}/24"), "dev", &net.paths[0].a_dev]).unwrap();
    let uri: hyper::Uri = format!("http://{}:9000/", net.server_v4()).parse().unwrap();
    let mut c =
        MptcpConnector::new().local_address(Some(local.parse().unwrap())).keepalive(Some(Duration::from_secs(30)));
    let conn = block_on_in(&net.client, || c.call(uri.clone())).expect("connect");
    let info = conn.info();
    assert_eq!(info.local_addr().ip().to_string(), local, "bound to the local address asked for");
    assert!(socket2::SockRef::from(conn.get_ref()).keepalive().unwrap(), "SO_KEEPALIVE");
    assert_eq!(info.status().unwrap(), MptcpStatus::Mptcp);
    assert!(info.is_open());
    drop(conn);
    assert!(!info.is_open());
    assert_eq!(info.status().unwrap_err().kind(), io::ErrorKind::NotConnected);
    assert_eq!(info.initial_status(), MptcpStatus::Mptcp, "what was seen stays");
    drop(listener);
}

fn call_err<C>(c: &mut C, uri: &str) -> ConnectError
where
    C: Service<hyper::Uri, Error = ConnectError>,
    C::Response: std::fmt::Debug,
{
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(c.call(uri.parse().unwrap())).unwrap_err()
}

#[test]
fn uris_it_cannot_connect_to_are_errors_that_say_why() {
    let mut c = MptcpConnector::new();
    for (uri, says) in
        [("https://127.0.0.1/", "not http"), ("/just/a/path", "no scheme"), ("ftp://127.0.0.1/", "not http")]
    {
        match call_err(&mut c, uri) {
            ConnectError::InvalidUri { uri: u, reason } => {
                assert_eq!(u, uri);
                assert!(reason.contains(says), "{uri}: {reason}");
            }
            other => panic!("{uri}: {other:?}"),
        }
    }
    // Behind a TLS connector https is allowed: the error is then the connect's.
    let mut tls_inner = MptcpConnector::new().enforce_http(false);
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let err = call_err(&mut tls_inner, &format!("https://{closed}/"));
    assert!(matches!(err, ConnectError::Connect { .. }), "{err}");
    // A resolver that finds nothing.
    let mut empty = MptcpConnector::with_resolver(Fixed(vec![]));
    assert!(matches!(call_err(&mut empty, "http://nowhere.test/"), ConnectError::NoAddress { .. }));
    // A local address of one family leaves the other family's addresses out.
    let mut v6_only = MptcpConnector::with_resolver(Fixed(vec!["127.0.0.1:80".parse().unwrap()]))
        .local_address(Some("::1".parse().unwrap()));
    let err = call_err(&mut v6_only, "http://v4.test/");
    assert!(matches!(err, ConnectError::NoAddress { .. }), "{err}");
    assert!(err.to_string().contains("family"), "{err}");
}
