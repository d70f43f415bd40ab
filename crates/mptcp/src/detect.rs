//! Detection: is this connection using MPTCP right now?
//!
//! The decision is a pure function of the host's capabilities (what the
//! probe in `host` proved) and of the kernel's answers for this socket.
//! The answers come through [`Probe`], one method per system call, asked
//! lazily and in order, so that on kernels with `TCP_IS_MPTCP` an MPTCP
//! connection costs exactly one `getsockopt`. [`Socket`] asks the kernel;
//! the unit tests below script the answers of kernels this machine is not.

use std::io;
use std::os::fd::BorrowedFd;

use crate::host::{host_support, HostSupport};
use crate::info::MptcpInfo;
use crate::status::Given;
use crate::status::{Mechanism, MptcpStatus};
use crate::sys;

/// The kernel's answers detection may ask for about one socket.
pub(crate) trait Probe {
    /// `getsockopt(SOL_TCP, TCP_IS_MPTCP)`.
    fn tcp_is_mptcp(&mut self) -> io::Result<i32>;
    /// `getsockopt(SOL_SOCKET, SO_PROTOCOL)`.
    fn so_protocol(&mut self) -> io::Result<i32>;
    /// `getsockopt(SOL_SOCKET, SO_TYPE)`.
    fn so_type(&mut self) -> io::Result<i32>;
    /// `getsockopt(SOL_SOCKET, SO_DOMAIN)`.
    fn so_domain(&mut self) -> io::Result<i32>;
    /// `getpeername`: `Ok` when connected.
    fn peer(&mut self) -> io::Result<()>;
    /// `getsockopt(SOL_SOCKET, SO_ACCEPTCONN)`: whether it listens.
    fn accepting(&mut self) -> io::Result<bool>;
    /// `getsockopt(SOL_MPTCP, MPTCP_INFO)` with a small buffer: `Ok` when
    /// the kernel answered.
    fn mptcp_info(&mut self) -> io::Result<()>;
    /// This socket as inet_diag lists it (found by `SO_COOKIE` in the
    /// socket's network namespace): its `mptcp_info`, `None` when unlisted.
    fn inet_diag(&mut self) -> io::Result<Option<MptcpInfo>>;
}

/// A socket's answers, asked of the kernel.
pub(crate) struct Socket<'a>(pub(crate) BorrowedFd<'a>);

impl Probe for Socket<'_> {
    fn tcp_is_mptcp(&mut self) -> io::Result<i32> {
        sys::getsockopt_int(self.0, libc::SOL_TCP, sys::TCP_IS_MPTCP)
    }
    fn so_protocol(&mut self) -> io::Result<i32> {
        sys::getsockopt_int(self.0, libc::SOL_SOCKET, libc::SO_PROTOCOL)
    }
    fn so_type(&mut self) -> io::Result<i32> {
        sys::getsockopt_int(self.0, libc::SOL_SOCKET, libc::SO_TYPE)
    }
    fn so_domain(&mut self) -> io::Result<i32> {
        sys::getsockopt_int(self.0, libc::SOL_SOCKET, libc::SO_DOMAIN)
    }
    fn peer(&mut self) -> io::Result<()> {
        sys::check_peer(self.0)
    }
    fn accepting(&mut self) -> io::Result<bool> {
        Ok(sys::getsockopt_int(self.0, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? != 0)
    }
    fn mptcp_info(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 8];
        sys::getsockopt_buf(self.0, sys::SOL_MPTCP, sys::MPTCP_INFO, &mut buf).map(drop)
    }
    #[cfg(feature = "netlink")]
    fn inet_diag(&mut self) -> io::Result<Option<MptcpInfo>> {
        crate::diag::lookup_socket(self.0)
    }
    #[cfg(not(feature = "netlink"))]
    fn inet_diag(&mut self) -> io::Result<Option<MptcpInfo>> {
        Err(unsupported("inet_diag needs the `netlink` feature of the mptcp crate"))
    }
}

fn unsupported(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, msg.to_string())
}

/// The errors an MPTCP socket option gives where it does not apply:
/// the kernel lacks it, or the connection fell back to TCP.
pub(crate) fn is_no_such_option(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::ENOPROTOOPT))
}

