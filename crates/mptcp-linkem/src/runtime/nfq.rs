//! The nfnetlink_queue protocol (`linux/netfilter/nfnetlink_queue.h`):
//! binding a queue, its parameters, packet messages and verdicts.
//!
//! Written here rather than taken from the `nfq` crate (0.2.5): that crate
//! has no batch verdicts, does not expose its descriptor for polling with a
//! timer, and sizes its receive buffer for whole packets.

use std::io;
use std::os::fd::AsFd;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use super::nl::{self, NLM_F_ACK, NLM_F_REQUEST};
use crate::sys;

/// `NFNL_SUBSYS_QUEUE`.
const SUBSYS_QUEUE: u16 = 3;
const MSG_PACKET: u16 = SUBSYS_QUEUE << 8;
const MSG_VERDICT: u16 = (SUBSYS_QUEUE << 8) | 1;
const MSG_CONFIG: u16 = (SUBSYS_QUEUE << 8) | 2;
const MSG_VERDICT_BATCH: u16 = (SUBSYS_QUEUE << 8) | 3;

const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_PAYLOAD: u16 = 10;
const NFQA_CAP_LEN: u16 = 13;

const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;

const CMD_BIND: u8 = 1;
/// `NFQNL_COPY_PACKET`, with a short copy range: the kernel reports the
/// packet's full length (`NFQA_CAP_LEN`) only when it copies part of it
/// (`NFQNL_COPY_META` sends no length at all).
const COPY_PACKET: u8 = 2;
/// Bytes of each packet copied to us: its IP and TCP headers (at most 60
/// and 60 bytes, and IPv6's 40).
const COPY_RANGE: u32 = 128;
const CFG_F_FAIL_OPEN: u32 = 1;
const CFG_F_GSO: u32 = 4;

/// `NF_DROP`, `NF_ACCEPT`.
pub(crate) const DROP: u32 = 0;
pub(crate) const ACCEPT: u32 = 1;

/// `SOL_NETLINK`, `NETLINK_NO_ENOBUFS`.
const SOL_NETLINK: i32 = 270;
const NETLINK_NO_ENOBUFS: i32 = 5;

/// Opens a NETLINK_NETFILTER socket in the calling thread's namespace.
pub(crate) fn socket() -> io::Result<Socket> {
    let mut s = Socket::new(NETLINK_NETFILTER)?;
    s.bind_auto()?;
    s.connect(&SocketAddr::new(0, 0))?;
    Ok(s)
}

/// Binds `queue` on `socket` with 128-byte copies, a kernel queue of
/// `maxlen` packets and GSO packets kept whole or not, and makes the
/// socket fit for bursts (large forced receive buffer, no ENOBUFS errors:
/// the kernel's drops are counted in its statistics instead).
pub(crate) fn bind(socket: &Socket, queue: u16, maxlen: u32, gso: bool, rcvbuf: i32) -> io::Result<()> {
    let mut out = Vec::new();
    nl::put_msg(&mut out, MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, 1, libc::AF_UNSPEC as u8, queue, |b| {
        // struct nfqnl_msg_config_cmd { u8 command; u8 pad; be16 pf; }
        nl::put_attr(b, NFQA_CFG_CMD, &[CMD_BIND, 0, 0, 0]);
    });
    nl::transact(socket, &out, &[1])?;
    let mut out = Vec::new();
    nl::put_msg(&mut out, MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, 2, libc::AF_UNSPEC as u8, queue, |b| {
        // struct nfqnl_msg_config_params { be32 copy_range; u8 copy_mode; } (packed)
        let mut params = COPY_RANGE.to_be_bytes().to_vec();
        params.push(COPY_PACKET);
        nl::put_attr(b, NFQA_CFG_PARAMS, &params);
        nl::put_be32(b, NFQA_CFG_QUEUE_MAXLEN, maxlen);
        nl::put_be32(b, NFQA_CFG_MASK, CFG_F_GSO | CFG_F_FAIL_OPEN);
        nl::put_be32(b, NFQA_CFG_FLAGS, if gso { CFG_F_GSO } else { 0 });
    });
    nl::transact(socket, &out, &[2])?;
    let fd = socket.as_fd();
    // SO_RCVBUFFORCE needs CAP_NET_ADMIN; SO_RCVBUF (capped by rmem_max) otherwise.
    if sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, rcvbuf).is_err() {
        sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, rcvbuf)?;
    }
    sys::setsockopt_int(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)?;
    Ok(())
}

/// Appends a verdict for packet `id`.
pub(crate) fn put_verdict(out: &mut Vec<u8>, queue: u16, id: u32, verdict: u32) {
    put(out, MSG_VERDICT, queue, id, verdict);
}

