//! Connection and per-subflow information of a live socket.

use std::cell::RefCell;
use std::io;
use std::os::fd::BorrowedFd;

use crate::detect::{connection_created_as_mptcp, is_no_such_option, name_fd_error};
use crate::host::host_support;
use crate::info::{MptcpInfo, SubflowDetail, SubflowInfo, TcpInfo};
use crate::sockopt::{self, FULL_INFO_HEADER_SIZE, SUBFLOW_ADDRS_SIZE, SUBFLOW_DATA_SIZE, SUBFLOW_INFO_SIZE};
use crate::status::Given;
use crate::sys;

/// Size we ask for per `tcp_info` element in the subflow arrays: every field
/// we parse (up to `tcpi_bytes_retrans`), and no larger than the struct of any
/// kernel with these options (5.16+), so the kernel's stride is exactly this.
const TCP_INFO_ASK: usize = 224;
/// Upper bound on subflows we will allocate for.
const MAX_SUBFLOWS: usize = 256;

/// `getsockopt(SOL_MPTCP, MPTCP_INFO)`: `None` when the connection is not
/// using MPTCP (plain TCP, fallen back, or a kernel without the option).
pub(crate) fn mptcp_info(fd: BorrowedFd<'_>, given: Given) -> io::Result<Option<MptcpInfo>> {
    // A stream by its type is asked at once: one syscall while MPTCP runs.
    if given != Given::Stream && !connection_created_as_mptcp(fd, given)? {
        return Ok(None);
    }
    let mut buf = [0u8; 256];
    match sys::getsockopt_buf(fd, sys::SOL_MPTCP, sys::MPTCP_INFO, &mut buf) {
        Ok(n) => Ok(Some(MptcpInfo::parse(&buf[..n.min(buf.len())]))),
        Err(e) if is_no_such_option(&e) => {
            // Plain TCP, fallen back, or no SOL_MPTCP; any other socket
            // (refused the option too) is named.
            connection_created_as_mptcp(fd, given)?;
            Ok(None)
        }
        Err(e) => Err(name_fd_error(e)),
    }
}

/// The single TCP flow of a connection that is not using MPTCP.
fn single_flow(fd: BorrowedFd<'_>) -> io::Result<Vec<SubflowInfo>> {
    let mut buf = [0u8; 512];
    let n = sys::getsockopt_buf(fd, libc::SOL_TCP, libc::TCP_INFO, &mut buf)?;
    let sock = socket2::SockRef::from(&fd);
    Ok(vec![SubflowInfo {
        id: None,
        local: sock.local_addr().ok().and_then(|a| a.as_socket()),
        remote: sock.peer_addr().ok().and_then(|a| a.as_socket()),
        backup: None,
        tcp: TcpInfo::parse(&buf[..n.min(buf.len())]),
    }])
}

/// Every subflow of the connection, from the socket options alone
/// (`backup` is `None`). For a connection not using MPTCP, its one TCP flow.
pub(crate) fn subflows(fd: BorrowedFd<'_>, given: Given) -> io::Result<Vec<SubflowInfo>> {
    // A stream by its type is asked at once: one syscall on 6.5+ while
    // MPTCP runs.
    let asked = given == Given::Stream && host_support().mptcp_full_info;
    if asked {
        match full_info(fd) {
            Err(e) if is_no_such_option(&e) => {}
            r => return r.map_err(name_fd_error),
        }
    }
    // Refused where the host has the option: plain TCP, or fallen back
    // (the other subflow options refuse alike).
    if !connection_created_as_mptcp(fd, given)? || asked {
        return single_flow(fd);
    }
    subflows_from_sockopts(fd)
}

/// [`subflows`], with `detail` read too.
pub(crate) fn subflows_with(fd: BorrowedFd<'_>, detail: SubflowDetail, given: Given) -> io::Result<Vec<SubflowInfo>> {
    let mut flows = subflows(fd, given)?;
    match detail {
        SubflowDetail::Backup => fill_backup(fd, &mut flows)?,
    }
    Ok(flows)
}

/// The socket options do not carry the backup flag; inet_diag does: exact
/// lookups of each subflow, left `None` for a subflow not found.
#[cfg(feature = "netlink")]
fn fill_backup(fd: BorrowedFd<'_>, flows: &mut [SubflowInfo]) -> io::Result<()> {
    let pairs: Vec<_> = flows.iter().filter_map(|f| Some((f.local?, f.remote?))).collect();
    let flags = crate::diag::subflow_backup_exact(fd, &pairs)?;
    let mut flags = pairs.into_iter().zip(flags);
    for f in flows.iter_mut().filter(|f| f.local.is_some() && f.remote.is_some()) {
        f.backup = flags.next().and_then(|(_, b)| b);
    }
    Ok(())
}

#[cfg(not(feature = "netlink"))]
fn fill_backup(_fd: BorrowedFd<'_>, _flows: &mut [SubflowInfo]) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the backup flag of subflows comes from inet_diag: enable the `netlink` feature of the mptcp crate",
    ))
}

fn subflows_from_sockopts(fd: BorrowedFd<'_>) -> io::Result<Vec<SubflowInfo>> {
    let support = host_support();
    let res = if support.mptcp_full_info || !support.mptcp_tcpinfo {
        match full_info(fd) {
            Err(e) if is_no_such_option(&e) && support.mptcp_tcpinfo => tcpinfo_and_addrs(fd),
            r => r,
        }
    } else {
        tcpinfo_and_addrs(fd)
    };
    match res {
        // Fallen back (or a kernel without the options): one TCP flow.
        Err(e) if is_no_such_option(&e) => single_flow(fd),
        r => r,
    }
}

