//! What the doctor looks at: plain data, filled by the gathering functions
//! (or by hand, or from a recorded JSON file), read by the reasoning.
//!
//! Every type is `Default` (an empty observation: MPTCP available, nothing
//! else known) and `#[non_exhaustive]`: build one with `default()` and set
//! the fields. With feature `serde`: `Serialize` and `Deserialize`, with
//! missing fields taking their default, so a recorded observation stays
//! readable as the types grow.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// Everything observed for one run of the doctor.
///
/// # Examples
///
/// ```
/// use mptcp::diagnose::{diagnose, Observations};
///
/// let obs = Observations::default();
/// assert_eq!(diagnose(&obs).mode, "host");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct Observations {
    /// The host (its network namespace): MPTCP, path manager, addresses, routes.
    pub host: Host,
    /// A connection this host opened to a server (`mptcp doctor HOST:PORT`).
    pub client: Option<Client>,
    /// What this host saw as a server (`mptcp doctor --listen PORT`).
    pub server: Option<Server>,
}

/// Whether MPTCP sockets can be created, as `socket(2)` answered.
///
/// With feature `serde`: kebab-case (`"available"`, `"not-built"`,
/// `{"blocked": 1}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Support {
    /// `socket(..., IPPROTO_MPTCP)` works.
    #[default]
    Available,
    /// `ENOPROTOOPT`: `net.mptcp.enabled=0`.
    Disabled,
    /// `EPROTONOSUPPORT`: the kernel was built without MPTCP.
    NotBuilt,
    /// `EINVAL`: older than Linux 5.6.
    TooOld,
    /// Another errno (a seccomp filter or an LSM).
    Blocked(i32),
    /// Not Linux.
    Unsupported,
}

impl From<crate::Availability> for Support {
    fn from(a: crate::Availability) -> Support {
        match a {
            crate::Availability::Available => Support::Available,
            crate::Availability::DisabledBySysctl => Support::Disabled,
            crate::Availability::NotBuilt => Support::NotBuilt,
            crate::Availability::KernelTooOld => Support::TooOld,
            crate::Availability::Error(n) => Support::Blocked(n),
            crate::Availability::Unsupported => Support::Unsupported,
        }
    }
}

/// The host: one network namespace.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct Host {
    /// Whether MPTCP sockets can be created here.
    pub availability: Support,
    /// `net.mptcp.*` by name (`"enabled"`, `"path_manager"`, ...).
    pub sysctls: BTreeMap<String, String>,
    /// Whether the path manager's generic netlink family (`mptcp_pm`) exists.
    pub pm_family: bool,
    /// The path manager's limits, when readable.
    pub limits: Option<Limits>,
    /// The endpoints, when readable.
    pub endpoints: Option<Vec<Endpoint>>,
    /// Network interfaces with their addresses.
    pub interfaces: Vec<Interface>,
    /// `net.ipv4.conf.all.rp_filter`.
    pub rp_filter_all: Option<u8>,
    /// Route lookups from each endpoint towards the server (or, without
    /// one, towards a documentation address that stands for "anywhere").
    pub routes: Vec<RouteCheck>,
    /// Programs in this network namespace that manage endpoints.
    pub managers: Vec<Manager>,
    /// Netlink sockets of other programs subscribed to the path manager's
    /// events (`mptcp_pm_events`), before the doctor's own.
    pub event_listeners: Option<u32>,
    /// The namespace's `MPTcpExt` counters that are not 0 (totals since
    /// it was created).
    pub counters: BTreeMap<String, u64>,
    /// What could not be read, one sentence each.
    pub notes: Vec<String>,
}

pub use crate::limits::Limits;

/// One path manager endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct Endpoint {
    /// Id, 1-255.
    pub id: u8,
    /// Local address.
    pub addr: IpAddr,
    /// Port (signal endpoints only).
    pub port: Option<u16>,
    /// Flag names as `ip mptcp` prints them (`"subflow"`, `"signal"`,
    /// `"backup"`, `"fullmesh"`, `"implicit"`, `"laminar"`).
    pub flags: Vec<String>,
    /// Interface the endpoint is bound to (`dev`).
    pub ifindex: Option<u32>,
}

