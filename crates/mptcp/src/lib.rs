//! Multipath TCP for Rust on Linux.
//!
//! - Create MPTCP sockets for std and tokio with a precise fallback policy:
//!   [`MptcpStreamExt::connect_mptcp`], [`MptcpListenerExt::bind_mptcp`],
//!   [`MptcpBuilder`], [`tokio::connect`].
//!   Only "MPTCP unavailable" errors at socket creation fall back to TCP; a
//!   failed connect is never retried.
//! - Ask whether a live connection really uses MPTCP: [`MptcpExt::mptcp_status`]
//!   probes the kernel ([`Mechanism`]), never its version string, and never
//!   answers [`MptcpStatus::Mptcp`] unless the kernel confirms it.
//! - Read connection and subflow info: [`MptcpExt::mptcp_info`], [`MptcpExt::subflows`].
//! - Know the host: [`host_support`].
//! - With feature `netlink` (default): inet_diag listing ([`diag`]) and the
//!   path manager ([`pm`]).
//!
//! # Examples
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
//! On targets other than Linux, `connect_mptcp`/`bind_mptcp` give plain TCP
//! and the status is [`MptcpStatus::Tcp`].
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `netlink` | yes | [`diag`] (inet_diag listing) and [`pm`] (the path manager and its events); with it, [`SubflowInfo::backup`] is filled in and [`Mechanism::InetDiag`] works |
//! | `tokio` | no | [`tokio`]: `connect`/`bind` returning tokio's types, async [`MptcpBuilder`] methods; with `netlink`, `pm::AsyncPathManager` and `pm::EventStream` |
//! | `serde` | no | `serde::Serialize` for the types that describe the host, a connection, the path manager and its events (each type's documentation says how it serializes) |
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(mptcp_linux)]
mod conn;
pub mod counters;
#[cfg(mptcp_linux)]
mod detect;
mod ext;
mod host;
pub mod info;
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

pub use ext::MptcpExt;
pub use host::{host_support, sysctls, Availability, HostSupport, Unavailable};
pub use info::{MptcpInfo, SubflowInfo, TcpInfo};
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
