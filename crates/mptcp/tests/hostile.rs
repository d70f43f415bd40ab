//! Every `MptcpExt` method given what it cannot describe: a closed
//! descriptor, a file, a pipe, UDP and Unix sockets, listeners, unconnected
//! sockets; through `BorrowedFd`, `socket2::Socket` and std's types. Each
//! gets the error the trait's documentation promises, never a panic and
//! never a status that describes another kind of socket.
//!
//! And the inet_diag paths without privilege: as user nobody with no
//! capability (`setpriv`), in a namespace of their own.

use std::io::{self, ErrorKind};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};

use mptcp::info::SubflowDetail;
use mptcp::{host_support, Mechanism, MptcpExt, MptcpListenerExt, MptcpStatus, MptcpStreamExt};
use socket2::{Domain, Protocol, Socket, Type};

/// Every method but `created_as_mptcp`, by name.
fn connection_calls(s: &dyn MptcpExt) -> Vec<(String, io::Result<String>)> {
    let mut v: Vec<(String, io::Result<String>)> = vec![
        ("mptcp_status".into(), s.mptcp_status().map(|x| x.to_string())),
        ("mptcp_info".into(), s.mptcp_info().map(|x| format!("{x:?}"))),
        ("subflows".into(), s.subflows().map(|x| format!("{x:?}"))),
        ("subflows_legacy".into(), s.subflows_legacy().map(|x| format!("{x:?}"))),
        ("subflows_with(Backup)".into(), s.subflows_with(SubflowDetail::Backup).map(|x| format!("{x:?}"))),
    ];
    for &m in Mechanism::ALL {
        v.push((format!("mptcp_status_with({m})"), s.mptcp_status_with(m).map(|x| x.to_string())));
    }
    v
}

/// Asserts that every connection method fails with `kind` and a message
/// containing `text` (a mechanism this kernel lacks may say so first).
fn refused(what: &str, s: &dyn MptcpExt, kind: ErrorKind, text: &str) {
    for (call, r) in connection_calls(s) {
        let e = match r {
            Ok(v) => panic!("{what}: {call} answered {v} instead of failing"),
            Err(e) => e,
        };
        let lacking =
            Mechanism::ALL.iter().any(|m| call.contains(m.as_str()) && !host_support().mechanisms().contains(m));
        if lacking && e.kind() == ErrorKind::Unsupported {
            continue;
        }
        assert_eq!(e.kind(), kind, "{what}: {call}: {e}");
        assert!(e.to_string().contains(text), "{what}: {call}: `{e}` should say `{text}`");
    }
}

/// A descriptor number no process can have open: above the largest
/// `fs.nr_open` (2^31 - 64), so the kernel answers `EBADF` exactly as for a
/// closed descriptor, with no race against a descriptor reused meanwhile.
fn never_open() -> BorrowedFd<'static> {
    // SAFETY: `BorrowedFd` asks the number to be an open descriptor for the
    // lifetime; this one can never be open, and the library only passes it
    // to system calls, which answer EBADF. This is the case under test.
    unsafe { BorrowedFd::borrow_raw(i32::MAX - 1) }
}

#[test]
fn closed_descriptor() {
    let fd = never_open();
    let e = fd.created_as_mptcp().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("not an open file descriptor"), "{e}");
    refused("closed fd", &fd, ErrorKind::InvalidInput, "not an open file descriptor");
}

#[test]
fn file_and_pipe_are_not_sockets() {
    let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    for (what, fd) in [("file", file.as_fd()), ("pipe reader", reader.as_fd()), ("pipe writer", writer.as_fd())] {
        let e = fd.created_as_mptcp().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{what}: {e}");
        assert!(e.to_string().contains("not a socket"), "{what}: {e}");
        refused(what, &fd, ErrorKind::InvalidInput, "not a socket");
    }
}

#[test]
fn udp_sockets_are_named() {
    let unconnected = UdpSocket::bind("127.0.0.1:0").unwrap();
    let connected = UdpSocket::bind("127.0.0.1:0").unwrap();
    connected.connect(unconnected.local_addr().unwrap()).unwrap();
    let v6 = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    for (what, fd) in [("udp", unconnected.as_fd()), ("connected udp", connected.as_fd()), ("udp6", v6.as_fd())] {
        assert!(!fd.created_as_mptcp().unwrap(), "{what}");
        refused(what, &fd, ErrorKind::InvalidInput, "not a TCP or MPTCP socket: a UDP socket");
    }
    assert!(!v6.created_as_mptcp().unwrap());
    refused("udp6 socket2", &v6, ErrorKind::InvalidInput, "a UDP socket (AF_INET6, SOCK_DGRAM, protocol 17)");
}

#[test]
fn unix_sockets_are_named() {
    let (a, _b) = UnixStream::pair().unwrap();
    let dgram = UnixDatagram::unbound().unwrap();
    let unconnected = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    for (what, fd) in
        [("unix stream", a.as_fd()), ("unix dgram", dgram.as_fd()), ("unix unconnected", unconnected.as_fd())]
    {
        assert!(!fd.created_as_mptcp().unwrap(), "{what}");
        refused(what, &fd, ErrorKind::InvalidInput, "not a TCP or MPTCP socket: a Unix socket (AF_UNIX");
    }
}

