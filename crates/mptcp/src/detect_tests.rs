//! The decision of `detect`, branch by branch, with the answers of kernels
//! from 5.16 to 6.18 scripted from kernel-facts.md (errnos included); the
//! scenarios suite checks the same decisions on the running kernel.

use super::*;
use crate::host::Availability;
use libc::{EACCES, EBADF, ENOPROTOOPT, ENOTCONN, ENOTSOCK, EOPNOTSUPP, IPPROTO_MPTCP, IPPROTO_TCP};

/// One socket's answers (errnos on the `Err` side) and the calls made.
#[derive(Debug, Clone)]
struct Script {
    tcp_is_mptcp: Result<i32, i32>,
    so_protocol: i32,
    mptcp_info: Result<(), i32>,
    /// `Ok(None)`: not listed; `Ok(Some(flags))`: listed, with these
    /// `mptcp_info.flags` (`None`: flags not reported).
    inet_diag: Result<Option<Option<u32>>, i32>,
    /// `SO_TYPE`, `SO_DOMAIN`, `getpeername` (errno) and `SO_ACCEPTCONN`.
    so_type: i32,
    so_domain: i32,
    peer: Result<(), i32>,
    accepting: bool,
    calls: Vec<&'static str>,
}

impl Probe for Script {
    fn tcp_is_mptcp(&mut self) -> io::Result<i32> {
        self.calls.push("TCP_IS_MPTCP");
        self.tcp_is_mptcp.map_err(io::Error::from_raw_os_error)
    }
    fn so_protocol(&mut self) -> io::Result<i32> {
        self.calls.push("SO_PROTOCOL");
        Ok(self.so_protocol)
    }
    fn so_type(&mut self) -> io::Result<i32> {
        self.calls.push("SO_TYPE");
        Ok(self.so_type)
    }
    fn so_domain(&mut self) -> io::Result<i32> {
        self.calls.push("SO_DOMAIN");
        Ok(self.so_domain)
    }
    fn peer(&mut self) -> io::Result<()> {
        self.calls.push("getpeername");
        self.peer.map_err(io::Error::from_raw_os_error)
    }
    fn accepting(&mut self) -> io::Result<bool> {
        self.calls.push("SO_ACCEPTCONN");
        Ok(self.accepting)
    }
    fn mptcp_info(&mut self) -> io::Result<()> {
        self.calls.push("MPTCP_INFO");
        self.mptcp_info.map_err(io::Error::from_raw_os_error)
    }
    fn inet_diag(&mut self) -> io::Result<Option<MptcpInfo>> {
        self.calls.push("inet_diag");
        let listed = self.inet_diag.map_err(io::Error::from_raw_os_error)?;
        Ok(listed.map(|flags| match flags {
            Some(f) => {
                let mut raw = [0u8; 48];
                raw[8..12].copy_from_slice(&f.to_ne_bytes());
                MptcpInfo::parse(&raw)
            }
            None => MptcpInfo::parse(&[0u8; 8]),
        }))
    }
}

const FALLBACK_FLAG: u32 = crate::info::MptcpInfoFlags::FALLBACK.0;
const REMOTE_KEY: u32 = crate::info::MptcpInfoFlags::REMOTE_KEY_RECEIVED.0;

/// An MPTCP connection on 6.10+: every mechanism confirms it.
fn mptcp_on_6_18() -> Script {
    Script {
        tcp_is_mptcp: Ok(1),
        so_protocol: IPPROTO_MPTCP,
        mptcp_info: Ok(()),
        inet_diag: Ok(Some(Some(REMOTE_KEY))),
        so_type: libc::SOCK_STREAM,
        so_domain: libc::AF_INET,
        peer: Ok(()),
        accepting: false,
        calls: vec![],
    }
}

/// An MPTCP socket that fell back, IPv4, on 6.10+.
fn fallback_on_6_18() -> Script {
    Script {
        tcp_is_mptcp: Ok(0),
        mptcp_info: Err(EOPNOTSUPP),
        inet_diag: Ok(Some(Some(FALLBACK_FLAG))),
        ..mptcp_on_6_18()
    }
}

/// A plain TCP socket on 6.10+ (TCP_IS_MPTCP answers 0 there).
fn tcp_on_6_18() -> Script {
    Script { so_protocol: IPPROTO_TCP, mptcp_info: Err(EOPNOTSUPP), inet_diag: Ok(None), ..fallback_on_6_18() }
}