/// Appends a verdict for every packet of the queue with an id up to `id`.
pub(crate) fn put_verdict_batch(out: &mut Vec<u8>, queue: u16, id: u32, verdict: u32) {
    put(out, MSG_VERDICT_BATCH, queue, id, verdict);
}

fn put(out: &mut Vec<u8>, kind: u16, queue: u16, id: u32, verdict: u32) {
    nl::put_msg(out, kind, NLM_F_REQUEST, 0, libc::AF_UNSPEC as u8, queue, |b| {
        // struct nfqnl_msg_verdict_hdr { be32 verdict; be32 id; }
        let mut v = verdict.to_be_bytes().to_vec();
        v.extend_from_slice(&id.to_be_bytes());
        nl::put_attr(b, NFQA_VERDICT_HDR, &v);
    });
}

/// What one message from the queue's socket says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A queued packet: its id, its length (IP bytes) and the length of
    /// its IP and TCP/UDP headers when the copy shows them.
    Packet { queue: u16, id: u32, len: u32, headers: Option<u32> },
    /// The kernel refused one of our requests (a verdict for an id it no
    /// longer holds, typically).
    Error(i32),
}

/// The packets and errors of one datagram.
pub(crate) fn parse(datagram: &[u8]) -> impl Iterator<Item = Incoming> + '_ {
    nl::messages(datagram).filter_map(|m| {
        if let Some(code) = m.error() {
            return (code != 0).then_some(Incoming::Error(code));
        }
        if m.kind != MSG_PACKET {
            return None;
        }
        let (mut id, mut cap_len, mut payload_len, mut headers) = (None, None, 0u32, None);
        for (kind, value) in nl::attrs(m.payload) {
            match kind {
                // struct nfqnl_msg_packet_hdr { be32 packet_id; be16 hw_protocol; u8 hook; }
                NFQA_PACKET_HDR if value.len() >= 4 => {
                    id = Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]))
                }
                NFQA_CAP_LEN if value.len() >= 4 => {
                    cap_len = Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]))
                }
                NFQA_PAYLOAD => {
                    payload_len = value.len() as u32;
                    headers = header_len(value);
                }
                _ => {}
            }
        }
        Some(Incoming::Packet { queue: m.res_id, id: id?, len: cap_len.unwrap_or(payload_len), headers })
    })
}

/// Length of the IP header plus the TCP or UDP header at the start of a
/// packet, when `head` holds them (IPv6 extension headers are not followed).
pub(crate) fn header_len(head: &[u8]) -> Option<u32> {
    let (ip, proto) = match head.first()? >> 4 {
        4 => (usize::from(head[0] & 0x0f) * 4, *head.get(9)?),
        6 => (40, *head.get(6)?),
        _ => return None,
    };
    let l4 = match proto {
        6 => usize::from(head.get(ip + 12)? >> 4) * 4,
        17 => 8,
        _ => return None,
    };
    if ip < 20 || (proto == 6 && l4 < 20) || head.len() < ip + l4.min(20) {
        return None;
    }
    Some((ip + l4) as u32)
}

/// The bytes a packet of `len` IP bytes takes on the wire once segmented
/// into packets of at most `mtu` (a GSO aggregate carries one set of
/// headers for all its segments): `len` plus one set per extra segment.
pub(crate) fn wire_len(len: u32, headers: Option<u32>, mtu: u32) -> u32 {
    match headers {
        Some(h) if len > mtu && mtu > h => {
            let segments = (len - h).div_ceil(mtu - h);
            len.saturating_add((segments - 1).saturating_mul(h))
        }
        _ => len,
    }
}

