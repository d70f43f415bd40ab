//! What the policy looks at: links (up, carrier), addresses (flags, scope)
//! and default routes, kept from rtnetlink dumps and events.
//!
//! Two kernel habits are mirrored here because the kernel sends no message
//! for them: taking a link down (and removing the last IPv4 address of a
//! link) drops its IPv4 routes without `RTM_DELROUTE`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

/// `IFA_F_TEMPORARY` (the same bit as `IFA_F_SECONDARY`, which it means for IPv4).
pub const IFA_F_TEMPORARY: u32 = 0x01;
/// `IFA_F_DADFAILED`.
pub const IFA_F_DADFAILED: u32 = 0x08;
/// `IFA_F_DEPRECATED`.
pub const IFA_F_DEPRECATED: u32 = 0x20;
/// `IFA_F_TENTATIVE`.
pub const IFA_F_TENTATIVE: u32 = 0x40;

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Carrier (`IFF_LOWER_UP`).
    pub carrier: bool,
    /// A loopback interface (`IFF_LOOPBACK`).
    pub loopback: bool,
}

/// An address of an interface.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Addr {
    /// Interface index.
    pub index: u32,
    /// The local address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// `IFA_F_*` flags.
    pub flags: u32,
    /// `RT_SCOPE_*` scope (0 = global).
    pub scope: u8,
}

/// A default route (`0.0.0.0/0`, `::/0`) of any table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DefaultRoute {
    /// 4 or 6.
    pub family: u8,
    /// Routing table.
    pub table: u32,
    /// Metric.
    pub priority: u32,
    /// Outgoing interfaces (several for a multipath route).
    pub oifs: Vec<u32>,
    /// Gateway, if any.
    pub gateway: Option<IpAddr>,
}

/// The main routing table's number.
pub const RT_TABLE_MAIN: u32 = 254;

/// What one message changed, for the log and for the decision to
/// reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A link appeared, changed flags or name, or vanished.
    Link(String),
    /// An address appeared, changed or vanished.
    Addr(String),
    /// A default route appeared or vanished.
    Route(String),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Link(s) | Change::Addr(s) | Change::Route(s) => f.write_str(s),
        }
    }
}

/// Links, addresses and default routes of one network namespace.
///
/// # Examples
///
/// ```
/// use mptcp_daemon::net::NetState;
///
/// let net = NetState::default();
/// assert!(net.links().next().is_none());
/// assert!(!net.has_default_route(4, None));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetState {
    links: BTreeMap<u32, Link>,
    addrs: BTreeMap<(u32, IpAddr), Addr>,
    routes: BTreeSet<DefaultRoute>,
}

