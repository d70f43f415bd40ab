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

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};

use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr as NlAddr};

use crate::info::{MptcpInfo, TcpInfo};
use crate::sys;

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const INET_DIAG_INFO: u16 = 2;
const INET_DIAG_REQ_PROTOCOL: u16 = 3;
const INET_DIAG_MSG_LEN: usize = 72;
const INET_DIAG_ULP_INFO: u16 = 19;
const INET_ULP_INFO_NAME: u16 = 1;
const INET_ULP_INFO_MPTCP: u16 = 3;
const SUBFLOW_ATTR_TOKEN_REM: u16 = 1;
const SUBFLOW_ATTR_TOKEN_LOC: u16 = 2;
const SUBFLOW_ATTR_FLAGS: u16 = 8;
const SUBFLOW_ATTR_ID_REM: u16 = 9;
const SUBFLOW_ATTR_ID_LOC: u16 = 10;
const IPPROTO_TCP: u8 = 6;
const TCP_LISTEN: u8 = 10;

/// `MPTCP_SUBFLOW_FLAG_MCAP_REM`: the peer sent MP_CAPABLE.
pub const SUBFLOW_FLAG_MCAP_REM: u32 = 1 << 0;
/// `MPTCP_SUBFLOW_FLAG_MCAP_LOC`: we sent MP_CAPABLE.
pub const SUBFLOW_FLAG_MCAP_LOC: u32 = 1 << 1;
/// `MPTCP_SUBFLOW_FLAG_JOIN_REM`: the peer sent MP_JOIN.
pub const SUBFLOW_FLAG_JOIN_REM: u32 = 1 << 2;
/// `MPTCP_SUBFLOW_FLAG_JOIN_LOC`: we sent MP_JOIN.
pub const SUBFLOW_FLAG_JOIN_LOC: u32 = 1 << 3;
/// `MPTCP_SUBFLOW_FLAG_BKUP_REM`: the peer marked this subflow backup.
pub const SUBFLOW_FLAG_BKUP_REM: u32 = 1 << 4;
/// `MPTCP_SUBFLOW_FLAG_BKUP_LOC`: we asked for this subflow to be backup.
pub const SUBFLOW_FLAG_BKUP_LOC: u32 = 1 << 5;
/// `MPTCP_SUBFLOW_FLAG_FULLY_ESTABLISHED`.
pub const SUBFLOW_FLAG_FULLY_ESTABLISHED: u32 = 1 << 6;
/// `MPTCP_SUBFLOW_FLAG_CONNECTED`.
pub const SUBFLOW_FLAG_CONNECTED: u32 = 1 << 7;
/// `MPTCP_SUBFLOW_FLAG_MAPVALID`.
pub const SUBFLOW_FLAG_MAPVALID: u32 = 1 << 8;

/// One MPTCP socket as inet_diag reports it.
///
/// # Examples
///
/// ```no_run
/// for s in mptcp::diag::mptcp_sockets(libc::AF_INET as u8)? {
///     let fallback = s.info.as_ref().and_then(|i| i.is_fallback());
///     println!("{} -> {} state {} cookie {:#x} fallback {fallback:?}", s.local, s.remote, s.state, s.cookie);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
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
    dump_request(family, (sys::IPPROTO_MPTCP & 0xff) as u8, Some(sys::IPPROTO_MPTCP as u32), seq)
}

