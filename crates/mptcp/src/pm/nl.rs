//! Wire format of the `mptcp_pm` generic netlink family (linux/mptcp_pm.h):
//! commands, attributes and events. Framing (`nlmsghdr`, `genlmsghdr`,
//! attribute headers) comes from the rust-netlink crates through
//! `crate::netlink`; the MPTCP payloads are parsed and emitted here.
//!
//! Parsing never panics: a known attribute with an unexpected length is kept
//! as `Other` (and emitted back unchanged), a truncated attribute is an error.

use std::fmt::Debug;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netlink_packet_core::{
    parse_ipv6, parse_u16, parse_u16_be, parse_u32, parse_u8, DecodeError, DefaultNla, Emitable, Nla, NlaBuffer,
    NlasIterator, Parseable, ParseableParametrized, NLA_F_NESTED, NLA_F_NET_BYTEORDER,
};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};

/// Generic netlink family name.
pub(crate) const FAMILY_NAME: &str = "mptcp_pm";
/// Family version (`MPTCP_PM_VER`).
pub(crate) const FAMILY_VERSION: u8 = 1;
/// Multicast group carrying the events.
pub(crate) const EVENTS_GROUP: &str = "mptcp_pm_events";

pub(crate) const CMD_ADD_ADDR: u8 = 1;
pub(crate) const CMD_DEL_ADDR: u8 = 2;
pub(crate) const CMD_GET_ADDR: u8 = 3;
pub(crate) const CMD_FLUSH_ADDRS: u8 = 4;
pub(crate) const CMD_SET_LIMITS: u8 = 5;
pub(crate) const CMD_GET_LIMITS: u8 = 6;
pub(crate) const CMD_SET_FLAGS: u8 = 7;
pub(crate) const CMD_ANNOUNCE: u8 = 8;
pub(crate) const CMD_REMOVE: u8 = 9;
pub(crate) const CMD_SUBFLOW_CREATE: u8 = 10;
pub(crate) const CMD_SUBFLOW_DESTROY: u8 = 11;

const ATTR_ADDR: u16 = 1;
const ATTR_RCV_ADD_ADDRS: u16 = 2;
const ATTR_SUBFLOWS: u16 = 3;
const ATTR_TOKEN: u16 = 4;
const ATTR_LOC_ID: u16 = 5;
const ATTR_ADDR_REMOTE: u16 = 6;

const ADDR_ATTR_FAMILY: u16 = 1;
const ADDR_ATTR_ID: u16 = 2;
const ADDR_ATTR_ADDR4: u16 = 3;
const ADDR_ATTR_ADDR6: u16 = 4;
const ADDR_ATTR_PORT: u16 = 5;
const ADDR_ATTR_FLAGS: u16 = 6;
const ADDR_ATTR_IF_IDX: u16 = 7;

const EV_ATTR_TOKEN: u16 = 1;
const EV_ATTR_FAMILY: u16 = 2;
const EV_ATTR_LOC_ID: u16 = 3;
const EV_ATTR_REM_ID: u16 = 4;
const EV_ATTR_SADDR4: u16 = 5;
const EV_ATTR_SADDR6: u16 = 6;
const EV_ATTR_DADDR4: u16 = 7;
const EV_ATTR_DADDR6: u16 = 8;
const EV_ATTR_SPORT: u16 = 9;
const EV_ATTR_DPORT: u16 = 10;
const EV_ATTR_BACKUP: u16 = 11;
const EV_ATTR_ERROR: u16 = 12;
const EV_ATTR_FLAGS: u16 = 13;
const EV_ATTR_TIMEOUT: u16 = 14;
const EV_ATTR_IF_IDX: u16 = 15;
const EV_ATTR_RESET_REASON: u16 = 16;
const EV_ATTR_RESET_FLAGS: u16 = 17;
const EV_ATTR_SERVER_SIDE: u16 = 18;