/// `MPTCP_FULL_INFO` (6.5): ids, addresses and `tcp_info` in one call;
/// retried with larger arrays when more subflows exist than fit.
fn full_info(fd: BorrowedFd<'_>) -> io::Result<Vec<SubflowInfo>> {
    thread_local! {
        /// The two arrays, kept between calls: the kernel fills each
        /// element it reports for as many bytes as it says, and only those
        /// are read, so nothing of an earlier call is.
        static ARRAYS: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    }
    ARRAYS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut arrays) => {
            let (sf, tcp) = &mut *arrays;
            full_info_into(fd, sf, tcp)
        }
        Err(_) => full_info_into(fd, &mut Vec::new(), &mut Vec::new()),
    })
}

fn full_info_into(fd: BorrowedFd<'_>, sf: &mut Vec<u8>, tcp: &mut Vec<u8>) -> io::Result<Vec<SubflowInfo>> {
    let mut n = 8usize;
    loop {
        let mut head = [0u8; FULL_INFO_HEADER_SIZE + 256];
        if sf.len() < n * SUBFLOW_INFO_SIZE {
            sf.resize(n * SUBFLOW_INFO_SIZE, 0);
            tcp.resize(n * TCP_INFO_ASK, 0);
        }
        let (sf, tcp) = (&mut sf[..n * SUBFLOW_INFO_SIZE], &mut tcp[..n * TCP_INFO_ASK]);
        sys::getsockopt_full_info(fd, &mut head, sf, SUBFLOW_INFO_SIZE as u32, tcp, TCP_INFO_ASK as u32, n as u32)?;
        let h = sockopt::parse_full_info_header(&head)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short MPTCP_FULL_INFO header"))?;
        let total = h.num_subflows as usize;
        if total > n && n < MAX_SUBFLOWS {
            n = total.min(MAX_SUBFLOWS);
            continue;
        }
        let count = total.min(n);
        let sf_size = (h.size_sfinfo_user as usize).min(SUBFLOW_INFO_SIZE);
        let tcp_size = (h.size_tcpinfo_user as usize).min(TCP_INFO_ASK);
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let s = &sf[i * SUBFLOW_INFO_SIZE..i * SUBFLOW_INFO_SIZE + sf_size];
            let t = &tcp[i * TCP_INFO_ASK..i * TCP_INFO_ASK + tcp_size];
            let (id, local, remote) = sockopt::parse_subflow_info(s);
            out.push(SubflowInfo { id, local, remote, backup: None, tcp: TcpInfo::parse(t) });
        }
        return Ok(out);
    }
}

/// One `MPTCP_TCPINFO` or `MPTCP_SUBFLOW_ADDRS` call, grown until every
/// subflow fits; returns the owned elements.
fn subflow_data(fd: BorrowedFd<'_>, opt: i32, elem: usize) -> io::Result<Vec<Vec<u8>>> {
    let mut n = 8usize;
    loop {
        let mut buf = vec![0u8; SUBFLOW_DATA_SIZE + n * elem];
        sockopt::subflow_data_request(&mut buf, elem as u32);
        let len = sys::getsockopt_buf(fd, sys::SOL_MPTCP, opt, &mut buf)?;
        let d = sockopt::parse_subflow_data(&buf, len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed mptcp_subflow_data"))?;
        if d.truncated() && n < MAX_SUBFLOWS {
            n = (d.num_subflows as usize).min(MAX_SUBFLOWS);
            continue;
        }
        return Ok(d.elements.into_iter().map(<[u8]>::to_vec).collect());
    }
}

/// `MPTCP_TCPINFO` + `MPTCP_SUBFLOW_ADDRS` (5.16): two calls joined by
/// position; ids are not available this way.
fn tcpinfo_and_addrs(fd: BorrowedFd<'_>) -> io::Result<Vec<SubflowInfo>> {
    let tcp = subflow_data(fd, sys::MPTCP_TCPINFO, TCP_INFO_ASK)?;
    let addrs = subflow_data(fd, sys::MPTCP_SUBFLOW_ADDRS, SUBFLOW_ADDRS_SIZE)?;
    Ok(tcp
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (local, remote) = addrs.get(i).map(|a| sockopt::parse_subflow_addrs(a)).unwrap_or((None, None));
            SubflowInfo { id: None, local, remote, backup: None, tcp: TcpInfo::parse(t) }
        })
        .collect())
}

/// Forces the `MPTCP_TCPINFO` + `MPTCP_SUBFLOW_ADDRS` path (for tests and
/// for comparing with `MPTCP_FULL_INFO`). For a connection not using
/// MPTCP, its one TCP flow.
pub(crate) fn subflows_legacy(fd: BorrowedFd<'_>, given: Given) -> io::Result<Vec<SubflowInfo>> {
    // A stream by its type is asked at once, as in `subflows`.
    if given != Given::Stream && !connection_created_as_mptcp(fd, given)? {
        return single_flow(fd);
    }
    match tcpinfo_and_addrs(fd) {
        Err(e) if is_no_such_option(&e) => {
            connection_created_as_mptcp(fd, given)?;
            single_flow(fd)
        }
        r => r.map_err(name_fd_error),
    }
}