/// The same sockets on 5.16-6.9: no TCP_IS_MPTCP (EOPNOTSUPP on MPTCP
/// sockets, ENOPROTOOPT on TCP ones).
fn before_6_10(mut s: Script) -> Script {
    s.tcp_is_mptcp = Err(if s.so_protocol == IPPROTO_MPTCP { EOPNOTSUPP } else { ENOPROTOOPT });
    s
}

fn host(tcp_is_mptcp: bool, mptcp_info: bool, inet_diag: bool) -> HostSupport {
    HostSupport {
        availability: Availability::Available,
        tcp_is_mptcp,
        mptcp_info,
        mptcp_info_len: mptcp_info.then_some(96),
        mptcp_tcpinfo: mptcp_info,
        mptcp_subflow_addrs: mptcp_info,
        mptcp_full_info: mptcp_info,
        inet_diag,
    }
}

/// The automatic choice for a `TcpStream` (a connected stream by its type).
fn auto(h: &HostSupport, s: Script) -> (io::Result<MptcpStatus>, Vec<&'static str>) {
    auto_given(h, Given::Stream, s)
}

fn auto_given(h: &HostSupport, given: Given, mut s: Script) -> (io::Result<MptcpStatus>, Vec<&'static str>) {
    let r = decide(h, given, &mut s);
    (r, s.calls)
}

/// One mechanism, for a `TcpStream`.
fn with(h: &HostSupport, m: Mechanism, s: Script) -> (io::Result<MptcpStatus>, Vec<&'static str>) {
    with_given(h, m, Given::Stream, s)
}

fn with_given(
    h: &HostSupport,
    m: Mechanism,
    given: Given,
    mut s: Script,
) -> (io::Result<MptcpStatus>, Vec<&'static str>) {
    let r = decide_with(h, m, given, &mut s);
    (r, s.calls)
}

fn kind<T: std::fmt::Debug>(r: &io::Result<T>) -> io::ErrorKind {
    r.as_ref().expect_err("an error").kind()
}

#[test]
fn tcp_is_mptcp_present_answers_in_one_call() {
    let h = host(true, true, true);
    let (r, calls) = auto(&h, mptcp_on_6_18());
    assert_eq!(r.unwrap(), MptcpStatus::Mptcp);
    assert_eq!(calls, ["TCP_IS_MPTCP"], "one syscall for an MPTCP connection");
    // 0 is told apart by SO_PROTOCOL alone.
    let (r, calls) = auto(&h, fallback_on_6_18());
    assert_eq!(r.unwrap(), MptcpStatus::Fallback);
    assert_eq!(calls, ["TCP_IS_MPTCP", "SO_PROTOCOL"]);
    let (r, calls) = auto(&h, tcp_on_6_18());
    assert_eq!(r.unwrap(), MptcpStatus::Tcp);
    assert_eq!(calls, ["TCP_IS_MPTCP", "SO_PROTOCOL"]);
}

#[test]
fn tcp_is_mptcp_refused_on_this_socket_falls_through() {
    // The host has the option, but this socket's kernel answer says no
    // such option: the next mechanisms decide.
    let h = host(true, true, false);
    let s = Script { tcp_is_mptcp: Err(EOPNOTSUPP), ..mptcp_on_6_18() };
    let (r, calls) = auto(&h, s);
    assert_eq!(r.unwrap(), MptcpStatus::Mptcp);
    assert_eq!(calls, ["TCP_IS_MPTCP", "SO_PROTOCOL", "MPTCP_INFO"]);
    // Any other errno is the caller's problem, not an answer.
    let s = Script { tcp_is_mptcp: Err(EBADF), ..mptcp_on_6_18() };
    assert_eq!(auto(&h, s).0.unwrap_err().raw_os_error(), Some(EBADF));
}

