//! Property tests of the `mptcp_pm` parsers: commands and their replies
//! (GET_ADDR, GET_LIMITS), events, endpoints and limits. Any bytes parse
//! without a panic; what the crate emits parses back to itself; a cut
//! message is an error or a prefix of its attributes.

use std::collections::VecDeque;

use netlink_packet_core::NLM_F_REQUEST;
use proptest::prelude::*;

use super::*;
use crate::info::props::config;
use crate::netlink::{decode, split, Reply};
use crate::pm::event::Event;
use crate::pm::subscription::parse_events;
use crate::pm::requests::decode_endpoint;
use crate::pm::types::{Endpoint, EndpointFlags, Limits};

/// An attribute of a kind no known one has (flag bits clear).
fn other(known: u16) -> impl Strategy<Value = DefaultNla> {
    (known + 1..0x3fff, proptest::collection::vec(any::<u8>(), 0..12)).prop_map(|(k, v)| DefaultNla::new(k, v))
}

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

fn v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

fn addr_attr() -> impl Strategy<Value = AddrAttr> {
    prop_oneof![
        any::<u16>().prop_map(AddrAttr::Family),
        any::<u8>().prop_map(AddrAttr::Id),
        v4().prop_map(AddrAttr::Addr4),
        v6().prop_map(AddrAttr::Addr6),
        any::<u16>().prop_map(AddrAttr::Port),
        any::<u32>().prop_map(AddrAttr::Flags),
        any::<i32>().prop_map(AddrAttr::IfIdx),
        other(ADDR_ATTR_IF_IDX).prop_map(AddrAttr::Other),
    ]
}

fn pm_attr() -> impl Strategy<Value = PmAttr> {
    let addrs = || proptest::collection::vec(addr_attr(), 0..7);
    prop_oneof![
        addrs().prop_map(PmAttr::Addr),
        any::<u32>().prop_map(PmAttr::RcvAddAddrs),
        any::<u32>().prop_map(PmAttr::Subflows),
        any::<u32>().prop_map(PmAttr::Token),
        any::<u8>().prop_map(PmAttr::LocId),
        addrs().prop_map(PmAttr::AddrRemote),
        other(ATTR_ADDR_REMOTE).prop_map(PmAttr::Other),
    ]
}

fn event_attr() -> impl Strategy<Value = EventAttr> {
    use EventAttr::*;
    prop_oneof![
        any::<u32>().prop_map(Token),
        any::<u16>().prop_map(Family),
        any::<u8>().prop_map(LocId),
        any::<u8>().prop_map(RemId),
        v4().prop_map(Saddr4),
        v6().prop_map(Saddr6),
        v4().prop_map(Daddr4),
        v6().prop_map(Daddr6),
        any::<u16>().prop_map(Sport),
        any::<u16>().prop_map(Dport),
        any::<u8>().prop_map(Backup),
        any::<u8>().prop_map(Error),
        any::<u16>().prop_map(Flags),
        any::<u32>().prop_map(Timeout),
        any::<i32>().prop_map(IfIdx),
        any::<u32>().prop_map(ResetReason),
        any::<u32>().prop_map(ResetFlags),
        any::<u8>().prop_map(ServerSide),
        other(EV_ATTR_SERVER_SIDE).prop_map(Other),
    ]
}

fn emit<T: Emitable>(m: &T) -> Vec<u8> {
    let mut out = vec![0u8; m.buffer_len()];
    m.emit(&mut out);
    out
}

