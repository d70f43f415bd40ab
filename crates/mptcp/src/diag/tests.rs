//! inet_diag requests and replies on fixed bytes, as the kernel lays them
//! out. Then property tests: any reply parses without a panic; the kernel's
//! layout of MPTCP sockets and of TCP subflows with their ULP info parses to
//! what was laid out; a cut reply keeps a prefix of its attributes; the
//! requests the crate emits say what was asked.

use std::net::{IpAddr, SocketAddr};

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST};
use proptest::prelude::*;

use super::wire::*;
use super::*;
use crate::info::tests::config;
use crate::info::{MptcpInfo, TcpInfo};
use crate::netlink;

fn parse_diag_msg(payload: &[u8]) -> Option<DiagSocket> {
    Response::parse(payload).ok().map(|r| DiagSocket::from_response(&r))
}

fn parse_subflow_msg(payload: &[u8]) -> Option<Subflow> {
    Response::parse(payload).ok().and_then(|r| Subflow::from_response(&r))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn nla(ty: u16, v: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(v);
    b.resize(align4(b.len()), 0);
    b
}

#[test]
fn request_layout() {
    let local = "10.0.0.1:1000".parse().unwrap();
    let r = netlink::encode(Request::tcp(local, "10.0.0.2:80".parse().unwrap(), 0), Expect::One.flags(), 3);
    assert_eq!(r.len(), 72);
    assert_eq!(u16::from_ne_bytes([r[4], r[5]]), 20); // SOCK_DIAG_BY_FAMILY
    assert_eq!(u16::from_ne_bytes([r[6], r[7]]), NLM_F_REQUEST);
    assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 3);
    assert_eq!(r[16], libc::AF_INET as u8);
    assert_eq!(r[17], libc::IPPROTO_TCP as u8);
    assert_eq!(r[18], 2); // INET_DIAG_INFO bit
    assert_eq!(&r[20..24], &u32::MAX.to_ne_bytes()); // all states
    assert_eq!(&r[24..26], &1000u16.to_be_bytes());
    assert_eq!(&r[26..28], &80u16.to_be_bytes());
    assert_eq!(&r[28..32], &[10, 0, 0, 1]);
    assert_eq!(&r[44..48], &[10, 0, 0, 2]);
    assert_eq!(&r[64..72], &[0xff; 8]); // INET_DIAG_NOCOOKIE
    let r = netlink::encode(Request::all(2, libc::IPPROTO_MPTCP), Expect::Dump.flags(), 7);
    assert_eq!(r.len(), 80);
    assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 80);
    assert_eq!(u16::from_ne_bytes([r[6], r[7]]), NLM_F_REQUEST | NLM_F_DUMP);
    assert_eq!(r[16], 2);
    assert_eq!(r[17], 6); // 262 & 0xff
    assert_eq!(r[18], 2); // INET_DIAG_INFO bit
    assert_eq!(&r[24..72], &[0u8; 48]); // any socket
    assert_eq!(&r[72..74], &8u16.to_ne_bytes());
    assert_eq!(u16::from_ne_bytes([r[74], r[75]]), INET_DIAG_REQ_PROTOCOL);
    assert_eq!(u32::from_ne_bytes(r[76..80].try_into().unwrap()), 262);
    // TCP needs no protocol attribute; IPv6 asks for AF_INET6.
    let r = netlink::encode(Request::all(10, libc::IPPROTO_TCP), Expect::Dump.flags(), 8);
    assert_eq!((r.len(), r[16], r[17]), (72, 10, 6));
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
    p[40..44].copy_from_slice(&3u32.to_ne_bytes());
    p[44..48].copy_from_slice(&5u32.to_ne_bytes());
    p[48..52].copy_from_slice(&1u32.to_ne_bytes());
    p[68..72].copy_from_slice(&777u32.to_ne_bytes());
    let mut info = vec![0u8; 48];
    info[8..12].copy_from_slice(&1u32.to_ne_bytes()); // FALLBACK
    p.extend_from_slice(&((4 + info.len()) as u16).to_ne_bytes());
    p.extend_from_slice(&2u16.to_ne_bytes()); // INET_DIAG_INFO
    p.extend_from_slice(&info);
    let s = parse_diag_msg(&p).unwrap();
    assert_eq!(s.family, AddressFamily::Ipv4);
    assert_eq!(s.local, "10.0.0.1:1234".parse().unwrap());
    assert_eq!(s.remote, "10.0.0.2:80".parse().unwrap());
    assert_eq!((s.ifindex, s.inode, s.state), (3, 777, 1));
    assert_eq!(s.cookie, 5 | (1 << 32));
    assert_eq!(s.info.unwrap().is_fallback(), Some(true));
    assert!(parse_diag_msg(&p[..40]).is_none());
    // A truncated attribute is ignored, not read past the end.
    let cut = &p[..80];
    assert_eq!(parse_diag_msg(cut).unwrap().info, None);
    // Neither IPv4 nor IPv6: refused.
    let mut other = p.clone();
    other[0] = libc::AF_UNIX as u8;
    assert!(parse_diag_msg(&other).is_none());
}

