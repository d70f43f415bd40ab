use super::*;

#[test]
fn garbage_is_reported_not_fatal() {
    let mut seen = Vec::new();
    parse_all(&[0xff; 20], |m| seen.push(m.is_some()));
    assert_eq!(seen, vec![false]);
    seen.clear();
    parse_all(&[], |m| seen.push(m.is_some()));
    assert!(seen.is_empty());
}

#[test]
fn a_message_round_trips() {
    let mut link = LinkMessage::default();
    link.header.index = 7;
    let mut msg = NetlinkMessage::from(RouteNetlinkMessage::NewLink(link.clone()));
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len() * 2];
    msg.serialize(&mut buf[..msg.buffer_len()]);
    let len = msg.buffer_len();
    msg.serialize(&mut buf[len..]);
    let mut seen = Vec::new();
    parse_all(&buf, |m| seen.push(m));
    assert_eq!(seen.len(), 2);
    assert!(
        matches!(&seen[0], Some(NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l))) if l.header.index == 7)
    );
}

#[test]
fn a_datagram_cut_inside_a_header_reports_the_loss() {
    // Found by the property test a_cut_datagram_reports_its_loss: fewer
    // than 16 bytes left after a whole message were dropped silently.
    let mut msg = NetlinkMessage::from(RouteNetlinkMessage::NewLink(LinkMessage::default()));
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len() * 2];
    msg.serialize(&mut buf[..msg.buffer_len()]);
    let len = msg.buffer_len();
    msg.serialize(&mut buf[len..]);
    let mut seen = Vec::new();
    parse_all(&buf[..len + 10], |m| seen.push(m.is_some()));
    assert_eq!(seen, [true, false]);
}

// Property tests of the rtnetlink parsers the daemon feeds with what the
// kernel sends: the event datagrams (`parse_all`), the dump replies
// (`dump_replies`) and the state built from them (`NetState::apply`).
// Arbitrary bytes never panic; messages the daemon understands survive
// encoding, splitting and parsing unchanged; a cut datagram yields its
// whole messages and then reports the loss (so the daemon dumps again).
mod props {
    use std::net::IpAddr;

    use netlink_packet_core::{DoneMessage, NLM_F_DUMP_INTR};
    use netlink_packet_route::address::AddressAttribute;
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    use super::*;
    use crate::net::tests::{addr_msg, link, route};
    use crate::net::RT_TABLE_MAIN;

    /// Cases per property: bounded, so the suite stays quick; no failure files
    /// are written (a failure found is kept as a test with its bytes), as the
    /// library's property tests do.
    fn config() -> Config {
        Config { cases: 512, failure_persistence: None, ..Config::default() }
    }

    /// Messages of the kinds the daemon acts on, over a few interfaces so that
    /// the same link or address comes back, changes and goes.
    fn message() -> impl Strategy<Value = RouteNetlinkMessage> {
        let index = 1u32..5;
        let link_msg =
            (index.clone(), prop::sample::select(vec!["lo", "eth0", "p1", "wlan0"]), any::<bool>(), any::<bool>())
                .prop_flat_map(|(i, name, up, carrier)| {
                    let new = link(i, name, up, carrier);
                    let del = match &new {
                        RouteNetlinkMessage::NewLink(m) => RouteNetlinkMessage::DelLink(m.clone()),
                        _ => unreachable!(),
                    };
                    prop::sample::select(vec![new.clone(), new, del])
                });
        let address =
            (index.clone(), any::<bool>(), 0u8..4, 0u8..=128, any::<u32>(), prop::sample::select(vec![0u8, 253, 254]))
                .prop_map(|(i, v4, host, len, flags, scope)| {
                    let cidr = if v4 {
                        format!("10.0.{i}.{host}/{}", len.min(32))
                    } else {
                        format!("2001:db8:{i}::{host}/{len}")
                    };
                    // IFA_F_* bits the policy looks at, and others.
                    let flags = flags & 0x1ff;
                    (addr_msg(i, &cidr, flags, scope), flags % 3 == 0)
                })
                .prop_map(
                    |(m, del)| {
                        if del {
                            RouteNetlinkMessage::DelAddress(m)
                        } else {
                            RouteNetlinkMessage::NewAddress(m)
                        }
                    },
                );
        let default_route =
            (prop::sample::select(vec![4u8, 6]), index, prop::sample::select(vec![RT_TABLE_MAIN, 100]), any::<bool>())
                .prop_map(|(family, oif, table, add)| route(family, oif, table, add));
        prop_oneof![link_msg, address, default_route]
    }

