//! rtnetlink, for what the doctor needs of it: the interfaces with their
//! addresses, and the route the kernel would pick for a subflow (`ip route
//! get DST from SRC oif DEV`). Messages are built and parsed by
//! `netlink-packet-route`; the framing is the crate's `netlink` module.

use std::io;
use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;

use super::observe::{IfAddr, Interface, Neighbour, RouteAnswer};
use crate::netlink::{self, Expect, RawError, RECV_BUF};

/// A route lookup: towards `dst`, from source address `src`, out of
/// interface `oif`, as the kernel makes it for a subflow bound to an
/// endpoint's address (and device).
///
/// # Examples
///
/// ```no_run
/// use mptcp::diagnose::{route_get, RouteQuery};
///
/// let q = RouteQuery::to("10.0.1.2".parse().unwrap()).from("10.0.2.1".parse().unwrap());
/// let answer = route_get(&q)?;
/// println!("reaches: {} (dev {:?}, error {:?})", answer.reaches(), answer.dev, answer.error);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteQuery {
    /// Destination.
    pub dst: IpAddr,
    /// Source address.
    pub src: Option<IpAddr>,
    /// Outgoing interface index.
    pub oif: Option<u32>,
}

impl RouteQuery {
    /// A lookup towards `dst`, from any source, through any interface.
    pub fn to(dst: IpAddr) -> RouteQuery {
        RouteQuery { dst, src: None, oif: None }
    }

    /// From source address `src`.
    pub fn from(mut self, src: IpAddr) -> RouteQuery {
        self.src = Some(src);
        self
    }

    /// Out of interface `oif`.
    pub fn oif(mut self, oif: u32) -> RouteQuery {
        self.oif = Some(oif);
        self
    }
}

fn family(ip: IpAddr) -> (AddressFamily, u8) {
    match ip {
        IpAddr::V4(_) => (AddressFamily::Inet, 32),
        IpAddr::V6(_) => (AddressFamily::Inet6, 128),
    }
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(x) => Some(IpAddr::V4(*x)),
        RouteAddress::Inet6(x) => Some(IpAddr::V6(*x)),
        _ => None,
    }
}

fn kind_name(k: RouteType) -> String {
    match k {
        RouteType::Unicast => "unicast".into(),
        RouteType::Local => "local".into(),
        RouteType::Broadcast => "broadcast".into(),
        RouteType::Anycast => "anycast".into(),
        RouteType::Multicast => "multicast".into(),
        RouteType::BlackHole => "blackhole".into(),
        RouteType::Unreachable => "unreachable".into(),
        RouteType::Prohibit => "prohibit".into(),
        RouteType::Throw => "throw".into(),
        RouteType::Nat => "nat".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The request `ip route get` sends for `q`.
fn request(q: &RouteQuery) -> RouteNetlinkMessage {
    let mut m = RouteMessage::default();
    let (fam, len) = family(q.dst);
    m.header.address_family = fam;
    m.header.destination_prefix_length = len;
    m.attributes.push(RouteAttribute::Destination(q.dst.into()));
    if let Some(src) = q.src {
        m.header.source_prefix_length = family(src).1;
        m.attributes.push(RouteAttribute::Source(src.into()));
    }
    if let Some(oif) = q.oif {
        m.attributes.push(RouteAttribute::Oif(oif));
    }
    RouteNetlinkMessage::GetRoute(m)
}

/// The answer in a reply to a route lookup.
fn answer(m: &RouteMessage) -> RouteAnswer {
    let mut a = RouteAnswer { kind: Some(kind_name(m.header.kind)), ..RouteAnswer::default() };
    a.table = Some(u32::from(m.header.table));
    for attr in &m.attributes {
        match attr {
            RouteAttribute::Oif(i) => a.dev = Some(*i),
            RouteAttribute::Gateway(g) => a.gateway = route_addr(g),
            RouteAttribute::Table(t) => a.table = Some(*t),
            _ => {}
        }
    }
    a
}

/// Asks the kernel which route it would use for `q` (`RTM_GETROUTE`, as
/// `ip route get` does). A lookup the kernel refuses is an answer with
/// [`RouteAnswer::error`] set (`ENETUNREACH`, `EHOSTUNREACH`, `EINVAL`
/// for a source address this host does not have), not an error.
///
/// # Errors
///
/// The netlink socket failed, or the answer did not parse.
///
/// # Examples
///
/// ```no_run
/// use mptcp::diagnose::{route_get, RouteQuery};
///
/// let a = route_get(&RouteQuery::to("127.0.0.1".parse().unwrap()))?;
/// assert_eq!(a.kind.as_deref(), Some("local"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn route_get(q: &RouteQuery) -> io::Result<RouteAnswer> {
    let sock = netlink::open(NETLINK_ROUTE)?;
    let mut buf = vec![0u8; RECV_BUF];
    let req = netlink::encode(request(q), Expect::One.flags(), 1);
    match netlink::transact::<RouteNetlinkMessage>(&sock, &mut buf, &req, 1, Expect::One) {
        Ok(replies) => replies
            .iter()
            .find_map(|r| match r {
                RouteNetlinkMessage::NewRoute(m) => Some(answer(m)),
                _ => None,
            })
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "route lookup: no route in the answer")),
        Err(RawError::Kernel(errno, _)) => Ok(RouteAnswer::failed(errno)),
        Err(RawError::Io(e)) => Err(e),
    }
}

