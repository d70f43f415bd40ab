//! Multipath TCP for Rust on Linux.
//!
//! - Create MPTCP sockets for std and tokio with a precise fallback policy:
//!   [`MptcpStreamExt::connect_mptcp`], [`MptcpListenerExt::bind_mptcp`],
//!   [`MptcpBuilder`], [`tokio::connect`](crate::tokio::connect).
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
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(mptcp_linux)]
mod conn;
pub mod counters;
mod ext;
mod host;
pub mod info;
mod socket;
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

pub use ext::MptcpExt;
pub use host::{host_support, sysctls, Availability, HostSupport};
pub use info::{MptcpInfo, SubflowInfo, TcpInfo};
pub use socket::{new_socket, FallbackPolicy, MptcpBuilder, MptcpListenerExt, MptcpStreamExt};
pub use status::{Mechanism, MptcpStatus};

/// `IPPROTO_MPTCP`: the protocol number of MPTCP sockets.
pub const IPPROTO_MPTCP: i32 = 262;