#[test]
fn parse_v6() {
    let mut p = vec![0u8; 72];
    p[0] = libc::AF_INET6 as u8;
    p[1] = 10;
    p[4..6].copy_from_slice(&443u16.to_be_bytes());
    p[8..24].copy_from_slice(&"fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    let s = parse_diag_msg(&p).unwrap();
    assert_eq!(s.family, AddressFamily::Ipv6);
    assert_eq!(s.local, "[fd00::1]:443".parse().unwrap());
    assert_eq!(s.remote, "[::]:0".parse().unwrap());
    assert_eq!(s.info, None);
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
    let mut mp = Vec::new();
    mp.extend(nla(SUBFLOW_ATTR_TOKEN_REM, &7u32.to_ne_bytes()));
    mp.extend(nla(SUBFLOW_ATTR_TOKEN_LOC, &token.to_ne_bytes()));
    mp.extend(nla(SUBFLOW_ATTR_FLAGS, &flags.to_ne_bytes()));
    mp.extend(nla(SUBFLOW_ATTR_ID_REM, &[0]));
    mp.extend(nla(SUBFLOW_ATTR_ID_LOC, &[2]));
    let mut ulp = nla(INET_ULP_INFO_NAME, b"mptcp\0");
    ulp.extend(nla(INET_ULP_INFO_MPTCP | 0x8000, &mp));
    p.extend(nla(2, &[1u8; 8])); // INET_DIAG_INFO: tcp_info, state 1
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
    assert_eq!(sf.id_remote, Some(0));
    assert!(sf.is_backup() && sf.is_join());
    assert_eq!(sf.tcp.as_ref().unwrap().state, Some(1));
    // Every truncation parses or is rejected, never panics; a plain TCP
    // socket (no ULP) is not a subflow.
    for cut in 0..p.len() {
        let _ = parse_subflow_msg(&p[..cut]);
        let _ = parse_diag_msg(&p[..cut]);
    }
    assert!(parse_subflow_msg(&p[..80]).is_none());
    assert_eq!(parse_subflow_msg(&p[..72]), None);
    // Another ULP (kTLS) is not MPTCP.
    let mut tls = p[..84].to_vec();
    tls.extend(nla(INET_DIAG_ULP_INFO | 0x8000, &nla(INET_ULP_INFO_NAME, b"tls\0")));
    assert_eq!(parse_subflow_msg(&tls), None);
}

#[test]
fn odd_subflow_attributes_are_skipped() {
    // A token of 2 bytes is not a token; an id of 4 bytes not an id.
    let mut p = subflow_bytes(1, 0)[..84].to_vec();
    let mut mp = nla(SUBFLOW_ATTR_TOKEN_LOC, &[1, 2]);
    mp.extend(nla(SUBFLOW_ATTR_ID_LOC, &[1, 0, 0, 0]));
    mp.extend(nla(99, &[1, 2, 3]));
    let mut ulp = nla(INET_ULP_INFO_NAME, b"mptcp\0");
    ulp.extend(nla(INET_ULP_INFO_MPTCP | 0x8000, &mp));
    p.extend(nla(INET_DIAG_ULP_INFO | 0x8000, &ulp));
    let sf = parse_subflow_msg(&p).unwrap();
    assert_eq!((sf.token_local, sf.id_local, sf.flags), (None, None, None));
    let r = Response::parse(&p).unwrap();
    assert_eq!(r.mptcp_subflow().unwrap().len(), 3);
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

thread_local! {
    /// Dumps this thread asked for: the exact lookups must ask for none.
    pub(super) static DUMPS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The status lookup (by token) and the backup flags (by 4-tuple and
/// interface) find every socket with exact requests, never a dump: MPTCP
/// and fallen-back connections, IPv4 and IPv6, and a subflow bound to its
/// endpoint's device.
///
/// The one test in `src/` that needs root: it counts the dumps the crate
/// sends ([`DUMPS`], compiled for unit tests only), which a test in
/// `tests/` cannot see. What the lookups answer is checked there too
/// (`hostile.rs`, `scenarios.rs`).
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn lookups_are_exact() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};

    use crate::{MptcpExt, MptcpListenerExt, MptcpStreamExt};

    mptcp_netns::require_root();
    let cli = mptcp_netns::Netns::new("dcli").unwrap();
    let srv = mptcp_netns::Netns::new("dsrv").unwrap();
    let p1 =
        mptcp_netns::Path::new(&cli, "10.81.0.1".parse().unwrap(), &srv, "10.81.0.2".parse().unwrap(), 24).unwrap();
    let p2 =
        mptcp_netns::Path::new(&cli, "10.82.0.1".parse().unwrap(), &srv, "10.82.0.2".parse().unwrap(), 24).unwrap();
    for (ns, dev, a) in [(&cli, &p1.a_dev, 1), (&srv, &p1.b_dev, 2)] {
        ns.ip(&["addr", "add", &format!("fd81::{a}/64"), "dev", dev, "nodad"]).unwrap();
    }
    cli.ip(&["mptcp", "endpoint", "add", &p2.a_addr.to_string(), "dev", &p2.a_dev, "subflow"]).unwrap();
    for ns in [&cli, &srv] {
        ns.ip(&["mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2"]).unwrap();
    }
    let pair = |addr: &str, mptcp_server: bool| {
        let addr: std::net::SocketAddr = addr.parse().unwrap();
        let l = srv
            .in_ns(|| if mptcp_server { TcpListener::bind_mptcp(addr) } else { TcpListener::bind(addr) })
            .unwrap()
            .unwrap();
        let c = cli.in_ns(|| TcpStream::connect_mptcp(addr)).unwrap().unwrap();
        let s = l.accept().unwrap().0;
        (l, c, s)
    };
    let (_l1, mut c, mut s) = pair("10.81.0.2:7201", true);
    let (_l2, v6, _s2) = pair("[fd81::2]:7202", true);
    let (_l3, fb, _s3) = pair("10.81.0.2:7203", false);
    let (_l4, fb6, _s4) = pair("[fd81::2]:7204", false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.subflows().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no second subflow");
        c.write_all(&[7u8; 32 * 1024]).unwrap();
        s.read_exact(&mut [0u8; 32 * 1024]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = DUMPS.with(|d| d.get());
    for (what, sock, fallback) in
        [("v4", &c, false), ("v6", &v6, false), ("fallback v4", &fb, true), ("fallback v6", &fb6, true)]
    {
        let info = lookup_socket(sock.as_fd()).unwrap().unwrap_or_else(|| panic!("{what}: not found"));
        assert_eq!(info.is_fallback(), Some(fallback), "{what}");
    }
    let flows = c.subflows().unwrap();
    let pairs: Vec<_> = flows.iter().map(|f| (f.local.unwrap(), f.remote.unwrap())).collect();
    assert_eq!(subflow_backup_exact(c.as_fd(), &pairs).unwrap(), [Some(false), Some(false)]);
    // A second round starts from the interface hints.
    assert_eq!(subflow_backup_exact(c.as_fd(), &pairs).unwrap(), [Some(false), Some(false)]);
    assert_eq!(DUMPS.with(|d| d.get()), before, "an exact lookup fell back to a dump");
    // A subflow that does not exist is not found, and is not a guess.
    let gone = [("10.81.0.1:1".parse().unwrap(), "10.81.0.2:7201".parse().unwrap())];
    assert_eq!(subflow_backup_exact(c.as_fd(), &gone).unwrap(), [None]);
}

/// A socket's identity as `struct inet_diag_msg` carries it.
#[derive(Debug, Clone)]
struct Msg {
    v6: bool,
    state: u8,
    local: ([u8; 16], u16),
    remote: ([u8; 16], u16),
    ifindex: u32,
    cookie: u64,
    inode: u32,
}

impl Msg {
    fn addr(&self, (ip, port): ([u8; 16], u16)) -> SocketAddr {
        let ip = if self.v6 { IpAddr::from(ip) } else { IpAddr::from([ip[0], ip[1], ip[2], ip[3]]) };
        SocketAddr::new(ip, port)
    }

    /// `struct inet_diag_msg` as the kernel writes it (72 bytes).
    fn bytes(&self) -> Vec<u8> {
        let mut p = vec![0u8; 72];
        p[0] = if self.v6 { libc::AF_INET6 } else { libc::AF_INET } as u8;
        p[1] = self.state;
        p[4..6].copy_from_slice(&self.local.1.to_be_bytes());
        p[6..8].copy_from_slice(&self.remote.1.to_be_bytes());
        let n = if self.v6 { 16 } else { 4 };
        p[8..8 + n].copy_from_slice(&self.local.0[..n]);
        p[24..24 + n].copy_from_slice(&self.remote.0[..n]);
        p[40..44].copy_from_slice(&self.ifindex.to_ne_bytes());
        p[44..48].copy_from_slice(&(self.cookie as u32).to_ne_bytes());
        p[48..52].copy_from_slice(&((self.cookie >> 32) as u32).to_ne_bytes());
        p[68..72].copy_from_slice(&self.inode.to_ne_bytes());
        p
    }
}

fn msg() -> impl Strategy<Value = Msg> {
    (any::<bool>(), any::<u8>(), any::<([u8; 16], u16)>(), any::<([u8; 16], u16)>(), any::<(u32, u64, u32)>()).prop_map(
        |(v6, state, local, remote, (ifindex, cookie, inode))| Msg { v6, state, local, remote, ifindex, cookie, inode },
    )
}

/// `MPTCP_SUBFLOW_ATTR_*` values a subflow reports.
#[derive(Debug, Clone)]
struct Sf {
    token_rem: u32,
    token_loc: u32,
    flags: u32,
    id_rem: u8,
    id_loc: u8,
}

fn sf() -> impl Strategy<Value = Sf> {
    any::<(u32, u32, u32, u8, u8)>().prop_map(|(token_rem, token_loc, flags, id_rem, id_loc)| Sf {
        token_rem,
        token_loc,
        flags,
        id_rem,
        id_loc,
    })
}

/// A TCP subflow reply: `inet_diag_msg`, `INET_DIAG_INFO`, then the ULP
/// info nesting the subflow attributes (with an attribute of a kind this
/// crate does not know in between).
fn subflow_reply(m: &Msg, s: &Sf, info: &[u8]) -> Vec<u8> {
    let mut mp = nla(SUBFLOW_ATTR_TOKEN_REM, &s.token_rem.to_ne_bytes());
    mp.extend(nla(SUBFLOW_ATTR_TOKEN_LOC, &s.token_loc.to_ne_bytes()));
    mp.extend(nla(77, &[1, 2, 3]));
    mp.extend(nla(SUBFLOW_ATTR_FLAGS, &s.flags.to_ne_bytes()));
    mp.extend(nla(SUBFLOW_ATTR_ID_REM, &[s.id_rem]));
    mp.extend(nla(SUBFLOW_ATTR_ID_LOC, &[s.id_loc]));
    let mut ulp = nla(INET_ULP_INFO_NAME, b"mptcp\0");
    ulp.extend(nla(INET_ULP_INFO_MPTCP | 0x8000, &mp));
    let mut p = m.bytes();
    p.extend(nla(2, info)); // INET_DIAG_INFO
    p.extend(nla(INET_DIAG_ULP_INFO | 0x8000, &ulp));
    p
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_replies_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(r) = Response::parse(&raw) {
            let _ = DiagSocket::from_response(&r);
            let _ = Subflow::from_response(&r);
            let _ = (r.addrs(), r.cookie(), r.info(), r.mptcp_subflow());
        }
        for m in netlink::split(&raw).flatten() {
            let _ = netlink::decode::<Response>(m);
        }
    }

    /// An MPTCP socket with its `mptcp_info`: every field as laid out.
    #[test]
    fn mptcp_sockets_parse_as_laid_out(m in msg(), info in proptest::collection::vec(any::<u8>(), 0..100)) {
        let mut raw = m.bytes();
        raw.extend(nla(2, &info));
        raw.extend(nla(99, &[9; 5])); // an attribute this crate does not read
        let s = DiagSocket::from_response(&Response::parse(&raw).unwrap());
        prop_assert_eq!(s.family, if m.v6 { AddressFamily::Ipv6 } else { AddressFamily::Ipv4 });
        prop_assert_eq!((s.local, s.remote), (m.addr(m.local), m.addr(m.remote)));
        prop_assert_eq!((s.state, s.ifindex, s.cookie, s.inode), (m.state, m.ifindex, m.cookie, m.inode));
        prop_assert_eq!(s.info, Some(MptcpInfo::parse(&info)));
    }

    /// A subflow with its ULP info: every attribute as laid out; cut
    /// anywhere, an error (header cut) or a prefix of the attributes.
    #[test]
    fn subflows_parse_as_laid_out(m in msg(), s in sf(), info in proptest::collection::vec(any::<u8>(), 0..240), cut in 0usize..700) {
        let raw = subflow_reply(&m, &s, &info);
        let full = Response::parse(&raw).unwrap();
        let got = Subflow::from_response(&full).unwrap();
        prop_assert_eq!((got.local, got.remote, got.state, got.ifindex), (m.addr(m.local), m.addr(m.remote), m.state, m.ifindex));
        prop_assert_eq!((got.token_local, got.token_remote), (Some(s.token_loc), Some(s.token_rem)));
        prop_assert_eq!((got.id_local, got.id_remote, got.flags), (Some(s.id_loc), Some(s.id_rem), Some(s.flags)));
        prop_assert_eq!(got.tcp, Some(TcpInfo::parse(&info)));
        let cut = cut.min(raw.len());
        match Response::parse(&raw[..cut]) {
            Err(_) => prop_assert!(cut < 72),
            Ok(r) => prop_assert!(full.attrs.starts_with(&r.attrs), "{:?}", r.attrs),
        }
    }

    /// The requests: the exact TCP get names the 4-tuple and interface,
    /// the token get puts the token in `idiag_cookie[0]` and MPTCP in the
    /// protocol attribute.
    #[test]
    fn requests_say_what_was_asked(m in msg(), token in any::<u32>(), seq in any::<u32>()) {
        let (l, r) = (m.addr(m.local), m.addr(m.remote));
        let req = netlink::encode(Request::tcp(l, r, m.ifindex), NLM_F_REQUEST, seq);
        prop_assert_eq!(req.len(), 72);
        prop_assert_eq!(u32::from_ne_bytes(req[8..12].try_into().unwrap()), seq);
        prop_assert_eq!(req[16], family_of(&l));
        prop_assert_eq!(req[17], libc::IPPROTO_TCP as u8);
        prop_assert_eq!(&req[24..26], &l.port().to_be_bytes());
        prop_assert_eq!(&req[26..28], &r.port().to_be_bytes());
        let n = if m.v6 { 16 } else { 4 };
        prop_assert_eq!(&req[28..28 + n], &m.local.0[..n]);
        prop_assert_eq!(&req[44..44 + n], &m.remote.0[..n]);
        prop_assert_eq!(u32::from_ne_bytes(req[60..64].try_into().unwrap()), m.ifindex);
        let req = netlink::encode(Request::mptcp_token(libc::AF_INET as u8, token), NLM_F_REQUEST, seq);
        prop_assert_eq!(req.len(), 80);
        prop_assert_eq!(u32::from_ne_bytes(req[64..68].try_into().unwrap()), token);
        prop_assert_eq!(u32::from_ne_bytes(req[76..80].try_into().unwrap()), libc::IPPROTO_MPTCP as u32);
    }
}
