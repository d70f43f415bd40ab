//! The path manager over generic netlink (`mptcp_pm`): endpoints, limits,
//! the userspace path manager and events.
//!
//! Everything here acts on the calling thread's network namespace, like
//! `ip mptcp`. Reading endpoints and limits is allowed to anyone; every
//! change, and subscribing to events, needs `CAP_NET_ADMIN` in that
//! namespace ([`Error::Kernel`] with `EPERM` says so).
//!
//! - [`PathManager`]: one netlink socket, blocking requests, each with its
//!   own sequence number and acknowledged by the kernel.
//! - [`EventListener`]: a blocking iterator of typed [`Event`]s.
//! - With feature `tokio`: [`AsyncPathManager`] and [`EventStream`] (a
//!   `futures_core::Stream`).
//!
//! # Examples
//!
//! ```no_run
//! use mptcp::pm::{Endpoint, EndpointFlags, PathManager};
//!
//! let mut pm = PathManager::new()?;
//! pm.set_limits(Some(2), Some(2))?;
//! pm.add_endpoint(&Endpoint::new("10.0.2.1".parse().unwrap()).with_flags(EndpointFlags::SUBFLOW))?;
//! for ep in pm.endpoints()? {
//!     println!("{} id {} {}", ep.addr, ep.id, ep.flags);
//! }
//! # Ok::<(), mptcp::pm::Error>(())
//! ```

use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use netlink_packet_core::NetlinkDeserializable;
use netlink_packet_generic::ctrl::nlas::{GenlCtrlAttrs, McastGrpAttrs};
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_packet_utils::DecodeError;
use netlink_sys::{protocols::NETLINK_GENERIC, Socket};

#[cfg(feature = "tokio")]
mod async_io;
mod event;
mod nl;
mod types;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use async_io::{AsyncPathManager, EventStream};
pub use event::{Event, EventKind, EVENT_FLAG_DENY_JOIN_ID0, EVENT_FLAG_SERVER_SIDE};
pub use types::{Endpoint, EndpointFlags, EndpointRef, Limits, LocalAddr, MAX_LIMIT};

use nl::{PmAttr, PmMessage, Reply};

/// Errors of the path manager API.
///
/// # Examples
///
/// ```
/// use mptcp::pm::{Error, Limits};
///
/// let err = Limits { subflows: 9, add_addr_accepted: 0 }.validate().unwrap_err();
/// assert!(matches!(err, Error::InvalidArgument { .. })); // refused before sending
/// assert_eq!(err.errno(), None);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The netlink socket failed (or the kernel sent something unparsable).
    #[error("netlink: {0}")]
    Io(#[from] io::Error),
    /// The kernel refused the request.
    #[error("{}", kernel_message(op, *errno, *token, detail.as_deref()))]
    Kernel {
        /// What was asked (`"add endpoint"`, ...).
        op: &'static str,
        /// The positive errno.
        errno: i32,
        /// The connection token the request named, if any.
        token: Option<u32>,
        /// The kernel's extended ACK message, if it sent one.
        detail: Option<String>,
    },
    /// An argument the kernel would refuse; nothing was sent.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong.
        reason: String,
    },
    /// No endpoint matches.
    #[error("no endpoint with {0}")]
    NoSuchEndpoint(EndpointRef),
    /// The kernel has no `mptcp_pm` family.
    #[error("the kernel has no mptcp_pm generic netlink family (MPTCP not built in?)")]
    FamilyNotFound,
}

impl Error {
    pub(crate) fn invalid(reason: impl Into<String>) -> Error {
        Error::InvalidArgument { reason: reason.into() }
    }

    /// The errno behind this error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::Error;
    ///
    /// let e = Error::Kernel { op: "add endpoint", errno: libc::EEXIST, token: None, detail: None };
    /// assert_eq!(e.errno(), Some(libc::EEXIST));
    /// assert_eq!(Error::FamilyNotFound.errno(), None);
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Io(e) => e.raw_os_error(),
            _ => None,
        }
    }

    /// Whether the kernel refused for lack of `CAP_NET_ADMIN`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::Error;
    ///
    /// let e = Error::Kernel { op: "flush endpoints", errno: libc::EPERM, token: None, detail: None };
    /// assert!(e.is_permission_denied());
    /// assert!(e.to_string().contains("CAP_NET_ADMIN"));
    /// ```
    pub fn is_permission_denied(&self) -> bool {
        matches!(self.errno(), Some(libc::EPERM) | Some(libc::EACCES))
    }
}