/// The value of a 4-byte address attribute.
fn v4(b: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(b).ok().map(Ipv4Addr::from)
}
/// The value of a 16-byte address attribute.
fn v6(b: &[u8]) -> Option<Ipv6Addr> {
    parse_ipv6(b).ok().map(Ipv6Addr::from)
}

fn other<T: AsRef<[u8]> + ?Sized>(buf: &NlaBuffer<&T>) -> Result<DefaultNla, DecodeError> {
    DefaultNla::parse(buf)
}

/// Address attributes for `addr` (family and address).
pub(crate) fn addr_attrs(addr: IpAddr) -> Vec<AddrAttr> {
    match addr {
        IpAddr::V4(a) => vec![AddrAttr::Family(libc::AF_INET as u16), AddrAttr::Addr4(a)],
        IpAddr::V6(a) => vec![AddrAttr::Family(libc::AF_INET6 as u16), AddrAttr::Addr6(a)],
    }
}

/// Address attributes for a socket address (family, address, port).
pub(crate) fn sockaddr_attrs(sa: SocketAddr) -> Vec<AddrAttr> {
    let mut v = addr_attrs(sa.ip());
    v.push(AddrAttr::Port(sa.port()));
    v
}

/// Attributes of a nested `MPTCP_PM_ATTR_ADDR` / `MPTCP_PM_ATTR_ADDR_REMOTE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddrAttr {
    /// `MPTCP_PM_ADDR_ATTR_FAMILY` (u16).
    Family(u16),
    /// `MPTCP_PM_ADDR_ATTR_ID` (u8).
    Id(u8),
    /// `MPTCP_PM_ADDR_ATTR_ADDR4` (network order).
    Addr4(Ipv4Addr),
    /// `MPTCP_PM_ADDR_ATTR_ADDR6`.
    Addr6(Ipv6Addr),
    /// `MPTCP_PM_ADDR_ATTR_PORT` (u16, host order).
    Port(u16),
    /// `MPTCP_PM_ADDR_ATTR_FLAGS` (u32).
    Flags(u32),
    /// `MPTCP_PM_ADDR_ATTR_IF_IDX` (s32).
    IfIdx(i32),
    /// Anything else, kept as is.
    Other(DefaultNla),
}

