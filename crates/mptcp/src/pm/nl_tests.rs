//! Tests of `nl.rs`: unit tests on fixed inputs, then property tests of the
//! `mptcp_pm` parsers: commands and their replies (GET_ADDR, GET_LIMITS),
//! events, endpoints and limits. Any bytes parse without a panic; what the
//! crate emits parses back to itself; a cut message is an error or a prefix
//! of its attributes.

use std::collections::VecDeque;

use netlink_packet_core::{NLM_F_ACK, NLM_F_REQUEST};
use proptest::prelude::*;

use super::*;
use crate::info::tests::config;
use crate::netlink::{decode, extack_message, split, Reply};
use crate::pm::event::Event;
use crate::pm::requests::decode_endpoint;
use crate::pm::subscription::parse_events;
use crate::pm::types::{Endpoint, EndpointFlags, Limits};

/// `ip mptcp endpoint add 10.0.1.2 id 3 subflow dev d0` (ifindex 3):
/// the GET_ADDR reply (genl header + attributes) captured on 6.18.
/// The kernel always sends PORT (0 when unset).
const GET_ADDR_REPLY: [u8; 56] = [
    3, 1, 0, 0, // genlmsghdr: cmd GET_ADDR, version 1
    52, 0, 1, 128, // MPTCP_PM_ATTR_ADDR | NLA_F_NESTED, len 52
    6, 0, 1, 0, 2, 0, 0, 0, // FAMILY = AF_INET
    6, 0, 5, 0, 0, 0, 0, 0, // PORT = 0
    5, 0, 2, 0, 3, 0, 0, 0, // ID = 3
    8, 0, 6, 0, 2, 0, 0, 0, // FLAGS = SUBFLOW
    8, 0, 7, 0, 3, 0, 0, 0, // IF_IDX = 3
    8, 0, 3, 0, 10, 0, 1, 2, // ADDR4 = 10.0.1.2
];

fn genl_parse<T: ParseableParametrized<[u8], GenlHeader>>(b: &[u8]) -> Result<T, DecodeError> {
    let hdr = GenlHeader { cmd: b[0], version: b[1] };
    T::parse_with_param(&b[4..], hdr)
}

#[test]
fn parse_and_emit_get_addr_reply() {
    let m: PmMessage = genl_parse(&GET_ADDR_REPLY).unwrap();
    assert_eq!(m.cmd, CMD_GET_ADDR);
    assert_eq!(
        m.attrs,
        vec![PmAttr::Addr(vec![
            AddrAttr::Family(2),
            AddrAttr::Port(0),
            AddrAttr::Id(3),
            AddrAttr::Flags(2),
            AddrAttr::IfIdx(3),
            AddrAttr::Addr4(Ipv4Addr::new(10, 0, 1, 2)),
        ])]
    );
    let mut out = vec![0u8; m.buffer_len()];
    m.emit(&mut out);
    assert_eq!(out, &GET_ADDR_REPLY[4..]);
    let ep = crate::pm::requests::decode_endpoint(&m).unwrap();
    assert_eq!((ep.id, ep.port, ep.ifindex), (3, None, Some(3)));
}

#[test]
fn limits_round_trip() {
    let raw: [u8; 16] = [8, 0, 2, 0, 1, 0, 0, 0, 8, 0, 3, 0, 2, 0, 0, 0];
    let m: PmMessage = PmMessage::parse_with_param(&raw, GenlHeader { cmd: CMD_GET_LIMITS, version: 1 }).unwrap();
    assert_eq!(m.attrs, vec![PmAttr::RcvAddAddrs(1), PmAttr::Subflows(2)]);
    let mut out = vec![0u8; m.buffer_len()];
    m.emit(&mut out);
    assert_eq!(out, raw);
}

/// A SUB_ESTABLISHED event in the attribute order of 6.18 (token,
/// then net/mptcp/pm_netlink.c:mptcp_event_add_subflow): family, addresses, ports,
/// ids, backup.
const SUB_ESTABLISHED: [u8; 72] = [
    8, 0, 1, 0, 0x78, 0x56, 0x34, 0x12, // TOKEN 0x12345678
    6, 0, 2, 0, 2, 0, 0, 0, // FAMILY AF_INET
    8, 0, 5, 0, 10, 66, 2, 1, // SADDR4
    8, 0, 7, 0, 10, 66, 2, 2, // DADDR4
    6, 0, 9, 0, 0xc3, 0x50, 0, 0, // SPORT 50000 (big endian)
    6, 0, 10, 0, 0x13, 0x88, 0, 0, // DPORT 5000
    5, 0, 3, 0, 1, 0, 0, 0, // LOC_ID 1
    5, 0, 4, 0, 0, 0, 0, 0, // REM_ID 0
    5, 0, 11, 0, 0, 0, 0, 0, // BACKUP 0
];

