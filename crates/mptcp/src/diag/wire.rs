//! Wire format of inet_diag for MPTCP (linux/inet_diag.h, linux/mptcp.h),
//! as netlink-packet-core payloads: [`Request`] is serialized and
//! [`Response`] deserialized by `crate::netlink`.
//!
//! The fixed `inet_diag_req_v2` and `inet_diag_msg` come from
//! netlink-packet-sock-diag. Written here is what that crate lacks: the
//! `INET_DIAG_REQ_PROTOCOL` attribute (MPTCP's 262 does not fit the
//! one-byte protocol field), and the MPTCP subflow attributes that
//! `INET_DIAG_ULP_INFO` nests. `INET_DIAG_INFO` is kept as bytes: it is
//! `struct mptcp_info` for MPTCP sockets and `struct tcp_info` for their
//! subflows, parsed by `crate::info`.
//!
//! Attributes are read leniently: parsing stops at the first malformed
//! one, and a known attribute of an unexpected length is kept as `Other`.

use std::net::SocketAddr;

use netlink_packet_core::{
    parse_u32, parse_u8, DecodeError, DefaultNla, Emitable, NetlinkDeserializable, NetlinkHeader, NetlinkSerializable,
    Nla, NlaBuffer, NlasIterator, Parseable,
};
use netlink_packet_sock_diag::constants::{INET_DIAG_INFO, SOCK_DIAG_BY_FAMILY};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, InetResponseHeader, SocketId, StateFlags};

/// `INET_DIAG_REQ_PROTOCOL`: the protocol, when it does not fit in a byte.
pub(crate) const INET_DIAG_REQ_PROTOCOL: u16 = 3;
/// `INET_DIAG_ULP_INFO` (nested): the upper layer protocol of a TCP socket.
pub(crate) const INET_DIAG_ULP_INFO: u16 = 19;
/// `INET_ULP_INFO_NAME`: the ULP's name (`mptcp`).
pub(crate) const INET_ULP_INFO_NAME: u16 = 1;
/// `INET_ULP_INFO_MPTCP` (nested): `MPTCP_SUBFLOW_ATTR_*`.
pub(crate) const INET_ULP_INFO_MPTCP: u16 = 3;
pub(crate) const SUBFLOW_ATTR_TOKEN_REM: u16 = 1;
pub(crate) const SUBFLOW_ATTR_TOKEN_LOC: u16 = 2;
pub(crate) const SUBFLOW_ATTR_FLAGS: u16 = 8;
pub(crate) const SUBFLOW_ATTR_ID_REM: u16 = 9;
pub(crate) const SUBFLOW_ATTR_ID_LOC: u16 = 10;
/// `INET_DIAG_NOCOOKIE`: match an exact request on the 4-tuple only.
const NO_COOKIE: [u8; 8] = [0xff; 8];

/// `AF_INET` or `AF_INET6`, as the kernel numbers them in a request.
pub(crate) fn family_of(addr: &SocketAddr) -> u8 {
    if addr.is_ipv4() {
        libc::AF_INET as u8
    } else {
        libc::AF_INET6 as u8
    }
}

/// A `SOCK_DIAG_BY_FAMILY` request asking for `INET_DIAG_INFO` (and with
/// it the ULP info of TCP sockets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    inner: InetRequest,
    /// `INET_DIAG_REQ_PROTOCOL`, when the protocol needs it.
    protocol: Option<u32>,
}

impl Request {
    fn new(family: u8, protocol: u32, socket_id: SocketId) -> Request {
        let wide = u8::try_from(protocol).is_err();
        Request {
            inner: InetRequest {
                family,
                protocol: (protocol & 0xff) as u8,
                extensions: ExtensionFlags::INFO,
                states: StateFlags::from_bits_retain(u32::MAX),
                socket_id,
            },
            protocol: wide.then_some(protocol),
        }
    }

    /// Every socket of `protocol` (`IPPROTO_MPTCP` or `IPPROTO_TCP`) and
    /// `family` (`AF_INET` or `AF_INET6`): a dump.
    pub(crate) fn all(family: u8, protocol: i32) -> Request {
        let id = if i32::from(family) == libc::AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
        Request::new(family, protocol as u32, id)
    }

