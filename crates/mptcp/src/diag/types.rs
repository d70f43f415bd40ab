//! The public types of inet_diag listing: sockets, subflows, connections,
//! and the filter over connections.

use std::net::{IpAddr, SocketAddr};

use netlink_packet_sock_diag::constants::TCP_LISTEN;

use super::wire::{Response, SubflowAttr};
use crate::info::{MptcpInfo, TcpInfo};

/// `MPTCP_SUBFLOW_FLAG_MCAP_REM`: the peer sent MP_CAPABLE.
pub const SUBFLOW_FLAG_MCAP_REM: u32 = 1 << 0;
/// `MPTCP_SUBFLOW_FLAG_MCAP_LOC`: we sent MP_CAPABLE.
pub const SUBFLOW_FLAG_MCAP_LOC: u32 = 1 << 1;
/// `MPTCP_SUBFLOW_FLAG_JOIN_REM`: the peer sent MP_JOIN.
pub const SUBFLOW_FLAG_JOIN_REM: u32 = 1 << 2;
/// `MPTCP_SUBFLOW_FLAG_JOIN_LOC`: we sent MP_JOIN.
pub const SUBFLOW_FLAG_JOIN_LOC: u32 = 1 << 3;
/// `MPTCP_SUBFLOW_FLAG_BKUP_REM`: the peer marked this subflow backup.
pub const SUBFLOW_FLAG_BKUP_REM: u32 = 1 << 4;
/// `MPTCP_SUBFLOW_FLAG_BKUP_LOC`: we asked for this subflow to be backup.
pub const SUBFLOW_FLAG_BKUP_LOC: u32 = 1 << 5;
/// `MPTCP_SUBFLOW_FLAG_FULLY_ESTABLISHED`.
pub const SUBFLOW_FLAG_FULLY_ESTABLISHED: u32 = 1 << 6;
/// `MPTCP_SUBFLOW_FLAG_CONNECTED`.
pub const SUBFLOW_FLAG_CONNECTED: u32 = 1 << 7;
/// `MPTCP_SUBFLOW_FLAG_MAPVALID`.
pub const SUBFLOW_FLAG_MAPVALID: u32 = 1 << 8;

/// An IP address family: which sockets [`mptcp_sockets`](super::mptcp_sockets) lists.
///
/// With feature `serde`: `Serialize` as `"ipv4"` or `"ipv6"`.
///
/// # Examples
///
/// ```
/// use mptcp::diag::AddressFamily;
///
/// let addr: std::net::SocketAddr = "[::1]:80".parse().unwrap();
/// assert_eq!(AddressFamily::of(&addr), AddressFamily::Ipv6);
/// assert_eq!(AddressFamily::Ipv4.raw(), libc::AF_INET as u8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum AddressFamily {
    /// `AF_INET`.
    Ipv4,
    /// `AF_INET6`.
    Ipv6,
}

impl AddressFamily {
    /// Both families, IPv4 first.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::diag::{mptcp_sockets, AddressFamily};
    ///
    /// let mut all = Vec::new();
    /// for family in AddressFamily::ALL {
    ///     all.extend(mptcp_sockets(family)?);
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub const ALL: [AddressFamily; 2] = [AddressFamily::Ipv4, AddressFamily::Ipv6];

    /// The family of `addr`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::diag::AddressFamily;
    ///
    /// assert_eq!(AddressFamily::of(&"10.0.0.1:80".parse().unwrap()), AddressFamily::Ipv4);
    /// ```
    pub fn of(addr: &SocketAddr) -> AddressFamily {
        if addr.is_ipv4() {
            AddressFamily::Ipv4
        } else {
            AddressFamily::Ipv6
        }
    }

    /// The kernel's number (`AF_INET` = 2, `AF_INET6` = 10).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mptcp::diag::AddressFamily::Ipv6.raw(), libc::AF_INET6 as u8);
    /// ```
    pub fn raw(self) -> u8 {
        match self {
            AddressFamily::Ipv4 => libc::AF_INET as u8,
            AddressFamily::Ipv6 => libc::AF_INET6 as u8,
        }
    }
}

