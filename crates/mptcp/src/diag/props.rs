//! Property tests of the inet_diag parsers: any reply parses without a
//! panic; the kernel's layout of MPTCP sockets and of TCP subflows with
//! their ULP info parses to what was laid out; a cut reply keeps a prefix
//! of its attributes; the requests the crate emits say what was asked.

use std::net::{IpAddr, SocketAddr};

use netlink_packet_core::NLM_F_REQUEST;
use proptest::prelude::*;

use super::wire::*;
use super::*;
use crate::info::props::config;
use crate::info::{MptcpInfo, TcpInfo};
use crate::netlink;

fn nla(ty: u16, v: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(v);
    b.resize((b.len() + 3) & !3, 0);
    b
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