/// The kernel's counters of one queue, from `/proc/net/netfilter/nfnetlink_queue`
/// (as seen from the calling thread's namespace): `(queue_dropped,
/// user_dropped)`: packets dropped because the queue was full, and because
/// the netlink socket's buffer was.
pub(crate) fn kernel_drops(text: &str, queue: u16) -> Option<(u64, u64)> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 7 || f[0].parse::<u16>().ok()? != queue {
            return None;
        }
        Some((f[5].parse().ok()?, f[6].parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet message as the kernel sends it with a 64-byte copy range
    /// (layout: packet header, devices, hw address, cap length, payload).
    /// An IPv4 header (20 bytes) and a TCP header with 12 bytes of options.
    fn tcp_head() -> Vec<u8> {
        let mut h = vec![0u8; 128];
        h[0] = 0x45;
        h[9] = 6;
        h[20 + 12] = 8 << 4;
        h
    }

    fn packet(queue: u16, id: u32, len: u32) -> Vec<u8> {
        let mut out = Vec::new();
        nl::put_msg(&mut out, MSG_PACKET, 0, 0, libc::AF_INET as u8, queue, |b| {
            let mut hdr = id.to_be_bytes().to_vec();
            hdr.extend_from_slice(&0x0800u16.to_be_bytes());
            hdr.push(2); // NF_INET_FORWARD
            nl::put_attr(b, NFQA_PACKET_HDR, &hdr);
            nl::put_be32(b, 5, 3); // NFQA_IFINDEX_INDEV
            nl::put_be32(b, 6, 4); // NFQA_IFINDEX_OUTDEV
            nl::put_attr(b, 9, &[0, 6, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0]); // NFQA_HWADDR
            nl::put_be32(b, NFQA_CAP_LEN, len);
            nl::put_attr(b, NFQA_PAYLOAD, &tcp_head());
        });
        out
    }

    #[test]
    fn short_packets_have_no_cap_len_and_count_their_payload() {
        let mut out = Vec::new();
        nl::put_msg(&mut out, MSG_PACKET, 0, 0, libc::AF_INET as u8, 1, |b| {
            nl::put_attr(b, NFQA_PACKET_HDR, &[0, 0, 0, 5, 8, 0, 2]);
            nl::put_attr(b, NFQA_PAYLOAD, &[0x45; 52]);
        });
        assert_eq!(parse(&out).collect::<Vec<_>>(), vec![Incoming::Packet { queue: 1, id: 5, len: 52, headers: None }]);
    }

    #[test]
    fn header_lengths_of_ipv4_ipv6_tcp_udp() {
        assert_eq!(header_len(&tcp_head()), Some(52));
        let mut v6 = vec![0u8; 128];
        v6[0] = 0x60;
        v6[6] = 17;
        assert_eq!(header_len(&v6), Some(48));
        v6[6] = 6;
        v6[40 + 12] = 5 << 4;
        assert_eq!(header_len(&v6), Some(60));
        v6[6] = 58; // ICMPv6
        assert_eq!(header_len(&v6), None);
        assert_eq!(header_len(&[0x45]), None);
        assert_eq!(header_len(&[]), None);
        let mut bad = tcp_head();
        bad[0] = 0x41; // IHL 4 bytes
        assert_eq!(header_len(&bad), None);
    }

    #[test]
    fn gso_aggregates_count_a_header_per_segment() {
        // 45 segments of 1448 bytes of payload behind 52 bytes of headers.
        let len = 52 + 45 * 1448;
        assert_eq!(wire_len(len, Some(52), 1500), 45 * 1500);
        // Whole packets and unknown headers are counted as they are.
        assert_eq!(wire_len(1500, Some(52), 1500), 1500);
        assert_eq!(wire_len(9000, None, 1500), 9000);
        // A last, shorter segment.
        assert_eq!(wire_len(52 + 1448 + 100, Some(52), 1500), 1500 + 152);
    }

    #[test]
    fn packet_messages_give_id_and_length() {
        let mut d = packet(7, 41, 1500);
        d.extend(packet(7, 42, 64_000));
        let got: Vec<_> = parse(&d).collect();
        assert_eq!(
            got,
            vec![
                Incoming::Packet { queue: 7, id: 41, len: 1500, headers: Some(52) },
                Incoming::Packet { queue: 7, id: 42, len: 64_000, headers: Some(52) }
            ]
        );
    }

    #[test]
    fn errors_are_reported_and_acks_skipped() {
        let mut d = Vec::new();
        for code in [0i32, -libc::ENOENT] {
            let start = d.len();
            d.extend_from_slice(&36u32.to_ne_bytes());
            d.extend_from_slice(&2u16.to_ne_bytes());
            d.extend_from_slice(&[0; 10]);
            d.extend_from_slice(&code.to_ne_bytes());
            d.extend_from_slice(&[0; 16]);
            assert_eq!(d.len() - start, 36);
        }
        assert_eq!(parse(&d).collect::<Vec<_>>(), vec![Incoming::Error(libc::ENOENT)]);
    }

    #[test]
    fn verdicts_are_well_formed() {
        let mut out = Vec::new();
        put_verdict(&mut out, 3, 9, DROP);
        put_verdict_batch(&mut out, 3, 12, ACCEPT);
        let m: Vec<_> = nl::messages(&out).collect();
        assert_eq!((m[0].kind, m[0].res_id), (MSG_VERDICT, 3));
        assert_eq!((m[1].kind, m[1].res_id), (MSG_VERDICT_BATCH, 3));
        let a: Vec<_> = nl::attrs(m[1].payload).collect();
        assert_eq!(a, vec![(NFQA_VERDICT_HDR, &[0, 0, 0, 1, 0, 0, 0, 12][..])]);
    }

    #[test]
    fn proc_counters_are_read_by_queue() {
        let text =
            "    0  12345     0 1     0     7     2      100  1\n  301  12346     3 1     0     0     9      200  1\n";
        assert_eq!(kernel_drops(text, 0), Some((7, 2)));
        assert_eq!(kernel_drops(text, 301), Some((0, 9)));
        assert_eq!(kernel_drops(text, 5), None);
    }
}
