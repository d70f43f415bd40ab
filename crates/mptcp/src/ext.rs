//! `MptcpExt`: status and connection info on any socket that has a descriptor.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use crate::info::{MptcpInfo, SubflowDetail, SubflowInfo};
use crate::status::{Given, Mechanism, MptcpStatus};

/// MPTCP status and connection info, for std's and tokio's `TcpStream` and
/// for `socket2::Socket` (and listeners).
///
/// Every call asks the kernel now: fallback can happen late, after data.
///
/// # Errors
///
/// What each kind of descriptor gets:
///
/// | given | `created_as_mptcp` | every other method |
/// |---|---|---|
/// | a TCP or MPTCP connection | the answer | the answer |
/// | a TCP or MPTCP listener | the answer | `InvalidInput`: a listener has no connection |
/// | an unconnected TCP or MPTCP socket, or a closed connection (`BorrowedFd`, `socket2::Socket`) | the answer | `NotConnected` |
/// | another socket (UDP, Unix, raw, ...) | `Ok(false)` | `InvalidInput`, naming the socket |
/// | a descriptor that is not a socket (file, pipe) | `InvalidInput` | `InvalidInput` |
/// | a closed descriptor (`EBADF`) | `InvalidInput` | `InvalidInput` |
///
/// std's and tokio's `TcpStream` are connected by construction, so their
/// status costs one `getsockopt` on Linux 6.10+ and a closed connection
/// still reports what it ran on; a `BorrowedFd` or `socket2::Socket` may be
/// anything, so one `getpeername` first checks it is connected.
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use mptcp::{MptcpExt, MptcpListenerExt, MptcpStreamExt};
///
/// let listener = TcpListener::bind_mptcp("127.0.0.1:0")?;
/// let stream = TcpStream::connect_mptcp(listener.local_addr()?)?;
/// // MPTCP sockets where the host has MPTCP, plain TCP elsewhere.
/// assert_eq!(stream.created_as_mptcp()?, mptcp::host_support().is_available());
/// assert_eq!(listener.created_as_mptcp()?, mptcp::host_support().is_available());
/// println!("status: {:?}", stream.mptcp_status());
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait MptcpExt {
    /// Whether the connection uses MPTCP right now, with the best mechanism
    /// the kernel offers (see [`Mechanism`]). On Linux 6.10+ an MPTCP
    /// connection costs one `getsockopt(TCP_IS_MPTCP)` on a `TcpStream`
    /// (one `getpeername` more on a `BorrowedFd` or `socket2::Socket`).
    ///
    /// # Errors
    ///
    /// `Unsupported` when the kernel offers no way to confirm MPTCP for an
    /// MPTCP socket: this crate never guesses `Mptcp`. For what is not a
    /// connection (a listener, a UDP socket, a file, ...), the errors of the
    /// table above.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::TcpStream;
    /// use mptcp::{MptcpExt, MptcpStreamExt};
    ///
    /// let s = TcpStream::connect_mptcp("127.0.0.1:8080")?;
    /// if !s.mptcp_status()?.is_mptcp() {
    ///     eprintln!("warning: the server did not negotiate MPTCP");
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn mptcp_status(&self) -> io::Result<MptcpStatus>;

    /// Like [`mptcp_status`](MptcpExt::mptcp_status) with one explicit mechanism.
    ///
    /// # Errors
    ///
    /// `Unsupported` when this kernel lacks the mechanism, or (for
    /// [`Mechanism::SoProtocol`]) when it cannot tell for this socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::TcpStream;
    /// use mptcp::{Mechanism, MptcpExt, MptcpStreamExt};
    ///
    /// let s = TcpStream::connect_mptcp("127.0.0.1:8080")?;
    /// let by_diag = s.mptcp_status_with(Mechanism::InetDiag)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn mptcp_status_with(&self, mechanism: Mechanism) -> io::Result<MptcpStatus>;

    /// Whether the socket was created as MPTCP (`SO_PROTOCOL == IPPROTO_MPTCP`).
    /// Says nothing about the connection: see [`mptcp_status`](MptcpExt::mptcp_status).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::TcpStream;
    /// use mptcp::{MptcpExt, MptcpStreamExt};
    /// let s = TcpStream::connect_mptcp("127.0.0.1:8080")?;
    /// println!("created as MPTCP: {}", s.created_as_mptcp()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn created_as_mptcp(&self) -> io::Result<bool>;

    /// `getsockopt(SOL_MPTCP, MPTCP_INFO)`, parsed. `None` when the
    /// connection does not use MPTCP; fields the kernel does not report are
    /// `None`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::TcpStream;
    /// use mptcp::{MptcpExt, MptcpStreamExt};
    ///
    /// let s = TcpStream::connect_mptcp("127.0.0.1:8080")?;
    /// if let Some(info) = s.mptcp_info()? {
    ///     println!("token {:08x}, {:?} extra subflows", info.token.unwrap_or(0), info.subflows);
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn mptcp_info(&self) -> io::Result<Option<MptcpInfo>>;

    /// Every subflow with addresses, id and `tcp_info`, through
    /// `MPTCP_FULL_INFO` where the kernel has it (6.5), else
    /// `MPTCP_TCPINFO` + `MPTCP_SUBFLOW_ADDRS`. For a connection not using
    /// MPTCP: its single TCP flow.
    ///
    /// The socket options do not carry the backup flag, so
    /// [`SubflowInfo::backup`] is `None` here: one `getsockopt` on 6.5+,
    /// about 1.4 µs for two subflows on Linux 6.18 (little more than that one
    /// system call alone; `bench/status.sh`).
    /// [`subflows_with`](MptcpExt::subflows_with) reads more.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::TcpStream;
    /// use mptcp::{MptcpExt, MptcpStreamExt};
    ///
    /// let s = TcpStream::connect_mptcp("127.0.0.1:8080")?;
    /// for sf in s.subflows()? {
    ///     println!("{:?} -> {:?} rtt {:?}us", sf.local, sf.remote, sf.tcp.rtt_us);
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn subflows(&self) -> io::Result<Vec<SubflowInfo>>;

    /// Subflows through `MPTCP_TCPINFO` + `MPTCP_SUBFLOW_ADDRS` even where
    /// `MPTCP_FULL_INFO` exists: two `getsockopt` calls, no netlink (ids and
    /// the backup flag are `None` then).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::TcpStream;
    /// use mptcp::{MptcpExt, MptcpStreamExt};
    /// let s = TcpStream::connect_mptcp("127.0.0.1:8080")?;
    /// assert_eq!(s.subflows_legacy()?.len(), s.subflows()?.len());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn subflows_legacy(&self) -> io::Result<Vec<SubflowInfo>>;

    /// [`subflows`](MptcpExt::subflows), with `detail` read too (see
    /// [`SubflowDetail`] for what each costs).
    ///
    /// # Errors
    ///
    /// Those of `subflows`; `Unsupported` for [`SubflowDetail::Backup`]
    /// without feature `netlink`; the error of the inet_diag request when
    /// it fails (a subflow it does not find keeps `backup: None`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::TcpStream;
    /// use mptcp::info::SubflowDetail;
    /// use mptcp::{MptcpExt, MptcpStreamExt};
    ///
    /// let s = TcpStream::connect_mptcp("127.0.0.1:8080")?;
    /// let backups = s.subflows_with(SubflowDetail::Backup)?.iter().filter(|sf| sf.backup == Some(true)).count();
    /// println!("{backups} backup subflows");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn subflows_with(&self, detail: SubflowDetail) -> io::Result<Vec<SubflowInfo>>;
}

