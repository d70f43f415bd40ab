use super::*;
use netlink_packet_route::address::AddressFlags;
use netlink_packet_route::route::RouteHeader;

pub(crate) fn link(index: u32, name: &str, up: bool, carrier: bool) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    let mut f = LinkFlags::empty();
    if up {
        f |= LinkFlags::Up;
    }
    if carrier {
        f |= LinkFlags::LowerUp;
    }
    if name == "lo" {
        f |= LinkFlags::Loopback;
    }
    m.header.flags = f;
    m.attributes.push(LinkAttribute::IfName(name.into()));
    RouteNetlinkMessage::NewLink(m)
}

pub(crate) fn addr_msg(index: u32, cidr: &str, flags: u32, scope: u8) -> AddressMessage {
    let (a, l) = cidr.split_once('/').unwrap();
    let ip: IpAddr = a.parse().unwrap();
    let mut m = AddressMessage::default();
    m.header.family = if ip.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    m.header.prefix_len = l.parse().unwrap();
    m.header.index = index;
    m.header.scope = scope.into();
    m.attributes.push(AddressAttribute::Address(ip));
    if ip.is_ipv4() {
        m.attributes.push(AddressAttribute::Local(ip));
    }
    m.attributes.push(AddressAttribute::Flags(AddressFlags::from_bits_retain(flags)));
    m
}

pub(crate) fn addr(index: u32, cidr: &str, flags: u32) -> RouteNetlinkMessage {
    RouteNetlinkMessage::NewAddress(addr_msg(index, cidr, flags, 0))
}

pub(crate) fn route(family: u8, oif: u32, table: u32, add: bool) -> RouteNetlinkMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = if family == 4 { AddressFamily::Inet } else { AddressFamily::Inet6 };
    m.header.kind = RouteType::Unicast;
    m.header.table = if table < 256 { table as u8 } else { RouteHeader::RT_TABLE_UNSPEC };
    m.attributes.push(RouteAttribute::Table(table));
    m.attributes.push(RouteAttribute::Oif(oif));
    if add {
        RouteNetlinkMessage::NewRoute(m)
    } else {
        RouteNetlinkMessage::DelRoute(m)
    }
}

#[test]
fn links_addresses_routes() {
    let mut n = NetState::default();
    assert!(
        matches!(n.apply(&link(2, "eth0", true, true)), Some(Change::Link(s)) if s == "eth0: appeared (up, carrier)")
    );
    assert_eq!(n.apply(&link(2, "eth0", true, true)), None, "no change, no event");
    assert_eq!(n.apply(&link(2, "eth0", true, false)), Some(Change::Link("eth0: carrier lost".into())));
    assert_eq!(n.apply(&link(2, "eth0", true, true)), Some(Change::Link("eth0: carrier back".into())));
    assert!(matches!(n.apply(&addr(2, "192.0.2.1/24", 0)), Some(Change::Addr(_))));
    assert_eq!(n.apply(&addr(2, "192.0.2.1/24", 0)), None);
    assert!(n.apply(&addr(2, "2001:db8::1/64", IFA_F_TENTATIVE)).is_some());
    assert_eq!(n.addrs().count(), 2);
    assert!(n.apply(&addr(2, "2001:db8::1/64", 0)).is_some(), "DAD done is a change");
    assert!(n.apply(&route(4, 2, RT_TABLE_MAIN, true)).is_some());
    assert!(n.has_default_route(4, None) && n.has_default_route(4, Some(2)) && !n.has_default_route(6, None));
    assert!(n.apply(&route(6, 2, 100, true)).is_some());
    assert!(!n.has_default_route(6, None) && n.has_default_route(6, Some(2)));
    // Non-default and non-unicast routes are not ours.
    let mut r = route(4, 2, RT_TABLE_MAIN, true);
    if let RouteNetlinkMessage::NewRoute(m) = &mut r {
        m.header.destination_prefix_length = 24;
    }
    assert_eq!(n.apply(&r), None);
    assert!(n.apply(&route(6, 2, 100, false)).is_some());
    assert!(!n.has_default_route(6, Some(2)));
}

#[test]
fn link_down_drops_ipv4_routes_silently_like_the_kernel() {
    let mut n = NetState::default();
    n.apply(&link(2, "eth0", true, true));
    n.apply(&link(3, "eth1", true, true));
    n.apply(&addr(2, "192.0.2.1/24", 0));
    n.apply(&route(4, 2, RT_TABLE_MAIN, true));
    n.apply(&route(4, 3, RT_TABLE_MAIN, true));
    n.apply(&route(6, 2, RT_TABLE_MAIN, true));
    assert_eq!(n.apply(&link(2, "eth0", false, false)), Some(Change::Link("eth0: down".into())));
    assert!(!n.has_default_route(4, Some(2)) && n.has_default_route(4, Some(3)));
    assert!(n.has_default_route(6, Some(2)), "IPv6 routes go with their own RTM_DELROUTE");
    // Carrier loss keeps routes (flagged linkdown).
    n.apply(&route(4, 3, RT_TABLE_MAIN, true));
    n.apply(&link(3, "eth1", true, false));
    assert!(n.has_default_route(4, Some(3)));
    // The last IPv4 address of a link takes its IPv4 routes along.
    n.apply(&link(2, "eth0", true, true));
    n.apply(&route(4, 2, RT_TABLE_MAIN, true));
    let RouteNetlinkMessage::NewAddress(m) = addr(2, "192.0.2.1/24", 0) else { unreachable!() };
    assert!(n.apply(&RouteNetlinkMessage::DelAddress(m)).is_some());
    assert!(!n.has_default_route(4, Some(2)));
}

#[test]
fn deleted_link_takes_its_addresses() {
    let mut n = NetState::default();
    n.apply(&link(2, "eth0", true, true));
    n.apply(&addr(2, "192.0.2.1/24", 0));
    n.apply(&route(6, 2, RT_TABLE_MAIN, true));
    let RouteNetlinkMessage::NewLink(m) = link(2, "eth0", false, false) else { unreachable!() };
    assert_eq!(n.apply(&RouteNetlinkMessage::DelLink(m)), Some(Change::Link("eth0: removed".into())));
    assert_eq!(n.addrs().count(), 0);
    assert!(!n.has_default_route(6, None));
    assert_eq!(n.name(2), "if2");
}

#[test]
fn renames() {
    let mut n = NetState::default();
    n.apply(&link(2, "eth0", true, true));
    assert_eq!(n.apply(&link(2, "wan0", true, true)), Some(Change::Link("wan0: renamed from eth0".into())));
}

#[test]
fn a_link_removed_takes_its_addresses_even_if_never_seen() {
    // Found by the property test messages_round_trip: addresses that came
    // before their link stayed after the link's removal.
    let mut n = NetState::default();
    n.apply(&addr(7, "192.0.2.7/24", 0));
    n.apply(&route(4, 7, RT_TABLE_MAIN, true));
    let mut del = LinkMessage::default();
    del.header.index = 7;
    assert_eq!(n.apply(&RouteNetlinkMessage::DelLink(del.clone())), Some(Change::Link("if7: removed".into())));
    assert_eq!(n.addrs().count(), 0);
    assert!(!n.has_default_route(4, None));
    assert_eq!(n.apply(&RouteNetlinkMessage::DelLink(del)), None, "nothing left to remove");
}