    /// One message as the kernel sends it, padded to 4 bytes (NLMSG_ALIGN).
    fn encode(m: &RouteNetlinkMessage, seq: u32, flags: u16) -> Vec<u8> {
        let mut msg = NetlinkMessage::from(m.clone());
        msg.header.sequence_number = seq;
        msg.header.flags = flags;
        msg.finalize();
        let mut out = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut out);
        out.resize((out.len() + 3) & !3, 0);
        out
    }

    /// `NLMSG_DONE` of dump `seq`.
    fn done(seq: u32) -> Vec<u8> {
        let mut msg = NetlinkMessage::<RouteNetlinkMessage>::new(
            NetlinkHeader::default(),
            NetlinkPayload::Done(DoneMessage::default()),
        );
        msg.header.sequence_number = seq;
        msg.header.flags = NLM_F_MULTIPART;
        msg.finalize();
        let mut out = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut out);
        out
    }

    /// What `parse_all` finds: parsed messages, and `None` for each loss.
    fn parsed(data: &[u8]) -> Vec<Option<RouteNetlinkMessage>> {
        let mut out = Vec::new();
        parse_all(data, |m| match m {
            Some(NetlinkPayload::InnerMessage(m)) => out.push(Some(m)),
            Some(_) => {}
            None => out.push(None),
        });
        out
    }

    fn applied<'a>(msgs: impl IntoIterator<Item = &'a RouteNetlinkMessage>) -> NetState {
        let mut net = NetState::default();
        for m in msgs {
            net.apply(m);
        }
        net
    }

    proptest! {
        #![proptest_config(config())]

        /// Whatever a datagram holds: no panic, at most one answer per
        /// 16 bytes, and the state takes every message that parses.
        #[test]
        fn arbitrary_datagrams_never_panic(d in prop::collection::vec(any::<u8>(), 0..600), seq in any::<u32>()) {
            let found = parsed(&d);
            prop_assert!(found.len() <= d.len() / 16 + 1);
            let mut net = NetState::default();
            for m in found.iter().flatten() {
                let _ = net.apply(m);
            }
            let chunk = dump_replies(&d, seq);
            prop_assert!(chunk.replies.len() <= d.len() / 16);
        }

        /// Arbitrary bytes after a valid header of every message type the
        /// daemon reads: no panic in the parser or in the state.
        #[test]
        fn arbitrary_bodies_never_panic(ty in prop::sample::select(vec![16u16, 17, 20, 21, 24, 25]), body in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut d = Vec::with_capacity(16 + body.len());
            d.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
            d.extend_from_slice(&ty.to_ne_bytes());
            d.extend_from_slice(&[0; 10]);
            d.extend_from_slice(&body);
            let mut net = NetState::default();
            for m in parsed(&d).iter().flatten() {
                let _ = net.apply(m);
            }
        }

        /// Messages survive encoding and parsing, however many share a
        /// datagram: the state built from the parsed ones is the one built
        /// from the originals, and a removed link leaves nothing behind.
        #[test]
        fn messages_round_trip(msgs in prop::collection::vec(message(), 1..24)) {
            let d: Vec<u8> = msgs.iter().flat_map(|m| encode(m, 0, 0)).collect();
            let back = parsed(&d);
            prop_assert_eq!(back.len(), msgs.len());
            let back: Vec<RouteNetlinkMessage> = back.into_iter().map(|m| m.expect("a loss in a whole datagram")).collect();
            prop_assert_eq!(&back, &msgs);
            let net = applied(&back);
            prop_assert_eq!(&net, &applied(&msgs));
            // A link removed takes its addresses and default routes along,
            // unless messages after its removal bring them back.
            for i in 1..5u32 {
                let Some(at) = msgs.iter().rposition(|m| matches!(m, RouteNetlinkMessage::DelLink(l) if l.header.index == i)) else { continue };
                let after = &msgs[at + 1..];
                if !after.iter().any(|m| matches!(m, RouteNetlinkMessage::NewAddress(a) if a.header.index == i)) {
                    prop_assert!(net.addrs().all(|a| a.index != i), "addresses of removed link {}", i);
                }
                if !after.iter().any(|m| matches!(m, RouteNetlinkMessage::NewRoute(_))) {
                    prop_assert!(net.default_routes().all(|r| !r.oifs.contains(&i)), "routes through removed link {}", i);
                }
            }
            // Every address in the state is one a message carried.
            for a in net.addrs() {
                let carried = msgs.iter().any(|m| matches!(m, RouteNetlinkMessage::NewAddress(x)
                    if x.header.index == a.index && x.attributes.iter().any(|at| matches!(at, AddressAttribute::Address(ip) if *ip == a.addr))));
                prop_assert!(carried, "{:?} from nowhere", a);
            }
        }

        /// A datagram cut anywhere: its whole messages first, in order, then
        /// exactly one loss if the cut fell inside a message.
        #[test]
        fn a_cut_datagram_reports_its_loss(msgs in prop::collection::vec(message(), 1..8), cut in any::<prop::sample::Index>()) {
            let parts: Vec<Vec<u8>> = msgs.iter().map(|m| encode(m, 0, 0)).collect();
            let d: Vec<u8> = parts.concat();
            let cut = cut.index(d.len() + 1);
            let got = parsed(&d[..cut]);
            // Message k spans [start, start + len) and its padding up to the
            // next one: a cut from its end to the next start loses nothing.
            let mut start = 0;
            let mut whole = 0;
            let mut boundary = cut == 0;
            for p in &parts {
                let len = u32::from_ne_bytes(p[..4].try_into().unwrap()) as usize;
                if start + len <= cut {
                    whole += 1;
                    boundary = cut <= start + p.len();
                }
                start += p.len();
            }
            let (ok, lost): (Vec<_>, Vec<_>) = got.iter().partition(|m| m.is_some());
            prop_assert_eq!(ok.len(), whole);
            prop_assert!(got.iter().take(whole).all(|m| m.is_some()), "a loss before a whole message");
            let ok: Vec<RouteNetlinkMessage> = ok.into_iter().flatten().cloned().collect();
            prop_assert_eq!(&ok[..], &msgs[..whole]);
            prop_assert_eq!(lost.len(), usize::from(!boundary));
        }

        /// A dump's replies are collected in order until its NLMSG_DONE;
        /// messages of other requests (events on the same socket) are skipped;
        /// NLM_F_DUMP_INTR anywhere marks the dump for a retry.
        #[test]
        fn dumps_collect_their_replies(
            msgs in prop::collection::vec((message(), any::<bool>()), 0..12),
            intr in any::<Option<prop::sample::Index>>(),
            split in any::<prop::sample::Index>(),
        ) {
            let seq = 7;
            let intr = intr.filter(|_| !msgs.is_empty()).map(|i| i.index(msgs.len()));
            let mut parts: Vec<Vec<u8>> = msgs
                .iter()
                .enumerate()
                .map(|(i, (m, ours))| {
                    let flags = NLM_F_MULTIPART | if intr == Some(i) { NLM_F_DUMP_INTR } else { 0 };
                    encode(m, if *ours { seq } else { seq + 1 }, flags)
                })
                .collect();
            parts.push(done(seq));
            // The kernel may spread a dump over several datagrams.
            let at = split.index(parts.len()); // the last datagram holds at least NLMSG_DONE
            let (a, b) = (parts[..at].concat(), parts[at..].concat());
            let (first, second) = (dump_replies(&a, seq), dump_replies(&b, seq));
            prop_assert!(first.failure.is_none() && second.failure.is_none());
            prop_assert!(!first.done && second.done);
            let got: Vec<RouteNetlinkMessage> = first.replies.into_iter().chain(second.replies).collect();
            let want: Vec<RouteNetlinkMessage> = msgs.iter().filter(|(_, ours)| *ours).map(|(m, _)| m.clone()).collect();
            prop_assert_eq!(got, want);
            let intr_ours = intr.is_some_and(|i| msgs[i].1);
            prop_assert_eq!(first.interrupted || second.interrupted, intr_ours);
        }
    }

    #[test]
    fn addresses_of_both_families_parse_as_sent() {
        // The state reads IFA_LOCAL for IPv4 (IFA_ADDRESS is a point-to-point
        // peer) and IFA_ADDRESS for IPv6, as the kernel sends them.
        let msgs = [
            link(2, "eth0", true, true),
            RouteNetlinkMessage::NewAddress(addr_msg(2, "192.0.2.1/24", 0, 0)),
            RouteNetlinkMessage::NewAddress(addr_msg(2, "2001:db8::1/64", 0, 0)),
        ];
        let d: Vec<u8> = msgs.iter().flat_map(|m| encode(m, 0, 0)).collect();
        let net = applied(parsed(&d).iter().flatten());
        let got: Vec<IpAddr> = net.addrs().map(|a| a.addr).collect();
        assert_eq!(got, ["192.0.2.1".parse::<IpAddr>().unwrap(), "2001:db8::1".parse().unwrap()]);
    }
}