fn kernel_message(op: &str, errno: i32, token: Option<u32>, detail: Option<&str>) -> String {
    let os = io::Error::from_raw_os_error(errno);
    if errno == libc::EPERM || errno == libc::EACCES {
        return format!("{op}: needs CAP_NET_ADMIN in this network namespace ({os})");
    }
    if let (libc::EINVAL, Some(t)) = (errno, token) {
        match detail {
            Some(d) if d.contains("token") => return format!("{op}: no MPTCP connection with token {t} (0x{t:08x})"),
            None => {
                return format!(
                    "{op}: no MPTCP connection with token {t} (0x{t:08x}), or the request does not fit it ({os})"
                )
            }
            _ => {}
        }
    }
    match detail {
        Some(d) if !d.is_empty() => format!("{op}: {d} ({os})"),
        _ => format!("{op}: {os}"),
    }
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Interface index of `name` (like `if_nametoindex(3)`), in the calling
/// thread's network namespace.
///
/// # Examples
///
/// ```no_run
/// let lo = mptcp::pm::interface_index("lo")?;
/// assert_eq!(lo, 1);
/// # Ok::<(), mptcp::pm::Error>(())
/// ```
pub fn interface_index(name: &str) -> Result<u32> {
    if name.is_empty()
        || name.len() >= libc::IFNAMSIZ
        || name.contains(['/', '\0'])
        || name.contains(char::is_whitespace)
    {
        return Err(Error::invalid(format!("`{name}` is not a valid interface name")));
    }
    nix::net::if_::if_nametoindex(name).map_err(|_| Error::invalid(format!("unknown interface `{name}`")))
}

/// Name of interface `index`, if it exists.
///
/// # Examples
///
/// ```
/// use mptcp::pm::{interface_index, interface_name};
///
/// let lo = interface_index("lo")?;
/// assert_eq!(interface_name(lo).as_deref(), Some("lo"));
/// assert_eq!(interface_name(u32::MAX), None); // no such interface
/// # Ok::<(), mptcp::pm::Error>(())
/// ```
pub fn interface_name(index: u32) -> Option<String> {
    // nix 0.29 checks if_indextoname's result against -1 instead of NULL,
    // so an unknown index comes back as an empty name: treat it as unknown.
    nix::net::if_::if_indextoname(index).ok().map(|c| c.to_string_lossy().into_owned()).filter(|n| !n.is_empty())
}

// ---------------------------------------------------------------------------
// Requests, shared by the blocking and the tokio handles.

/// One request: what to send and how to name it in errors.
pub(crate) struct Op {
    name: &'static str,
    msg: PmMessage,
    dump: bool,
    token: Option<u32>,
}

impl Op {
    fn new(name: &'static str, cmd: u8, attrs: Vec<PmAttr>) -> Op {
        Op { name, msg: PmMessage::new(cmd, attrs), dump: false, token: None }
    }
    fn dump(mut self) -> Op {
        self.dump = true;
        self
    }
    fn token(mut self, t: u32) -> Op {
        self.token = Some(t);
        self
    }
    fn flags(&self) -> u16 {
        if self.dump {
            nl::NLM_F_REQUEST | nl::NLM_F_DUMP
        } else {
            nl::NLM_F_REQUEST | nl::NLM_F_ACK
        }
    }
}

pub(crate) mod ops {
    //! Builders (with validation) and decoders for every request.
    use super::nl::*;
    use super::types::{addr_attrs, sockaddr_attrs};
    use super::*;

    pub(crate) fn list() -> Op {
        Op::new("list endpoints", CMD_GET_ADDR, vec![]).dump()
    }
    pub(crate) fn decode_list(m: Vec<PmMessage>) -> Vec<Endpoint> {
        let mut v: Vec<Endpoint> = m.iter().filter_map(decode_endpoint).collect();
        v.sort_by_key(|e| e.id);
        v
    }
    pub(crate) fn decode_endpoint(m: &PmMessage) -> Option<Endpoint> {
        m.attrs.iter().find_map(|a| match a {
            PmAttr::Addr(attrs) => Endpoint::from_attrs(attrs),
            _ => None,
        })
    }
    pub(crate) fn check_id(id: u8) -> Result<()> {
        if id == 0 {
            return Err(Error::invalid("endpoint ids are 1-255"));
        }
        Ok(())
    }
    pub(crate) fn get(id: u8) -> Result<Op> {
        check_id(id)?;
        Ok(Op::new("get endpoint", CMD_GET_ADDR, vec![PmAttr::Addr(vec![AddrAttr::Id(id)])]))
    }
    pub(crate) fn add(ep: &Endpoint) -> Result<Op> {
        ep.validate_for_add()?;
        Ok(Op::new("add endpoint", CMD_ADD_ADDR, vec![PmAttr::Addr(ep.to_attrs())]))
    }
    pub(crate) fn delete(id: u8) -> Result<Op> {
        check_id(id)?;
        Ok(Op::new("delete endpoint", CMD_DEL_ADDR, vec![PmAttr::Addr(vec![AddrAttr::Id(id)])]))
    }
    pub(crate) fn flush() -> Op {
        Op::new("flush endpoints", CMD_FLUSH_ADDRS, vec![])
    }
    pub(crate) fn set_flags(target: EndpointRef, flags: EndpointFlags) -> Result<Op> {
        if let EndpointRef::Id(id) = target {
            check_id(id)?;
        }
        let changeable = EndpointFlags::BACKUP | EndpointFlags::FULLMESH;
        if flags.0 & !changeable.0 != 0 {
            return Err(Error::invalid("only `backup` and `fullmesh` can be changed on an endpoint"));
        }
        let mut a = target.to_attrs();
        a.push(AddrAttr::Flags(flags.0));
        Ok(Op::new("change endpoint flags", CMD_SET_FLAGS, vec![PmAttr::Addr(a)]))
    }
    pub(crate) fn set_subflow_backup(token: u32, local: SocketAddr, remote: SocketAddr, backup: bool) -> Result<Op> {
        families_match(local.ip(), remote.ip())?;
        let mut l = addr_attrs(local.ip());
        if local.port() != 0 {
            l.push(AddrAttr::Port(local.port()));
        }
        l.push(AddrAttr::Flags(if backup { EndpointFlags::BACKUP.0 } else { 0 }));
        Ok(Op::new(
            "change subflow flags",
            CMD_SET_FLAGS,
            vec![PmAttr::Token(token), PmAttr::Addr(l), PmAttr::AddrRemote(sockaddr_attrs(remote))],
        )
        .token(token))
    }
    pub(crate) fn get_limits() -> Op {
        Op::new("get limits", CMD_GET_LIMITS, vec![])
    }
    pub(crate) fn decode_limits(m: Vec<PmMessage>) -> Result<Limits> {
        m.first()
            .map(|m| Limits::from_attrs(&m.attrs))
            .ok_or_else(|| Error::Io(io::Error::new(io::ErrorKind::InvalidData, "the kernel sent no limits")))
    }
    pub(crate) fn set_limits(subflows: Option<u32>, add_addr_accepted: Option<u32>) -> Result<Op> {
        Limits { subflows: subflows.unwrap_or(0), add_addr_accepted: add_addr_accepted.unwrap_or(0) }.validate()?;
        let mut a = Vec::new();
        if let Some(v) = add_addr_accepted {
            a.push(PmAttr::RcvAddAddrs(v));
        }
        if let Some(v) = subflows {
            a.push(PmAttr::Subflows(v));
        }
        if a.is_empty() {
            return Err(Error::invalid("nothing to set: give subflows and/or add_addr_accepted"));
        }
        Ok(Op::new("set limits", CMD_SET_LIMITS, a))
    }
    pub(crate) fn announce(token: u32, ep: &Endpoint) -> Result<Op> {
        check_id(ep.id)?;
        if ep.addr.is_unspecified() {
            return Err(Error::invalid("cannot announce an unspecified address"));
        }
        let mut ep = ep.clone();
        ep.flags |= EndpointFlags::SIGNAL;
        Ok(Op::new("announce address", CMD_ANNOUNCE, vec![PmAttr::Token(token), PmAttr::Addr(ep.to_attrs())])
            .token(token))
    }
    pub(crate) fn remove(token: u32, id: u8) -> Result<Op> {
        Ok(Op::new("remove address", CMD_REMOVE, vec![PmAttr::Token(token), PmAttr::LocId(id)]).token(token))
    }
    pub(crate) fn families_match(a: IpAddr, b: IpAddr) -> Result<()> {
        if a.is_ipv4() != b.is_ipv4() {
            return Err(Error::invalid(format!("local {a} and remote {b} are of different families")));
        }
        Ok(())
    }
    pub(crate) fn subflow_create(token: u32, local: LocalAddr, remote: SocketAddr) -> Result<Op> {
        families_match(local.addr, remote.ip())?;
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(Error::invalid(format!("remote {remote} needs an address and a port")));
        }
        Ok(Op::new(
            "create subflow",
            CMD_SUBFLOW_CREATE,
            vec![PmAttr::Token(token), PmAttr::Addr(local.to_attrs()), PmAttr::AddrRemote(sockaddr_attrs(remote))],
        )
        .token(token))
    }
    pub(crate) fn subflow_destroy(token: u32, local: SocketAddr, remote: SocketAddr) -> Result<Op> {
        families_match(local.ip(), remote.ip())?;
        if local.port() == 0 || remote.port() == 0 {
            return Err(Error::invalid("destroying a subflow needs both ports"));
        }
        Ok(Op::new(
            "destroy subflow",
            CMD_SUBFLOW_DESTROY,
            vec![PmAttr::Token(token), PmAttr::Addr(sockaddr_attrs(local)), PmAttr::AddrRemote(sockaddr_attrs(remote))],
        )
        .token(token))
    }
}

