//! MPTCP connections seen through inet_diag (`NETLINK_SOCK_DIAG`), as `ss -M`
//! shows them.
//!
//! Requests ask for protocol `IPPROTO_MPTCP` with the
//! `INET_DIAG_REQ_PROTOCOL` attribute (the one-byte protocol field cannot
//! hold 262); `INET_DIAG_INFO` carries `struct mptcp_info`.
//!
//! Subflows are the TCP sockets whose ULP is `mptcp`: a TCP dump asking for
//! `INET_DIAG_INFO` also brings `INET_DIAG_ULP_INFO`, whose nested
//! `INET_ULP_INFO_MPTCP` holds the `MPTCP_SUBFLOW_ATTR_*` attributes (local
//! token, ids, flags). [`connections`] groups them under their connection
//! by local token, which equals the connection's `mptcp_info.token`.
//!
//! Listing needs no privilege beyond seeing the sockets: like `ss`, each
//! call lists the calling thread's network namespace.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use netlink_sys::Socket;

use self::wire::{Request, Response};
use crate::netlink::{self, Expect, RawError, RECV_BUF};

mod cache;
mod exact;
mod types;
mod wire;

pub(crate) use exact::{lookup_socket, subflow_backup_exact};

pub use types::{
    AddressFamily, Connection, DiagSocket, Filter, Subflow, SUBFLOW_FLAG_BKUP_LOC, SUBFLOW_FLAG_BKUP_REM,
    SUBFLOW_FLAG_CONNECTED, SUBFLOW_FLAG_FULLY_ESTABLISHED, SUBFLOW_FLAG_JOIN_LOC, SUBFLOW_FLAG_JOIN_REM,
    SUBFLOW_FLAG_MAPVALID, SUBFLOW_FLAG_MCAP_LOC, SUBFLOW_FLAG_MCAP_REM,
};
/// Sequence numbers of this process's requests (replies to an earlier,
/// abandoned request are skipped by number).
fn next_seq() -> u32 {
    static SEQ: AtomicU32 = AtomicU32::new(1);
    SEQ.fetch_add(1, Ordering::Relaxed).max(1)
}

/// Sends `req` and collects the replies of a dump.
fn dump(sock: &Socket, req: Request) -> io::Result<Vec<Response>> {
    #[cfg(test)]
    tests::DUMPS.with(|d| d.set(d.get() + 1));
    let seq = next_seq();
    let mut buf = vec![0u8; RECV_BUF];
    let msg = netlink::encode(req, Expect::Dump.flags(), seq);
    Ok(netlink::transact(sock, &mut buf, &msg, seq, Expect::Dump)?)
}

/// Sends an exact request; `None` when the kernel has no such socket (`ENOENT`).
fn get_one(sock: &Socket, req: Request) -> io::Result<Option<Response>> {
    let seq = next_seq();
    // One socket's reply: a few hundred bytes (a longer one is an error,
    // never read past).
    let mut buf = [0u8; 8 * 1024];
    let msg = netlink::encode(req, Expect::One.flags(), seq);
    match netlink::transact(sock, &mut buf, &msg, seq, Expect::One) {
        Ok(mut replies) => Ok(replies.pop()),
        Err(RawError::Kernel(libc::ENOENT, _)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The MPTCP sockets of `family` on `sock`.
fn list_on(sock: &Socket, family: AddressFamily) -> io::Result<Vec<DiagSocket>> {
    let replies = dump(sock, Request::all(family.raw(), libc::IPPROTO_MPTCP))?;
    Ok(replies.iter().map(DiagSocket::from_response).collect())
}

/// Every MPTCP subflow of both families on `sock`.
fn subflows_on(sock: &Socket) -> io::Result<Vec<Subflow>> {
    let mut out = Vec::new();
    for family in AddressFamily::ALL {
        let replies = dump(sock, Request::all(family.raw(), libc::IPPROTO_TCP))?;
        out.extend(replies.iter().filter_map(Subflow::from_response));
    }
    Ok(out)
}

/// Lists the MPTCP sockets of `family` in the calling thread's network
/// namespace.
///
/// # Examples
///
/// ```no_run
/// use mptcp::diag::{mptcp_sockets, AddressFamily};
///
/// for s in mptcp_sockets(AddressFamily::Ipv4)? {
///     println!("{} -> {} token {:?}", s.local, s.remote, s.info.and_then(|i| i.token));
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn mptcp_sockets(family: AddressFamily) -> io::Result<Vec<DiagSocket>> {
    list_on(&cache::open()?, family)
}

/// Whether inet_diag can list MPTCP sockets here (`mptcp_diag` present).
pub(crate) fn probe() -> io::Result<bool> {
    match dump(&cache::open()?, Request::all(AddressFamily::Ipv4.raw(), libc::IPPROTO_MPTCP)) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Every MPTCP subflow (IPv4 and IPv6) in the calling thread's network
/// namespace.
///
/// # Examples
///
/// ```no_run
/// for sf in mptcp::diag::subflows()? {
///     println!("{} -> {} token {:?} backup {}", sf.local, sf.remote, sf.token_local, sf.is_backup());
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn subflows() -> io::Result<Vec<Subflow>> {
    subflows_on(&cache::open()?)
}

/// Every MPTCP connection (IPv4 and IPv6) in the calling thread's network
/// namespace that `filter` keeps, with its subflows grouped under it, like
/// `ss -M` followed by `ss -ti` for each subflow.
///
/// # Examples
///
/// ```no_run
/// use mptcp::diag::{connections, Filter};
///
/// for c in connections(&Filter::default().port(443))? {
///     println!("{} -> {} token {:?}: {} subflows", c.socket.local, c.socket.remote, c.token, c.subflows.len());
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn connections(filter: &Filter) -> io::Result<Vec<Connection>> {
    let sock = cache::open()?;
    let mut msks = Vec::new();
    for family in AddressFamily::ALL {
        msks.extend(list_on(&sock, family)?);
    }
    let sfs = subflows_on(&sock)?;
    Ok(group(msks, sfs).into_iter().filter(|c| filter.matches(c)).collect())
}

/// Groups subflows under their connection by local token.
fn group(msks: Vec<DiagSocket>, mut sfs: Vec<Subflow>) -> Vec<Connection> {
    let mut out = Vec::with_capacity(msks.len());
    for m in msks {
        let token = m.info.as_ref().and_then(|i| i.token);
        let fallback = m.info.as_ref().and_then(|i| i.is_fallback());
        let mut mine = Vec::new();
        if let Some(t) = token.filter(|t| *t != 0) {
            let mut i = 0;
            while i < sfs.len() {
                if sfs[i].token_local == Some(t) {
                    mine.push(sfs.swap_remove(i));
                } else {
                    i += 1;
                }
            }
        }
        // Initial subflow first, then joins by local port.
        mine.sort_by_key(|s| (s.is_join(), s.local.port()));
        out.push(Connection { socket: m, token, fallback, subflows: mine });
    }
    out
}

/// The subflows of the connection with local token `token`, as
/// `(local, remote, backup)`.
///
/// # Examples
///
/// ```no_run
/// for (local, remote, backup) in mptcp::diag::subflow_backup_flags(0x1234abcd)? {
///     println!("{local} -> {remote}: backup {backup}");
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn subflow_backup_flags(token: u32) -> io::Result<Vec<(SocketAddr, SocketAddr, bool)>> {
    Ok(subflows()?
        .into_iter()
        .filter(|s| s.token_local == Some(token))
        .map(|s| (s.local, s.remote, s.is_backup()))
        .collect())
}

#[cfg(test)]
mod tests;