fn header(cmd: u8) -> GenlHeader {
    GenlHeader { cmd, version: FAMILY_VERSION }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..300), cmd in any::<u8>()) {
        if let Ok(m) = PmMessage::parse_with_param(&raw, header(cmd)) {
            let _ = decode_endpoint(&m);
            let _ = Limits::from_attrs(&m.attrs);
            let _ = emit(&m);
        }
        if let Ok(m) = EventMessage::parse_with_param(&raw, header(cmd)) {
            let ev = Event::from_message(&m);
            let _ = ev.to_string();
            let _ = (ev.local(), ev.remote(), ev.is_server_side());
            let _ = emit(&m);
        }
        let _ = parse_events(&raw, &mut VecDeque::new());
        for m in split(&raw).flatten() {
            let _ = decode::<GenlMessage<PmMessage>>(m);
        }
    }

    /// Commands and replies: emitted then parsed give the same message, in
    /// a whole generic netlink request too; cut, an error or a prefix.
    #[test]
    fn pm_messages_round_trip(cmd in 1u8..12, attrs in proptest::collection::vec(pm_attr(), 0..5), cut in 0usize..400) {
        let m = PmMessage::new(cmd, attrs);
        let raw = emit(&m);
        prop_assert_eq!(&PmMessage::parse_with_param(&raw, header(cmd)).unwrap(), &m);
        let req = encode(m.clone(), 0x1d, NLM_F_REQUEST, 9);
        match decode::<GenlMessage<PmMessage>>(&req).unwrap() {
            (9, Reply::Data(g)) => prop_assert_eq!(&g.payload, &m),
            other => prop_assert!(false, "{:?}", other),
        }
        if let Ok(p) = PmMessage::parse_with_param(&raw[..cut.min(raw.len())], header(cmd)) {
            prop_assert!(m.attrs.starts_with(&p.attrs), "{:?} is not a prefix of {:?}", p.attrs, m.attrs);
        }
    }

    #[test]
    fn events_round_trip(kind in any::<u8>(), attrs in proptest::collection::vec(event_attr(), 0..10), cut in 0usize..200) {
        let m = EventMessage { kind, attrs };
        let raw = emit(&m);
        let back = EventMessage::parse_with_param(&raw, header(kind)).unwrap();
        prop_assert_eq!(&back, &m);
        // The typed event holds the last value of each attribute.
        let ev = Event::from_message(&back);
        let last_token = m.attrs.iter().rev().find_map(|a| match a { EventAttr::Token(t) => Some(*t), _ => None });
        prop_assert_eq!(ev.token, last_token);
        let last_sport = m.attrs.iter().rev().find_map(|a| match a { EventAttr::Sport(p) => Some(*p), _ => None });
        prop_assert_eq!(ev.sport, last_sport);
        if let Ok(p) = EventMessage::parse_with_param(&raw[..cut.min(raw.len())], header(kind)) {
            prop_assert!(m.attrs.starts_with(&p.attrs));
        }
    }

    /// An endpoint as the kernel reports it (GET_ADDR reply) decodes to
    /// the endpoint; limits likewise.
    #[test]
    fn endpoints_and_limits_round_trip(
        ip in prop_oneof![v4().prop_map(IpAddr::V4), v6().prop_map(IpAddr::V6)],
        id in any::<u8>(),
        port in proptest::option::of(1u16..),
        flags in any::<u32>(),
        ifindex in proptest::option::of(1u32..=i32::MAX as u32),
        limits in any::<(u32, u32)>(),
    ) {
        let mut ep = Endpoint::new(ip).with_id(id).with_flags(EndpointFlags(flags));
        ep.port = port;
        ep.ifindex = ifindex;
        let reply = PmMessage::new(CMD_GET_ADDR, vec![PmAttr::Addr(ep.to_attrs())]);
        let back = PmMessage::parse_with_param(&emit(&reply), header(CMD_GET_ADDR)).unwrap();
        prop_assert_eq!(decode_endpoint(&back), Some(ep));
        let reply = PmMessage::new(CMD_GET_LIMITS, vec![PmAttr::RcvAddAddrs(limits.0), PmAttr::Subflows(limits.1)]);
        let back = PmMessage::parse_with_param(&emit(&reply), header(CMD_GET_LIMITS)).unwrap();
        prop_assert_eq!(Limits::from_attrs(&back.attrs), Limits::new(limits.1, limits.0));
    }
}