/// Dumps `msg` (`NLM_F_DUMP`).
fn dump(msg: RouteNetlinkMessage) -> io::Result<Vec<RouteNetlinkMessage>> {
    let sock = netlink::open(NETLINK_ROUTE)?;
    let mut buf = vec![0u8; RECV_BUF];
    let req = netlink::encode(msg, Expect::Dump.flags(), 1);
    netlink::transact::<RouteNetlinkMessage>(&sock, &mut buf, &req, 1, Expect::Dump).map_err(io::Error::from)
}

/// The interfaces of the calling thread's network namespace with their
/// addresses (`ip address`), by index. `rp_filter` is left unset.
pub(crate) fn interfaces() -> io::Result<Vec<Interface>> {
    let mut out = Vec::new();
    for m in dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))? {
        if let RouteNetlinkMessage::NewLink(l) = m {
            let name = l
                .attributes
                .iter()
                .find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            let f = l.header.flags;
            out.push(Interface {
                index: l.header.index,
                name,
                up: f.contains(LinkFlags::Up),
                carrier: f.contains(LinkFlags::LowerUp),
                loopback: f.contains(LinkFlags::Loopback),
                addrs: Vec::new(),
                rp_filter: None,
            });
        }
    }
    for m in dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))? {
        if let RouteNetlinkMessage::NewAddress(a) = m {
            // IFA_LOCAL is the local address (IFA_ADDRESS is the peer's on
            // point-to-point links); IPv6 has only IFA_ADDRESS.
            let local = a.attributes.iter().find_map(|x| match x {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let addr = local.or_else(|| {
                a.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
            if let (Some(addr), Some(i)) = (addr, out.iter_mut().find(|i| i.index == a.header.index)) {
                i.addrs.push(IfAddr::new(addr, a.header.prefix_len));
            }
        }
    }
    out.sort_by_key(|i| i.index);
    Ok(out)
}

/// `ip neigh`'s name of a neighbour state.
fn state_name(s: NeighbourState) -> String {
    match s {
        NeighbourState::Incomplete => "INCOMPLETE".into(),
        NeighbourState::Reachable => "REACHABLE".into(),
        NeighbourState::Stale => "STALE".into(),
        NeighbourState::Delay => "DELAY".into(),
        NeighbourState::Probe => "PROBE".into(),
        NeighbourState::Failed => "FAILED".into(),
        NeighbourState::Noarp => "NOARP".into(),
        NeighbourState::Permanent => "PERMANENT".into(),
        NeighbourState::None => "NONE".into(),
        other => format!("{:#x}", u16::from(other)),
    }
}

/// The neighbour cache (`ip neigh`) of the calling thread's namespace.
pub(crate) fn neighbours() -> io::Result<Vec<Neighbour>> {
    let mut out = Vec::new();
    for m in dump(RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()))? {
        if let RouteNetlinkMessage::NewNeighbour(n) = m {
            let addr = n.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => Some(IpAddr::V4(*a)),
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
                _ => None,
            });
            if let Some(addr) = addr {
                out.push(Neighbour { ifindex: n.header.ifindex, addr, state: state_name(n.header.state) });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkDeserializable, NetlinkHeader, NetlinkSerializable};

    #[test]
    fn the_request_carries_destination_source_and_device() {
        let q = RouteQuery::to("10.0.1.2".parse().unwrap()).from("10.0.2.1".parse().unwrap()).oif(3);
        let msg = request(&q);
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
        assert_eq!(&buf[..4], &[libc::AF_INET as u8, 32, 32, 0]);
        let mut header = NetlinkHeader::default();
        header.message_type = msg.message_type();
        let back = RouteNetlinkMessage::deserialize(&header, &buf).unwrap();
        let RouteNetlinkMessage::GetRoute(m) = back else { panic!("not a route request") };
        assert!(m.attributes.contains(&RouteAttribute::Oif(3)));
        assert!(m.attributes.contains(&RouteAttribute::Source(RouteAddress::Inet("10.0.2.1".parse().unwrap()))));
        // Without a source, no source length.
        let RouteNetlinkMessage::GetRoute(m) = request(&RouteQuery::to("fd00::1".parse().unwrap())) else { panic!() };
        assert_eq!((m.header.destination_prefix_length, m.header.source_prefix_length), (128, 0));
    }

    #[test]
    fn answers_name_their_route_type() {
        let mut m = RouteMessage::default();
        m.header.kind = RouteType::Unreachable;
        m.header.table = 254;
        assert!(!answer(&m).reaches());
        m.header.kind = RouteType::Unicast;
        m.attributes.push(RouteAttribute::Oif(4));
        m.attributes.push(RouteAttribute::Table(100));
        let a = answer(&m);
        assert!(a.reaches());
        assert_eq!((a.dev, a.table, a.kind.as_deref()), (Some(4), Some(100), Some("unicast")));
    }
}