impl Nla for AddrAttr {
    fn value_len(&self) -> usize {
        match self {
            AddrAttr::Family(_) | AddrAttr::Port(_) => 2,
            AddrAttr::Id(_) => 1,
            AddrAttr::Addr4(_) | AddrAttr::Flags(_) | AddrAttr::IfIdx(_) => 4,
            AddrAttr::Addr6(_) => 16,
            AddrAttr::Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            AddrAttr::Family(_) => ADDR_ATTR_FAMILY,
            AddrAttr::Id(_) => ADDR_ATTR_ID,
            AddrAttr::Addr4(_) => ADDR_ATTR_ADDR4,
            AddrAttr::Addr6(_) => ADDR_ATTR_ADDR6,
            AddrAttr::Port(_) => ADDR_ATTR_PORT,
            AddrAttr::Flags(_) => ADDR_ATTR_FLAGS,
            AddrAttr::IfIdx(_) => ADDR_ATTR_IF_IDX,
            AddrAttr::Other(n) => n.kind(),
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            AddrAttr::Family(v) | AddrAttr::Port(v) => buf[..2].copy_from_slice(&v.to_ne_bytes()),
            AddrAttr::Id(v) => buf[0] = *v,
            AddrAttr::Addr4(a) => buf[..4].copy_from_slice(&a.octets()),
            AddrAttr::Addr6(a) => buf[..16].copy_from_slice(&a.octets()),
            AddrAttr::Flags(v) => buf[..4].copy_from_slice(&v.to_ne_bytes()),
            AddrAttr::IfIdx(v) => buf[..4].copy_from_slice(&v.to_ne_bytes()),
            AddrAttr::Other(n) => n.emit_value(buf),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for AddrAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        let known = match buf.kind() {
            ADDR_ATTR_FAMILY => parse_u16(v).ok().map(AddrAttr::Family),
            ADDR_ATTR_ID => parse_u8(v).ok().map(AddrAttr::Id),
            ADDR_ATTR_ADDR4 => v4(v).map(AddrAttr::Addr4),
            ADDR_ATTR_ADDR6 => v6(v).map(AddrAttr::Addr6),
            ADDR_ATTR_PORT => parse_u16(v).ok().map(AddrAttr::Port),
            ADDR_ATTR_FLAGS => parse_u32(v).ok().map(AddrAttr::Flags),
            ADDR_ATTR_IF_IDX => parse_u32(v).ok().map(|x| AddrAttr::IfIdx(x as i32)),
            _ => None,
        };
        match known {
            // A flag bit on a known kind would be lost: keep it verbatim.
            Some(a) if buf.kind() == buf_raw_kind(buf) => Ok(a),
            _ => Ok(AddrAttr::Other(other(buf)?)),
        }
    }
}

/// The attribute type as sent, flag bits included.
fn buf_raw_kind<T: AsRef<[u8]> + ?Sized>(buf: &NlaBuffer<&T>) -> u16 {
    let mut k = buf.kind();
    if buf.nested_flag() {
        k |= NLA_F_NESTED;
    }
    if buf.network_byte_order_flag() {
        k |= NLA_F_NET_BYTEORDER;
    }
    k
}

fn parse_nested<A>(value: &[u8]) -> Result<Vec<A>, DecodeError>
where
    A: for<'b> Parseable<NlaBuffer<&'b [u8]>>,
{
    NlasIterator::new(value).map(|nla| nla.and_then(|nla| A::parse(&nla))).collect()
}

/// Top-level `MPTCP_PM_ATTR_*` attributes of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PmAttr {
    /// `MPTCP_PM_ATTR_ADDR` (nested).
    Addr(Vec<AddrAttr>),
    /// `MPTCP_PM_ATTR_RCV_ADD_ADDRS` (u32).
    RcvAddAddrs(u32),
    /// `MPTCP_PM_ATTR_SUBFLOWS` (u32).
    Subflows(u32),
    /// `MPTCP_PM_ATTR_TOKEN` (u32).
    Token(u32),
    /// `MPTCP_PM_ATTR_LOC_ID` (u8).
    LocId(u8),
    /// `MPTCP_PM_ATTR_ADDR_REMOTE` (nested).
    AddrRemote(Vec<AddrAttr>),
    /// Anything else, kept as is.
    Other(DefaultNla),
}

