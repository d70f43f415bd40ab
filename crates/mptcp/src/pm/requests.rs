//! The path manager's requests, sans IO: what each method sends (built and
//! checked before anything is sent), and what it makes of the kernel's
//! answer. Both [`PathManager`](super::PathManager) and
//! [`AsyncPathManager`](super::AsyncPathManager) drive these same [`Call`]s;
//! they only move bytes.

use std::net::{IpAddr, SocketAddr};

use super::endpoint_ref::EndpointRef;
use super::error::{Error, Result};
use super::nl::*;
use super::types::{Endpoint, EndpointFlags, Limits, LocalAddr};
use crate::netlink::Expect;

/// One request: what to send, what comes back, and how to name it in errors.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    pub(crate) name: &'static str,
    pub(crate) msg: PmMessage,
    pub(crate) expect: Expect,
    pub(crate) token: Option<u32>,
}

impl Op {
    fn new(name: &'static str, cmd: u8, attrs: Vec<PmAttr>) -> Op {
        Op { name, msg: PmMessage::new(cmd, attrs), expect: Expect::Ack, token: None }
    }
    fn dump(mut self) -> Op {
        self.expect = Expect::Dump;
        self
    }
    fn token(mut self, t: u32) -> Op {
        self.token = Some(t);
        self
    }
}

/// What a [`Call`] does after an answer: finish, or send one more request.
pub(crate) enum Next<T> {
    Done(T),
    Then(Call<T>),
}

type Then<T> = Box<dyn FnOnce(Result<Vec<PmMessage>>) -> Result<Next<T>> + Send>;

/// One path manager method: the request to send first and what to do with
/// its answer (the kernel's replies, or the named error).
pub(crate) struct Call<T> {
    pub(crate) op: Op,
    then: Then<T>,
}

impl<T> std::fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call").field("op", &self.op).finish_non_exhaustive()
    }
}

impl<T: 'static> Call<T> {
    fn new(op: Op, then: impl FnOnce(Result<Vec<PmMessage>>) -> Result<Next<T>> + Send + 'static) -> Call<T> {
        Call { op, then: Box::new(then) }
    }

    /// A call of one request whose replies `decode` turns into the answer.
    fn decoded(op: Op, decode: impl FnOnce(Vec<PmMessage>) -> Result<T> + Send + 'static) -> Call<T> {
        Call::new(op, |replies| decode(replies?).map(Next::Done))
    }

    /// Hands the outcome of `op` to the call.
    pub(crate) fn answer(self, replies: Result<Vec<PmMessage>>) -> Result<Next<T>> {
        (self.then)(replies)
    }
}

impl Call<()> {
    /// A call of one request that only needs the ACK.
    fn acked(op: Op) -> Call<()> {
        Call::decoded(op, |_| Ok(()))
    }
}