#[cfg(mptcp_linux)]
mod imp {
    pub(super) use crate::conn::{mptcp_info, subflows, subflows_legacy, subflows_with};
    pub(super) use crate::detect::{created_as_mptcp, status, status_with};
}

/// Elsewhere MPTCP does not exist: sockets are plain TCP.
#[cfg(not(mptcp_linux))]
mod imp {
    use super::*;

    fn unsupported() -> io::Error {
        io::Error::new(io::ErrorKind::Unsupported, "MPTCP exists only on Linux")
    }
    pub(super) fn status(_: BorrowedFd<'_>, given: Given) -> io::Result<MptcpStatus> {
        given.refuse_listener()?;
        Ok(MptcpStatus::Tcp)
    }
    pub(super) fn status_with(_: BorrowedFd<'_>, _: Mechanism, given: Given) -> io::Result<MptcpStatus> {
        given.refuse_listener()?;
        Ok(MptcpStatus::Tcp)
    }
    pub(super) fn created_as_mptcp(_: BorrowedFd<'_>) -> io::Result<bool> {
        Ok(false)
    }
    pub(super) fn mptcp_info(_: BorrowedFd<'_>, given: Given) -> io::Result<Option<MptcpInfo>> {
        given.refuse_listener()?;
        Ok(None)
    }
    pub(super) fn subflows(_: BorrowedFd<'_>, given: Given) -> io::Result<Vec<SubflowInfo>> {
        given.refuse_listener()?;
        Err(unsupported())
    }
    pub(super) fn subflows_legacy(_: BorrowedFd<'_>, given: Given) -> io::Result<Vec<SubflowInfo>> {
        given.refuse_listener()?;
        Err(unsupported())
    }
    pub(super) fn subflows_with(_: BorrowedFd<'_>, _: SubflowDetail, given: Given) -> io::Result<Vec<SubflowInfo>> {
        given.refuse_listener()?;
        Err(unsupported())
    }
}

macro_rules! impl_ext {
    ($($(#[$m:meta])* $t:ty => $given:expr),*) => {$(
        $(#[$m])*
        impl MptcpExt for $t {
            fn mptcp_status(&self) -> io::Result<MptcpStatus> {
                imp::status(self.as_fd(), $given)
            }
            fn mptcp_status_with(&self, mechanism: Mechanism) -> io::Result<MptcpStatus> {
                imp::status_with(self.as_fd(), mechanism, $given)
            }
            fn created_as_mptcp(&self) -> io::Result<bool> {
                imp::created_as_mptcp(self.as_fd())
            }
            fn mptcp_info(&self) -> io::Result<Option<MptcpInfo>> {
                imp::mptcp_info(self.as_fd(), $given)
            }
            fn subflows(&self) -> io::Result<Vec<SubflowInfo>> {
                imp::subflows(self.as_fd(), $given)
            }
            fn subflows_legacy(&self) -> io::Result<Vec<SubflowInfo>> {
                imp::subflows_legacy(self.as_fd(), $given)
            }
            fn subflows_with(&self, detail: SubflowDetail) -> io::Result<Vec<SubflowInfo>> {
                imp::subflows_with(self.as_fd(), detail, $given)
            }
        }
    )*};
}

impl_ext!(
    std::net::TcpStream => Given::Stream,
    std::net::TcpListener => Given::Listener,
    socket2::Socket => Given::Unknown,
    BorrowedFd<'_> => Given::Unknown,
    #[cfg(feature = "tokio")]
    tokio::net::TcpStream => Given::Stream,
    #[cfg(feature = "tokio")]
    tokio::net::TcpListener => Given::Listener
);

#[cfg(test)]
#[path = "ext_tests.rs"]
mod tests;
