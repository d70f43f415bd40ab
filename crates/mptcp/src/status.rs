//! Is this connection using MPTCP right now? Detection mechanisms, best first.

#[cfg(mptcp_linux)]
pub(crate) use self::linux::*;

/// What a connection runs on right now.
///
/// # Examples
///
/// ```no_run
/// use std::net::TcpStream;
/// use mptcp::{MptcpExt, MptcpStatus, MptcpStreamExt};
///
/// let stream = TcpStream::connect_mptcp("127.0.0.1:8080")?;
/// match stream.mptcp_status()? {
///     MptcpStatus::Mptcp => println!("MPTCP on the wire"),
///     MptcpStatus::Fallback => println!("asked for MPTCP, runs as TCP"),
///     MptcpStatus::Tcp => println!("plain TCP socket"),
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum MptcpStatus {
    /// MPTCP is in use on the wire now (confirmed by the kernel).
    Mptcp,
    /// The socket was created as MPTCP but the connection runs as plain TCP
    /// (peer without MPTCP, a middlebox stripping the option, late fallback).
    Fallback,
    /// A plain TCP socket: never asked for MPTCP, host without MPTCP, or a
    /// connection accepted from a plain-TCP client.
    Tcp,
}

impl MptcpStatus {
    /// `true` only for [`MptcpStatus::Mptcp`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mptcp::MptcpStatus::Mptcp.is_mptcp());
    /// assert!(!mptcp::MptcpStatus::Fallback.is_mptcp());
    /// ```
    pub fn is_mptcp(self) -> bool {
        self == MptcpStatus::Mptcp
    }

    /// Lower-case name: `mptcp`, `fallback` or `tcp`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mptcp::MptcpStatus::Fallback.as_str(), "fallback");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            MptcpStatus::Mptcp => "mptcp",
            MptcpStatus::Fallback => "fallback",
            MptcpStatus::Tcp => "tcp",
        }
    }
}

impl std::fmt::Display for MptcpStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A way to ask the kernel whether a connection uses MPTCP, best first.
///
/// [`MptcpExt::mptcp_status`](crate::MptcpExt::mptcp_status) picks the best
/// one the kernel offers; [`MptcpExt::mptcp_status_with`](crate::MptcpExt::mptcp_status_with)
/// uses one explicitly.
///
/// # Examples
///
/// ```
/// use mptcp::Mechanism;
/// assert_eq!(Mechanism::ALL[0], Mechanism::TcpIsMptcp);
/// assert_eq!("inet-diag".parse::<Mechanism>().unwrap(), Mechanism::InetDiag);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Mechanism {
    /// `getsockopt(SOL_TCP, TCP_IS_MPTCP)` (Linux 6.10): one syscall, unambiguous.
    TcpIsMptcp,
    /// `getsockopt(SOL_MPTCP, MPTCP_INFO)` (5.16): succeeds while MPTCP is in
    /// use, fails with `EOPNOTSUPP`/`ENOPROTOOPT` after fallback. Used only
    /// where the host probe proved `SOL_MPTCP` works.
    MptcpInfo,
    /// The `MPTCP_INFO_FLAG_FALLBACK` flag inet_diag reports for this socket
    /// (matched by `SO_COOKIE`, queried in the socket's network namespace).
    InetDiag,
    /// `SO_PROTOCOL`: only says whether the socket was *created* as MPTCP,
    /// so it can answer [`MptcpStatus::Tcp`] but never confirm MPTCP.
    SoProtocol,
}

impl Mechanism {
    /// Every mechanism, best first.
    pub const ALL: [Mechanism; 4] =
        [Mechanism::TcpIsMptcp, Mechanism::MptcpInfo, Mechanism::InetDiag, Mechanism::SoProtocol];

    /// Kebab-case name (`tcp-is-mptcp`, `mptcp-info`, `inet-diag`, `so-protocol`).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::Mechanism;
    ///
    /// assert_eq!(Mechanism::InetDiag.as_str(), "inet-diag");
    /// // The names round-trip through `FromStr`.
    /// assert!(Mechanism::ALL.iter().all(|m| m.as_str().parse::<Mechanism>() == Ok(*m)));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::TcpIsMptcp => "tcp-is-mptcp",
            Mechanism::MptcpInfo => "mptcp-info",
            Mechanism::InetDiag => "inet-diag",
            Mechanism::SoProtocol => "so-protocol",
        }
    }
}

impl std::fmt::Display for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Mechanism {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mechanism::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| {
            format!("unknown mechanism {s:?}: expected one of tcp-is-mptcp, mptcp-info, inet-diag, so-protocol")
        })
    }
}

/// Detection: Linux only.
#[cfg(mptcp_linux)]
mod linux {
    use std::io;
    use std::os::fd::BorrowedFd;

    use super::{Mechanism, MptcpStatus};
    use crate::host::host_support;
    use crate::sys;

    fn unsupported(msg: impl Into<String>) -> io::Error {
        io::Error::new(io::ErrorKind::Unsupported, msg.into())
    }

