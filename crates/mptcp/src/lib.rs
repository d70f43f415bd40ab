//! Multipath TCP for Rust on Linux.
//!
//! Multipath TCP (MPTCP, RFC 8684) lets one connection use several network
//! paths at once: Wi-Fi and cellular, two uplinks, two NICs. To the
//! application it is one ordinary stream socket; underneath, the kernel
//! opens a TCP *subflow* per path, spreads the data over them, and keeps the
//! connection alive when a path goes away. Linux has had it since 5.6: a
//! program opts in by creating its sockets with `IPPROTO_MPTCP` (262)
//! instead of `IPPROTO_TCP`, and the kernel's *path manager* decides which
//! subflows to open (configured with `ip mptcp` or [`pm`]). This crate
//! creates such sockets for std and tokio, tells you what each connection
//! really negotiated, and reads its subflows, the kernel's counters and the
//! path manager.
//!
//! ```no_run
//! use std::io::Write;
//! use std::net::TcpStream;
//! use mptcp::{MptcpExt, MptcpStreamExt};
//!
//! let mut stream = TcpStream::connect_mptcp("127.0.0.1:8080")?;
//! stream.write_all(b"hello")?;
//! println!("status: {}", stream.mptcp_status()?);
//! for sf in stream.subflows()? {
//!     println!("  {:?} -> {:?}", sf.local, sf.remote);
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Fallback
//!
//! MPTCP degrades to plain TCP in three places, and this crate treats each
//! one differently:
//!
//! - **The host cannot create MPTCP sockets**: `socket(2)` answers
//!   `EPROTONOSUPPORT` (kernel built without MPTCP), `EINVAL` (older than
//!   5.6) or `ENOPROTOOPT` (`net.mptcp.enabled=0`). The [`FallbackPolicy`]
//!   decides: [`FallbackPolicy::Tcp`] (the default, as Go does) creates a
//!   plain TCP socket; [`FallbackPolicy::Fail`] returns an error that says
//!   why ([`Unavailable`]). No other error triggers it, and a refused or
//!   timed-out connect is returned after one attempt, never dialed again
//!   over TCP (crates that retry every failed dial double every failure).
//! - **The peer or a middlebox refuses MPTCP**: the connection works as
//!   TCP, and [`MptcpExt::mptcp_status`] says [`MptcpStatus::Fallback`] on
//!   the side that asked. Fallback can also happen late, after data: ask
//!   when you need the answer.
//! - **A middlebox strips MPTCP from the server's SYN-ACK**: the server's
//!   `accept()` returns a plain TCP socket, indistinguishable on the socket
//!   from a client that never asked. Only the namespace's counters show it:
//!   [`listener::MptcpListener`] reads them and reports
//!   [`listener::AcceptedStatus::Fallback`] ([`counters`] for the details).
//!
//! Go (`net.Dialer.SetMultipathTCP(true)`) also falls back silently where
//! MPTCP is unavailable, has no strict mode, and its `MultipathTCP()` answers
//! a bool from `MPTCP_INFO` that, on kernels without `SOL_MPTCP`, is `true`
//! for any socket *created* as MPTCP.
//!
//! # How the status is found
//!
//! [`MptcpExt::mptcp_status`] asks the kernel, never its version string:
//! [`host_support`] probes once which mechanisms exist, and the best one
//! answers. [`MptcpExt::mptcp_status_with`] picks one ([`Mechanism`]).
//!
//! | mechanism | kernel | how |
//! |---|---|---|
//! | [`Mechanism::TcpIsMptcp`] | 6.10 | `getsockopt(SOL_TCP, TCP_IS_MPTCP)`: 1 while MPTCP is on the wire; one syscall |
//! | [`Mechanism::MptcpInfo`] | 5.16 | `getsockopt(SOL_MPTCP, MPTCP_INFO)` succeeds while MPTCP is in use, fails with `EOPNOTSUPP`/`ENOPROTOOPT` after a fallback (trusted only where the probe proved `SOL_MPTCP` works) |
//! | [`Mechanism::InetDiag`] | 5.9, feature `netlink` | the fallback flag of this very socket in inet_diag (found by `SO_COOKIE`) |
//! | [`Mechanism::SoProtocol`] | any | `SO_PROTOCOL`: 6 means plain TCP; 262 only means *created* as MPTCP, so it never confirms MPTCP |
//!
//! Subflows are read with `MPTCP_FULL_INFO` (6.5: ids, addresses and
//! `tcp_info` in one call) or `MPTCP_TCPINFO` + `MPTCP_SUBFLOW_ADDRS` (5.16);
//! `struct mptcp_info` grew from 5.9 to 6.10, and fields a kernel lacks are
//! `None`. Debian's 5.10 (no MPTCP), 6.1, 6.12 and newer kernels are tested
//! under qemu.
//!
//! # A tour of the API
//!
//! - **Sockets**: [`MptcpStreamExt::connect_mptcp`] and
//!   [`MptcpListenerExt::bind_mptcp`] on std's types; [`MptcpBuilder`] for
//!   options before `connect`/`listen` (an option the kernel refuses on an
//!   MPTCP socket is named in the error), plain TCP baselines and the
//!   policy, and [`MptcpBuilder::dial`], which says which address answered
//!   and, when none did, why each failed ([`DialError`]); [`new_socket`]
//!   for a bare `socket2::Socket`.
//! - **Status**: [`MptcpExt`] on anything with a descriptor (std, tokio,
//!   socket2, `BorrowedFd`): [`MptcpStatus`], [`Mechanism`].
//! - **Info**: [`MptcpExt::mptcp_info`] ([`MptcpInfo`], the connection's
//!   counters) and [`MptcpExt::subflows`] ([`SubflowInfo`] with each
//!   subflow's [`TcpInfo`]); [`info`] has the parsers.
//! - **Host**: [`host_support`] (is MPTCP available, which mechanisms and
//!   socket options exist), [`sysctls`].
//! - **Counters**: [`counters::MptcpCounters`], the namespace's `MPTcpExt`
//!   counters with deltas; [`counters::PassiveFallbackDetector`].
//! - **Listeners with per-client status**: [`listener::MptcpListener`]
//!   and, with `tokio`, [`listener::AsyncMptcpListener`].
//! - **Path manager** (`netlink`): [`pm::PathManager`] for endpoints,
//!   limits and the userspace PM, [`pm::EventListener`] for events.
//! - **Connections on the host** (`netlink`): [`diag::connections`], as
//!   `ss -M` lists them.
//! - **Why not MPTCP?** [`diagnose`]: observations of the host and of a
//!   connection, and a pure [`diagnose::diagnose`] naming the cause of a
//!   fallback or of a missing subflow, with the fix (`mptcp doctor`).
//! - **tokio**: [`tokio::connect`], [`tokio::bind`] and async
//!   [`MptcpBuilder`] methods returning tokio's types.
//! - **HTTP** (`hyper`): [`hyper::MptcpConnector`] for hyper-util's client,
//!   hyper-rustls and tonic, with each connection's status and subflows in
//!   every response ([`hyper::MptcpConnectionInfo`]); [`hyper::MptcpStream`]
//!   for servers. reqwest offers no hook for it: [`hyper`] explains, and
//!   `mptcp run` (the CLI's preload) covers reqwest programs.
//!
//! On targets other than Linux, `connect_mptcp`/`bind_mptcp` give plain TCP
//! and the status is [`MptcpStatus::Tcp`].
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `netlink` | yes | [`diag`] (inet_diag listing) and [`pm`] (the path manager and its events); with it, [`SubflowInfo::backup`] is available through [`MptcpExt::subflows_with`]`(`[`SubflowDetail::Backup`]`)` and [`Mechanism::InetDiag`] works |
//! | `tokio` | no | [`tokio`]: `connect`/`bind` returning tokio's types, async [`MptcpBuilder`] methods, [`listener::AsyncMptcpListener`]; with `netlink`, `pm::AsyncPathManager` and `pm::EventStream` |
//! | `hyper` | no | [`hyper`]: a connector for hyper-util's client, hyper-rustls and tonic, and a stream type for servers (implies `tokio`; current hyper-util needs Rust 1.85) |
//! | `serde` | no | `serde::Serialize` for the types that describe the host, a connection, the path manager and its events (each type's documentation says how it serializes) |
//!
//! Items that need a feature say so on docs.rs.
//!
#![cfg_attr(not(feature = "tokio"), doc = "[`tokio`]: #features")]
#![cfg_attr(not(feature = "tokio"), doc = "[`tokio::connect`]: #features")]
#![cfg_attr(not(feature = "tokio"), doc = "[`tokio::bind`]: #features")]
#![cfg_attr(not(feature = "tokio"), doc = "[`listener::AsyncMptcpListener`]: #features")]
#![cfg_attr(not(feature = "hyper"), doc = "[`hyper`]: #features")]
#![cfg_attr(not(feature = "hyper"), doc = "[`hyper::MptcpConnector`]: #features")]
#![cfg_attr(not(feature = "hyper"), doc = "[`hyper::MptcpConnectionInfo`]: #features")]
#![cfg_attr(not(feature = "hyper"), doc = "[`hyper::MptcpStream`]: #features")]
#![cfg_attr(not(all(feature = "netlink", mptcp_linux)), doc = "[`pm`]: #features")]
#![cfg_attr(not(all(feature = "netlink", mptcp_linux)), doc = "[`pm::PathManager`]: #features")]
#![cfg_attr(not(all(feature = "netlink", mptcp_linux)), doc = "[`pm::EventListener`]: #features")]
#![cfg_attr(not(all(feature = "netlink", mptcp_linux)), doc = "[`diag`]: #features")]
#![cfg_attr(not(all(feature = "netlink", mptcp_linux)), doc = "[`diag::connections`]: #features")]
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// `mptcp_linux` (set by build.rs on Linux) is not for readers: docs.rs builds for Linux.
#![cfg_attr(docsrs, doc(auto_cfg(hide(mptcp_linux))))]

