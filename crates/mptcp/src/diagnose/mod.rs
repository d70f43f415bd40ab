//! Why a connection is not MPTCP, or has fewer subflows than the host has
//! paths: the reasoning behind `mptcp doctor`.
//!
//! [`MptcpExt::mptcp_status`](crate::MptcpExt::mptcp_status) answers "is it
//! MPTCP?". This module answers "why not?", from every source a host has:
//! the socket (`TCP_IS_MPTCP`, `MPTCP_INFO`, `MPTCP_FULL_INFO`), the path
//! manager's events of the connection, the `MPTcpExt` counters' increase
//! around the attempt, the sysctls, limits and endpoints, the interfaces
//! and the route the kernel would pick for each endpoint, and the programs
//! that manage endpoints.
//!
//! It comes in two halves:
//!
//! - **Observations** ([`Observations`]): plain data. With feature
//!   `netlink` on Linux, [`observe_host`], [`ClientWatch`] and
//!   [`ServerWatch`] fill them; tests and other tools can build them by
//!   hand or read them from JSON (feature `serde`).
//! - **Reasoning** ([`diagnose`]): a pure function, observations in,
//!   [`Report`] out. No I/O: the same observations always give the same
//!   findings.
//!
//! # Findings
//!
//! Each [`Finding`] has a stable [`FindingId`], a [`Severity`], the values
//! observed, a message and, where there is one, the command that fixes it.
//! An **error** explains a fallback or a missing subflow.
//!
//! | id | evidence |
//! |---|---|
//! | `mptcp-not-built`, `mptcp-kernel-too-old`, `mptcp-disabled`, `mptcp-blocked` | the errno of `socket(IPPROTO_MPTCP)`: `EPROTONOSUPPORT`, `EINVAL`, `ENOPROTOOPT`, other |
//! | `no-mptcp-answer` | fallback, `MPCapableSYNTX` and `MPCapableFallbackSYNACK` rose: the SYN-ACK came without MP_CAPABLE |
//! | `syn-dropped-fallback` | fallback, `MPCapableSYNTXDrop` rose: MP_CAPABLE SYNs unanswered, the kernel retried without (and counts a `Blackhole`) |
//! | `blackhole` | fallback, `MPCapableSYNTXDisabled` rose and `MPCapableSYNTX` did not: active MPTCP is disabled in the namespace |
//! | `late-fallback` | fallback after `MPCapableSYNACKRX`: the handshake was MPTCP (`MPCapableDataFallback`, `DssFallback`, ...) |
//! | `limit-subflows-zero` | the connection's `subflows_max` is 0 while endpoints or announcements offer paths |
//! | `no-subflow-endpoints` | no `subflow` endpoint, no `announced` event, and more usable addresses |
//! | `add-addr-not-accepted` | `announced` events for the token, `add_addr_accepted_max` 0 |
//! | `endpoint-address-gone` | an endpoint's address on no interface (`MPJoinSynTxBindErr`) |
//! | `endpoint-interface-down` | an endpoint's device down or gone |
//! | `endpoint-no-route` | the route lookup from the endpoint's address (and device) fails (`MPJoinSynTxConnectErr`) |
//! | `join-unanswered` | the endpoint's subflow in `SYN-SENT` at the end of the watch (`MPJoinSynTx` above `MPJoinSynAckRx`) |
//! | `join-rejected` | `sf_closed` for the endpoint's subflow right after its handshake; or the deny-join-id0 event flag and no announcement; server side: `MPJoinRejected` |
//! | `rp-filter` | a join unanswered, effective `rp_filter` 1 on its device, and the lookup without the device leaving through another one (`IPReversePathFilter` rose) |
//! | `userspace-pm-idle` | `path_manager=userspace`, no netlink socket subscribed to `mptcp_pm_events`, no manager process |
//! | `endpoint-limit` | 8 endpoints (the kernel's maximum) and usable addresses without one |
//! | `another-manager` | mptcpd, NetworkManager or `mptcp daemon` in the same network namespace (two or more: error) |
//! | `client-no-mptcp`, `passive-fallback` | server side: an accepted connection that is TCP; `MPCapableFallbackACK` |
//!
//! Counters belong to a network namespace: other connections there add to
//! the deltas. Per-connection evidence (the subflow list, the events of the
//! connection's token) is preferred where it exists, and a finding that
//! rests on counters says when other MPTCP connections were active.
//!
//! # Examples
//!
//! Reasoning over observations made elsewhere:
//!
//! ```
//! use mptcp::diagnose::{diagnose, Client, Endpoint, FindingId, IfAddr, Interface, Observations, Subflow};
//!
//! let mut obs = Observations::default();
//! obs.host.pm_family = true;
//! obs.host.interfaces = vec![
//!     Interface::new(2, "eth0", vec![IfAddr::new("10.0.1.1".parse().unwrap(), 24)]),
//!     Interface::new(3, "wlan0", vec![IfAddr::new("10.0.2.1".parse().unwrap(), 24)]),
//! ];
//! obs.host.endpoints = Some(vec![Endpoint::new(1, "10.0.2.1".parse().unwrap(), &["subflow"]).on(3)]);
//! let mut c = Client::default();
//! c.target = "10.0.1.2:80".into();
//! c.remote = Some("10.0.1.2:80".parse().unwrap());
//! c.local = Some("10.0.1.1:40000".parse().unwrap());
//! c.sent = 5;
//! c.subflows = vec![
//!     Subflow::new("10.0.1.1:40000", "10.0.1.2:80", "ESTAB"),
//!     Subflow::new("10.0.2.1:40001", "10.0.1.2:80", "SYN-SENT"),
//! ];
//! c.counters.insert("MPJoinSynTx".into(), 1);
//! obs.client = Some(c);
//!
//! let report = diagnose(&obs);
//! assert_eq!(report.error_ids(), [FindingId::JoinUnanswered]);
//! let s = report.subflows.unwrap();
//! assert_eq!((s.established, s.possible), (1, 2));
//! ```
//!
//! Observing this host (Linux, feature `netlink`):
//!
//! ```no_run
//! # #[cfg(all(feature = "netlink", target_os = "linux"))] {
//! use mptcp::diagnose::{diagnose, observe_host, Observations};
//!
//! let mut obs = Observations::default();
//! obs.host = observe_host(None);
//! let report = diagnose(&obs);
//! println!("{}", report.verdict);
//! for f in &report.findings {
//!     println!("{} {}: {}", f.severity, f.id, f.message);
//! }
//! # }
//! ```
#![cfg_attr(not(all(feature = "netlink", mptcp_linux)), doc = "[`observe_host`]: crate#features")]
#![cfg_attr(not(all(feature = "netlink", mptcp_linux)), doc = "[`ClientWatch`]: crate#features")]
#![cfg_attr(not(all(feature = "netlink", mptcp_linux)), doc = "[`ServerWatch`]: crate#features")]

mod finding;
mod observe;
mod reason;

#[cfg(all(feature = "netlink", mptcp_linux))]
mod gather;
#[cfg(all(feature = "netlink", mptcp_linux))]
mod rtnl;

#[cfg(test)]
mod tests;

pub use finding::{Fact, Facts, Finding, FindingId, Report, Severity, SubflowCount, UnknownFindingId};
pub use observe::{
    Accepted, Client, ConnStatus, Endpoint, Event, Host, IfAddr, Info, Interface, Limits, Manager, Neighbour,
    Observations, RouteAnswer, RouteCheck, Server, Subflow, Support,
};
pub use reason::{diagnose, MAX_ENDPOINTS};

#[cfg(all(feature = "netlink", mptcp_linux))]
#[cfg_attr(docsrs, doc(cfg(feature = "netlink")))]
pub use gather::{observe_host, ClientWatch, ServerWatch, ANYWHERE_V4, ANYWHERE_V6};
#[cfg(all(feature = "netlink", mptcp_linux))]
#[cfg_attr(docsrs, doc(cfg(feature = "netlink")))]
pub use rtnl::{route_get, RouteQuery};