/// One MPTCP socket as inet_diag reports it.
///
/// With feature `serde`: `Serialize`, with `info` as a nested object.
///
/// # Examples
///
/// ```no_run
/// use mptcp::diag::{mptcp_sockets, AddressFamily};
///
/// for s in mptcp_sockets(AddressFamily::Ipv4)? {
///     let fallback = s.info.as_ref().and_then(|i| i.is_fallback());
///     println!("{} -> {} state {} cookie {:#x} fallback {fallback:?}", s.local, s.remote, s.state, s.cookie);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DiagSocket {
    /// IPv4 or IPv6.
    pub family: AddressFamily,
    /// TCP-style state number (1 = established, 10 = listen, ...; see
    /// [`tcp_state_name`](crate::info::tcp_state_name)).
    pub state: u8,
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
    /// Interface index the socket is bound to (0 = none).
    pub ifindex: u32,
    /// Socket cookie (as `SO_COOKIE` returns it).
    pub cookie: u64,
    /// Socket inode.
    pub inode: u32,
    /// `struct mptcp_info` of the connection, when reported.
    pub info: Option<MptcpInfo>,
}

impl DiagSocket {
    pub(super) fn from_response(r: &Response) -> DiagSocket {
        let (local, remote) = r.addrs();
        DiagSocket {
            family: AddressFamily::of(&local),
            state: r.header.state,
            local,
            remote,
            ifindex: r.header.socket_id.interface_id,
            cookie: r.cookie(),
            inode: r.header.inode,
            info: r.info().map(MptcpInfo::parse),
        }
    }
}

/// One MPTCP subflow: a TCP socket whose ULP is `mptcp`, as inet_diag
/// reports it (`ss -tni` shows the same as `tcp-ulp-mptcp`).
///
/// With feature `serde`: `Serialize`, with `tcp` as a nested object.
///
/// # Examples
///
/// ```no_run
/// for sf in mptcp::diag::subflows()? {
///     let rtt = sf.tcp.as_ref().and_then(|t| t.rtt_us);
///     println!("{} -> {} ids {:?}/{:?} rtt {rtt:?}us", sf.local, sf.remote, sf.id_local, sf.id_remote);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Subflow {
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
    /// TCP state number (1 = established).
    pub state: u8,
    /// Interface the socket is bound to (0 = none).
    pub ifindex: u32,
    /// Local token: the token of the connection this subflow belongs to.
    pub token_local: Option<u32>,
    /// The peer's token.
    pub token_remote: Option<u32>,
    /// Local address id.
    pub id_local: Option<u8>,
    /// Remote address id.
    pub id_remote: Option<u8>,
    /// `MPTCP_SUBFLOW_FLAG_*` bits ([`SUBFLOW_FLAG_BKUP_LOC`], ...).
    pub flags: Option<u32>,
    /// The subflow's `tcp_info`, when reported.
    pub tcp: Option<TcpInfo>,
}

impl Subflow {
    /// Whether this subflow is a backup path (asked by either side).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let backups = mptcp::diag::subflows()?.into_iter().filter(|sf| sf.is_backup()).count();
    /// println!("{backups} backup subflows");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_backup(&self) -> bool {
        self.flags.is_some_and(|f| f & (SUBFLOW_FLAG_BKUP_LOC | SUBFLOW_FLAG_BKUP_REM) != 0)
    }

    /// Whether this subflow was added with MP_JOIN (not the initial one).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// for sf in mptcp::diag::subflows()?.iter().filter(|sf| sf.is_join()) {
    ///     println!("joined subflow {} -> {} of token {:?}", sf.local, sf.remote, sf.token_local);
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_join(&self) -> bool {
        self.flags.is_some_and(|f| f & (SUBFLOW_FLAG_JOIN_LOC | SUBFLOW_FLAG_JOIN_REM) != 0)
    }

    /// The subflow of a TCP socket reply; `None` unless its ULP is `mptcp`.
    pub(super) fn from_response(r: &Response) -> Option<Subflow> {
        let attrs = r.mptcp_subflow()?;
        let (local, remote) = r.addrs();
        let mut sf = Subflow {
            local,
            remote,
            state: r.header.state,
            ifindex: r.header.socket_id.interface_id,
            token_local: None,
            token_remote: None,
            id_local: None,
            id_remote: None,
            flags: None,
            tcp: r.info().map(TcpInfo::parse),
        };
        for a in attrs {
            match a {
                SubflowAttr::TokenRem(v) => sf.token_remote = Some(v),
                SubflowAttr::TokenLoc(v) => sf.token_local = Some(v),
                SubflowAttr::Flags(v) => sf.flags = Some(v),
                SubflowAttr::IdRem(v) => sf.id_remote = Some(v),
                SubflowAttr::IdLoc(v) => sf.id_local = Some(v),
                SubflowAttr::Other(_) => {}
            }
        }
        Some(sf)
    }
}

