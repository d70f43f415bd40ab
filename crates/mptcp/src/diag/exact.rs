//! Exact inet_diag requests about one connection: each names one socket
//! (a subflow by its 4-tuple and interface, a connection by its token), so
//! its cost does not grow with the other sockets of the namespace, as a
//! dump's does.
//!
//! The catch is the interface: the kernel matches a socket bound to a
//! device (`SO_BINDTODEVICE`, or a subflow created from an endpoint with
//! `dev`) only when the request names that device, and nothing about a
//! subflow that the socket options report says which one it is. So the
//! subflow is looked up with the likely indexes in turn, cheapest first:
//! the one that found this local address last time (kept per thread), 0
//! (any unbound socket), the connection's own device, an IPv6 scope id,
//! and the interfaces that hold the local address.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::BorrowedFd;

use netlink_packet_sock_diag::constants::TCP_LISTEN;
use netlink_sys::Socket;

use super::wire::{Request, Response};
use super::{cache, get_one, list_on, AddressFamily, Subflow};
use crate::info::MptcpInfo;
use crate::sys;

/// Most interface hints a thread keeps (then it starts over).
const MAX_HINTS: usize = 256;

thread_local! {
    /// Local address -> the interface index with which an exact get last
    /// found a subflow from it. Only a first guess: a stale one costs one
    /// request that misses.
    static HINTS: RefCell<HashMap<IpAddr, u32>> = RefCell::new(HashMap::new());
}

fn hint(ip: IpAddr) -> Option<u32> {
    HINTS.with(|h| h.borrow().get(&ip).copied())
}

fn remember(ip: IpAddr, ifindex: u32) {
    HINTS.with(|h| {
        let mut h = h.borrow_mut();
        if h.len() >= MAX_HINTS && !h.contains_key(&ip) {
            h.clear();
        }
        h.insert(ip, ifindex);
    });
}

/// The same address whether written as IPv4 or IPv4-mapped IPv6.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    }
}

/// Whether reply `r` is the connected socket `local` -> `remote` (an exact
/// get that misses an established socket may answer with the listener of
/// the same local port).
fn is_connection(r: &Response, local: SocketAddr, remote: SocketAddr) -> bool {
    let (l, p) = r.addrs();
    r.header.state != TCP_LISTEN
        && (canonical(l.ip()), l.port()) == (canonical(local.ip()), local.port())
        && (canonical(p.ip()), p.port()) == (canonical(remote.ip()), remote.port())
}

/// How hard [`find_subflow`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// The hint, 0 and the connection's own device: enough for the initial
    /// subflow, which is bound where the connection is.
    Initial,
    /// Also the IPv6 scope id and the interfaces holding the local address
    /// (subflows the path manager bound to an endpoint's device).
    Any,
}

