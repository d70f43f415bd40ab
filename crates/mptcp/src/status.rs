//! The answers to "is this connection using MPTCP right now?" and the
//! mechanisms that give them. How the answer is found is in `detect`.

use std::io;

/// What a connection runs on right now.
///
/// Three answers cover every connection, so the enum is exhaustive.
///
/// With feature `serde`: `Serialize` as `"mptcp"`, `"fallback"` or `"tcp"`.
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
/// uses one explicitly. New kernels may bring new mechanisms, so the enum
/// is `#[non_exhaustive]`.
///
/// With feature `serde`: `Serialize` as its kebab-case name (`"tcp-is-mptcp"`, ...).
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
#[non_exhaustive]
pub enum Mechanism {
    /// `getsockopt(SOL_TCP, TCP_IS_MPTCP)` (Linux 6.10): one syscall, unambiguous.
    TcpIsMptcp,
    /// `getsockopt(SOL_MPTCP, MPTCP_INFO)` (5.16): succeeds while MPTCP is in
    /// use, fails with `EOPNOTSUPP`/`ENOPROTOOPT` after fallback. Used only
    /// where the host probe proved `SOL_MPTCP` works.
    MptcpInfo,
    /// The `MPTCP_INFO_FLAG_FALLBACK` flag inet_diag reports for this
    /// socket, in the socket's network namespace: one exact request by the
    /// connection's token (from `MPTCP_INFO`, or from the initial subflow's
    /// ULP info by one more exact request), checked against `SO_COOKIE`.
    /// Its cost does not grow with the other sockets of the namespace, and
    /// it needs no privilege.
    InetDiag,
    /// `SO_PROTOCOL`: only says whether the socket was *created* as MPTCP,
    /// so it can answer [`MptcpStatus::Tcp`] but never confirm MPTCP.
    SoProtocol,
}

impl Mechanism {
    /// Every mechanism, best first.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::Mechanism;
    ///
    /// assert_eq!(Mechanism::ALL.first(), Some(&Mechanism::TcpIsMptcp));
    /// assert_eq!(Mechanism::ALL.last(), Some(&Mechanism::SoProtocol));
    /// ```
    pub const ALL: &'static [Mechanism] =
        &[Mechanism::TcpIsMptcp, Mechanism::MptcpInfo, Mechanism::InetDiag, Mechanism::SoProtocol];

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
    type Err = ParseMechanismError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mechanism::ALL.iter().copied().find(|m| m.as_str() == s).ok_or_else(|| ParseMechanismError(s.to_string()))
    }
}

/// A string that names no [`Mechanism`]; the message lists the names.
///
/// # Examples
///
/// ```
/// use mptcp::{Mechanism, ParseMechanismError};
///
/// let err: ParseMechanismError = "tcp_info".parse::<Mechanism>().unwrap_err();
/// assert!(err.to_string().contains("expected one of tcp-is-mptcp, mptcp-info, inet-diag, so-protocol"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mechanism {0:?}: expected one of {names}", names = Mechanism::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "))]
pub struct ParseMechanismError(String);

/// What the caller's type already tells about its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Given {
    /// A connected stream by construction: std's and tokio's `TcpStream`.
    Stream,
    /// A listening socket: std's and tokio's `TcpListener`.
    Listener,
    /// Any descriptor: `BorrowedFd`, `socket2::Socket`.
    Unknown,
}

impl Given {
    /// The error for asking a listener about its connection.
    pub(crate) fn listener_error() -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a listening socket has no connection: ask the streams accept() returns (created_as_mptcp() says \
             whether the listener accepts MPTCP)",
        )
    }

    /// Refuses a listener before anything is asked of the kernel.
    pub(crate) fn refuse_listener(self) -> io::Result<()> {
        match self {
            Given::Listener => Err(Given::listener_error()),
            _ => Ok(()),
        }
    }
}