#[test]
fn event_round_trip() {
    let m = EventMessage::parse_with_param(&SUB_ESTABLISHED, GenlHeader { cmd: 10, version: 1 }).unwrap();
    assert_eq!(m.kind, 10);
    assert_eq!(m.attrs[0], EventAttr::Token(0x1234_5678));
    assert_eq!(m.attrs[4], EventAttr::Sport(50000));
    assert_eq!(m.attrs[5], EventAttr::Dport(5000));
    let mut out = vec![0u8; m.buffer_len()];
    m.emit(&mut out);
    assert_eq!(out, SUB_ESTABLISHED);
}

#[test]
fn odd_lengths_are_kept_verbatim() {
    // TOKEN with 2 bytes, unknown attribute 99 with 3 bytes.
    let raw: [u8; 16] = [6, 0, 1, 0, 1, 2, 0, 0, 7, 0, 99, 0, 1, 2, 3, 0];
    let m = EventMessage::parse_with_param(&raw, GenlHeader { cmd: 1, version: 1 }).unwrap();
    assert!(m.attrs.iter().all(|a| matches!(a, EventAttr::Other(_))));
    let mut out = vec![0u8; m.buffer_len()];
    m.emit(&mut out);
    assert_eq!(out, raw);
}

#[test]
fn malformed_never_panics() {
    // Every truncation and a few corruptions of valid messages.
    let req = encode(PmMessage::new(CMD_GET_ADDR, vec![PmAttr::Addr(vec![AddrAttr::Id(3)])]), 30, NLM_F_REQUEST, 9);
    let mut samples: Vec<Vec<u8>> = Vec::new();
    for base in [&req[..], &GET_ADDR_REPLY[..], &SUB_ESTABLISHED[..]] {
        for cut in 0..=base.len() {
            samples.push(base[..cut].to_vec());
        }
        for i in 0..base.len() {
            for v in [0u8, 1, 3, 0x7f, 0xff] {
                let mut b = base.to_vec();
                b[i] = v;
                samples.push(b);
            }
        }
    }
    for s in &samples {
        for m in split(s).flatten() {
            let _ = decode::<GenlMessage<PmMessage>>(m);
            let _ = decode::<GenlMessage<EventMessage>>(m);
        }
        if s.len() >= 4 {
            let h = GenlHeader { cmd: s[0], version: s[1] };
            let _ = PmMessage::parse_with_param(&s[4..], h);
            let _ = EventMessage::parse_with_param(&s[4..], h);
        }
        let _ = PmMessage::parse_with_param(s, GenlHeader { cmd: 1, version: 1 });
        let _ = EventMessage::parse_with_param(s, GenlHeader { cmd: 1, version: 1 });
        let _ = extack_message(0x300, s);
        let _ = extack_message(0x200, s);
    }
}

#[test]
fn request_encoding() {
    let req = encode(PmMessage::new(CMD_GET_LIMITS, vec![]), 0x1d, NLM_F_REQUEST | NLM_F_ACK, 7);
    assert_eq!(req.len(), 20);
    assert_eq!(u32::from_ne_bytes(req[0..4].try_into().unwrap()), 20);
    assert_eq!(u16::from_ne_bytes(req[4..6].try_into().unwrap()), 0x1d);
    assert_eq!(u16::from_ne_bytes(req[6..8].try_into().unwrap()), 5);
    assert_eq!(u32::from_ne_bytes(req[8..12].try_into().unwrap()), 7);
    assert_eq!(&req[16..20], &[CMD_GET_LIMITS, 1, 0, 0]);
    let (seq, r) = decode::<GenlMessage<PmMessage>>(&req).unwrap();
    assert_eq!(seq, 7);
    assert!(matches!(r, Reply::Data(GenlMessage { payload: PmMessage { cmd: CMD_GET_LIMITS, .. }, .. })));
}

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