#[cfg(mptcp_linux)]
mod conn;
pub mod counters;
#[cfg(mptcp_linux)]
mod detect;
pub mod diagnose;
mod dial;
mod ext;
mod host;
pub mod info;
mod limits;
pub mod listener;
#[cfg(all(feature = "netlink", mptcp_linux))]
mod netlink;
mod socket;
#[cfg(mptcp_linux)]
mod sockopt;
mod status;
#[cfg(mptcp_linux)]
mod sys;

#[cfg(all(feature = "netlink", mptcp_linux))]
#[cfg_attr(docsrs, doc(cfg(feature = "netlink")))]
pub mod diag;

#[cfg(all(feature = "netlink", mptcp_linux))]
#[cfg_attr(docsrs, doc(cfg(feature = "netlink")))]
pub mod pm;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;

#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod hyper;

pub use dial::{Attempt, DialError};
pub use ext::MptcpExt;
pub use host::{host_support, sysctls, Availability, HostSupport, Unavailable};
pub use info::{MptcpInfo, SubflowDetail, SubflowInfo, TcpInfo};
pub use socket::{new_socket, FallbackPolicy, MptcpBuilder, MptcpListenerExt, MptcpStreamExt};
pub use status::{Mechanism, MptcpStatus, ParseMechanismError};

/// `IPPROTO_MPTCP` (262): the protocol number of MPTCP sockets (`libc::IPPROTO_MPTCP`).
///
/// # Examples
///
/// ```
/// use socket2::{Domain, Protocol, Socket, Type};
///
/// let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(mptcp::IPPROTO_MPTCP)));
/// assert_eq!(socket.is_ok(), mptcp::host_support().is_available());
/// ```
#[cfg(target_os = "linux")]
#[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
pub const IPPROTO_MPTCP: i32 = libc::IPPROTO_MPTCP;