impl Default for Endpoint {
    fn default() -> Endpoint {
        Endpoint { id: 0, addr: IpAddr::from([0, 0, 0, 0]), port: None, flags: Vec::new(), ifindex: None }
    }
}

impl Endpoint {
    /// Endpoint `id` for `addr` with the flags named in `flags`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ep = mptcp::diagnose::Endpoint::new(2, "10.0.2.1".parse().unwrap(), &["subflow"]).on(3);
    /// assert!(ep.has("subflow") && !ep.has("signal"));
    /// assert_eq!(ep.ifindex, Some(3));
    /// ```
    pub fn new(id: u8, addr: IpAddr, flags: &[&str]) -> Endpoint {
        Endpoint { id, addr, flags: flags.iter().map(|f| f.to_string()).collect(), ..Endpoint::default() }
    }

    /// Binds it to interface `ifindex`.
    pub fn on(mut self, ifindex: u32) -> Endpoint {
        self.ifindex = Some(ifindex);
        self
    }

    /// Whether the flag named `flag` is set.
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// A network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct Interface {
    /// Index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Has carrier (`IFF_LOWER_UP`).
    pub carrier: bool,
    /// Loopback.
    pub loopback: bool,
    /// Its addresses.
    pub addrs: Vec<IfAddr>,
    /// `net.ipv4.conf.<name>.rp_filter`.
    pub rp_filter: Option<u8>,
}

impl Interface {
    /// Interface `index` named `name`, up with carrier, with `addrs`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::diagnose::{IfAddr, Interface};
    ///
    /// let i = Interface::new(2, "eth0", vec![IfAddr::new("10.0.1.1".parse().unwrap(), 24)]);
    /// assert!(i.up && i.carrier && !i.loopback);
    /// ```
    pub fn new(index: u32, name: &str, addrs: Vec<IfAddr>) -> Interface {
        Interface { index, name: name.to_string(), up: true, carrier: true, addrs, ..Interface::default() }
    }
}

/// An address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[non_exhaustive]
pub struct IfAddr {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl IfAddr {
    /// `addr`/`prefix`.
    pub fn new(addr: IpAddr, prefix: u8) -> IfAddr {
        IfAddr { addr, prefix }
    }

    /// Whether subflows can use it: not loopback, link-local, unspecified
    /// or multicast.
    pub fn usable(&self) -> bool {
        match self.addr {
            IpAddr::V4(a) => !(a.is_loopback() || a.is_link_local() || a.is_unspecified() || a.is_multicast()),
            IpAddr::V6(a) => {
                !(a.is_loopback() || a.is_unspecified() || a.is_multicast() || (a.segments()[0] & 0xffc0) == 0xfe80)
            }
        }
    }
}

/// A route lookup the kernel would make for a subflow from an endpoint:
/// destination, source address and, when the endpoint names one, device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct RouteCheck {
    /// The endpoint's id.
    pub endpoint: u8,
    /// Its address.
    pub src: IpAddr,
    /// The server (or the stand-in address).
    pub dst: IpAddr,
    /// The endpoint's device.
    pub dev: Option<u32>,
    /// The kernel's answer.
    pub answer: RouteAnswer,
    /// The same lookup without the device: where the kernel would send
    /// packets from that source otherwise, which is also the path strict
    /// reverse-path filtering expects answers on. Only when `dev` is set.
    pub unbound: Option<RouteAnswer>,
}

impl RouteCheck {
    /// Whether a subflow from the endpoint would leave: the lookup found a
    /// unicast route, through the endpoint's device when it names one. (An
    /// IPv6 lookup with a device can answer a route through another one,
    /// which a socket bound to the device cannot use.)
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::diagnose::{RouteAnswer, RouteCheck};
    ///
    /// let mut rc = RouteCheck::default();
    /// rc.dev = Some(3);
    /// rc.answer = RouteAnswer::via(3);
    /// assert!(rc.reaches());
    /// rc.answer = RouteAnswer::via(2);
    /// assert!(!rc.reaches());
    /// ```
    pub fn reaches(&self) -> bool {
        self.answer.reaches() && (self.dev.is_none() || self.answer.dev.is_none() || self.answer.dev == self.dev)
    }
}

