//! Netlink framing shared by the path manager (`pm`) and inet_diag
//! (`diag`): messages go through netlink-packet-core's [`NetlinkMessage`]
//! with each family's payload type, and [`Exchange`] collects the replies
//! to one request (data, the end of a dump, the ACK, an error with the
//! kernel's extended ACK text). Sans-IO: the blocking and the tokio
//! drivers only move datagrams.

use std::fmt::Debug;
use std::io;

use netlink_packet_core::{
    DecodeError, NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable,
    NlasIterator, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_sys::Socket;

/// Receive buffer for one datagram (the kernel's dump batches fit).
pub(crate) const RECV_BUF: usize = 64 * 1024;
/// `NLMSGERR_ATTR_MSG`: the extended ACK's text.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// What a request expects back, and so its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// A dump (`NLM_F_DUMP`): data messages until `NLMSG_DONE`.
    Dump,
    /// Data, if any, then the ACK (`NLM_F_ACK`).
    Ack,
    /// One data message or an error; no ACK is asked for, which saves a
    /// `recv` per request.
    One,
}

impl Expect {
    /// The `nlmsg_flags` of a request.
    pub(crate) fn flags(self) -> u16 {
        match self {
            Expect::Dump => NLM_F_REQUEST | NLM_F_DUMP,
            Expect::Ack => NLM_F_REQUEST | NLM_F_ACK,
            Expect::One => NLM_F_REQUEST,
        }
    }
}

/// Why a request failed, before its caller names it.
#[derive(Debug)]
pub(crate) enum RawError {
    /// The socket failed, or the kernel sent something unparsable.
    Io(io::Error),
    /// The kernel refused: the positive errno and its extended ACK text.
    Kernel(i32, Option<String>),
}

impl From<io::Error> for RawError {
    fn from(e: io::Error) -> Self {
        RawError::Io(e)
    }
}

impl From<RawError> for io::Error {
    fn from(e: RawError) -> Self {
        match e {
            RawError::Io(e) => e,
            RawError::Kernel(errno, _) => io::Error::from_raw_os_error(errno),
        }
    }
}

/// A message that does not parse, as an `InvalidData` error.
pub(crate) fn malformed(e: DecodeError) -> RawError {
    RawError::Io(io::Error::new(io::ErrorKind::InvalidData, format!("malformed netlink message: {e}")))
}

/// Opens a netlink socket of `protocol`, bound to a port the kernel picks.
pub(crate) fn open(protocol: isize) -> io::Result<Socket> {
    let mut s = Socket::new(protocol)?;
    s.bind_auto()?;
    Ok(s)
}

/// Serializes one request: `payload` under a netlink header with `flags`
/// and sequence number `seq`.
pub(crate) fn encode<P: NetlinkSerializable + Debug>(payload: P, flags: u16, seq: u32) -> Vec<u8> {
    let mut msg = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::InnerMessage(payload));
    msg.header.flags = flags;
    msg.header.sequence_number = seq;
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

/// Splits a datagram into netlink messages, checking every length.
pub(crate) fn split(datagram: &[u8]) -> impl Iterator<Item = Result<&[u8], DecodeError>> {
    let mut off = 0usize;
    std::iter::from_fn(move || {
        if off >= datagram.len() {
            return None;
        }
        let rest = &datagram[off..];
        let len = match rest.get(..4) {
            Some(b) => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize,
            None => {
                off = datagram.len();
                return Some(Err(DecodeError::from("truncated netlink header")));
            }
        };
        if len < 16 || len > rest.len() {
            off = datagram.len();
            return Some(Err(DecodeError::from(format!(
                "bad netlink message length {len} ({} bytes left)",
                rest.len()
            ))));
        }
        off = off.saturating_add((len + 3) & !3);
        Some(Ok(&rest[..len]))
    })
}

/// What one received message means for a pending request.
#[derive(Debug)]
pub(crate) enum Reply<P> {
    /// A reply message of the family.
    Data(P),
    /// `NLMSG_DONE` ending a dump (with the dump's error code, 0 = fine).
    Done(i32),
    /// `NLMSG_ERROR`: 0 = ACK, else `-errno`, with the extended ACK text.
    Ack(i32, Option<String>),
    /// Something else (noop, overrun).
    Ignore,
}

