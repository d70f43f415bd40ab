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
#[path = "netlink_tests.rs"]
mod tests;
