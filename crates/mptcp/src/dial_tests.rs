//! The dial routine through each front end, on real loopback sockets: the
//! local address is bound (the server sees it as the peer), the fallback
//! policy makes the socket, and the try-each-address loop keeps every
//! error.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};

use super::*;
use crate::{MptcpBuilder, MptcpExt};

/// A listener on 127.0.0.1 (MPTCP where the host has it).
fn listener() -> (TcpListener, SocketAddr) {
    let l = MptcpBuilder::new().bind("127.0.0.1:0").expect("listen on loopback");
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A loopback address other than 127.0.0.1 (all of 127/8 is local on
/// Linux), port chosen by the kernel.
fn local(last: u8) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(127, 0, 0, last), 0))
}

/// The client's peer as the server's accepted socket sees it.
fn accepted_peer(l: &TcpListener) -> IpAddr {
    l.accept().expect("accept").1.ip()
}

/// Whether the client socket was created as MPTCP, as it must be where
/// the host can (the fallback policy's `Tcp` only where it cannot).
fn created_as_expected(what: &str, s: &impl MptcpExt) {
    assert_eq!(s.created_as_mptcp().unwrap(), crate::host_support().is_available(), "{what}");
}

/// A port where nothing listens on loopback (bound, then closed).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn std_binds_the_local_address() {
    let (l, addr) = listener();
    let b = MptcpBuilder::new().local_addr(local(2));
    let s = b.connect(addr).expect("connect from 127.0.0.2");
    assert_eq!(s.local_addr().unwrap().ip(), local(2).ip());
    assert_eq!(accepted_peer(&l), local(2).ip(), "connect");
    created_as_expected("connect", &s);
    let s = b.connect_addr(&addr).expect("connect_addr from 127.0.0.2");
    assert_eq!(accepted_peer(&l), local(2).ip(), "connect_addr");
    drop(s);
    let (s, to) = b.dial(addr).expect("dial from 127.0.0.2");
    assert_eq!(to, addr);
    assert_eq!(accepted_peer(&l), local(2).ip(), "dial");
    drop(s);
    // With a connect timeout: the same socket, through socket2's connect_timeout.
    let _s = b.connect_timeout(std::time::Duration::from_secs(5)).connect(addr).expect("connect within 5 s");
    assert_eq!(accepted_peer(&l), local(2).ip(), "connect with a timeout");
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_binds_the_local_address() {
    let (l, addr) = listener();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for b in [
        MptcpBuilder::new().local_addr(local(3)),
        MptcpBuilder::new().local_addr(local(3)).connect_timeout(std::time::Duration::from_secs(5)),
    ] {
        let s = rt.block_on(b.connect_async(addr)).expect("connect_async from 127.0.0.3");
        assert_eq!(s.local_addr().unwrap().ip(), local(3).ip());
        assert_eq!(accepted_peer(&l), local(3).ip(), "{b:?}");
        created_as_expected("connect_async", &s);
    }
}

#[cfg(feature = "hyper")]
#[test]
fn hyper_binds_the_builder_s_or_its_own_local_address() {
    use tower_service::Service;

    use crate::hyper::MptcpConnector;

    let (l, addr) = listener();
    let uri: ::hyper::Uri = format!("http://{addr}/").parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // The builder's local address, then the connector's own (which wins).
    let from_builder = MptcpConnector::new().builder(MptcpBuilder::new().local_addr(local(4)));
    let own = from_builder.clone().local_address(Some(local(5).ip()));
    for (mut c, want) in [(from_builder, local(4).ip()), (own, local(5).ip())] {
        let s = rt.block_on(c.call(uri.clone())).expect("connect");
        assert_eq!(s.info().local_addr().ip(), want);
        assert_eq!(accepted_peer(&l), want);
        created_as_expected("hyper", s.get_ref());
    }
}