/// Parses one netlink message (as [`split`] yields it) into a [`Reply`],
/// with its sequence number.
pub(crate) fn decode<P: NetlinkDeserializable>(msg: &[u8]) -> Result<(u32, Reply<P>), DecodeError> {
    let parsed = NetlinkMessage::<P>::deserialize(msg)?;
    let hdr = parsed.header;
    let reply = match parsed.payload {
        NetlinkPayload::InnerMessage(m) => Reply::Data(m),
        NetlinkPayload::Done(d) => Reply::Done(d.code),
        NetlinkPayload::Error(e) => Reply::Ack(e.raw_code(), extack_message(hdr.flags, &e.header)),
        _ => Reply::Ignore,
    };
    Ok((hdr.sequence_number, reply))
}

/// Reads `NLMSGERR_ATTR_MSG` from the part of an `NLMSG_ERROR` payload
/// that follows the error code.
pub(crate) fn extack_message(flags: u16, rest: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let skip = if flags & NLM_F_CAPPED != 0 {
        16
    } else {
        let l = u32::from_ne_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        (l + 3) & !3
    };
    let tlvs = rest.get(skip..)?;
    for nla in NlasIterator::new(tlvs) {
        let nla = nla.ok()?;
        if nla.kind() == NLMSGERR_ATTR_MSG {
            let v = nla.value();
            let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
            return Some(String::from_utf8_lossy(&v[..end]).into_owned());
        }
    }
    None
}

/// Collects the replies to one request from the datagrams received.
#[derive(Debug)]
pub(crate) struct Exchange<P> {
    seq: u32,
    expect: Expect,
    out: Vec<P>,
}

impl<P: NetlinkDeserializable> Exchange<P> {
    /// Waits for the replies to request `seq`.
    pub(crate) fn new(seq: u32, expect: Expect) -> Self {
        Exchange { seq, expect, out: Vec::new() }
    }

    /// Feeds one datagram; `Ok(true)` once the request is complete.
    pub(crate) fn feed(&mut self, datagram: &[u8]) -> Result<bool, RawError> {
        for m in split(datagram) {
            let (seq, reply) = decode::<P>(m.map_err(malformed)?).map_err(malformed)?;
            if seq != self.seq {
                continue; // a late answer to an earlier request
            }
            match reply {
                Reply::Data(d) => {
                    self.out.push(d);
                    if self.expect == Expect::One {
                        return Ok(true);
                    }
                }
                Reply::Done(0) | Reply::Ack(0, _) => return Ok(true),
                Reply::Done(code) => return Err(RawError::Kernel(code.saturating_abs(), None)),
                Reply::Ack(code, detail) => return Err(RawError::Kernel(code.saturating_abs(), detail)),
                Reply::Ignore => {}
            }
        }
        Ok(false)
    }

    /// The replies collected.
    pub(crate) fn into_out(self) -> Vec<P> {
        self.out
    }
}

/// Sends request `req` (sequence number `seq`) and collects its replies,
/// blocking; `buf` receives the datagrams.
pub(crate) fn transact<P: NetlinkDeserializable>(
    sock: &Socket,
    buf: &mut [u8],
    req: &[u8],
    seq: u32,
    expect: Expect,
) -> Result<Vec<P>, RawError> {
    sock.send(req, 0)?;
    let mut ex = Exchange::new(seq, expect);
    loop {
        let n = sock.recv(&mut &mut buf[..], 0)?;
        if ex.feed(&buf[..n.min(buf.len())])? {
            return Ok(ex.into_out());
        }
    }
}