// ---------------------------------------------------------------------------
// Receiving replies.

/// Why a request failed, before it is named.
#[derive(Debug)]
pub(crate) enum RawError {
    Io(io::Error),
    Kernel(i32, Option<String>),
}

impl From<io::Error> for RawError {
    fn from(e: io::Error) -> Self {
        RawError::Io(e)
    }
}

impl RawError {
    fn named(self, op: &'static str, token: Option<u32>) -> Error {
        match self {
            RawError::Io(e) => Error::Io(e),
            RawError::Kernel(errno, detail) => Error::Kernel { op, errno, token, detail },
        }
    }
}

fn malformed(e: DecodeError) -> RawError {
    RawError::Io(io::Error::new(io::ErrorKind::InvalidData, format!("malformed netlink message: {e}")))
}

/// Collects the replies to one request from the datagrams received.
pub(crate) struct Exchange<T> {
    seq: u32,
    dump: bool,
    out: Vec<T>,
}

impl<T: Debug> Exchange<T>
where
    GenlMessage<T>: NetlinkDeserializable<Error = DecodeError> + Debug,
{
    pub(crate) fn new(seq: u32, dump: bool) -> Self {
        Exchange { seq, dump, out: Vec::new() }
    }

    /// Feeds one datagram; `Ok(true)` once the request is complete.
    pub(crate) fn feed(&mut self, datagram: &[u8]) -> Result<bool, RawError> {
        for m in nl::split(datagram) {
            let (seq, reply) = nl::decode::<T>(m.map_err(malformed)?).map_err(malformed)?;
            if seq != self.seq {
                continue; // a late answer to an earlier request
            }
            match reply {
                Reply::Data(d) => self.out.push(d),
                Reply::Done(0) => return Ok(true),
                Reply::Done(code) => return Err(RawError::Kernel(code.saturating_abs(), None)),
                Reply::Ack(0, _) => {
                    if !self.dump {
                        return Ok(true);
                    }
                }
                Reply::Ack(code, detail) => return Err(RawError::Kernel(code.saturating_abs(), detail)),
                Reply::Ignore => {}
            }
        }
        Ok(false)
    }

    pub(crate) fn into_out(self) -> Vec<T> {
        self.out
    }
}

