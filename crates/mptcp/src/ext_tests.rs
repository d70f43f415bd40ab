//! Tests of `ext.rs`.

use super::*;
use crate::MptcpStreamExt;

/// On other operating systems (and on Linux with
/// `MPTCP_PORTABLE_CHECK=1`): plain TCP sockets, status `Tcp`.
#[cfg(not(mptcp_linux))]
#[test]
fn elsewhere_sockets_are_plain_tcp() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = std::net::TcpStream::connect_mptcp(l.local_addr().unwrap()).unwrap();
    let sock = socket2::SockRef::from(&s);
    assert_eq!(sock.protocol().unwrap(), Some(socket2::Protocol::TCP));
    assert_eq!(s.mptcp_status().unwrap(), MptcpStatus::Tcp);
    assert!(!s.created_as_mptcp().unwrap());
    assert_eq!(s.mptcp_info().unwrap(), None);
    assert_eq!(crate::host_support().availability, crate::Availability::Unsupported);
    let strict = crate::MptcpBuilder::new().fallback(crate::FallbackPolicy::Fail).connect(l.local_addr().unwrap());
    let err = strict.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    let why = err.get_ref().and_then(|e| e.downcast_ref::<crate::Unavailable>()).expect("typed reason");
    assert_eq!(why.availability(), crate::Availability::Unsupported);
}

#[cfg(mptcp_linux)]
#[test]
#[ignore = "needs a kernel with MPTCP enabled (scripts/test.sh runs it)"]
fn on_linux_sockets_are_created_as_mptcp() {
    let host = crate::host_support();
    assert!(host.is_available(), "MPTCP is not available here: {}", host.availability);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = std::net::TcpStream::connect_mptcp(l.local_addr().unwrap()).unwrap();
    assert!(s.created_as_mptcp().unwrap());
    assert_eq!(s.mptcp_status().unwrap(), MptcpStatus::Fallback, "a plain TCP listener");
}