    /// The TCP socket with this 4-tuple (an exact get, not a dump). The
    /// kernel matches a socket bound to a device only when `ifindex` names
    /// that device; an unbound socket matches any `ifindex`.
    pub(crate) fn tcp(local: SocketAddr, remote: SocketAddr, ifindex: u32) -> Request {
        let id = SocketId {
            source_port: local.port(),
            destination_port: remote.port(),
            source_address: local.ip(),
            destination_address: remote.ip(),
            interface_id: ifindex,
            cookie: NO_COOKIE,
        };
        Request::new(family_of(&local), libc::IPPROTO_TCP as u32, id)
    }

    /// The MPTCP connection with local token `token` (an exact get:
    /// `mptcp_diag` looks the token up in `idiag_cookie[0]`, since 5.9).
    pub(crate) fn mptcp_token(family: u8, token: u32) -> Request {
        let mut id = if i32::from(family) == libc::AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
        id.cookie[..4].copy_from_slice(&token.to_ne_bytes());
        Request::new(family, libc::IPPROTO_MPTCP as u32, id)
    }

    fn attr_len(&self) -> usize {
        self.protocol.map_or(0, |p| ReqProtocol(p).buffer_len())
    }
}

/// The `INET_DIAG_REQ_PROTOCOL` attribute.
struct ReqProtocol(u32);

impl Nla for ReqProtocol {
    fn value_len(&self) -> usize {
        4
    }
    fn kind(&self) -> u16 {
        INET_DIAG_REQ_PROTOCOL
    }
    fn emit_value(&self, buf: &mut [u8]) {
        buf[..4].copy_from_slice(&self.0.to_ne_bytes());
    }
}

impl NetlinkSerializable for Request {
    fn message_type(&self) -> u16 {
        SOCK_DIAG_BY_FAMILY
    }
    fn buffer_len(&self) -> usize {
        self.inner.buffer_len() + self.attr_len()
    }
    fn serialize(&self, buf: &mut [u8]) {
        let n = self.inner.buffer_len();
        self.inner.emit(&mut buf[..n]);
        if let Some(p) = self.protocol {
            ReqProtocol(p).emit(&mut buf[n..]);
        }
    }
}

/// One `inet_diag_msg` and its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) header: InetResponseHeader,
    pub(crate) attrs: Vec<Attr>,
}

/// The attributes after `inet_diag_msg` this crate reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attr {
    /// `INET_DIAG_INFO`: `struct mptcp_info` or `struct tcp_info`.
    Info(Vec<u8>),
    /// `INET_DIAG_ULP_INFO`.
    Ulp(Vec<UlpAttr>),
    /// Anything else, kept as is.
    Other(DefaultNla),
}

/// Inside `INET_DIAG_ULP_INFO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UlpAttr {
    /// `INET_ULP_INFO_NAME`, up to its NUL.
    Name(Vec<u8>),
    /// `INET_ULP_INFO_MPTCP`: the subflow attributes.
    Mptcp(Vec<SubflowAttr>),
    Other(DefaultNla),
}

/// `MPTCP_SUBFLOW_ATTR_*` (the ones this crate reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SubflowAttr {
    TokenRem(u32),
    TokenLoc(u32),
    Flags(u32),
    IdRem(u8),
    IdLoc(u8),
    Other(DefaultNla),
}

/// Parses the attributes of `buf` with `parse`, stopping at the first
/// malformed one.
fn lenient<A>(buf: &[u8], parse: fn(&NlaBuffer<&[u8]>) -> Result<A, DecodeError>) -> Vec<A> {
    NlasIterator::new(buf).map_while(|nla| nla.ok().and_then(|n| parse(&n).ok())).collect()
}

fn parse_attr(nla: &NlaBuffer<&[u8]>) -> Result<Attr, DecodeError> {
    Ok(match nla.kind() {
        INET_DIAG_INFO => Attr::Info(nla.value().to_vec()),
        INET_DIAG_ULP_INFO => Attr::Ulp(lenient(nla.value(), parse_ulp)),
        _ => Attr::Other(DefaultNla::parse(nla)?),
    })
}