    /// The errors an MPTCP socket option gives where it does not apply:
    /// the kernel lacks it, or the connection fell back to TCP.
    pub(crate) fn is_no_such_option(e: &io::Error) -> bool {
        matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::ENOPROTOOPT))
    }

    /// `SO_PROTOCOL`: 262 when the socket was created as MPTCP.
    pub(crate) fn created_as_mptcp(fd: BorrowedFd<'_>) -> io::Result<bool> {
        Ok(sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL)? == sys::IPPROTO_MPTCP)
    }

    fn status_from_protocol(fd: BorrowedFd<'_>) -> io::Result<MptcpStatus> {
        Ok(if created_as_mptcp(fd)? { MptcpStatus::Fallback } else { MptcpStatus::Tcp })
    }

    /// `TCP_IS_MPTCP`: `Ok(Some(true))` MPTCP, `Ok(Some(false))` not,
    /// `Ok(None)` when the kernel lacks the option.
    fn tcp_is_mptcp(fd: BorrowedFd<'_>) -> io::Result<Option<bool>> {
        match sys::getsockopt_int(fd, sys::SOL_TCP, sys::TCP_IS_MPTCP) {
            Ok(v) => Ok(Some(v != 0)),
            Err(e) if is_no_such_option(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `MPTCP_INFO` with a tiny buffer: `Ok(true)` answered, `Ok(false)` refused.
    fn mptcp_info_answers(fd: BorrowedFd<'_>) -> io::Result<bool> {
        let mut buf = [0u8; 8];
        match sys::getsockopt_buf(fd, sys::SOL_MPTCP, sys::MPTCP_INFO, &mut buf) {
            Ok(_) => Ok(true),
            Err(e) if is_no_such_option(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Status through one explicit mechanism.
    pub(crate) fn status_with(fd: BorrowedFd<'_>, mechanism: Mechanism) -> io::Result<MptcpStatus> {
        match mechanism {
            Mechanism::TcpIsMptcp => match tcp_is_mptcp(fd)? {
                Some(true) => Ok(MptcpStatus::Mptcp),
                Some(false) => status_from_protocol(fd),
                None => Err(unsupported("TCP_IS_MPTCP is not supported by this kernel (added in Linux 6.10)")),
            },
            Mechanism::MptcpInfo => {
                if !host_support().mptcp_info {
                    return Err(unsupported(
                        "MPTCP_INFO cannot be trusted here: the host probe did not prove SOL_MPTCP works (Linux 5.16+)",
                    ));
                }
                if !created_as_mptcp(fd)? {
                    return Ok(MptcpStatus::Tcp);
                }
                Ok(if mptcp_info_answers(fd)? { MptcpStatus::Mptcp } else { MptcpStatus::Fallback })
            }
            Mechanism::InetDiag => {
                if !created_as_mptcp(fd)? {
                    return Ok(MptcpStatus::Tcp);
                }
                diag_status(fd)
            }
            Mechanism::SoProtocol => {
                if created_as_mptcp(fd)? {
                    Err(unsupported(
                        "SO_PROTOCOL only shows the socket was created as MPTCP; it cannot confirm MPTCP is in use",
                    ))
                } else {
                    Ok(MptcpStatus::Tcp)
                }
            }
        }
    }

    #[cfg(feature = "netlink")]
    fn diag_status(fd: BorrowedFd<'_>) -> io::Result<MptcpStatus> {
        match crate::diag::lookup_socket(fd)? {
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

    #[cfg(not(feature = "netlink"))]
    fn diag_status(_fd: BorrowedFd<'_>) -> io::Result<MptcpStatus> {
        Err(unsupported("inet_diag needs the `netlink` feature of the mptcp crate"))
    }

    /// Status with the best mechanism available. On kernels with
    /// `TCP_IS_MPTCP` an MPTCP connection costs exactly one syscall.
    pub(crate) fn status(fd: BorrowedFd<'_>) -> io::Result<MptcpStatus> {
        let support = host_support();
        if support.tcp_is_mptcp {
            match tcp_is_mptcp(fd)? {
                Some(true) => return Ok(MptcpStatus::Mptcp),
                Some(false) => return status_from_protocol(fd),
                None => {}
            }
        }
        if !created_as_mptcp(fd)? {
            return Ok(MptcpStatus::Tcp);
        }
        // A successful MPTCP_INFO always proves MPTCP is in use; its failure
        // means fallback only where the probe proved SOL_MPTCP works.
        if mptcp_info_answers(fd)? {
            return Ok(MptcpStatus::Mptcp);
        }
        if support.mptcp_info {
            return Ok(MptcpStatus::Fallback);
        }
        if support.inet_diag {
            return diag_status(fd);
        }
        Err(unsupported(
            "this kernel offers no way to confirm MPTCP on this socket (no TCP_IS_MPTCP, MPTCP_INFO or MPTCP inet_diag)",
        ))
    }
}
