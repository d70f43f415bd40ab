//! MPTCP connections seen through inet_diag (`NETLINK_SOCK_DIAG`), as `ss -M`
//! shows them.
//!
//! Requests ask for protocol `IPPROTO_MPTCP` with the
//! `INET_DIAG_REQ_PROTOCOL` attribute (the one-byte protocol field cannot
//! hold 262); `INET_DIAG_INFO` carries `struct mptcp_info`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};

use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr as NlAddr};

use crate::info::MptcpInfo;
use crate::sys;

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const INET_DIAG_INFO: u16 = 2;
const INET_DIAG_REQ_PROTOCOL: u16 = 3;
const INET_DIAG_MSG_LEN: usize = 72;

/// One MPTCP socket as inet_diag reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DiagSocket {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// TCP-style state number (1 = established, 10 = listen, ...).
    pub state: u8,
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
    /// Interface index the socket is bound to (0 = none).
    pub ifindex: u32,
    /// Socket cookie (as `SO_COOKIE` returns it).
    pub cookie: u64,
    /// Socket inode.
    pub inode: u32,
    /// `struct mptcp_info` of the connection, when reported.
    pub info: Option<MptcpInfo>,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Builds a `SOCK_DIAG_BY_FAMILY` dump request for MPTCP sockets of `family`.
pub(crate) fn mptcp_dump_request(family: u8, seq: u32) -> Vec<u8> {
    let mut req = Vec::with_capacity(16 + 56 + 8);
    let total = 16 + 56 + 8;
    req.extend_from_slice(&(total as u32).to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    // struct inet_diag_req_v2
    req.push(family);
    req.push((sys::IPPROTO_MPTCP & 0xff) as u8);
    req.push(1 << (INET_DIAG_INFO - 1)); // idiag_ext: ask for INET_DIAG_INFO
    req.push(0);
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // all states
    req.extend_from_slice(&[0u8; 48]); // inet_diag_sockid: any
    // INET_DIAG_REQ_PROTOCOL attribute, u32 262
    req.extend_from_slice(&8u16.to_ne_bytes());
    req.extend_from_slice(&INET_DIAG_REQ_PROTOCOL.to_ne_bytes());
    req.extend_from_slice(&(sys::IPPROTO_MPTCP as u32).to_ne_bytes());
    req
}

/// Parses one `struct inet_diag_msg` and its attributes.
pub(crate) fn parse_diag_msg(payload: &[u8]) -> Option<DiagSocket> {
    if payload.len() < INET_DIAG_MSG_LEN {
        return None;
    }
    let family = payload[0];
    let state = payload[1];
    let id = &payload[4..52];
    let sport = u16::from_be_bytes([id[0], id[1]]);
    let dport = u16::from_be_bytes([id[2], id[3]]);
    let ip = |b: &[u8]| -> IpAddr {
        if i32::from(family) == libc::AF_INET {
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        } else {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[..16]);
            IpAddr::V6(Ipv6Addr::from(a))
        }
    };
    let local = SocketAddr::new(ip(&id[4..20]), sport);
    let remote = SocketAddr::new(ip(&id[20..36]), dport);
    let ifindex = u32::from_ne_bytes(id[36..40].try_into().ok()?);
    let c0 = u32::from_ne_bytes(id[40..44].try_into().ok()?);
    let c1 = u32::from_ne_bytes(id[44..48].try_into().ok()?);
    let inode = u32::from_ne_bytes(payload[68..72].try_into().ok()?);
    let mut info = None;
    let mut off = INET_DIAG_MSG_LEN;
    while off + 4 <= payload.len() {
        let len = u16::from_ne_bytes([payload[off], payload[off + 1]]) as usize;
        let ty = u16::from_ne_bytes([payload[off + 2], payload[off + 3]]);
        if len < 4 || off + len > payload.len() {
            break;
        }
        if ty & 0x3fff == INET_DIAG_INFO {
            info = Some(MptcpInfo::parse(&payload[off + 4..off + len]));
        }
        off += align4(len);
    }
    Some(DiagSocket {
        family,
        state,
        local,
        remote,
        ifindex,
        cookie: u64::from(c0) | (u64::from(c1) << 32),
        inode,
        info,
    })
}

/// Sends a dump request and collects every reply payload until `NLMSG_DONE`.
pub(crate) fn dump(sock: &Socket, request: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    sock.send(request, 0)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = sock.recv(&mut &mut buf[..], 0)?;
        let mut off = 0;
        while off + 16 <= n {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().expect("4 bytes")) as usize;
            let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            if len < 16 || off + len > n {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "malformed netlink message"));
            }
            match ty {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let code = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().expect("4 bytes"));
                    if code == 0 {
                        return Ok(out);
                    }
                    return Err(io::Error::from_raw_os_error(-code));
                }
                _ => out.push(buf[off + 16..off + len].to_vec()),
            }
            off += align4(len);
        }
    }
}