impl Nla for PmAttr {
    fn value_len(&self) -> usize {
        match self {
            PmAttr::Addr(v) | PmAttr::AddrRemote(v) => v.as_slice().buffer_len(),
            PmAttr::RcvAddAddrs(_) | PmAttr::Subflows(_) | PmAttr::Token(_) => 4,
            PmAttr::LocId(_) => 1,
            PmAttr::Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            PmAttr::Addr(_) => ATTR_ADDR | NLA_F_NESTED,
            PmAttr::RcvAddAddrs(_) => ATTR_RCV_ADD_ADDRS,
            PmAttr::Subflows(_) => ATTR_SUBFLOWS,
            PmAttr::Token(_) => ATTR_TOKEN,
            PmAttr::LocId(_) => ATTR_LOC_ID,
            PmAttr::AddrRemote(_) => ATTR_ADDR_REMOTE | NLA_F_NESTED,
            PmAttr::Other(n) => n.kind(),
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            PmAttr::Addr(v) | PmAttr::AddrRemote(v) => v.as_slice().emit(buf),
            PmAttr::RcvAddAddrs(x) | PmAttr::Subflows(x) | PmAttr::Token(x) => {
                buf[..4].copy_from_slice(&x.to_ne_bytes())
            }
            PmAttr::LocId(x) => buf[0] = *x,
            PmAttr::Other(n) => n.emit_value(buf),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for PmAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        let raw = buf_raw_kind(buf);
        let known = match buf.kind() {
            ATTR_ADDR if raw == ATTR_ADDR | NLA_F_NESTED => Some(PmAttr::Addr(parse_nested(v)?)),
            ATTR_ADDR_REMOTE if raw == ATTR_ADDR_REMOTE | NLA_F_NESTED => Some(PmAttr::AddrRemote(parse_nested(v)?)),
            ATTR_RCV_ADD_ADDRS if raw == ATTR_RCV_ADD_ADDRS => parse_u32(v).ok().map(PmAttr::RcvAddAddrs),
            ATTR_SUBFLOWS if raw == ATTR_SUBFLOWS => parse_u32(v).ok().map(PmAttr::Subflows),
            ATTR_TOKEN if raw == ATTR_TOKEN => parse_u32(v).ok().map(PmAttr::Token),
            ATTR_LOC_ID if raw == ATTR_LOC_ID => parse_u8(v).ok().map(PmAttr::LocId),
            _ => None,
        };
        match known {
            Some(a) => Ok(a),
            None => Ok(PmAttr::Other(other(buf)?)),
        }
    }
}

/// `MPTCP_ATTR_*` attributes of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventAttr {
    Token(u32),
    Family(u16),
    LocId(u8),
    RemId(u8),
    Saddr4(Ipv4Addr),
    Saddr6(Ipv6Addr),
    Daddr4(Ipv4Addr),
    Daddr6(Ipv6Addr),
    /// Host-order value of the big-endian `MPTCP_ATTR_SPORT`.
    Sport(u16),
    /// Host-order value of the big-endian `MPTCP_ATTR_DPORT`.
    Dport(u16),
    Backup(u8),
    Error(u8),
    Flags(u16),
    Timeout(u32),
    IfIdx(i32),
    ResetReason(u32),
    ResetFlags(u32),
    ServerSide(u8),
    Other(DefaultNla),
}

