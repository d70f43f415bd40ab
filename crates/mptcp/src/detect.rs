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
use crate::status::{Mechanism, MptcpStatus};
use crate::sys;

/// The kernel's answers detection may ask for about one socket.
pub(crate) trait Probe {
    /// `getsockopt(SOL_TCP, TCP_IS_MPTCP)`.
    fn tcp_is_mptcp(&mut self) -> io::Result<i32>;
    /// `getsockopt(SOL_SOCKET, SO_PROTOCOL)`.
    fn so_protocol(&mut self) -> io::Result<i32>;
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

/// `SO_PROTOCOL`: `IPPROTO_MPTCP` when the socket was created as MPTCP.
fn created(k: &mut impl Probe) -> io::Result<bool> {
    Ok(k.so_protocol()? == libc::IPPROTO_MPTCP)
}

/// Whether socket `fd` was created as MPTCP.
pub(crate) fn created_as_mptcp(fd: BorrowedFd<'_>) -> io::Result<bool> {
    created(&mut Socket(fd))
}

/// Status from `SO_PROTOCOL` alone, for a connection known not to use
/// MPTCP now: `Fallback` for an MPTCP socket, else `Tcp`.
fn not_mptcp(k: &mut impl Probe) -> io::Result<MptcpStatus> {
    Ok(if created(k)? { MptcpStatus::Fallback } else { MptcpStatus::Tcp })
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
pub(crate) fn decide(host: &HostSupport, k: &mut impl Probe) -> io::Result<MptcpStatus> {
    if host.tcp_is_mptcp {
        match tcp_is_mptcp(k)? {
            Some(true) => return Ok(MptcpStatus::Mptcp),
            Some(false) => return not_mptcp(k),
            None => {}
        }
    }
    if !created(k)? {
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
pub(crate) fn decide_with(host: &HostSupport, mechanism: Mechanism, k: &mut impl Probe) -> io::Result<MptcpStatus> {
    match mechanism {
        Mechanism::TcpIsMptcp => match tcp_is_mptcp(k)? {
            Some(true) => Ok(MptcpStatus::Mptcp),
            Some(false) => not_mptcp(k),
            None => Err(unsupported("TCP_IS_MPTCP is not supported by this kernel (added in Linux 6.10)")),
        },
        Mechanism::MptcpInfo => {
            if !host.mptcp_info {
                return Err(unsupported(
                    "MPTCP_INFO cannot be trusted here: the host probe did not prove SOL_MPTCP works (Linux 5.16+)",
                ));
            }
            if !created(k)? {
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
            if !created(k)? {
                return Ok(MptcpStatus::Tcp);
            }
            from_inet_diag(k)
        }
        Mechanism::SoProtocol => {
            if created(k)? {
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
pub(crate) fn status(fd: BorrowedFd<'_>) -> io::Result<MptcpStatus> {
    decide(host_support(), &mut Socket(fd))
}

/// Status of socket `fd` through one explicit mechanism.
pub(crate) fn status_with(fd: BorrowedFd<'_>, mechanism: Mechanism) -> io::Result<MptcpStatus> {
    decide_with(host_support(), mechanism, &mut Socket(fd))
}

#[cfg(test)]
#[path = "detect_tests.rs"]
mod tests;
