//! Netlink framing for the nfnetlink messages of this crate: a message is a
//! `struct nlmsghdr`, a `struct nfgenmsg` (family, version 0, big-endian
//! resource id) and attributes (length, type, value, padded to 4 bytes).

use std::io;
use std::time::Duration;

use netlink_sys::Socket;

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
pub(crate) const NLM_F_APPEND: u16 = 0x800;
pub(crate) const NLA_F_NESTED: u16 = 0x8000;
const NLMSG_ERROR: u16 = 2;
const NLMSG_HDRLEN: usize = 16;
/// `struct nfgenmsg`.
const NFGEN_LEN: usize = 4;

fn pad(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// Appends one message; `body` appends its attributes.
pub(crate) fn put_msg(
    out: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    body: impl FnOnce(&mut Vec<u8>),
) {
    pad(out);
    let start = out.len();
    out.extend_from_slice(&0u32.to_ne_bytes()); // length, set below
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    out.extend_from_slice(&[family, 0]);
    out.extend_from_slice(&res_id.to_be_bytes());
    body(out);
    pad(out);
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// Appends one attribute.
pub(crate) fn put_attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    pad(out);
    out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    pad(out);
}

/// Appends a NUL-terminated string attribute.
pub(crate) fn put_str(out: &mut Vec<u8>, kind: u16, s: &str) {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    put_attr(out, kind, &v);
}

/// Appends a big-endian u32 attribute.
pub(crate) fn put_be32(out: &mut Vec<u8>, kind: u16, v: u32) {
    put_attr(out, kind, &v.to_be_bytes());
}

/// Appends a nested attribute; `body` appends its members.
pub(crate) fn put_nested(out: &mut Vec<u8>, kind: u16, body: impl FnOnce(&mut Vec<u8>)) {
    pad(out);
    let start = out.len();
    out.extend_from_slice(&0u16.to_ne_bytes());
    out.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    body(out);
    pad(out);
    let len = (out.len() - start) as u16;
    out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

/// One message of a datagram.
#[derive(Debug)]
pub(crate) struct Message<'a> {
    pub(crate) kind: u16,
    pub(crate) seq: u32,
    /// After the `nfgenmsg` (for `NLMSG_ERROR`: the whole payload).
    pub(crate) payload: &'a [u8],
    /// The `nfgenmsg` resource id (the queue number of nfqueue messages).
    pub(crate) res_id: u16,
}

impl Message<'_> {
    /// For an `NLMSG_ERROR`: `Some(0)` for an acknowledgement, `Some(errno)`.
    pub(crate) fn error(&self) -> Option<i32> {
        if self.kind != NLMSG_ERROR {
            return None;
        }
        let code = i32::from_ne_bytes(self.payload.get(..4)?.try_into().ok()?);
        Some(-code)
    }
}

/// The messages of a datagram (a malformed tail ends the iteration).
pub(crate) fn messages(data: &[u8]) -> impl Iterator<Item = Message<'_>> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes(rest[0..4].try_into().ok()?) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            rest = &[];
            return None;
        }
        let kind = u16::from_ne_bytes(rest[4..6].try_into().ok()?);
        let seq = u32::from_ne_bytes(rest[8..12].try_into().ok()?);
        let body = &rest[NLMSG_HDRLEN..len];
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        if kind == NLMSG_ERROR {
            return Some(Message { kind, seq, payload: body, res_id: 0 });
        }
        let (res_id, payload) = match body {
            [_, _, a, b, p @ ..] => (u16::from_be_bytes([*a, *b]), p),
            _ => (0, &[][..]),
        };
        let _ = NFGEN_LEN;
        Some(Message { kind, seq, payload, res_id })
    })
}

/// The attributes of a payload: `(type without flags, value)`.
pub(crate) fn attrs(payload: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = payload;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            rest = &[];
            return None;
        }
        let value = &rest[4..len];
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((kind, value))
    })
}

/// Sends `bytes` (requests with `NLM_F_ACK` and sequence numbers `seqs`)
/// and waits for each answer; the first error wins. `socket` is blocking.
pub(crate) fn transact(socket: &Socket, bytes: &[u8], seqs: &[u32]) -> io::Result<()> {
    socket2::SockRef::from(socket).set_read_timeout(Some(Duration::from_secs(5)))?;
    socket.send(bytes, 0)?;
    let mut pending: Vec<u32> = seqs.to_vec();
    let mut first_error: Option<io::Error> = None;
    let mut buf = vec![0u8; 65536];
    while !pending.is_empty() {
        let n = socket.recv(&mut &mut buf[..], 0).map_err(|e| {
            if e.kind() == io::ErrorKind::WouldBlock {
                io::Error::new(io::ErrorKind::TimedOut, "the kernel did not answer a netlink request")
            } else {
                e
            }
        })?;
        for m in messages(&buf[..n]) {
            let Some(code) = m.error() else { continue };
            let Some(i) = pending.iter().position(|&s| s == m.seq) else { continue };
            pending.swap_remove(i);
            if code != 0 && first_error.is_none() {
                first_error = Some(io::Error::from_raw_os_error(code));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_and_attributes_round_trip() {
        let mut out = Vec::new();
        put_msg(&mut out, 0x0302, NLM_F_REQUEST, 7, 2, 513, |b| {
            put_be32(b, 3, 0xdead_beef);
            put_str(b, 1, "lan");
            put_nested(b, 4, |b| put_attr(b, 1, &[9]));
        });
        assert_eq!(out.len() % 4, 0);
        assert_eq!(u32::from_ne_bytes(out[0..4].try_into().unwrap()) as usize, out.len());
        let msgs: Vec<_> = messages(&out).collect();
        assert_eq!(msgs.len(), 1);
        assert_eq!((msgs[0].kind, msgs[0].seq, msgs[0].res_id), (0x0302, 7, 513));
        let a: Vec<_> = attrs(msgs[0].payload).collect();
        assert_eq!(a[0], (3, &0xdead_beefu32.to_be_bytes()[..]));
        assert_eq!(a[1], (1, &b"lan\0"[..]));
        assert_eq!(a[2].0, 4);
        assert_eq!(attrs(a[2].1).collect::<Vec<_>>(), vec![(1, &[9u8][..])]);
    }

    #[test]
    fn truncated_input_ends_iteration() {
        let mut out = Vec::new();
        put_msg(&mut out, 1, 0, 1, 0, 0, |b| put_attr(b, 1, &[1, 2, 3, 4]));
        for cut in 0..out.len() {
            let _ = messages(&out[..cut]).map(|m| attrs(m.payload).count()).sum::<usize>();
        }
        assert_eq!(attrs(&[8, 0, 1, 0, 1]).count(), 0);
    }
}