impl NetState {
    /// The links, by index.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.links.values()
    }

    /// One link.
    pub fn link(&self, index: u32) -> Option<&Link> {
        self.links.get(&index)
    }

    /// The addresses, by interface then address.
    pub fn addrs(&self) -> impl Iterator<Item = &Addr> {
        self.addrs.values()
    }

    /// The default routes.
    pub fn default_routes(&self) -> impl Iterator<Item = &DefaultRoute> {
        self.routes.iter()
    }

    /// Whether a default route of `family` (4 or 6) exists: in the main
    /// table when `via` is `None`, else through interface `via` in any table.
    pub fn has_default_route(&self, family: u8, via: Option<u32>) -> bool {
        self.routes.iter().any(|r| {
            r.family == family
                && match via {
                    None => r.table == RT_TABLE_MAIN,
                    Some(i) => r.oifs.contains(&i),
                }
        })
    }

    /// Replaces the routes (after a dump).
    pub fn set_routes(&mut self, routes: impl IntoIterator<Item = DefaultRoute>) {
        self.routes = routes.into_iter().collect();
    }

    /// Applies one rtnetlink message (a dump reply or an event); returns
    /// what changed, `None` when nothing the policy looks at did.
    pub fn apply(&mut self, msg: &RouteNetlinkMessage) -> Option<Change> {
        match msg {
            RouteNetlinkMessage::NewLink(m) => self.new_link(m),
            RouteNetlinkMessage::DelLink(m) => self.del_link(m.header.index),
            RouteNetlinkMessage::NewAddress(m) => self.new_addr(m),
            RouteNetlinkMessage::DelAddress(m) => self.del_addr(m),
            RouteNetlinkMessage::NewRoute(m) => {
                let r = default_route(m)?;
                let what = format!("default route {} added", describe_route(&r, self));
                self.routes.insert(r).then_some(Change::Route(what))
            }
            RouteNetlinkMessage::DelRoute(m) => {
                let r = default_route(m)?;
                let what = format!("default route {} removed", describe_route(&r, self));
                self.routes.remove(&r).then_some(Change::Route(what))
            }
            _ => None,
        }
    }

    fn new_link(&mut self, m: &LinkMessage) -> Option<Change> {
        let index = m.header.index;
        let name = m.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        });
        let f = m.header.flags;
        let old = self.links.get(&index).cloned();
        let link = Link {
            index,
            name: name.or_else(|| old.as_ref().map(|l| l.name.clone())).unwrap_or_else(|| format!("if{index}")),
            up: f.contains(LinkFlags::Up),
            carrier: f.contains(LinkFlags::LowerUp),
            loopback: f.contains(LinkFlags::Loopback),
        };
        if old.as_ref() == Some(&link) {
            return None;
        }
        if old.as_ref().is_some_and(|o| o.up) && !link.up {
            self.drop_v4_routes_via(index);
        }
        let what = match &old {
            None => format!("{}: appeared ({})", link.name, link_state(&link)),
            Some(o) if o.name != link.name => format!("{}: renamed from {}", link.name, o.name),
            Some(o) if o.up != link.up => format!("{}: {}", link.name, if link.up { "up" } else { "down" }),
            Some(o) if o.carrier != link.carrier => {
                format!("{}: {}", link.name, if link.carrier { "carrier back" } else { "carrier lost" })
            }
            Some(_) => format!("{}: flags changed ({})", link.name, link_state(&link)),
        };
        self.links.insert(index, link);
        Some(Change::Link(what))
    }

    fn del_link(&mut self, index: u32) -> Option<Change> {
        // Its addresses and routes go with it, even those of a link never
        // seen (their messages came first).
        let (addrs, routes) = (self.addrs.len(), self.routes.len());
        self.addrs.retain(|(i, _), _| *i != index);
        self.routes.retain(|r| !r.oifs.contains(&index));
        let name = match self.links.remove(&index) {
            Some(l) => l.name,
            None if self.addrs.len() != addrs || self.routes.len() != routes => format!("if{index}"),
            None => return None,
        };
        Some(Change::Link(format!("{name}: removed")))
    }

    fn new_addr(&mut self, m: &AddressMessage) -> Option<Change> {
        let a = parse_addr(m)?;
        let key = (a.index, a.addr);
        if self.addrs.get(&key) == Some(&a) {
            return None;
        }
        let what = format!("{}: {}/{} {}", self.name(a.index), a.addr, a.prefix_len, addr_state(a.flags));
        self.addrs.insert(key, a);
        Some(Change::Addr(what))
    }

    fn del_addr(&mut self, m: &AddressMessage) -> Option<Change> {
        let a = parse_addr(m)?;
        let old = self.addrs.remove(&(a.index, a.addr))?;
        if old.addr.is_ipv4() && !self.addrs.keys().any(|(i, x)| *i == a.index && x.is_ipv4()) {
            self.drop_v4_routes_via(a.index);
        }
        Some(Change::Addr(format!("{}: {}/{} removed", self.name(a.index), old.addr, old.prefix_len)))
    }

    /// The kernel flushes a link's IPv4 routes, without telling, when the
    /// link goes down or loses its last IPv4 address.
    fn drop_v4_routes_via(&mut self, index: u32) {
        self.routes.retain(|r| !(r.family == 4 && r.oifs.contains(&index)));
    }

    /// The name of interface `index` (`ifN` when unknown).
    pub fn name(&self, index: u32) -> String {
        self.links.get(&index).map(|l| l.name.clone()).unwrap_or_else(|| format!("if{index}"))
    }
}