#[test]
fn tcp_is_mptcp_absent_mptcp_info_trusted() {
    // 5.16-6.9: the probe proved SOL_MPTCP, so MPTCP_INFO's refusal means fallback.
    let h = host(false, true, true);
    let (r, calls) = auto(&h, before_6_10(mptcp_on_6_18()));
    assert_eq!(r.unwrap(), MptcpStatus::Mptcp);
    assert_eq!(calls, ["SO_PROTOCOL", "MPTCP_INFO"], "TCP_IS_MPTCP is not asked where the probe found none");
    for errno in [EOPNOTSUPP, ENOPROTOOPT] {
        // IPv4 fallback answers EOPNOTSUPP, IPv6 fallback ENOPROTOOPT.
        let s = Script { mptcp_info: Err(errno), ..before_6_10(fallback_on_6_18()) };
        let (r, calls) = auto(&h, s);
        assert_eq!(r.unwrap(), MptcpStatus::Fallback, "errno {errno}");
        assert_eq!(calls, ["SO_PROTOCOL", "MPTCP_INFO"]);
    }
    let (r, calls) = auto(&h, before_6_10(tcp_on_6_18()));
    assert_eq!(r.unwrap(), MptcpStatus::Tcp);
    assert_eq!(calls, ["SO_PROTOCOL"]);
    // Other errnos are returned.
    let s = Script { mptcp_info: Err(EBADF), ..before_6_10(fallback_on_6_18()) };
    assert_eq!(auto(&h, s).0.unwrap_err().raw_os_error(), Some(EBADF));
}

#[test]
fn mptcp_info_untrusted_asks_inet_diag() {
    // The probe did not prove SOL_MPTCP: a refusal proves nothing, inet_diag decides.
    let h = host(false, false, true);
    let (r, calls) = auto(&h, before_6_10(fallback_on_6_18()));
    assert_eq!(r.unwrap(), MptcpStatus::Fallback);
    assert_eq!(calls, ["SO_PROTOCOL", "MPTCP_INFO", "inet_diag"]);
    let s = Script { mptcp_info: Err(EOPNOTSUPP), ..before_6_10(mptcp_on_6_18()) };
    assert_eq!(auto(&h, s).0.unwrap(), MptcpStatus::Mptcp);
    // A success still proves MPTCP (e.g. a socket from another namespace).
    let (r, calls) = auto(&h, before_6_10(mptcp_on_6_18()));
    assert_eq!(r.unwrap(), MptcpStatus::Mptcp);
    assert_eq!(calls, ["SO_PROTOCOL", "MPTCP_INFO"]);
    // Not listed, or listed without flags: an error, never a guess.
    let s = Script { inet_diag: Ok(None), ..before_6_10(fallback_on_6_18()) };
    assert_eq!(kind(&auto(&h, s).0), io::ErrorKind::NotFound);
    let s = Script { inet_diag: Ok(Some(None)), ..before_6_10(fallback_on_6_18()) };
    assert_eq!(kind(&auto(&h, s).0), io::ErrorKind::Unsupported);
}

#[test]
fn no_mechanism_is_an_error_not_a_guess() {
    let h = host(false, false, false);
    let (r, calls) = auto(&h, before_6_10(fallback_on_6_18()));
    assert_eq!(kind(&r), io::ErrorKind::Unsupported);
    assert_eq!(calls, ["SO_PROTOCOL", "MPTCP_INFO"]);
    // A plain TCP socket is still known to be TCP.
    assert_eq!(auto(&h, before_6_10(tcp_on_6_18())).0.unwrap(), MptcpStatus::Tcp);
}

#[test]
fn explicit_tcp_is_mptcp() {
    let h = host(true, true, true);
    assert_eq!(with(&h, Mechanism::TcpIsMptcp, mptcp_on_6_18()).0.unwrap(), MptcpStatus::Mptcp);
    assert_eq!(with(&h, Mechanism::TcpIsMptcp, fallback_on_6_18()).0.unwrap(), MptcpStatus::Fallback);
    assert_eq!(with(&h, Mechanism::TcpIsMptcp, tcp_on_6_18()).0.unwrap(), MptcpStatus::Tcp);
    let (r, calls) = with(&h, Mechanism::TcpIsMptcp, before_6_10(mptcp_on_6_18()));
    assert_eq!(kind(&r), io::ErrorKind::Unsupported);
    assert!(r.unwrap_err().to_string().contains("6.10"));
    // SO_PROTOCOL first tells a socket of another protocol apart.
    assert_eq!(calls, ["TCP_IS_MPTCP", "SO_PROTOCOL"]);
}