impl Default for RouteCheck {
    fn default() -> RouteCheck {
        let any = IpAddr::from([0, 0, 0, 0]);
        RouteCheck { endpoint: 0, src: any, dst: any, dev: None, answer: RouteAnswer::default(), unbound: None }
    }
}

/// The answer to a route lookup (`ip route get DST from SRC oif DEV`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct RouteAnswer {
    /// The errno when the kernel found no route (`ENETUNREACH`,
    /// `EHOSTUNREACH`, `EINVAL` for a source it does not own).
    pub error: Option<i32>,
    /// The route's type: `"unicast"`, `"unreachable"`, `"prohibit"`,
    /// `"blackhole"`, `"local"`, ...
    pub kind: Option<String>,
    /// Outgoing interface.
    pub dev: Option<u32>,
    /// Next hop.
    pub gateway: Option<IpAddr>,
    /// Routing table.
    pub table: Option<u32>,
}

impl RouteAnswer {
    /// A unicast route out of `dev`.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mptcp::diagnose::RouteAnswer::via(3);
    /// assert!(a.reaches());
    /// ```
    pub fn via(dev: u32) -> RouteAnswer {
        RouteAnswer { kind: Some("unicast".into()), dev: Some(dev), ..RouteAnswer::default() }
    }

    /// The kernel's refusal `errno`.
    pub fn failed(errno: i32) -> RouteAnswer {
        RouteAnswer { error: Some(errno), ..RouteAnswer::default() }
    }

    /// Whether packets would leave: no error and a unicast (or local) route.
    pub fn reaches(&self) -> bool {
        self.error.is_none() && matches!(self.kind.as_deref(), None | Some("unicast") | Some("local"))
    }
}

/// A program that manages endpoints in this network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct Manager {
    /// Process id.
    pub pid: u32,
    /// `"mptcpd"`, `"NetworkManager"` or `"mptcp daemon"`.
    pub name: String,
}

impl Manager {
    /// Process `pid` named `name`.
    pub fn new(pid: u32, name: &str) -> Manager {
        Manager { pid, name: name.to_string() }
    }
}

/// How a connection runs.
///
/// With feature `serde`: `"mptcp"`, `"fallback"`, `"tcp"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum ConnStatus {
    /// MPTCP on the wire.
    #[default]
    Mptcp,
    /// Asked for MPTCP, runs as TCP.
    Fallback,
    /// A plain TCP socket.
    Tcp,
}

impl From<crate::MptcpStatus> for ConnStatus {
    fn from(s: crate::MptcpStatus) -> ConnStatus {
        match s {
            crate::MptcpStatus::Mptcp => ConnStatus::Mptcp,
            crate::MptcpStatus::Fallback => ConnStatus::Fallback,
            crate::MptcpStatus::Tcp => ConnStatus::Tcp,
        }
    }
}

/// A connection this host opened, watched for a while.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct Client {
    /// The server as given.
    pub target: String,
    /// The address connected to.
    pub remote: Option<SocketAddr>,
    /// The local address of the first subflow.
    pub local: Option<SocketAddr>,
    /// How it runs at the end of the watch.
    pub status: ConnStatus,
    /// Bytes of the payload sent.
    pub sent: u64,
    /// Bytes the server sent back during the watch.
    pub received: u64,
    /// Whether the server acknowledged everything sent, at the MPTCP level
    /// (`None`: unknown, e.g. after a fallback).
    pub acked: Option<bool>,
    /// Whether the server closed the connection during the watch.
    pub closed_by_server: bool,
    /// `struct mptcp_info` at the end of the watch.
    pub info: Option<Info>,
    /// The subflows at the end of the watch.
    pub subflows: Vec<Subflow>,
    /// Whether path manager events were received (they need `CAP_NET_ADMIN`).
    pub events_seen: bool,
    /// The path manager's events for this connection's token.
    pub events: Vec<Event>,
    /// Other MPTCP activity in the namespace during the watch (connections
    /// established at the start, events of other tokens): the counter
    /// deltas may include theirs.
    pub other_activity: bool,
    /// Whether the `MPTcpExt` counters could be read before and after.
    pub counters_read: bool,
    /// `MPTcpExt` counters that rose during the attempt, by how much
    /// (those that did not are left out).
    pub counters: BTreeMap<String, u64>,
    /// `TcpExt` counters the reasoning uses (`IPReversePathFilter`): their increase.
    pub tcp_counters: BTreeMap<String, u64>,
    /// The neighbour cache (ARP, NDP) at the end of the watch: whether
    /// next hops on the subflows' links answered.
    pub neighbours: Vec<Neighbour>,
    /// How long the connection was watched, in milliseconds.
    pub watched_ms: u64,
}