#[cfg(test)]
#[path = "netlink_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload that is the message body as is, for framing tests (the
    /// property tests in `props` use it too).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) struct Raw(pub(super) u16, pub(super) Vec<u8>);

    impl NetlinkSerializable for Raw {
        fn message_type(&self) -> u16 {
            self.0
        }
        fn buffer_len(&self) -> usize {
            self.1.len()
        }
        fn serialize(&self, buffer: &mut [u8]) {
            buffer.copy_from_slice(&self.1)
        }
    }

    impl NetlinkDeserializable for Raw {
        type Error = DecodeError;
        fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
            Ok(Raw(header.message_type, payload.to_vec()))
        }
    }

    fn error_msg(seq: u32, code: i32) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&36u32.to_ne_bytes());
        d.extend_from_slice(&2u16.to_ne_bytes());
        d.extend_from_slice(&0x100u16.to_ne_bytes());
        d.extend_from_slice(&seq.to_ne_bytes());
        d.extend_from_slice(&0u32.to_ne_bytes());
        d.extend_from_slice(&code.to_ne_bytes());
        d.extend_from_slice(&[0u8; 16]);
        d
    }

    #[test]
    fn exchange_ack_and_dump() {
        // ACK for seq 4 after a stale one for seq 3.
        let mut d = error_msg(3, -1);
        d.extend(error_msg(4, 0));
        let mut ex = Exchange::<Raw>::new(4, Expect::Ack);
        assert!(ex.feed(&d).unwrap());
        let mut ex = Exchange::<Raw>::new(3, Expect::Ack);
        assert!(matches!(ex.feed(&d), Err(RawError::Kernel(1, None))));
        // Garbage is an error, not a panic.
        let mut ex = Exchange::<Raw>::new(3, Expect::Ack);
        assert!(ex.feed(&d[..30]).is_err());
        // A dump: two messages, then NLMSG_DONE.
        let data = |seq| encode(Raw(20, vec![1, 2, 3, 4]), NLM_F_REQUEST, seq);
        let mut ex = Exchange::<Raw>::new(7, Expect::Dump);
        assert!(!ex.feed(&[data(7), data(6)].concat()).unwrap(), "the dump goes on");
        let mut done = encode(Raw(3, vec![0; 4]), 0, 7);
        done[4..6].copy_from_slice(&3u16.to_ne_bytes()); // NLMSG_DONE
        assert!(ex.feed(&[data(7), done.clone()].concat()).unwrap());
        assert_eq!(ex.into_out(), vec![Raw(20, vec![1, 2, 3, 4]); 2]);
        // One reply expected: the first data message completes it.
        let mut ex = Exchange::<Raw>::new(5, Expect::One);
        assert!(ex.feed(&data(5)).unwrap());
        assert_eq!(ex.into_out().len(), 1);
        let mut ex = Exchange::<Raw>::new(5, Expect::One);
        assert!(matches!(ex.feed(&error_msg(5, -libc::ENOENT)), Err(RawError::Kernel(libc::ENOENT, None))));
    }

    #[test]
    fn request_flags() {
        assert_eq!(Expect::Dump.flags(), 0x301);
        assert_eq!(Expect::Ack.flags(), 0x5);
        assert_eq!(Expect::One.flags(), 0x1);
        let req = encode(Raw(20, vec![9; 8]), Expect::One.flags(), 42);
        assert_eq!(req.len(), 24);
        assert_eq!(u32::from_ne_bytes(req[0..4].try_into().unwrap()), 24);
        assert_eq!(u16::from_ne_bytes(req[4..6].try_into().unwrap()), 20);
        assert_eq!(u16::from_ne_bytes(req[6..8].try_into().unwrap()), 1);
        assert_eq!(u32::from_ne_bytes(req[8..12].try_into().unwrap()), 42);
    }

    #[test]
    fn error_with_extack() {
        // NLMSG_ERROR, flags CAPPED|ACK_TLVS, code -EINVAL, capped header,
        // NLMSGERR_ATTR_MSG "invalid token".
        let mut m = Vec::new();
        let text = b"invalid token\0";
        let attr_len = 4 + text.len();
        let total = 16 + 4 + 16 + ((attr_len + 3) & !3);
        m.extend_from_slice(&(total as u32).to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&0x300u16.to_ne_bytes());
        m.extend_from_slice(&5u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&(-22i32).to_ne_bytes());
        m.extend_from_slice(&[0u8; 16]);
        m.extend_from_slice(&(attr_len as u16).to_ne_bytes());
        m.extend_from_slice(&1u16.to_ne_bytes());
        m.extend_from_slice(text);
        m.resize(total, 0);
        let (seq, r) = decode::<Raw>(&m).unwrap();
        assert_eq!(seq, 5);
        match r {
            Reply::Ack(code, Some(msg)) => {
                assert_eq!(code, -22);
                assert_eq!(msg, "invalid token");
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut ex = Exchange::<Raw>::new(5, Expect::Ack);
        assert!(matches!(ex.feed(&m), Err(RawError::Kernel(22, Some(ref t))) if t == "invalid token"));
    }
}