/// Names the errors of a descriptor that is no socket at all: the first
/// call on it fails with `EBADF` or `ENOTSOCK`.
pub(crate) fn name_fd_error(e: io::Error) -> io::Error {
    let what = match e.raw_os_error() {
        Some(libc::EBADF) => "not an open file descriptor (closed, or never opened)",
        Some(libc::ENOTSOCK) => "not a socket (a file, a pipe or another descriptor): expected a TCP or MPTCP socket",
        _ => return e,
    };
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

/// The error for a socket of another protocol, naming it.
fn not_tcp(k: &mut impl Probe, protocol: i32) -> io::Error {
    let domain = match k.so_domain() {
        Ok(libc::AF_INET) => "AF_INET",
        Ok(libc::AF_INET6) => "AF_INET6",
        Ok(libc::AF_UNIX) => "AF_UNIX",
        Ok(libc::AF_NETLINK) => "AF_NETLINK",
        Ok(libc::AF_PACKET) => "AF_PACKET",
        _ => "another family",
    };
    let kind = match k.so_type() {
        Ok(libc::SOCK_STREAM) => "SOCK_STREAM",
        Ok(libc::SOCK_DGRAM) => "SOCK_DGRAM",
        Ok(libc::SOCK_RAW) => "SOCK_RAW",
        Ok(libc::SOCK_SEQPACKET) => "SOCK_SEQPACKET",
        _ => "another type",
    };
    let name = match (domain, kind, protocol) {
        ("AF_INET" | "AF_INET6", "SOCK_DGRAM", libc::IPPROTO_UDP) => "a UDP socket",
        ("AF_UNIX", ..) => "a Unix socket",
        (_, "SOCK_RAW", _) => "a raw socket",
        _ => "a socket",
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a TCP or MPTCP socket: {name} ({domain}, {kind}, protocol {protocol})"),
    )
}

/// `SO_PROTOCOL`: whether a TCP or MPTCP socket was created as MPTCP; an
/// `InvalidInput` error naming any other socket. `stream_known`: the
/// socket is known to be a stream (by its type, or because it answered a
/// `SOL_TCP` option), else a `SOCK_RAW` socket of protocol TCP is told
/// apart by `SO_TYPE`.
fn created(k: &mut impl Probe, stream_known: bool) -> io::Result<bool> {
    match k.so_protocol()? {
        libc::IPPROTO_MPTCP => Ok(true),
        libc::IPPROTO_TCP if stream_known || k.so_type()? == libc::SOCK_STREAM => Ok(false),
        other => Err(not_tcp(k, other)),
    }
}

/// Checks that the socket can describe a connection, as far as `given`
/// does not already say so: a listener is refused, and a socket of
/// unknown kind must be a connected TCP or MPTCP socket.
fn connection(given: Given, k: &mut impl Probe) -> io::Result<()> {
    given.refuse_listener()?;
    if given == Given::Stream {
        return Ok(());
    }
    match k.peer() {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            created(k, false)?;
            if k.accepting()? {
                return Err(Given::listener_error());
            }
            Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the socket is not connected (not yet, or no longer): MPTCP status and connection info describe a \
                 live connection",
            ))
        }
        Err(e) => Err(e),
    }
}

/// Whether socket `fd`, a connection as far as `given` tells, was created
/// as MPTCP; the errors of [`connection`] and [`created`] otherwise.
pub(crate) fn connection_created_as_mptcp(fd: BorrowedFd<'_>, given: Given) -> io::Result<bool> {
    let k = &mut Socket(fd);
    connection(given, k).and_then(|()| created(k, given != Given::Unknown)).map_err(name_fd_error)
}

/// Whether socket `fd` was created as MPTCP (`false` for any socket that
/// was not, whatever its protocol).
pub(crate) fn created_as_mptcp(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Socket(fd).so_protocol().map(|p| p == libc::IPPROTO_MPTCP).map_err(name_fd_error)
}

/// Status from `SO_PROTOCOL` alone, for a connection known not to use
/// MPTCP now, whose `SOL_TCP` answer proved it a TCP or MPTCP socket:
/// `Fallback` for an MPTCP socket, else `Tcp`.
fn not_mptcp(k: &mut impl Probe) -> io::Result<MptcpStatus> {
    Ok(if created(k, true)? { MptcpStatus::Fallback } else { MptcpStatus::Tcp })
}