fn open() -> io::Result<Socket> {
    let mut s = Socket::new(NETLINK_SOCK_DIAG)?;
    s.bind(&NlAddr::new(0, 0))?;
    Ok(s)
}

/// Opens a sock_diag socket in the network namespace of `fd` (which may
/// differ from the calling thread's): a short-lived thread enters it.
fn open_in_netns_of(fd: BorrowedFd<'_>) -> io::Result<Socket> {
    let ns = match sys::socket_netns(fd) {
        Ok(ns) => ns,
        Err(_) => return open(),
    };
    let same = {
        use std::os::unix::fs::MetadataExt;
        let theirs = std::fs::File::from(ns.try_clone()?).metadata()?;
        let ours = std::fs::metadata("/proc/thread-self/ns/net")?;
        theirs.ino() == ours.ino() && theirs.dev() == ours.dev()
    };
    if same {
        return open();
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            sys::setns_net(ns.as_fd())?;
            open()
        })
        .join()
        .map_err(|_| io::Error::other("netns helper thread panicked"))?
    })
}

/// Lists MPTCP sockets of `family` (`libc::AF_INET` or `libc::AF_INET6`) in
/// the calling thread's network namespace.
///
/// # Examples
///
/// ```no_run
/// for s in mptcp::diag::mptcp_sockets(libc::AF_INET as u8)? {
///     println!("{} -> {} token {:?}", s.local, s.remote, s.info.and_then(|i| i.token));
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn mptcp_sockets(family: u8) -> io::Result<Vec<DiagSocket>> {
    let sock = open()?;
    list_on(&sock, family)
}

fn list_on(sock: &Socket, family: u8) -> io::Result<Vec<DiagSocket>> {
    Ok(dump(sock, &mptcp_dump_request(family, 1))?.iter().filter_map(|p| parse_diag_msg(p)).collect())
}

/// Whether inet_diag can list MPTCP sockets here (`mptcp_diag` present).
pub(crate) fn probe() -> io::Result<bool> {
    let sock = open()?;
    match dump(&sock, &mptcp_dump_request(libc::AF_INET as u8, 1)) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Finds the MPTCP socket `fd` in inet_diag (by `SO_COOKIE`, in the socket's
/// own network namespace) and returns its `mptcp_info`.
pub(crate) fn lookup_socket(fd: BorrowedFd<'_>) -> io::Result<Option<MptcpInfo>> {
    let mut c = [0u8; 8];
    sys::getsockopt_buf(fd, libc::SOL_SOCKET, libc::SO_COOKIE, &mut c)?;
    let cookie = u64::from_ne_bytes(c);
    let family = socket2::SockRef::from(&fd).local_addr()?.family() as u8;
    let sock = open_in_netns_of(fd)?;
    Ok(list_on(&sock, family)?.into_iter().find(|s| s.cookie == cookie).and_then(|s| s.info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let r = mptcp_dump_request(2, 7);
        assert_eq!(r.len(), 80);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 80);
        assert_eq!(r[16], 2);
        assert_eq!(r[17], 6); // 262 & 0xff
        assert_eq!(r[18], 2); // INET_DIAG_INFO bit
        assert_eq!(&r[72..74], &8u16.to_ne_bytes());
        assert_eq!(u32::from_ne_bytes(r[76..80].try_into().unwrap()), 262);
    }

    #[test]
    fn parse_v4_with_info() {
        let mut p = vec![0u8; 72];
        p[0] = libc::AF_INET as u8;
        p[1] = 1;
        p[4..6].copy_from_slice(&1234u16.to_be_bytes());
        p[6..8].copy_from_slice(&80u16.to_be_bytes());
        p[8..12].copy_from_slice(&[10, 0, 0, 1]);
        p[24..28].copy_from_slice(&[10, 0, 0, 2]);
        p[44..48].copy_from_slice(&5u32.to_ne_bytes());
        p[48..52].copy_from_slice(&1u32.to_ne_bytes());
        let mut info = vec![0u8; 48];
        info[8..12].copy_from_slice(&1u32.to_ne_bytes()); // FALLBACK
        p.extend_from_slice(&((4 + info.len()) as u16).to_ne_bytes());
        p.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
        p.extend_from_slice(&info);
        let s = parse_diag_msg(&p).unwrap();
        assert_eq!(s.local, "10.0.0.1:1234".parse().unwrap());
        assert_eq!(s.remote, "10.0.0.2:80".parse().unwrap());
        assert_eq!(s.cookie, 5 | (1 << 32));
        assert_eq!(s.info.unwrap().is_fallback(), Some(true));
        assert!(parse_diag_msg(&p[..40]).is_none());
        // A truncated attribute is ignored, not read past the end.
        let cut = &p[..80];
        assert_eq!(parse_diag_msg(cut).unwrap().info, None);
    }
}