fn parse_ulp(nla: &NlaBuffer<&[u8]>) -> Result<UlpAttr, DecodeError> {
    let v = nla.value();
    Ok(match nla.kind() {
        INET_ULP_INFO_NAME => UlpAttr::Name(v.split(|&b| b == 0).next().unwrap_or_default().to_vec()),
        INET_ULP_INFO_MPTCP => UlpAttr::Mptcp(lenient(v, parse_subflow_attr)),
        _ => UlpAttr::Other(DefaultNla::parse(nla)?),
    })
}

fn parse_subflow_attr(nla: &NlaBuffer<&[u8]>) -> Result<SubflowAttr, DecodeError> {
    let v = nla.value();
    let known = match nla.kind() {
        SUBFLOW_ATTR_TOKEN_REM => parse_u32(v).ok().map(SubflowAttr::TokenRem),
        SUBFLOW_ATTR_TOKEN_LOC => parse_u32(v).ok().map(SubflowAttr::TokenLoc),
        SUBFLOW_ATTR_FLAGS => parse_u32(v).ok().map(SubflowAttr::Flags),
        SUBFLOW_ATTR_ID_REM => parse_u8(v).ok().map(SubflowAttr::IdRem),
        SUBFLOW_ATTR_ID_LOC => parse_u8(v).ok().map(SubflowAttr::IdLoc),
        _ => None,
    };
    match known {
        Some(a) => Ok(a),
        None => Ok(SubflowAttr::Other(DefaultNla::parse(nla)?)),
    }
}

/// Length of `struct inet_diag_msg`.
const INET_DIAG_MSG_LEN: usize = 72;

impl Response {
    /// Parses one reply payload. An error when `inet_diag_msg` is cut
    /// short or of a family other than `AF_INET`/`AF_INET6`.
    pub(crate) fn parse(payload: &[u8]) -> Result<Response, DecodeError> {
        let head = payload.get(..INET_DIAG_MSG_LEN).ok_or_else(|| {
            DecodeError::from(format!("inet_diag_msg of {} bytes, needs {INET_DIAG_MSG_LEN}", payload.len()))
        })?;
        let header = InetResponseHeader::parse(head)?;
        Ok(Response { header, attrs: lenient(&payload[INET_DIAG_MSG_LEN..], parse_attr) })
    }

    /// Local and remote address of the socket.
    pub(crate) fn addrs(&self) -> (SocketAddr, SocketAddr) {
        let id = &self.header.socket_id;
        (
            SocketAddr::new(id.source_address, id.source_port),
            SocketAddr::new(id.destination_address, id.destination_port),
        )
    }

    /// The socket cookie, as `SO_COOKIE` gives it.
    pub(crate) fn cookie(&self) -> u64 {
        let c = self.header.socket_id.cookie;
        let lo = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
        let hi = u32::from_ne_bytes([c[4], c[5], c[6], c[7]]);
        u64::from(lo) | (u64::from(hi) << 32)
    }

    /// `INET_DIAG_INFO`, if sent.
    pub(crate) fn info(&self) -> Option<&[u8]> {
        self.attrs.iter().find_map(|a| match a {
            Attr::Info(v) => Some(v.as_slice()),
            _ => None,
        })
    }

    /// The MPTCP subflow attributes, when the socket's ULP is `mptcp`.
    pub(crate) fn mptcp_subflow(&self) -> Option<Vec<SubflowAttr>> {
        let mut is_mptcp = false;
        let mut attrs = Vec::new();
        for a in &self.attrs {
            if let Attr::Ulp(ulp) = a {
                for u in ulp {
                    match u {
                        UlpAttr::Name(n) => is_mptcp = n == b"mptcp",
                        UlpAttr::Mptcp(sf) => attrs.extend(sf.iter().cloned()),
                        UlpAttr::Other(_) => {}
                    }
                }
            }
        }
        is_mptcp.then_some(attrs)
    }
}

impl NetlinkDeserializable for Response {
    type Error = DecodeError;
    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Response, DecodeError> {
        if header.message_type != SOCK_DIAG_BY_FAMILY {
            return Err(DecodeError::from(format!("unexpected sock_diag message type {}", header.message_type)));
        }
        Response::parse(payload)
    }
}