#[test]
fn listeners_have_no_connection() {
    let available = host_support().is_available();
    let mptcp = TcpListener::bind_mptcp("127.0.0.1:0").unwrap();
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let v6 = TcpListener::bind_mptcp("[::1]:0").unwrap();
    for (what, l, created) in [("mptcp", &mptcp, available), ("tcp", &plain, false), ("mptcp v6", &v6, available)] {
        let text = "a listening socket has no connection";
        assert_eq!(l.created_as_mptcp().unwrap(), created, "{what}");
        refused(&format!("{what} TcpListener"), l, ErrorKind::InvalidInput, text);
        let fd = l.as_fd();
        assert_eq!(fd.created_as_mptcp().unwrap(), created, "{what}");
        refused(&format!("{what} listener as BorrowedFd"), &fd, ErrorKind::InvalidInput, text);
        let sock = Socket::from(l.try_clone().unwrap());
        refused(&format!("{what} listener as socket2"), &sock, ErrorKind::InvalidInput, text);
    }
}

#[test]
fn unconnected_sockets_have_no_connection() {
    let mut socks = vec![("tcp", Socket::new(Domain::IPV4, Type::STREAM, None).unwrap())];
    if host_support().is_available() {
        socks.push(("mptcp", Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP)).unwrap()));
        socks.push(("mptcp v6", Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::MPTCP)).unwrap()));
    }
    for (what, s) in &socks {
        assert_eq!(s.created_as_mptcp().unwrap(), what.starts_with("mptcp"), "{what}");
        refused(what, s, ErrorKind::NotConnected, "not connected");
        refused(what, &s.as_fd(), ErrorKind::NotConnected, "not connected");
    }
}

/// The checks do not turn a good connection away, whatever the type.
#[test]
fn connections_answer_through_every_type() {
    let want = if host_support().is_available() { MptcpStatus::Mptcp } else { MptcpStatus::Tcp };
    let l = TcpListener::bind_mptcp("127.0.0.1:0").unwrap();
    let c = TcpStream::connect_mptcp(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    let sock = Socket::from(c.try_clone().unwrap());
    let answers: [(&str, &dyn MptcpExt); 4] =
        [("TcpStream", &c), ("BorrowedFd", &c.as_fd()), ("socket2", &sock), ("accepted", &s)];
    for (what, x) in answers {
        assert_eq!(x.mptcp_status().unwrap(), want, "{what}");
        assert_eq!(x.mptcp_info().unwrap().is_some(), want == MptcpStatus::Mptcp, "{what}");
        let flows = x.subflows().unwrap();
        assert_eq!(flows.len(), 1, "{what}");
        assert_eq!(flows[0].backup, None, "{what}: subflows() does not ask inet_diag");
        assert_eq!(x.subflows_legacy().unwrap().len(), 1, "{what}");
        // inet_diag knows the backup flag of an MPTCP subflow; a plain TCP
        // connection has none.
        let flows = x.subflows_with(SubflowDetail::Backup).unwrap();
        let backup = (want == MptcpStatus::Mptcp).then_some(false);
        assert_eq!(flows[0].backup, backup, "{what}: {flows:?}");
    }
    // A plain TCP connection through a BorrowedFd is TCP, with one flow.
    let t = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let _ = l.accept().unwrap();
    assert_eq!(t.as_fd().mptcp_status().unwrap(), MptcpStatus::Tcp);
    assert_eq!(t.as_fd().mptcp_info().unwrap(), None);
    assert_eq!(t.as_fd().subflows().unwrap().len(), 1);
    assert_eq!(t.subflows_with(SubflowDetail::Backup).unwrap()[0].backup, None, "not an MPTCP subflow");
}

/// Set in the environment of the unprivileged run of
/// `inet_diag_without_privilege`.
const CHILD: &str = "MPTCP_HOSTILE_UNPRIVILEGED_CHILD";

/// The inet_diag paths (status by token, the initial subflow's token, the
/// backup flags) as user nobody with no capability at all: the test runs
/// itself again under `setpriv` in a fresh namespace.
#[test]
#[ignore = "needs root: network namespaces and setpriv (scripts/test.sh runs it)"]
fn inet_diag_without_privilege() {
    if std::env::var_os(CHILD).is_some() {
        return unprivileged_checks();
    }
    mptcp_netns::require_root();
    let ns = mptcp_netns::Netns::new("unpriv").unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = ns
        .command("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
        .arg(exe)
        .args(["--exact", "inet_diag_without_privilege", "--include-ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("setpriv (util-linux) must be installed");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "unprivileged run failed:\n{text}");
    assert!(text.contains("unprivileged inet_diag: ok"), "the checks did not run:\n{text}");
}

fn unprivileged_checks() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    assert!(eff.trim_end().ends_with("0000000000000000"), "capabilities left: {eff}");
    assert_ne!(status.lines().find(|l| l.starts_with("Uid:")).unwrap().split_whitespace().nth(2), Some("0"));
    assert!(host_support().inet_diag, "inet_diag must list MPTCP sockets here: {:?}", host_support());
    let l = TcpListener::bind_mptcp("127.0.0.1:0").unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect_mptcp(l.local_addr().unwrap()).unwrap();
    let _s = l.accept().unwrap();
    let f = TcpStream::connect_mptcp(tcp.local_addr().unwrap()).unwrap();
    let _t = tcp.accept().unwrap();
    assert_eq!(c.mptcp_status_with(Mechanism::InetDiag).unwrap(), MptcpStatus::Mptcp);
    assert_eq!(f.mptcp_status_with(Mechanism::InetDiag).unwrap(), MptcpStatus::Fallback);
    assert_eq!(c.subflows_with(SubflowDetail::Backup).unwrap()[0].backup, Some(false));
    println!("unprivileged inet_diag: ok");
}