/// Builds a `SOCK_DIAG_BY_FAMILY` dump request asking for `INET_DIAG_INFO`
/// (and with it the ULP info of TCP sockets).
fn dump_request(family: u8, protocol: u8, req_protocol: Option<u32>, seq: u32) -> Vec<u8> {
    let total = 16 + 56 + if req_protocol.is_some() { 8 } else { 0 };
    let mut req = Vec::with_capacity(total);
    req.extend_from_slice(&(total as u32).to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    // struct inet_diag_req_v2
    req.push(family);
    req.push(protocol);
    req.push(1 << (INET_DIAG_INFO - 1)); // idiag_ext: ask for INET_DIAG_INFO
    req.push(0);
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // all states
    req.extend_from_slice(&[0u8; 48]); // inet_diag_sockid: any
    if let Some(p) = req_protocol {
        // INET_DIAG_REQ_PROTOCOL attribute (u32)
        req.extend_from_slice(&8u16.to_ne_bytes());
        req.extend_from_slice(&INET_DIAG_REQ_PROTOCOL.to_ne_bytes());
        req.extend_from_slice(&p.to_ne_bytes());
    }
    req
}

/// Iterates over the attributes after `struct inet_diag_msg` (or inside a
/// nested attribute): `(type without flag bits, value)`. Stops at the
/// first malformed one.
fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut off = 0usize;
    std::iter::from_fn(move || {
        let hdr = buf.get(off..off.checked_add(4)?)?;
        let len = u16::from_ne_bytes([hdr[0], hdr[1]]) as usize;
        let ty = u16::from_ne_bytes([hdr[2], hdr[3]]) & 0x3fff;
        if len < 4 {
            return None;
        }
        let value = buf.get(off + 4..off + len)?;
        off += align4(len);
        Some((ty, value))
    })
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
    let info =
        attrs(&payload[INET_DIAG_MSG_LEN..]).find(|(t, _)| *t == INET_DIAG_INFO).map(|(_, v)| MptcpInfo::parse(v));
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

/// Opens a sock_diag socket in the network namespace `ns`, which may differ
/// from the calling thread's: a short-lived thread enters it.
fn open_in(ns: &std::os::fd::OwnedFd, same_as_ours: bool) -> io::Result<Socket> {
    if same_as_ours {
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

thread_local! {
    /// This thread's sock_diag socket and the namespace (dev, inode) it
    /// lives in, kept between calls (opening one costs far more than a
    /// request). Only a socket in the thread's own namespace is kept, so a
    /// cached socket never keeps a deleted namespace alive.
    static CACHED: std::cell::RefCell<Option<((u64, u64), Socket)>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with a sock_diag socket in the network namespace of `fd`.
/// Reused by later calls from this thread when that is the thread's own
/// namespace; dropped after any error (it may hold unread replies).
fn with_socket_for<R>(fd: BorrowedFd<'_>, f: impl FnOnce(&Socket) -> io::Result<R>) -> io::Result<R> {
    use std::os::unix::fs::MetadataExt;
    let Ok(ns) = sys::socket_netns(fd) else {
        // No SIOCGSKNS: the calling thread's namespace, uncached.
        return f(&open()?);
    };
    let meta = std::fs::File::from(ns.try_clone()?).metadata()?;
    let key = (meta.dev(), meta.ino());
    CACHED.with(|cell| {
        let mut slot = cell.borrow_mut();
        if let Some((k, sock)) = slot.take() {
            if k == key {
                let res = f(&sock);
                if res.is_ok() {
                    *slot = Some((k, sock));
                }
                return res;
            }
        }
        let ours = std::fs::metadata("/proc/thread-self/ns/net")?;
        if (ours.dev(), ours.ino()) != key {
            return f(&open_in(&ns, false)?);
        }
        let sock = open()?;
        let res = f(&sock);
        if res.is_ok() {
            *slot = Some((key, sock));
        }
        res
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
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)) => {
            Ok(false)
        }
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
    let all = with_socket_for(fd, |sock| list_on(sock, family))?;
    Ok(all.into_iter().find(|s| s.cookie == cookie).and_then(|s| s.info))
}

/// One MPTCP subflow: a TCP socket whose ULP is `mptcp`, as inet_diag
/// reports it (`ss -tni` shows the same as `tcp-ulp-mptcp`).
///
/// # Examples
///
/// ```no_run
/// for sf in mptcp::diag::subflows()? {
///     let rtt = sf.tcp.as_ref().and_then(|t| t.rtt_us);
///     println!("{} -> {} ids {:?}/{:?} rtt {rtt:?}us", sf.local, sf.remote, sf.id_local, sf.id_remote);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Subflow {
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
    /// TCP state number (1 = established).
    pub state: u8,
    /// Interface the socket is bound to (0 = none).
    pub ifindex: u32,
    /// Local token: the token of the connection this subflow belongs to.
    pub token_local: Option<u32>,
    /// The peer's token.
    pub token_remote: Option<u32>,
    /// Local address id.
    pub id_local: Option<u8>,
    /// Remote address id.
    pub id_remote: Option<u8>,
    /// `MPTCP_SUBFLOW_FLAG_*` bits ([`SUBFLOW_FLAG_BKUP_LOC`], ...).
    pub flags: Option<u32>,
    /// The subflow's `tcp_info`, when reported.
    pub tcp: Option<TcpInfo>,
}

impl Subflow {
    /// Whether this subflow is a backup path (asked by either side).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let backups = mptcp::diag::subflows()?.into_iter().filter(|sf| sf.is_backup()).count();
    /// println!("{backups} backup subflows");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_backup(&self) -> bool {
        self.flags.is_some_and(|f| f & (SUBFLOW_FLAG_BKUP_LOC | SUBFLOW_FLAG_BKUP_REM) != 0)
    }

    /// Whether this subflow was added with MP_JOIN (not the initial one).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// for sf in mptcp::diag::subflows()?.iter().filter(|sf| sf.is_join()) {
    ///     println!("joined subflow {} -> {} of token {:?}", sf.local, sf.remote, sf.token_local);
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_join(&self) -> bool {
        self.flags.is_some_and(|f| f & (SUBFLOW_FLAG_JOIN_LOC | SUBFLOW_FLAG_JOIN_REM) != 0)
    }
}

/// Parses one TCP `inet_diag_msg`; `None` unless its ULP is `mptcp`.
pub(crate) fn parse_subflow_msg(payload: &[u8]) -> Option<Subflow> {
    let head = parse_diag_msg(payload.get(..INET_DIAG_MSG_LEN)?)?;
    let mut sf = Subflow {
        local: head.local,
        remote: head.remote,
        state: head.state,
        ifindex: head.ifindex,
        token_local: None,
        token_remote: None,
        id_local: None,
        id_remote: None,
        flags: None,
        tcp: None,
    };
    let mut is_mptcp = false;
    for (ty, v) in attrs(&payload[INET_DIAG_MSG_LEN..]) {
        match ty {
            INET_DIAG_INFO => sf.tcp = Some(TcpInfo::parse(v)),
            INET_DIAG_ULP_INFO => {
                for (uty, uv) in attrs(v) {
                    match uty {
                        INET_ULP_INFO_NAME => is_mptcp = uv.split(|&b| b == 0).next() == Some(b"mptcp"),
                        INET_ULP_INFO_MPTCP => {
                            for (aty, av) in attrs(uv) {
                                let u32v = || av.try_into().ok().map(u32::from_ne_bytes);
                                let u8v = || if av.len() == 1 { Some(av[0]) } else { None };
                                match aty {
                                    SUBFLOW_ATTR_TOKEN_REM => sf.token_remote = u32v(),
                                    SUBFLOW_ATTR_TOKEN_LOC => sf.token_local = u32v(),
                                    SUBFLOW_ATTR_FLAGS => sf.flags = u32v(),
                                    SUBFLOW_ATTR_ID_REM => sf.id_remote = u8v(),
                                    SUBFLOW_ATTR_ID_LOC => sf.id_local = u8v(),
                                    _ => {}
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    is_mptcp.then_some(sf)
}

/// An MPTCP connection with its subflows.
///
/// # Examples
///
/// ```no_run
/// use mptcp::diag::{connections, Filter};
///
/// for c in connections(&Filter::default())? {
///     let initial = c.subflows.first().map(|sf| sf.local);
///     println!("token {:?} fallback {:?}: {} subflows, initial {initial:?}", c.token, c.fallback, c.subflows.len());
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Connection {
    /// The MPTCP socket (addresses of the initial subflow, state, `mptcp_info`).
    pub socket: DiagSocket,
    /// Connection token (`mptcp_info.token`).
    pub token: Option<u32>,
    /// Whether the connection fell back to TCP (`mptcp_info.flags`).
    pub fallback: Option<bool>,
    /// Its subflows (TCP sockets with the same local token), initial first.
    pub subflows: Vec<Subflow>,
}

/// Which connections [`connections`] returns.
///
/// # Examples
///
/// ```
/// let f = mptcp::diag::Filter::default().port(8080);
/// assert_eq!(f.port, Some(8080));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Filter {
    /// Only connections with this local or remote port.
    pub port: Option<u16>,
    /// Only connections with this local or remote address (on any subflow).
    pub addr: Option<IpAddr>,
    /// Include listening sockets.
    pub listening: bool,
}

impl Filter {
    /// Keeps connections with `port` as a local or remote port of any of
    /// their subflows.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::diag::Filter;
    ///
    /// let f = Filter::default().port(443);
    /// assert_eq!(f.port, Some(443));
    /// assert_eq!(f.addr, None);
    /// ```
    pub fn port(mut self, port: u16) -> Filter {
        self.port = Some(port);
        self
    }
    /// Keeps connections with `addr` on either side of any subflow.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::IpAddr;
    /// use mptcp::diag::Filter;
    ///
    /// let peer: IpAddr = "10.0.1.2".parse().unwrap();
    /// assert_eq!(Filter::default().addr(peer).addr, Some(peer));
    /// ```
    pub fn addr(mut self, addr: IpAddr) -> Filter {
        self.addr = Some(addr);
        self
    }
    /// Includes listeners.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::diag::Filter;
    ///
    /// assert!(!Filter::default().listening); // listeners are left out by default
    /// assert!(Filter::default().listening(true).listening);
    /// ```
    pub fn listening(mut self, on: bool) -> Filter {
        self.listening = on;
        self
    }

    fn matches(&self, c: &Connection) -> bool {
        if !self.listening && c.socket.state == TCP_LISTEN {
            return false;
        }
        let pairs =
            std::iter::once((c.socket.local, c.socket.remote)).chain(c.subflows.iter().map(|s| (s.local, s.remote)));
        let pairs: Vec<_> = pairs.collect();
        if let Some(p) = self.port {
            if !pairs.iter().any(|(l, r)| l.port() == p || r.port() == p) {
                return false;
            }
        }
        if let Some(a) = self.addr {
            let same = |x: IpAddr| x == a || canonical(x) == canonical(a);
            if !pairs.iter().any(|(l, r)| same(l.ip()) || same(r.ip())) {
                return false;
            }
        }
        true
    }
}

fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    }
}

fn dump_all<T>(
    sock: &Socket,
    protocol: u8,
    req_protocol: Option<u32>,
    parse: fn(&[u8]) -> Option<T>,
) -> io::Result<Vec<T>> {
    let mut out = Vec::new();
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        let replies = dump(sock, &dump_request(family, protocol, req_protocol, 1))?;
        out.extend(replies.iter().filter_map(|p| parse(p)));
    }
    Ok(out)
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
    let sock = open()?;
    dump_all(&sock, IPPROTO_TCP, None, parse_subflow_msg)
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
    let sock = open()?;
    let msks = dump_all(&sock, (sys::IPPROTO_MPTCP & 0xff) as u8, Some(sys::IPPROTO_MPTCP as u32), parse_diag_msg)?;
    let sfs = dump_all(&sock, IPPROTO_TCP, None, parse_subflow_msg)?;
    Ok(group(msks, sfs).into_iter().filter(|c| filter.matches(c)).collect())
}

/// Groups subflows under their connection by local token.
pub(crate) fn group(msks: Vec<DiagSocket>, mut sfs: Vec<Subflow>) -> Vec<Connection> {
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

/// Builds an exact (non-dump) `SOCK_DIAG_BY_FAMILY` request for the TCP
/// socket with this 4-tuple, asking for `INET_DIAG_INFO` (and with it the
/// ULP info that carries the MPTCP subflow flags).
pub(crate) fn exact_tcp_request(local: SocketAddr, remote: SocketAddr, seq: u32) -> Vec<u8> {
    let mut req =
        dump_request(if local.is_ipv4() { libc::AF_INET as u8 } else { libc::AF_INET6 as u8 }, IPPROTO_TCP, None, seq);
    req[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    let id = &mut req[24..72];
    id[0..2].copy_from_slice(&local.port().to_be_bytes());
    id[2..4].copy_from_slice(&remote.port().to_be_bytes());
    let put = |dst: &mut [u8], ip: IpAddr| match ip {
        IpAddr::V4(a) => dst[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => dst[..16].copy_from_slice(&a.octets()),
    };
    put(&mut id[4..20], local.ip());
    put(&mut id[20..36], remote.ip());
    // INET_DIAG_NOCOOKIE: match on the tuple only.
    id[40..48].copy_from_slice(&[0xff; 8]);
    req
}

/// Sends one exact request and returns the single reply, or `None` when the
/// kernel has no such socket (`ENOENT`).
fn get_one(sock: &Socket, request: &[u8]) -> io::Result<Option<Vec<u8>>> {
    sock.send(request, 0)?;
    let mut buf = vec![0u8; 16 * 1024];
    let n = sock.recv(&mut &mut buf[..], 0)?;
    let len = buf.get(0..4).map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")) as usize).unwrap_or(0);
    if n < 16 || len < 16 || len > n {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "malformed netlink reply"));
    }
    match u16::from_ne_bytes([buf[4], buf[5]]) {
        NLMSG_ERROR => {
            let code = buf.get(16..20).map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes"))).unwrap_or(0);
            if code == -libc::ENOENT || code == 0 {
                Ok(None)
            } else {
                Err(io::Error::from_raw_os_error(-code))
            }
        }
        _ => Ok(Some(buf[16..len].to_vec())),
    }
}

/// Backup flags of the given subflows of the MPTCP socket `fd`, looked up
/// one by one (an exact inet_diag get per subflow, in the socket's own
/// network namespace). `None` where the kernel did not report flags.
pub(crate) fn subflow_backup_exact(
    fd: BorrowedFd<'_>,
    pairs: &[(SocketAddr, SocketAddr)],
) -> io::Result<Vec<Option<bool>>> {
    with_socket_for(fd, |sock| backup_flags_on(sock, pairs))
}

fn backup_flags_on(sock: &Socket, pairs: &[(SocketAddr, SocketAddr)]) -> io::Result<Vec<Option<bool>>> {
    let mut out = Vec::with_capacity(pairs.len());
    for (i, (l, r)) in pairs.iter().enumerate() {
        let reply = get_one(sock, &exact_tcp_request(*l, *r, i as u32 + 1))?;
        out.push(reply.as_deref().and_then(parse_subflow_msg).and_then(|s| s.flags.map(|_| s.is_backup())));
    }
    // An exact lookup misses subflows bound to a device (the kernel matches
    // the interface too, and the socket options do not tell it): one dump
    // of the TCP sockets finds those.
    if out.iter().any(Option::is_none) {
        let all = dump_all(sock, IPPROTO_TCP, None, parse_subflow_msg)?;
        for (o, (l, r)) in out.iter_mut().zip(pairs) {
            if o.is_none() {
                *o = all.iter().find(|s| s.local == *l && s.remote == *r).and_then(|s| s.flags.map(|_| s.is_backup()));
            }
        }
    }
    Ok(out)
}

/// For the core's `SubflowInfo.backup`: the subflows of the connection with
/// local token `token`, as `(local, remote, backup)`.
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
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let r = exact_tcp_request("10.0.0.1:1000".parse().unwrap(), "10.0.0.2:80".parse().unwrap(), 3);
        assert_eq!(u16::from_ne_bytes([r[6], r[7]]), NLM_F_REQUEST);
        assert_eq!(r[16], libc::AF_INET as u8);
        assert_eq!(r[17], IPPROTO_TCP);
        assert_eq!(&r[24..26], &1000u16.to_be_bytes());
        assert_eq!(&r[26..28], &80u16.to_be_bytes());
        assert_eq!(&r[28..32], &[10, 0, 0, 1]);
        assert_eq!(&r[44..48], &[10, 0, 0, 2]);
        assert_eq!(&r[64..72], &[0xff; 8]);
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

    /// A TCP subflow as inet_diag reports it with ULP info.
    fn subflow_bytes(token: u32, flags: u32) -> Vec<u8> {
        let mut p = vec![0u8; 72];
        p[0] = libc::AF_INET as u8;
        p[1] = 1;
        p[4..6].copy_from_slice(&40000u16.to_be_bytes());
        p[6..8].copy_from_slice(&5000u16.to_be_bytes());
        p[8..12].copy_from_slice(&[10, 66, 2, 1]);
        p[24..28].copy_from_slice(&[10, 66, 2, 2]);
        let nla = |ty: u16, v: &[u8]| {
            let mut b = Vec::new();
            b.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            b.extend_from_slice(&ty.to_ne_bytes());
            b.extend_from_slice(v);
            b.resize(align4(b.len()), 0);
            b
        };
        let mut mp = Vec::new();
        mp.extend(nla(SUBFLOW_ATTR_TOKEN_REM, &7u32.to_ne_bytes()));
        mp.extend(nla(SUBFLOW_ATTR_TOKEN_LOC, &token.to_ne_bytes()));
        mp.extend(nla(SUBFLOW_ATTR_FLAGS, &flags.to_ne_bytes()));
        mp.extend(nla(SUBFLOW_ATTR_ID_REM, &[0]));
        mp.extend(nla(SUBFLOW_ATTR_ID_LOC, &[2]));
        let mut ulp = nla(INET_ULP_INFO_NAME, b"mptcp\0");
        ulp.extend(nla(INET_ULP_INFO_MPTCP | 0x8000, &mp));
        p.extend(nla(INET_DIAG_INFO, &[1u8; 8]));
        p.extend(nla(INET_DIAG_ULP_INFO | 0x8000, &ulp));
        p
    }

    #[test]
    fn parse_subflow_with_ulp_info() {
        let p = subflow_bytes(0xabcd, SUBFLOW_FLAG_JOIN_LOC | SUBFLOW_FLAG_BKUP_LOC);
        let sf = parse_subflow_msg(&p).unwrap();
        assert_eq!(sf.local, "10.66.2.1:40000".parse().unwrap());
        assert_eq!(sf.token_local, Some(0xabcd));
        assert_eq!(sf.token_remote, Some(7));
        assert_eq!(sf.id_local, Some(2));
        assert!(sf.is_backup() && sf.is_join());
        assert_eq!(sf.tcp.as_ref().unwrap().state, Some(1));
        // Every truncation parses or is rejected, never panics; a plain TCP
        // socket (no ULP) is not a subflow.
        for cut in 0..p.len() {
            let _ = parse_subflow_msg(&p[..cut]);
        }
        assert!(parse_subflow_msg(&p[..80]).is_none());
        assert_eq!(parse_subflow_msg(&p[..72]), None);
    }

    #[test]
    fn grouping_by_token() {
        let mut msk = parse_diag_msg(&subflow_bytes(1, 0)[..72]).unwrap();
        let mut info = vec![0u8; 48];
        info[12..16].copy_from_slice(&0xabcdu32.to_ne_bytes());
        msk.info = Some(MptcpInfo::parse(&info));
        let a = parse_subflow_msg(&subflow_bytes(0xabcd, SUBFLOW_FLAG_JOIN_LOC)).unwrap();
        let b = parse_subflow_msg(&subflow_bytes(0xabcd, SUBFLOW_FLAG_MCAP_LOC)).unwrap();
        let other = parse_subflow_msg(&subflow_bytes(0x1111, 0)).unwrap();
        let conns = group(vec![msk], vec![a, other, b]);
        assert_eq!(conns.len(), 1);
        assert_eq!(conns[0].token, Some(0xabcd));
        assert_eq!(conns[0].subflows.len(), 2);
        assert!(!conns[0].subflows[0].is_join());
        assert!(Filter::default().port(5000).matches(&conns[0]));
        assert!(!Filter::default().port(5001).matches(&conns[0]));
        assert!(Filter::default().addr("10.66.2.2".parse().unwrap()).matches(&conns[0]));
        assert!(Filter::default().addr("::ffff:10.66.2.2".parse().unwrap()).matches(&conns[0]));
    }
}
