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