/// `EINVAL`/`ENOENT` from the kernel for endpoint `target` means it does not exist.
fn no_such(target: EndpointRef, errnos: &'static [i32]) -> impl FnOnce(Error) -> Error {
    move |e| match e {
        Error::Kernel { errno, .. } if errnos.contains(&errno) => Error::NoSuchEndpoint(target),
        e => e,
    }
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

fn check_id(id: u8) -> Result<()> {
    if id == 0 {
        return Err(Error::invalid("endpoint ids are 1-255"));
    }
    Ok(())
}

fn families_match(a: IpAddr, b: IpAddr) -> Result<()> {
    if a.is_ipv4() != b.is_ipv4() {
        return Err(Error::invalid(format!("local {a} and remote {b} are of different families")));
    }
    Ok(())
}

fn list() -> Op {
    Op::new("list endpoints", CMD_GET_ADDR, vec![]).dump()
}

pub(crate) fn endpoints() -> Result<Call<Vec<Endpoint>>> {
    Ok(Call::decoded(list(), |m| Ok(decode_list(m))))
}

pub(crate) fn endpoint(id: u8) -> Result<Call<Endpoint>> {
    check_id(id)?;
    let target = EndpointRef::Id(id);
    let op = Op::new("get endpoint", CMD_GET_ADDR, vec![PmAttr::Addr(vec![AddrAttr::Id(id)])]);
    Ok(Call::new(op, move |r| {
        let m = r.map_err(no_such(target, &[libc::EINVAL, libc::ENOENT]))?;
        m.iter().find_map(decode_endpoint).map(Next::Done).ok_or(Error::NoSuchEndpoint(target))
    }))
}

pub(crate) fn add_endpoint(ep: &Endpoint) -> Result<Call<()>> {
    ep.validate_for_add()?;
    Ok(Call::acked(Op::new("add endpoint", CMD_ADD_ADDR, vec![PmAttr::Addr(ep.to_attrs())])))
}

fn delete_id(id: u8, target: EndpointRef) -> Result<Call<()>> {
    check_id(id)?;
    let op = Op::new("delete endpoint", CMD_DEL_ADDR, vec![PmAttr::Addr(vec![AddrAttr::Id(id)])]);
    Ok(Call::new(op, move |r| {
        r.map_err(no_such(target, &[libc::EINVAL, libc::ENOENT]))?;
        Ok(Next::Done(()))
    }))
}

/// By id: one request. By address: the endpoint list first, to find its id.
pub(crate) fn delete_endpoint(target: EndpointRef) -> Result<Call<()>> {
    match target {
        EndpointRef::Id(id) => delete_id(id, target),
        EndpointRef::Addr(a) => Ok(Call::new(list(), move |r| {
            let id = decode_list(r?).into_iter().find(|e| e.addr == a).map(|e| e.id);
            Ok(Next::Then(delete_id(id.ok_or(Error::NoSuchEndpoint(target))?, target)?))
        })),
    }
}

/// `DEL_ADDR` with id 0 and the address: the kernel's way to name the
/// initial subflows started from `addr`.
pub(crate) fn close_initial_subflows(addr: IpAddr) -> Result<Call<()>> {
    let mut attrs = vec![AddrAttr::Id(0)];
    attrs.extend(addr_attrs(addr));
    Ok(Call::acked(Op::new("close initial subflows", CMD_DEL_ADDR, vec![PmAttr::Addr(attrs)])))
}

pub(crate) fn flush_endpoints() -> Result<Call<()>> {
    Ok(Call::acked(Op::new("flush endpoints", CMD_FLUSH_ADDRS, vec![])))
}

pub(crate) fn set_endpoint_flags(target: EndpointRef, flags: EndpointFlags) -> Result<Call<()>> {
    if let EndpointRef::Id(id) = target {
        check_id(id)?;
    }
    let changeable = EndpointFlags::BACKUP | EndpointFlags::FULLMESH;
    if flags.0 & !changeable.0 != 0 {
        return Err(Error::invalid("only `backup` and `fullmesh` can be changed on an endpoint"));
    }
    let mut a = target.to_attrs();
    a.push(AddrAttr::Flags(flags.0));
    let op = Op::new("change endpoint flags", CMD_SET_FLAGS, vec![PmAttr::Addr(a)]);
    Ok(Call::new(op, move |r| {
        r.map_err(no_such(target, &[libc::ENOENT]))?;
        Ok(Next::Done(()))
    }))
}

pub(crate) fn set_subflow_backup(token: u32, local: SocketAddr, remote: SocketAddr, backup: bool) -> Result<Call<()>> {
    families_match(local.ip(), remote.ip())?;
    let mut l = addr_attrs(local.ip());
    if local.port() != 0 {
        l.push(AddrAttr::Port(local.port()));
    }
    l.push(AddrAttr::Flags(if backup { EndpointFlags::BACKUP.0 } else { 0 }));
    let attrs = vec![PmAttr::Token(token), PmAttr::Addr(l), PmAttr::AddrRemote(sockaddr_attrs(remote))];
    Ok(Call::acked(Op::new("change subflow flags", CMD_SET_FLAGS, attrs).token(token)))
}

pub(crate) fn limits() -> Result<Call<Limits>> {
    Ok(Call::decoded(Op::new("get limits", CMD_GET_LIMITS, vec![]), |m| {
        m.first()
            .map(|m| Limits::from_attrs(&m.attrs))
            .ok_or_else(|| Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, "the kernel sent no limits")))
    }))
}

pub(crate) fn set_limits(subflows: Option<u32>, add_addr_accepted: Option<u32>) -> Result<Call<()>> {
    Limits::new(subflows.unwrap_or(0), add_addr_accepted.unwrap_or(0)).validate()?;
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
    Ok(Call::acked(Op::new("set limits", CMD_SET_LIMITS, a)))
}

pub(crate) fn announce(token: u32, ep: &Endpoint) -> Result<Call<()>> {
    check_id(ep.id)?;
    if ep.addr.is_unspecified() {
        return Err(Error::invalid("cannot announce an unspecified address"));
    }
    let mut ep = ep.clone();
    ep.flags |= EndpointFlags::SIGNAL;
    let attrs = vec![PmAttr::Token(token), PmAttr::Addr(ep.to_attrs())];
    Ok(Call::acked(Op::new("announce address", CMD_ANNOUNCE, attrs).token(token)))
}

pub(crate) fn remove(token: u32, id: u8) -> Result<Call<()>> {
    let attrs = vec![PmAttr::Token(token), PmAttr::LocId(id)];
    Ok(Call::acked(Op::new("remove address", CMD_REMOVE, attrs).token(token)))
}

pub(crate) fn create_subflow(token: u32, local: LocalAddr, remote: SocketAddr) -> Result<Call<()>> {
    families_match(local.addr, remote.ip())?;
    if remote.port() == 0 || remote.ip().is_unspecified() {
        return Err(Error::invalid(format!("remote {remote} needs an address and a port")));
    }
    let attrs = vec![PmAttr::Token(token), PmAttr::Addr(local.to_attrs()), PmAttr::AddrRemote(sockaddr_attrs(remote))];
    Ok(Call::acked(Op::new("create subflow", CMD_SUBFLOW_CREATE, attrs).token(token)))
}

pub(crate) fn destroy_subflow(token: u32, local: SocketAddr, remote: SocketAddr) -> Result<Call<()>> {
    families_match(local.ip(), remote.ip())?;
    if local.port() == 0 || remote.port() == 0 {
        return Err(Error::invalid("destroying a subflow needs both ports"));
    }
    let attrs =
        vec![PmAttr::Token(token), PmAttr::Addr(sockaddr_attrs(local)), PmAttr::AddrRemote(sockaddr_attrs(remote))];
    Ok(Call::acked(Op::new("destroy subflow", CMD_SUBFLOW_DESTROY, attrs).token(token)))
}

#[cfg(test)]
#[path = "requests_tests.rs"]
mod tests;