#[test]
fn explicit_mptcp_info_only_where_trusted() {
    let trusted = host(false, true, false);
    assert_eq!(with(&trusted, Mechanism::MptcpInfo, mptcp_on_6_18()).0.unwrap(), MptcpStatus::Mptcp);
    assert_eq!(with(&trusted, Mechanism::MptcpInfo, fallback_on_6_18()).0.unwrap(), MptcpStatus::Fallback);
    assert_eq!(with(&trusted, Mechanism::MptcpInfo, tcp_on_6_18()).0.unwrap(), MptcpStatus::Tcp);
    let (r, calls) = with(&host(true, false, true), Mechanism::MptcpInfo, mptcp_on_6_18());
    assert_eq!(kind(&r), io::ErrorKind::Unsupported);
    assert!(calls.is_empty(), "refused before asking the kernel: {calls:?}");
}

#[test]
fn explicit_inet_diag() {
    let h = host(false, false, true);
    assert_eq!(with(&h, Mechanism::InetDiag, mptcp_on_6_18()).0.unwrap(), MptcpStatus::Mptcp);
    assert_eq!(with(&h, Mechanism::InetDiag, fallback_on_6_18()).0.unwrap(), MptcpStatus::Fallback);
    let (r, calls) = with(&h, Mechanism::InetDiag, tcp_on_6_18());
    assert_eq!(r.unwrap(), MptcpStatus::Tcp);
    assert_eq!(calls, ["SO_PROTOCOL"], "a TCP socket is not looked up");
    let s = Script { inet_diag: Err(EBADF), ..fallback_on_6_18() };
    assert_eq!(with(&h, Mechanism::InetDiag, s).0.unwrap_err().raw_os_error(), Some(EBADF));
}

#[test]
fn so_protocol_never_confirms_mptcp() {
    let h = host(true, true, true);
    for s in [mptcp_on_6_18(), fallback_on_6_18(), before_6_10(mptcp_on_6_18())] {
        let (r, calls) = with(&h, Mechanism::SoProtocol, s);
        assert_eq!(kind(&r), io::ErrorKind::Unsupported);
        assert_eq!(calls, ["SO_PROTOCOL"]);
    }
    assert_eq!(with(&h, Mechanism::SoProtocol, tcp_on_6_18()).0.unwrap(), MptcpStatus::Tcp);
}