/// Finds the TCP subflow `local` -> `remote` of the MPTCP socket `fd` with
/// exact gets on `sock` (in the socket's namespace). `bound` caches the
/// connection's own device across calls. `None` when no guess finds it
/// (closed meanwhile, or bound to a device none of the guesses names).
fn find_subflow(
    sock: &Socket,
    fd: BorrowedFd<'_>,
    (local, remote): (SocketAddr, SocketAddr),
    bound: &mut Option<u32>,
    reach: Reach,
) -> io::Result<Option<Subflow>> {
    let mut tried: Vec<u32> = Vec::with_capacity(4);
    let mut attempt = |ifindex: u32| -> io::Result<Option<Subflow>> {
        if tried.contains(&ifindex) {
            return Ok(None);
        }
        tried.push(ifindex);
        let reply = get_one(sock, Request::tcp(local, remote, ifindex))?;
        let found = reply.filter(|r| is_connection(r, local, remote)).and_then(|r| Subflow::from_response(&r));
        if found.is_some() {
            remember(local.ip(), ifindex);
        }
        Ok(found)
    };
    let hinted = hint(local.ip());
    for ifindex in hinted.into_iter().chain([0]) {
        if let Some(s) = attempt(ifindex)? {
            return Ok(Some(s));
        }
    }
    let own = match *bound {
        Some(b) => b,
        None => *bound.insert(sys::bound_ifindex(fd).unwrap_or(0)),
    };
    if let Some(s) = attempt(own)? {
        return Ok(Some(s));
    }
    if reach == Reach::Initial {
        return Ok(None);
    }
    if let SocketAddr::V6(v6) = local {
        if let Some(s) = attempt(v6.scope_id())? {
            return Ok(Some(s));
        }
    }
    let ip = local.ip();
    for ifindex in cache::in_netns_of(fd, move || sys::interfaces_with(ip))? {
        if let Some(s) = attempt(ifindex)? {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// Backup flags of the given subflows of the MPTCP socket `fd`, each found
/// by exact gets in the socket's own network namespace. `None` where the
/// subflow was not found or the kernel reported no flags.
pub(crate) fn subflow_backup_exact(
    fd: BorrowedFd<'_>,
    pairs: &[(SocketAddr, SocketAddr)],
) -> io::Result<Vec<Option<bool>>> {
    cache::with_socket_for(fd, |sock| {
        let mut bound = None;
        pairs
            .iter()
            .map(|&pair| {
                let sf = find_subflow(sock, fd, pair, &mut bound, Reach::Any)?;
                Ok(sf.and_then(|s| s.flags.map(|_| s.is_backup())))
            })
            .collect()
    })
}

/// The connection token, from `MPTCP_INFO` (5.16+, while MPTCP is in use).
fn token_by_sockopt(fd: BorrowedFd<'_>) -> Option<u32> {
    let mut buf = [0u8; 16];
    let n = sys::getsockopt_buf(fd, sys::SOL_MPTCP, sys::MPTCP_INFO, &mut buf).ok()?;
    MptcpInfo::parse(&buf[..n.min(buf.len())]).token.filter(|&t| t != 0)
}

/// Finds the MPTCP socket `fd` in inet_diag, in the socket's own network
/// namespace, and returns its `mptcp_info`; `None` when it is not listed.
///
/// One exact request by token (`mptcp_diag` looks the token up in
/// `idiag_cookie[0]`), checked against `SO_COOKIE`. The token comes from
/// `MPTCP_INFO` where the kernel gives it, else from the initial subflow's
/// `INET_DIAG_ULP_INFO` (one more exact get: 5.9-5.15, and fallen-back
/// connections). Only when both miss (the initial subflow is gone on a
/// kernel without `MPTCP_INFO`) is the namespace dumped.
pub(crate) fn lookup_socket(fd: BorrowedFd<'_>) -> io::Result<Option<MptcpInfo>> {
    let s = socket2::SockRef::from(&fd);
    let cookie = s.cookie()?;
    let token = token_by_sockopt(fd);
    cache::with_socket_for(fd, |sock| {
        let token = match token {
            Some(t) => Some(t),
            None => initial_subflow(sock, fd, &s)?.and_then(|sf| sf.token_local),
        };
        if let Some(token) = token {
            // mptcp_diag finds the token whatever the request's family.
            if let Some(r) = get_one(sock, Request::mptcp_token(libc::AF_INET as u8, token))? {
                if r.cookie() == cookie {
                    return Ok(r.info().map(MptcpInfo::parse));
                }
            }
        }
        let family = s.local_addr()?.as_socket().map_or(AddressFamily::Ipv4, |a| AddressFamily::of(&a));
        let all = list_on(sock, family)?;
        Ok(all.into_iter().find(|s| s.cookie == cookie).and_then(|s| s.info))
    })
}

/// The initial subflow of the MPTCP socket `fd`: the TCP socket with the
/// connection's own addresses, bound where the connection is.
fn initial_subflow(sock: &Socket, fd: BorrowedFd<'_>, s: &socket2::SockRef<'_>) -> io::Result<Option<Subflow>> {
    let (Some(local), Some(remote)) = (s.local_addr()?.as_socket(), s.peer_addr().ok().and_then(|a| a.as_socket()))
    else {
        return Ok(None);
    };
    find_subflow(sock, fd, (local, remote), &mut None, Reach::Initial)
}