fn link_state(l: &Link) -> String {
    format!("{}, {}", if l.up { "up" } else { "down" }, if l.carrier { "carrier" } else { "no carrier" })
}

/// Words for an address's flags, for logs.
pub fn addr_state(flags: u32) -> &'static str {
    if flags & IFA_F_DADFAILED != 0 {
        "duplicate (DAD failed)"
    } else if flags & IFA_F_TENTATIVE != 0 {
        "tentative"
    } else if flags & IFA_F_DEPRECATED != 0 {
        "deprecated"
    } else {
        "valid"
    }
}

fn parse_addr(m: &AddressMessage) -> Option<Addr> {
    let family = m.header.family;
    let mut local = None;
    let mut address = None;
    let mut flags = u32::from(m.header.flags.bits());
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(x) => local = Some(*x),
            AddressAttribute::Address(x) => address = Some(*x),
            AddressAttribute::Flags(f) => flags = f.bits(),
            _ => {}
        }
    }
    // IPv4: IFA_LOCAL is the address (IFA_ADDRESS is the peer of a
    // point-to-point link); IPv6 sends IFA_ADDRESS only (or IFA_LOCAL with a peer).
    let addr = match family {
        AddressFamily::Inet => local.or(address)?,
        AddressFamily::Inet6 => local.or(address)?,
        _ => return None,
    };
    Some(Addr { index: m.header.index, addr, prefix_len: m.header.prefix_len, flags, scope: u8::from(m.header.scope) })
}

/// The default route in `m`, if it is one (unicast, prefix length 0).
fn default_route(m: &RouteMessage) -> Option<DefaultRoute> {
    let h = &m.header;
    let family = match h.address_family {
        AddressFamily::Inet => 4,
        AddressFamily::Inet6 => 6,
        _ => return None,
    };
    if h.destination_prefix_length != 0 || h.kind != RouteType::Unicast {
        return None;
    }
    let mut r = DefaultRoute { family, table: u32::from(h.table), priority: 0, oifs: Vec::new(), gateway: None };
    for a in &m.attributes {
        match a {
            RouteAttribute::Table(t) => r.table = *t,
            RouteAttribute::Priority(p) => r.priority = *p,
            RouteAttribute::Oif(i) => r.oifs.push(*i),
            RouteAttribute::Gateway(g) => r.gateway = route_addr(g),
            RouteAttribute::MultiPath(hops) => r.oifs.extend(hops.iter().map(|h| h.interface_index)),
            _ => {}
        }
    }
    r.oifs.sort_unstable();
    r.oifs.dedup();
    Some(r)
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(x) => Some(IpAddr::V4(*x)),
        RouteAddress::Inet6(x) => Some(IpAddr::V6(*x)),
        _ => None,
    }
}

fn describe_route(r: &DefaultRoute, net: &NetState) -> String {
    let mut s = format!("(IPv{}", r.family);
    if let Some(g) = r.gateway {
        s.push_str(&format!(" via {g}"));
    }
    for i in &r.oifs {
        s.push_str(&format!(" dev {}", net.name(*i)));
    }
    if r.table != RT_TABLE_MAIN {
        s.push_str(&format!(" table {}", r.table));
    }
    s.push(')');
    s
}

/// Whether `scope` is the global scope (`RT_SCOPE_UNIVERSE`).
pub(crate) fn is_global_scope(scope: u8) -> bool {
    scope == u8::from(AddressScope::Universe)
}

#[cfg(test)]
#[path = "net_tests.rs"]
pub(crate) mod tests;