/// A neighbour cache entry (`ip neigh`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct Neighbour {
    /// Interface.
    pub ifindex: u32,
    /// The neighbour's address.
    pub addr: IpAddr,
    /// As `ip neigh` names it: `"REACHABLE"`, `"STALE"`, `"FAILED"`,
    /// `"INCOMPLETE"`, ...
    pub state: String,
}

impl Default for Neighbour {
    fn default() -> Neighbour {
        Neighbour { ifindex: 0, addr: IpAddr::from([0, 0, 0, 0]), state: String::new() }
    }
}

impl Neighbour {
    /// `addr` on interface `ifindex`, in `state`.
    ///
    /// # Examples
    ///
    /// ```
    /// let n = mptcp::diagnose::Neighbour::new(3, "10.0.1.2".parse().unwrap(), "FAILED");
    /// assert!(!n.answered());
    /// ```
    pub fn new(ifindex: u32, addr: IpAddr, state: &str) -> Neighbour {
        Neighbour { ifindex, addr, state: state.to_string() }
    }

    /// Whether the neighbour answered (an entry that is not `FAILED` or
    /// `INCOMPLETE`).
    pub fn answered(&self) -> bool {
        !matches!(self.state.as_str(), "FAILED" | "INCOMPLETE")
    }
}

/// The parts of `struct mptcp_info` the reasoning uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct Info {
    /// Extra subflows (those still joining included).
    pub subflows: Option<u8>,
    /// The subflow limit the connection got.
    pub subflows_max: Option<u8>,
    /// Addresses announced to the peer.
    pub add_addr_signal: Option<u8>,
    /// Peer announcements accepted.
    pub add_addr_accepted: Option<u8>,
    /// The announcement limit the connection got.
    pub add_addr_accepted_max: Option<u8>,
    /// Local endpoints in use.
    pub local_addr_used: Option<u8>,
    /// Local endpoints the connection may use.
    pub local_addr_max: Option<u8>,
    /// `MPTCP_INFO_FLAG_*`.
    pub flags: Option<u32>,
    /// The connection token.
    pub token: Option<u32>,
    /// Subflows ever, the first included (6.7).
    pub subflows_total: Option<u8>,
}

impl From<&crate::MptcpInfo> for Info {
    fn from(i: &crate::MptcpInfo) -> Info {
        Info {
            subflows: i.subflows,
            subflows_max: i.subflows_max,
            add_addr_signal: i.add_addr_signal,
            add_addr_accepted: i.add_addr_accepted,
            add_addr_accepted_max: i.add_addr_accepted_max,
            local_addr_used: i.local_addr_used,
            local_addr_max: i.local_addr_max,
            flags: i.flags.map(|f| f.0),
            token: i.token,
            subflows_total: i.subflows_total,
        }
    }
}

/// One subflow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct Subflow {
    /// Its id (`MPTCP_FULL_INFO`).
    pub id: Option<u32>,
    /// Local address.
    pub local: Option<SocketAddr>,
    /// Remote address.
    pub remote: Option<SocketAddr>,
    /// TCP state as `ss` names it (`"ESTAB"`, `"SYN-SENT"`, ...).
    pub state: String,
}