/// The family id and the events group id, as the controller reports them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Family {
    pub id: u16,
    pub events_group: Option<u32>,
}

pub(crate) fn family_request(seq: u32) -> Vec<u8> {
    let ctrl =
        GenlCtrl { cmd: GenlCtrlCmd::GetFamily, nlas: vec![GenlCtrlAttrs::FamilyName(nl::FAMILY_NAME.to_string())] };
    nl::encode(ctrl, 0, nl::NLM_F_REQUEST | nl::NLM_F_ACK, seq)
}

pub(crate) fn family_from(replies: Result<Vec<GenlCtrl>, RawError>) -> Result<Family> {
    let replies = match replies {
        Ok(r) => r,
        Err(RawError::Kernel(libc::ENOENT, _)) => return Err(Error::FamilyNotFound),
        Err(e) => return Err(e.named("resolve the mptcp_pm family", None)),
    };
    let mut fam = Family { id: 0, events_group: None };
    for r in &replies {
        for a in &r.nlas {
            match a {
                GenlCtrlAttrs::FamilyId(id) => fam.id = *id,
                GenlCtrlAttrs::McastGroups(groups) => {
                    for g in groups {
                        let name = g.iter().find_map(|x| match x {
                            McastGrpAttrs::Name(n) => Some(n.as_str()),
                            _ => None,
                        });
                        let id = g.iter().find_map(|x| match x {
                            McastGrpAttrs::Id(i) => Some(*i),
                            _ => None,
                        });
                        if let (Some(nl::EVENTS_GROUP), Some(id)) = (name, id) {
                            fam.events_group = Some(id);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if fam.id == 0 {
        return Err(Error::FamilyNotFound);
    }
    Ok(fam)
}

pub(crate) fn open_socket() -> io::Result<Socket> {
    let mut s = Socket::new(NETLINK_GENERIC)?;
    s.bind_auto()?;
    // Best effort: shorter errors and the kernel's explanation.
    let _ = s.set_cap_ack(true);
    let _ = s.set_ext_ack(true);
    Ok(s)
}

const RECV_BUF: usize = 64 * 1024;

fn transact<T: Debug>(sock: &Socket, buf: &mut [u8], req: &[u8], seq: u32, dump: bool) -> Result<Vec<T>, RawError>
where
    GenlMessage<T>: NetlinkDeserializable<Error = DecodeError> + Debug,
{
    sock.send(req, 0)?;
    let mut ex = Exchange::new(seq, dump);
    loop {
        let n = sock.recv(&mut &mut buf[..], 0)?;
        if ex.feed(&buf[..n.min(buf.len())])? {
            return Ok(ex.into_out());
        }
    }
}

// ---------------------------------------------------------------------------
// The blocking handle.

/// A blocking handle on the path manager of the calling thread's network
/// namespace: one netlink socket, requests numbered and acknowledged.
///
/// The namespace is fixed when the handle is created; moving the handle to
/// a thread in another namespace keeps talking to the first one.
///
/// # Examples
///
/// ```no_run
/// let mut pm = mptcp::pm::PathManager::new()?;
/// let limits = pm.limits()?;
/// println!("subflows {} add_addr_accepted {}", limits.subflows, limits.add_addr_accepted);
/// # Ok::<(), mptcp::pm::Error>(())
/// ```
#[derive(Debug)]
pub struct PathManager {
    sock: Socket,
    seq: u32,
    family: Family,
    buf: Vec<u8>,
}

impl PathManager {
    /// Opens a netlink socket and resolves the `mptcp_pm` family.
    ///
    /// # Errors
    ///
    /// [`Error::FamilyNotFound`] when the kernel has no MPTCP path manager.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::pm::{Error, PathManager};
    ///
    /// let mut pm = match PathManager::new() {
    ///     Err(Error::FamilyNotFound) => {
    ///         eprintln!("this kernel has no MPTCP path manager");
    ///         return Ok(());
    ///     }
    ///     r => r?,
    /// };
    /// println!("{:?}", pm.limits()?);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new() -> Result<PathManager> {
        let sock = open_socket()?;
        let mut buf = vec![0u8; RECV_BUF];
        let family = family_from(transact::<GenlCtrl>(&sock, &mut buf, &family_request(1), 1, false))?;
        Ok(PathManager { sock, seq: 1, family, buf })
    }

    fn run(&mut self, op: Op) -> Result<Vec<PmMessage>> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let req = nl::encode(op.msg.clone(), self.family.id, op.flags(), self.seq);
        transact(&self.sock, &mut self.buf, &req, self.seq, op.dump).map_err(|e| e.named(op.name, op.token))
    }

    /// Lists the endpoints (`ip mptcp endpoint show`), by id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// for ep in mptcp::pm::PathManager::new()?.endpoints()? {
    ///     println!("{} id {} {}", ep.addr, ep.id, ep.flags);
    /// }
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn endpoints(&mut self) -> Result<Vec<Endpoint>> {
        Ok(ops::decode_list(self.run(ops::list())?))
    }

    /// The endpoint with id `id` (`ip mptcp endpoint show id ID`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ep = mptcp::pm::PathManager::new()?.endpoint(1)?;
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn endpoint(&mut self, id: u8) -> Result<Endpoint> {
        let r = match self.run(ops::get(id)?) {
            Err(Error::Kernel { errno: libc::EINVAL | libc::ENOENT, .. }) => {
                return Err(Error::NoSuchEndpoint(EndpointRef::Id(id)))
            }
            r => r?,
        };
        r.iter().find_map(ops::decode_endpoint).ok_or(Error::NoSuchEndpoint(EndpointRef::Id(id)))
    }

    /// Adds an endpoint (`ip mptcp endpoint add`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for combinations the kernel refuses (a
    /// port without `signal`, `signal` with `fullmesh`, ...), checked
    /// before sending; [`Error::Kernel`] otherwise (`EEXIST` for a duplicate).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::pm::{Endpoint, EndpointFlags, PathManager};
    ///
    /// let ep = Endpoint::new("10.0.2.1".parse().unwrap()).with_flags(EndpointFlags::SUBFLOW);
    /// PathManager::new()?.add_endpoint(&ep)?;
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn add_endpoint(&mut self, ep: &Endpoint) -> Result<()> {
        self.run(ops::add(ep)?).map(drop)
    }

    /// Deletes an endpoint by id or address (`ip mptcp endpoint delete`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// mptcp::pm::PathManager::new()?.delete_endpoint(2.into())?;
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn delete_endpoint(&mut self, target: EndpointRef) -> Result<()> {
        let id = self.resolve_id(target)?;
        match self.run(ops::delete(id)?) {
            Err(Error::Kernel { errno: libc::EINVAL | libc::ENOENT, .. }) => Err(Error::NoSuchEndpoint(target)),
            r => r.map(drop),
        }
    }

    fn resolve_id(&mut self, target: EndpointRef) -> Result<u8> {
        match target {
            EndpointRef::Id(id) => Ok(id),
            EndpointRef::Addr(a) => {
                self.endpoints()?.into_iter().find(|e| e.addr == a).map(|e| e.id).ok_or(Error::NoSuchEndpoint(target))
            }
        }
    }

    /// Deletes every endpoint (`ip mptcp endpoint flush`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// mptcp::pm::PathManager::new()?.flush_endpoints()?;
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn flush_endpoints(&mut self) -> Result<()> {
        self.run(ops::flush()).map(drop)
    }

    /// Sets the `backup` and `fullmesh` flags of an endpoint (`ip mptcp
    /// endpoint change`). The kernel replaces both: a flag not in `flags`
    /// is cleared. Existing subflows from that address follow.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::pm::{EndpointFlags, PathManager};
    ///
    /// PathManager::new()?.set_endpoint_flags(2.into(), EndpointFlags::BACKUP)?;
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn set_endpoint_flags(&mut self, target: EndpointRef, flags: EndpointFlags) -> Result<()> {
        match self.run(ops::set_flags(target, flags)?) {
            Err(Error::Kernel { errno: libc::ENOENT, .. }) => Err(Error::NoSuchEndpoint(target)),
            r => r.map(drop),
        }
    }

    /// Marks one subflow of connection `token` as backup or not (userspace
    /// path manager; sends MP_PRIO).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let mut pm = mptcp::pm::PathManager::new()?;
    /// pm.set_subflow_backup(0x1234, "10.0.2.1:40000".parse().unwrap(), "10.0.2.2:80".parse().unwrap(), true)?;
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn set_subflow_backup(
        &mut self,
        token: u32,
        local: SocketAddr,
        remote: SocketAddr,
        backup: bool,
    ) -> Result<()> {
        self.run(ops::set_subflow_backup(token, local, remote, backup)?).map(drop)
    }

    /// The limits (`ip mptcp limits show`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let l = mptcp::pm::PathManager::new()?.limits()?;
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn limits(&mut self) -> Result<Limits> {
        ops::decode_limits(self.run(ops::get_limits())?)
    }

    /// Sets one or both limits (`ip mptcp limits set`); `None` keeps the
    /// current value. Values above [`MAX_LIMIT`] are refused before sending.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// mptcp::pm::PathManager::new()?.set_limits(Some(2), Some(2))?;
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn set_limits(&mut self, subflows: Option<u32>, add_addr_accepted: Option<u32>) -> Result<()> {
        self.run(ops::set_limits(subflows, add_addr_accepted)?).map(drop)
    }

    /// Userspace PM: announces `ep` (id 1-255) to the peer of connection
    /// `token` (ADD_ADDR).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::pm::{Endpoint, PathManager};
    ///
    /// PathManager::new()?.announce(0x1234, &Endpoint::new("10.0.2.1".parse().unwrap()).with_id(5))?;
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn announce(&mut self, token: u32, ep: &Endpoint) -> Result<()> {
        self.run(ops::announce(token, ep)?).map(drop)
    }

    /// Userspace PM: withdraws address `id` from connection `token` (RM_ADDR).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// mptcp::pm::PathManager::new()?.remove(0x1234, 5)?;
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn remove(&mut self, token: u32, id: u8) -> Result<()> {
        self.run(ops::remove(token, id)?).map(drop)
    }

    /// Userspace PM: opens a subflow of connection `token` from `local` to
    /// `remote`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::pm::{LocalAddr, PathManager};
    ///
    /// let local = LocalAddr::new("10.0.2.1".parse().unwrap()).with_id(5);
    /// PathManager::new()?.create_subflow(0x1234, local, "10.0.1.2:80".parse().unwrap())?;
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn create_subflow(&mut self, token: u32, local: LocalAddr, remote: SocketAddr) -> Result<()> {
        self.run(ops::subflow_create(token, local, remote)?).map(drop)
    }

    /// Userspace PM: closes the subflow of connection `token` between
    /// `local` and `remote` (both with their ports).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let mut pm = mptcp::pm::PathManager::new()?;
    /// pm.destroy_subflow(0x1234, "10.0.2.1:40000".parse().unwrap(), "10.0.1.2:80".parse().unwrap())?;
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn destroy_subflow(&mut self, token: u32, local: SocketAddr, remote: SocketAddr) -> Result<()> {
        self.run(ops::subflow_destroy(token, local, remote)?).map(drop)
    }
}

// ---------------------------------------------------------------------------
// Events.

pub(crate) fn subscribe(sock: &Socket, family: Family) -> Result<()> {
    let group = family.events_group.ok_or(Error::FamilyNotFound)?;
    sock.add_membership(group).map_err(|e| match e.raw_os_error() {
        Some(errno) => Error::Kernel { op: "subscribe to MPTCP events", errno, token: None, detail: None },
        None => Error::Io(e),
    })?;
    let _ = sock.set_rx_buf_sz(1 << 20);
    Ok(())
}

pub(crate) fn parse_events(datagram: &[u8], out: &mut VecDeque<Event>) -> Result<()> {
    for m in nl::split(datagram) {
        let m = m.map_err(|e| malformed(e).named("receive events", None))?;
        match nl::decode::<nl::EventMessage>(m) {
            Ok((_, Reply::Data(ev))) => out.push_back(Event::from_message(&ev)),
            Ok(_) => {}
            // One unparsable event is skipped, not fatal.
            Err(_) => {}
        }
    }
    Ok(())
}

/// A subscription to the path manager events of the calling thread's
/// network namespace (`ip mptcp monitor`). Iterating blocks until the
/// next event.
///
/// Needs `CAP_NET_ADMIN`.
///
/// # Examples
///
/// ```no_run
/// use mptcp::pm::{EventKind, EventListener};
///
/// for ev in EventListener::new()? {
///     let ev = ev?;
///     if ev.kind == EventKind::SubEstablished {
///         println!("new subflow {:?} -> {:?} on token {:?}", ev.local(), ev.remote(), ev.token);
///     }
/// }
/// # Ok::<(), mptcp::pm::Error>(())
/// ```
#[derive(Debug)]
pub struct EventListener {
    sock: Socket,
    buf: Vec<u8>,
    pending: VecDeque<Event>,
}

impl EventListener {
    /// Subscribes to the `mptcp_pm_events` group.
    ///
    /// # Errors
    ///
    /// [`Error::Kernel`] with `EPERM` without `CAP_NET_ADMIN`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::pm::EventListener;
    ///
    /// let mut events = match EventListener::new() {
    ///     Err(e) if e.is_permission_denied() => panic!("run with CAP_NET_ADMIN: {e}"),
    ///     r => r?,
    /// };
    /// println!("{}", events.recv()?);
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn new() -> Result<EventListener> {
        let sock = open_socket()?;
        let mut buf = vec![0u8; RECV_BUF];
        let family = family_from(transact::<GenlCtrl>(&sock, &mut buf, &family_request(1), 1, false))?;
        subscribe(&sock, family)?;
        Ok(EventListener { sock, buf, pending: VecDeque::new() })
    }

    /// Waits for the next event.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::pm::{EventKind, EventListener};
    ///
    /// let mut events = EventListener::new()?;
    /// let closed = loop {
    ///     let ev = events.recv()?;
    ///     if ev.kind == EventKind::Closed {
    ///         break ev.token;
    ///     }
    /// };
    /// println!("connection {closed:?} closed");
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn recv(&mut self) -> Result<Event> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            parse_events(&self.buf[..n.min(self.buf.len())], &mut self.pending)?;
        }
    }

    /// Waits at most `timeout` for the next event; `Ok(None)` when none came.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let mut events = mptcp::pm::EventListener::new()?;
    /// while let Some(ev) = events.recv_timeout(Duration::from_secs(1))? {
    ///     println!("{ev}");
    /// }
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Event>> {
        if let Some(e) = self.pending.pop_front() {
            return Ok(Some(e));
        }
        let deadline = std::time::Instant::now() + timeout;
        let sock = socket2::SockRef::from(&self.sock);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            let r = self.sock.recv(&mut &mut self.buf[..], 0);
            sock.set_read_timeout(None)?;
            match r {
                Ok(n) => parse_events(&self.buf[..n.min(self.buf.len())], &mut self.pending)?,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
        }
    }
}

impl Iterator for EventListener {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.recv())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_messages() {
        let e = Error::Kernel { op: "add endpoint", errno: libc::EPERM, token: None, detail: None };
        assert!(e.to_string().contains("needs CAP_NET_ADMIN in this network namespace"), "{e}");
        assert!(e.is_permission_denied());
        let e = Error::Kernel {
            op: "create subflow",
            errno: libc::EINVAL,
            token: Some(0xabc),
            detail: Some("invalid token".into()),
        };
        assert!(e.to_string().contains("no MPTCP connection with token 2748"), "{e}");
        let e =
            Error::Kernel { op: "add endpoint", errno: libc::EEXIST, token: None, detail: Some("duplicate".into()) };
        assert!(e.to_string().starts_with("add endpoint: duplicate"), "{e}");
    }

    #[test]
    fn validation_before_sending() {
        assert!(ops::set_limits(Some(9), None).is_err());
        assert!(ops::set_limits(None, Some(8)).is_ok());
        assert!(ops::set_limits(None, None).is_err());
        assert!(ops::get(0).is_err());
        let ep = Endpoint::new("10.0.0.1".parse().unwrap()).with_port(80).with_flags(EndpointFlags::SUBFLOW);
        assert!(ops::add(&ep).is_err());
        let ep = Endpoint::new("0.0.0.0".parse().unwrap());
        assert!(ops::add(&ep).is_err());
        assert!(
            ops::subflow_create(1, LocalAddr::new("10.0.0.1".parse().unwrap()), "[::1]:80".parse().unwrap()).is_err()
        );
        assert!(ops::set_flags(EndpointRef::Id(1), EndpointFlags::SIGNAL).is_err());
        assert!(interface_index("no such if").is_err());
    }

    #[test]
    fn exchange_ack_and_dump() {
        // ACK for seq 4 after a stale one for seq 3.
        let mut d = Vec::new();
        for seq in [3u32, 4] {
            d.extend_from_slice(&36u32.to_ne_bytes());
            d.extend_from_slice(&2u16.to_ne_bytes());
            d.extend_from_slice(&0x100u16.to_ne_bytes());
            d.extend_from_slice(&seq.to_ne_bytes());
            d.extend_from_slice(&0u32.to_ne_bytes());
            d.extend_from_slice(&(if seq == 3 { -1i32 } else { 0 }).to_ne_bytes());
            d.extend_from_slice(&[0u8; 16]);
        }
        let mut ex = Exchange::<PmMessage>::new(4, false);
        assert!(ex.feed(&d).unwrap());
        let mut ex = Exchange::<PmMessage>::new(3, false);
        assert!(matches!(ex.feed(&d), Err(RawError::Kernel(1, None))));
        // Garbage is an error, not a panic.
        let mut ex = Exchange::<PmMessage>::new(3, false);
        assert!(ex.feed(&d[..30]).is_err());
    }
}