/// An MPTCP connection with its subflows.
///
/// With feature `serde`: `Serialize`, with `socket` and `subflows` nested.
///
/// # Examples
///
/// ```no_run
/// use mptcp::diag::{connections, Filter};
///
/// for c in connections(&Filter::default())? {
///     let initial = c.subflows.first().map(|sf| sf.local);
///     println!("token {:?} fallback {:?}: {} subflows, initial {initial:?}", c.token, c.fallback, c.subflows.len());
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Connection {
    /// The MPTCP socket (addresses of the initial subflow, state, `mptcp_info`).
    pub socket: DiagSocket,
    /// Connection token (`mptcp_info.token`).
    pub token: Option<u32>,
    /// Whether the connection fell back to TCP (`mptcp_info.flags`).
    pub fallback: Option<bool>,
    /// Its subflows (TCP sockets with the same local token), initial first.
    pub subflows: Vec<Subflow>,
}

/// Which connections [`connections`](super::connections) returns.
///
/// # Examples
///
/// ```
/// let f = mptcp::diag::Filter::default().port(8080);
/// assert_eq!(f.port, Some(8080));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Filter {
    /// Only connections with this local or remote port.
    pub port: Option<u16>,
    /// Only connections with this local or remote address (on any subflow).
    pub addr: Option<IpAddr>,
    /// Include listening sockets.
    pub listening: bool,
}

impl Filter {
    /// Keeps connections with `port` as a local or remote port of any of
    /// their subflows.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::diag::Filter;
    ///
    /// let f = Filter::default().port(443);
    /// assert_eq!(f.port, Some(443));
    /// assert_eq!(f.addr, None);
    /// ```
    pub fn port(mut self, port: u16) -> Filter {
        self.port = Some(port);
        self
    }
    /// Keeps connections with `addr` on either side of any subflow.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::IpAddr;
    /// use mptcp::diag::Filter;
    ///
    /// let peer: IpAddr = "10.0.1.2".parse().unwrap();
    /// assert_eq!(Filter::default().addr(peer).addr, Some(peer));
    /// ```
    pub fn addr(mut self, addr: IpAddr) -> Filter {
        self.addr = Some(addr);
        self
    }
    /// Includes listeners.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::diag::Filter;
    ///
    /// assert!(!Filter::default().listening); // listeners are left out by default
    /// assert!(Filter::default().listening(true).listening);
    /// ```
    pub fn listening(mut self, on: bool) -> Filter {
        self.listening = on;
        self
    }

    pub(super) fn matches(&self, c: &Connection) -> bool {
        if !self.listening && c.socket.state == TCP_LISTEN {
            return false;
        }
        let pairs =
            std::iter::once((c.socket.local, c.socket.remote)).chain(c.subflows.iter().map(|s| (s.local, s.remote)));
        let pairs: Vec<_> = pairs.collect();
        if let Some(p) = self.port {
            if !pairs.iter().any(|(l, r)| l.port() == p || r.port() == p) {
                return false;
            }
        }
        if let Some(a) = self.addr {
            let same = |x: IpAddr| x == a || canonical(x) == canonical(a);
            if !pairs.iter().any(|(l, r)| same(l.ip()) || same(r.ip())) {
                return false;
            }
        }
        true
    }
}

/// The same address whether written as IPv4 or IPv4-mapped IPv6.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    }
}