impl Subflow {
    /// A subflow `local` -> `remote` in `state`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mptcp::diagnose::Subflow::new("10.0.2.1:4000", "10.0.1.2:80", "SYN-SENT");
    /// assert!(!s.established());
    /// ```
    pub fn new(local: &str, remote: &str, state: &str) -> Subflow {
        Subflow { id: None, local: local.parse().ok(), remote: remote.parse().ok(), state: state.to_string() }
    }

    /// Whether it carries data (TCP state ESTABLISHED).
    pub fn established(&self) -> bool {
        self.state == "ESTAB"
    }
}

/// One path manager event (the attributes the reasoning reads).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct Event {
    /// As `ip mptcp monitor` names it: `"created"`, `"established"`,
    /// `"closed"`, `"announced"`, `"removed"`, `"sf_established"`,
    /// `"sf_closed"`, `"sf_priority"`.
    pub kind: String,
    /// Connection token.
    pub token: Option<u32>,
    /// Local address id.
    pub local_id: Option<u8>,
    /// Remote address id.
    pub remote_id: Option<u8>,
    /// Source address.
    pub saddr: Option<IpAddr>,
    /// Destination address.
    pub daddr: Option<IpAddr>,
    /// Source port.
    pub sport: Option<u16>,
    /// Destination port.
    pub dport: Option<u16>,
    /// The subflow's socket error (errno).
    pub error: Option<u8>,
    /// MPTCP reset reason (`MPTCP_RST_*`).
    pub reset_reason: Option<u32>,
    /// MPTCP reset flags.
    pub reset_flags: Option<u32>,
    /// `MPTCP_PM_EV_FLAG_*` (1: the peer denies joins to its initial address; 2: server side).
    pub flags: Option<u16>,
    /// Interface the subflow is bound to.
    pub ifindex: Option<i32>,
    /// Milliseconds after the watch began.
    pub at_ms: u64,
}

impl Event {
    /// An event of `kind` for `token`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mptcp::diagnose::Event::new("announced", 7);
    /// assert_eq!((e.kind.as_str(), e.token), ("announced", Some(7)));
    /// ```
    pub fn new(kind: &str, token: u32) -> Event {
        Event { kind: kind.to_string(), token: Some(token), ..Event::default() }
    }
}

#[cfg(all(feature = "netlink", mptcp_linux))]
impl Event {
    /// The observation of a path manager event, `at_ms` after the watch began.
    pub fn from_pm(e: &crate::pm::Event, at_ms: u64) -> Event {
        Event {
            kind: e.kind.name().to_string(),
            token: e.token,
            local_id: e.local_id,
            remote_id: e.remote_id,
            saddr: e.saddr,
            daddr: e.daddr,
            sport: e.sport,
            dport: e.dport,
            error: e.error,
            reset_reason: e.reset_reason,
            reset_flags: e.reset_flags,
            flags: e.flags,
            ifindex: e.ifindex,
            at_ms,
        }
    }
}

/// What this host saw as a server.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct Server {
    /// The port listened on.
    pub port: u16,
    /// The connections accepted.
    pub accepted: Vec<Accepted>,
    /// Whether path manager events were received.
    pub events_seen: bool,
    /// The path manager's events of server-side connections.
    pub events: Vec<Event>,
    /// Whether the `MPTcpExt` counters could be read before and after.
    pub counters_read: bool,
    /// `MPTcpExt` counters that rose while listening, by how much.
    pub counters: BTreeMap<String, u64>,
    /// Other MPTCP activity in the namespace (connections established at
    /// the start): the counter deltas may include theirs.
    pub other_activity: bool,
    /// How long it listened, in milliseconds.
    pub watched_ms: u64,
}

/// One accepted connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
#[non_exhaustive]
pub struct Accepted {
    /// The client.
    pub remote: Option<SocketAddr>,
    /// How it runs (`Fallback`: the client asked for MPTCP and lost it on the way).
    pub status: ConnStatus,
    /// The connection token.
    pub token: Option<u32>,
    /// Subflows established at the end (the first included).
    pub subflows: u32,
}
