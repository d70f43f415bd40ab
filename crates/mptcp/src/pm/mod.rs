//! The path manager over generic netlink (`mptcp_pm`): endpoints, limits,
//! the userspace path manager and events.
//!
//! Everything here acts on the calling thread's network namespace, like
//! `ip mptcp`. Reading endpoints and limits is allowed to anyone; every
//! change, and subscribing to events, needs `CAP_NET_ADMIN` in that
//! namespace ([`Error::Kernel`] with `EPERM` says so).
//!
//! - [`PathManager`]: one netlink socket, blocking requests, each with its
//!   own sequence number and acknowledged by the kernel.
//! - [`EventListener`]: a blocking iterator of typed [`Event`]s.
//! - With feature `tokio`: [`AsyncPathManager`] (the same methods, `async`)
//!   and [`EventStream`] (a `futures_core::Stream`).
//!
//! Where the kernel has no path manager, opening a handle fails with
//! [`Error::FamilyNotFound`], whose message says why (a kernel built
//! without MPTCP, or one older than the path manager API).
//!
//! # Examples
//!
//! ```no_run
//! use mptcp::pm::{Endpoint, EndpointFlags, PathManager};
//!
//! let mut pm = PathManager::new()?;
//! pm.set_limits(Some(2), Some(2))?;
//! pm.add_endpoint(&Endpoint::new("10.0.2.1".parse().unwrap()).with_flags(EndpointFlags::SUBFLOW))?;
//! for ep in pm.endpoints()? {
//!     println!("{} id {} {}", ep.addr, ep.id, ep.flags);
//! }
//! # Ok::<(), mptcp::pm::Error>(())
//! ```
//!
#![cfg_attr(not(feature = "tokio"), doc = "[`AsyncPathManager`]: crate#features")]
#![cfg_attr(not(feature = "tokio"), doc = "[`EventStream`]: crate#features")]

mod api;
#[cfg(feature = "tokio")]
mod async_io;
mod blocking;
mod endpoint_ref;
mod error;
mod event;
mod family;
mod nl;
mod requests;
mod subscription;
mod types;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use async_io::{AsyncPathManager, EventStream};
pub use blocking::PathManager;
pub use endpoint_ref::EndpointRef;
pub use error::{why_no_path_manager, Error, Result};
pub use event::{Event, EventKind, EVENT_FLAG_DENY_JOIN_ID0, EVENT_FLAG_SERVER_SIDE};
pub use subscription::EventListener;
pub use types::{Endpoint, EndpointFlags, Limits, LocalAddr, MAX_LIMIT};

pub use crate::sys::{interface_index, interface_name};

/// The id of the path manager's events group (`mptcp_pm_events`), `None`
/// where the kernel has none: `diagnose` looks for the netlink sockets
/// subscribed to it.
pub(crate) fn events_group() -> Result<Option<u32>> {
    let mut buf = vec![0u8; crate::netlink::RECV_BUF];
    family::open_blocking(&mut buf).map(|(_, fam)| fam.events_group)
}