#[test]
fn every_address_is_tried_once_and_every_error_kept() {
    let port = closed_port();
    let addrs = [SocketAddr::from(([127, 0, 0, 1], port)), SocketAddr::from(([127, 0, 0, 6], port))];
    let err = MptcpBuilder::new().dial(&addrs[..]).unwrap_err();
    let text = err.to_string();
    match &err {
        DialError::Connect { attempts } => {
            assert_eq!(attempts.iter().map(|a| a.addr).collect::<Vec<_>>(), addrs);
            assert!(attempts.iter().all(|a| a.error.kind() == io::ErrorKind::ConnectionRefused), "{text}");
        }
        other => panic!("expected refused attempts, got {other:?}"),
    }
    for a in addrs {
        assert!(text.contains(&a.to_string()), "{text}");
    }
    // `connect` keeps the kind of the last error and the message naming each address.
    let io = MptcpBuilder::new().connect(&addrs[..]).unwrap_err();
    assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(io.to_string(), text);
    // The first address that answers wins, after the refused one.
    let (_l, open) = listener();
    let (_, to) = MptcpBuilder::new().dial(&[addrs[0], open][..]).expect("the second address answers");
    assert_eq!(to, open);
}

#[test]
fn a_local_address_leaves_the_other_family_out() {
    let (l, open) = listener();
    let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, closed_port()));
    // An IPv6 address first: with an IPv4 local address it is not tried.
    let (_, to) = MptcpBuilder::new().local_addr(local(7)).dial(&[v6, open][..]).expect("IPv4 only");
    assert_eq!(to, open);
    assert_eq!(accepted_peer(&l), local(7).ip());
    // Nothing of that family: an error that says so.
    let err = MptcpBuilder::new().local_addr(local(7)).dial(v6).unwrap_err();
    assert!(matches!(err, DialError::NoAddress { .. }), "{err:?}");
    assert!(err.to_string().contains("family"), "{err}");
    // One address of the other family, asked for by itself: named in the error.
    let err = MptcpBuilder::new().local_addr(local(7)).connect_addr(&v6).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("127.0.0.7:0") && err.to_string().contains(&v6.to_string()), "{err}");
}

#[test]
fn a_socket_that_cannot_be_prepared_ends_the_loop() {
    let (_l, open) = listener();
    let closed = SocketAddr::from(([127, 0, 0, 1], closed_port()));
    // A device that does not exist: the option fails before any connect.
    // (Not an unknown TCP_CONGESTION: MPTCP sockets accept any name before
    // their first subflow exists, on 6.18.)
    let b = MptcpBuilder::new().bind_device("nosuchdev0");
    match b.dial(&[closed, open][..]).unwrap_err() {
        DialError::Setup { addr, source } => {
            assert_eq!(addr, closed, "the first address, and no other");
            assert!(source.to_string().contains("SO_BINDTODEVICE=nosuchdev0"), "{source}");
        }
        other => panic!("expected a setup error, got {other:?}"),
    }
    // As an io::Error: the option's own error, unchanged.
    let err = b.connect(open).unwrap_err().to_string();
    assert!(err.starts_with("setting SO_BINDTODEVICE=nosuchdev0 failed"), "{err}");
    // Binding a local address nobody has fails before the connect too.
    let b = MptcpBuilder::new().local_addr("192.0.2.1:0".parse().unwrap());
    match b.dial(open).unwrap_err() {
        DialError::Setup { source, .. } => {
            assert!(source.to_string().contains("binding the local address 192.0.2.1:0"), "{source}")
        }
        other => panic!("expected a setup error, got {other:?}"),
    }
}

#[test]
fn addresses_that_do_not_resolve_are_their_own_error() {
    // No port: `ToSocketAddrs` refuses without asking a resolver.
    let err = MptcpBuilder::new().dial("127.0.0.1").unwrap_err();
    assert!(matches!(err, DialError::Resolve(_)), "{err:?}");
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);
    let none: &[SocketAddr] = &[];
    let err = MptcpBuilder::new().dial(none).unwrap_err();
    assert!(matches!(err, DialError::NoAddress { why: "" }), "{err:?}");
    assert_eq!(MptcpBuilder::new().connect(none).unwrap_err().kind(), io::ErrorKind::InvalidInput);
}