/// Over every combination of capabilities, answers and kinds of socket:
/// `Mptcp` only when the kernel confirmed it (TCP_IS_MPTCP = 1, MPTCP_INFO
/// answered, or inet_diag's flags without FALLBACK), whatever the
/// mechanism; never an answer for a listener, a socket of another protocol,
/// or (unless its type says it is connected) an unconnected socket.
#[test]
fn mptcp_only_when_confirmed() {
    const UDP: i32 = libc::IPPROTO_UDP;
    for bits in 0..8u8 {
        let h = host(bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
        for tcp_is in [Ok(0), Ok(1), Err(EOPNOTSUPP), Err(ENOPROTOOPT), Err(EACCES)] {
            for proto in [IPPROTO_MPTCP, IPPROTO_TCP, UDP, 0] {
                for mi in [Ok(()), Err(EOPNOTSUPP), Err(ENOPROTOOPT), Err(EACCES)] {
                    let tcp = proto == IPPROTO_MPTCP || proto == IPPROTO_TCP;
                    if !tcp && (tcp_is.is_ok() || mi.is_ok()) {
                        continue; // only TCP and MPTCP sockets answer these options
                    }
                    for d in [Ok(None), Ok(Some(None)), Ok(Some(Some(0))), Ok(Some(Some(FALLBACK_FLAG))), Err(EACCES)] {
                        for (peer, accepting) in [(Ok(()), false), (Err(ENOTCONN), false), (Err(ENOTCONN), true)] {
                            let s = Script {
                                tcp_is_mptcp: tcp_is,
                                so_protocol: proto,
                                mptcp_info: mi,
                                inet_diag: d,
                                peer,
                                accepting,
                                ..mptcp_on_6_18()
                            };
                            let confirmed = |calls: &[&str]| {
                                (calls.contains(&"TCP_IS_MPTCP") && tcp_is == Ok(1))
                                    || (calls.contains(&"MPTCP_INFO") && mi == Ok(()))
                                    || (calls.contains(&"inet_diag")
                                        && matches!(d, Ok(Some(Some(f))) if f & FALLBACK_FLAG == 0))
                            };
                            for given in [Given::Stream, Given::Listener, Given::Unknown] {
                                let check = |what: &str, r: &io::Result<MptcpStatus>, calls: &[&str]| {
                                    let Ok(status) = r else { return };
                                    assert_ne!(given, Given::Listener, "{what}: a listener got {status:?}");
                                    if given == Given::Unknown {
                                        assert!(tcp && peer.is_ok(), "{what}: {status:?} for {s:?}");
                                    }
                                    if *status == MptcpStatus::Mptcp {
                                        assert!(confirmed(calls), "{what} guessed MPTCP: {h:?} {s:?} {calls:?}");
                                    }
                                };
                                let (r, calls) = auto_given(&h, given, s.clone());
                                check("auto", &r, &calls);
                                for &m in Mechanism::ALL {
                                    let (r, calls) = with_given(&h, m, given, s.clone());
                                    if matches!(r, Ok(MptcpStatus::Mptcp)) {
                                        assert_ne!(m, Mechanism::SoProtocol);
                                    }
                                    check(m.as_str(), &r, &calls);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What a socket of unknown kind (`BorrowedFd`, `socket2::Socket`) gets.
#[test]
fn unknown_kinds_are_checked_before_an_answer() {
    let h = host(true, true, true);
    // A connected MPTCP socket: one getpeername more than a TcpStream.
    let (r, calls) = auto_given(&h, Given::Unknown, mptcp_on_6_18());
    assert_eq!(r.unwrap(), MptcpStatus::Mptcp);
    assert_eq!(calls, ["getpeername", "TCP_IS_MPTCP"]);
    // A listener: refused with a message saying why.
    let s = Script { peer: Err(ENOTCONN), accepting: true, ..mptcp_on_6_18() };
    let (r, calls) = auto_given(&h, Given::Unknown, s);
    let e = r.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("listening socket"), "{e}");
    assert_eq!(calls, ["getpeername", "SO_PROTOCOL", "SO_ACCEPTCONN"]);
    // A listener known by its type: refused before any syscall.
    let (r, calls) = auto_given(&h, Given::Listener, mptcp_on_6_18());
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    assert!(calls.is_empty(), "{calls:?}");
    // Never connected (or closed): NotConnected.
    let s = Script { peer: Err(ENOTCONN), ..mptcp_on_6_18() };
    assert_eq!(kind(&auto_given(&h, Given::Unknown, s).0), io::ErrorKind::NotConnected);
    // A connected UDP socket answers no SOL_TCP option: named, refused.
    let udp = Script {
        tcp_is_mptcp: Err(EOPNOTSUPP),
        so_protocol: libc::IPPROTO_UDP,
        so_type: libc::SOCK_DGRAM,
        ..tcp_on_6_18()
    };
    let e = auto_given(&h, Given::Unknown, udp.clone()).0.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("a UDP socket (AF_INET, SOCK_DGRAM, protocol 17)"), "{e}");
    for &m in Mechanism::ALL {
        let r = with_given(&h, m, Given::Unknown, udp.clone()).0;
        assert_eq!(kind(&r), io::ErrorKind::InvalidInput, "{m}");
    }
    // A raw socket of protocol TCP (SO_PROTOCOL 6) is not a TCP socket.
    let raw = Script { so_type: libc::SOCK_RAW, ..before_6_10(tcp_on_6_18()) };
    let e = auto_given(&host(false, true, true), Given::Unknown, raw).0.unwrap_err();
    assert!(e.to_string().contains("a raw socket"), "{e}");
    // A Unix socket.
    let unix = Script { so_domain: libc::AF_UNIX, so_protocol: 0, ..udp };
    let e = auto_given(&h, Given::Unknown, unix).0.unwrap_err();
    assert!(e.to_string().contains("a Unix socket"), "{e}");
}

#[test]
fn descriptors_that_are_no_sockets_are_named() {
    for (errno, text) in [(EBADF, "not an open file descriptor"), (ENOTSOCK, "not a socket")] {
        let e = name_fd_error(io::Error::from_raw_os_error(errno));
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains(text), "{e}");
    }
    // Other errors are kept as they are.
    assert_eq!(name_fd_error(io::Error::from_raw_os_error(EACCES)).raw_os_error(), Some(EACCES));
}