/// `TCP_IS_MPTCP`: `Some(true)` MPTCP, `Some(false)` not, `None` when the
/// kernel lacks the option.
fn tcp_is_mptcp(k: &mut impl Probe) -> io::Result<Option<bool>> {
    match k.tcp_is_mptcp() {
        Ok(v) => Ok(Some(v != 0)),
        Err(e) if is_no_such_option(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `MPTCP_INFO`: `true` answered (proof of MPTCP), `false` refused.
fn mptcp_info_answers(k: &mut impl Probe) -> io::Result<bool> {
    match k.mptcp_info() {
        Ok(()) => Ok(true),
        Err(e) if is_no_such_option(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The fallback flag inet_diag reports for the socket.
fn from_inet_diag(k: &mut impl Probe) -> io::Result<MptcpStatus> {
    match k.inet_diag()? {
        Some(info) => match info.is_fallback() {
            Some(true) => Ok(MptcpStatus::Fallback),
            Some(false) => Ok(MptcpStatus::Mptcp),
            None => Err(unsupported("inet_diag reported no MPTCP flags for this socket")),
        },
        None => Err(io::Error::new(
            io::ErrorKind::NotFound,
            "inet_diag does not list this MPTCP socket (not connected, or mptcp_diag not loaded)",
        )),
    }
}

/// Status with the best mechanism `host` offers. Never `Mptcp` unless the
/// kernel confirmed it for this socket.
pub(crate) fn decide(host: &HostSupport, given: Given, k: &mut impl Probe) -> io::Result<MptcpStatus> {
    connection(given, k)?;
    if host.tcp_is_mptcp {
        match tcp_is_mptcp(k)? {
            Some(true) => return Ok(MptcpStatus::Mptcp),
            Some(false) => return not_mptcp(k),
            None => {}
        }
    }
    if !created(k, given == Given::Stream)? {
        return Ok(MptcpStatus::Tcp);
    }
    // A successful MPTCP_INFO always proves MPTCP is in use; its failure
    // means fallback only where the probe proved SOL_MPTCP works.
    if mptcp_info_answers(k)? {
        return Ok(MptcpStatus::Mptcp);
    }
    if host.mptcp_info {
        return Ok(MptcpStatus::Fallback);
    }
    if host.inet_diag {
        return from_inet_diag(k);
    }
    Err(unsupported(
        "this kernel offers no way to confirm MPTCP on this socket (no TCP_IS_MPTCP, MPTCP_INFO or MPTCP inet_diag)",
    ))
}

/// Status through one explicit mechanism.
pub(crate) fn decide_with(
    host: &HostSupport,
    mechanism: Mechanism,
    given: Given,
    k: &mut impl Probe,
) -> io::Result<MptcpStatus> {
    let stream_known = given == Given::Stream;
    match mechanism {
        Mechanism::TcpIsMptcp => {
            connection(given, k)?;
            match tcp_is_mptcp(k)? {
                Some(true) => Ok(MptcpStatus::Mptcp),
                Some(false) => not_mptcp(k),
                None => {
                    created(k, stream_known)?;
                    Err(unsupported("TCP_IS_MPTCP is not supported by this kernel (added in Linux 6.10)"))
                }
            }
        }
        Mechanism::MptcpInfo => {
            if !host.mptcp_info {
                return Err(unsupported(
                    "MPTCP_INFO cannot be trusted here: the host probe did not prove SOL_MPTCP works (Linux 5.16+)",
                ));
            }
            connection(given, k)?;
            if !created(k, stream_known)? {
                return Ok(MptcpStatus::Tcp);
            }
            Ok(if mptcp_info_answers(k)? { MptcpStatus::Mptcp } else { MptcpStatus::Fallback })
        }
        Mechanism::InetDiag => {
            if !host.inet_diag {
                return Err(unsupported(
                    "inet_diag does not list MPTCP sockets on this kernel (no mptcp_diag): the inet-diag mechanism \
                     is unavailable",
                ));
            }
            connection(given, k)?;
            if !created(k, stream_known)? {
                return Ok(MptcpStatus::Tcp);
            }
            from_inet_diag(k)
        }
        Mechanism::SoProtocol => {
            connection(given, k)?;
            if created(k, stream_known)? {
                Err(unsupported(
                    "SO_PROTOCOL only shows the socket was created as MPTCP; it cannot confirm MPTCP is in use",
                ))
            } else {
                Ok(MptcpStatus::Tcp)
            }
        }
    }
}

/// Status of socket `fd` with the best mechanism this host offers.
pub(crate) fn status(fd: BorrowedFd<'_>, given: Given) -> io::Result<MptcpStatus> {
    decide(host_support(), given, &mut Socket(fd)).map_err(name_fd_error)
}

/// Status of socket `fd` through one explicit mechanism.
pub(crate) fn status_with(fd: BorrowedFd<'_>, mechanism: Mechanism, given: Given) -> io::Result<MptcpStatus> {
    decide_with(host_support(), mechanism, given, &mut Socket(fd)).map_err(name_fd_error)
}

#[cfg(test)]
#[path = "detect_tests.rs"]
mod tests;