impl Nla for EventAttr {
    fn value_len(&self) -> usize {
        use EventAttr::*;
        match self {
            LocId(_) | RemId(_) | Backup(_) | Error(_) | ServerSide(_) => 1,
            Family(_) | Sport(_) | Dport(_) | Flags(_) => 2,
            Token(_) | Saddr4(_) | Daddr4(_) | Timeout(_) | IfIdx(_) | ResetReason(_) | ResetFlags(_) => 4,
            Saddr6(_) | Daddr6(_) => 16,
            Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        use EventAttr::*;
        match self {
            Token(_) => EV_ATTR_TOKEN,
            Family(_) => EV_ATTR_FAMILY,
            LocId(_) => EV_ATTR_LOC_ID,
            RemId(_) => EV_ATTR_REM_ID,
            Saddr4(_) => EV_ATTR_SADDR4,
            Saddr6(_) => EV_ATTR_SADDR6,
            Daddr4(_) => EV_ATTR_DADDR4,
            Daddr6(_) => EV_ATTR_DADDR6,
            Sport(_) => EV_ATTR_SPORT,
            Dport(_) => EV_ATTR_DPORT,
            Backup(_) => EV_ATTR_BACKUP,
            Error(_) => EV_ATTR_ERROR,
            Flags(_) => EV_ATTR_FLAGS,
            Timeout(_) => EV_ATTR_TIMEOUT,
            IfIdx(_) => EV_ATTR_IF_IDX,
            ResetReason(_) => EV_ATTR_RESET_REASON,
            ResetFlags(_) => EV_ATTR_RESET_FLAGS,
            ServerSide(_) => EV_ATTR_SERVER_SIDE,
            Other(n) => n.kind(),
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        use EventAttr::*;
        match self {
            LocId(v) | RemId(v) | Backup(v) | Error(v) | ServerSide(v) => buf[0] = *v,
            Family(v) | Flags(v) => buf[..2].copy_from_slice(&v.to_ne_bytes()),
            Sport(v) | Dport(v) => buf[..2].copy_from_slice(&v.to_be_bytes()),
            Token(v) | Timeout(v) | ResetReason(v) | ResetFlags(v) => buf[..4].copy_from_slice(&v.to_ne_bytes()),
            IfIdx(v) => buf[..4].copy_from_slice(&v.to_ne_bytes()),
            Saddr4(a) | Daddr4(a) => buf[..4].copy_from_slice(&a.octets()),
            Saddr6(a) | Daddr6(a) => buf[..16].copy_from_slice(&a.octets()),
            Other(n) => n.emit_value(buf),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for EventAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        use EventAttr::*;
        let v = buf.value();
        let known = if buf.kind() != buf_raw_kind(buf) {
            None
        } else {
            match buf.kind() {
                EV_ATTR_TOKEN => parse_u32(v).ok().map(Token),
                EV_ATTR_FAMILY => parse_u16(v).ok().map(Family),
                EV_ATTR_LOC_ID => parse_u8(v).ok().map(LocId),
                EV_ATTR_REM_ID => parse_u8(v).ok().map(RemId),
                EV_ATTR_SADDR4 => v4(v).map(Saddr4),
                EV_ATTR_SADDR6 => v6(v).map(Saddr6),
                EV_ATTR_DADDR4 => v4(v).map(Daddr4),
                EV_ATTR_DADDR6 => v6(v).map(Daddr6),
                EV_ATTR_SPORT => parse_u16_be(v).ok().map(Sport),
                EV_ATTR_DPORT => parse_u16_be(v).ok().map(Dport),
                EV_ATTR_BACKUP => parse_u8(v).ok().map(Backup),
                EV_ATTR_ERROR => parse_u8(v).ok().map(Error),
                EV_ATTR_FLAGS => parse_u16(v).ok().map(Flags),
                EV_ATTR_TIMEOUT => parse_u32(v).ok().map(Timeout),
                EV_ATTR_IF_IDX => parse_u32(v).ok().map(|x| IfIdx(x as i32)),
                EV_ATTR_RESET_REASON => parse_u32(v).ok().map(ResetReason),
                EV_ATTR_RESET_FLAGS => parse_u32(v).ok().map(ResetFlags),
                EV_ATTR_SERVER_SIDE => parse_u8(v).ok().map(ServerSide),
                _ => None,
            }
        };
        match known {
            Some(a) => Ok(a),
            None => Ok(Other(other(buf)?)),
        }
    }
}

/// A `mptcp_pm` command or its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PmMessage {
    pub cmd: u8,
    pub attrs: Vec<PmAttr>,
}

impl PmMessage {
    pub(crate) fn new(cmd: u8, attrs: Vec<PmAttr>) -> PmMessage {
        PmMessage { cmd, attrs }
    }
}

impl GenlFamily for PmMessage {
    fn family_name() -> &'static str {
        FAMILY_NAME
    }
    fn command(&self) -> u8 {
        self.cmd
    }
    fn version(&self) -> u8 {
        FAMILY_VERSION
    }
}

impl Emitable for PmMessage {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for PmMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(PmMessage { cmd: header.cmd, attrs: parse_nested(buf)? })
    }
}

/// An event from the `mptcp_pm_events` multicast group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventMessage {
    pub kind: u8,
    pub attrs: Vec<EventAttr>,
}

impl GenlFamily for EventMessage {
    fn family_name() -> &'static str {
        FAMILY_NAME
    }
    fn command(&self) -> u8 {
        self.kind
    }
    fn version(&self) -> u8 {
        FAMILY_VERSION
    }
}

impl Emitable for EventMessage {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for EventMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(EventMessage { kind: header.cmd, attrs: parse_nested(buf)? })
    }
}

/// Serializes a generic netlink request for family `family_id`.
pub(crate) fn encode<F>(payload: F, family_id: u16, flags: u16, seq: u32) -> Vec<u8>
where
    F: GenlFamily + Emitable + Debug,
{
    let mut genl = GenlMessage::from_payload(payload);
    genl.set_resolved_family_id(family_id);
    crate::netlink::encode(genl, flags, seq)
}

#[cfg(test)]
#[path = "nl_tests.rs"]
mod tests;
