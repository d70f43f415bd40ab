//! Tests of `sockopt.rs`: unit tests on fixed inputs, then property tests of
//! the `SOL_MPTCP` structure parsers: any bytes parse without a panic, the
//! kernel's layouts parse to what was laid out, and a cut answer yields a
//! prefix of the elements, never garbage.

use std::net::{IpAddr, SocketAddrV6};

use proptest::prelude::*;

use super::*;
use crate::info::tests::config;

fn sockaddr_in(ip: [u8; 4], port: u16) -> Vec<u8> {
    let mut v = vec![0u8; 128];
    v[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    v[2..4].copy_from_slice(&port.to_be_bytes());
    v[4..8].copy_from_slice(&ip);
    v
}

#[test]
fn sockaddrs() {
    let a = parse_sockaddr(&sockaddr_in([10, 0, 1, 1], 5201)).unwrap();
    assert_eq!(a, "10.0.1.1:5201".parse().unwrap());
    let mut v6 = vec![0u8; 128];
    v6[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
    v6[2..4].copy_from_slice(&80u16.to_be_bytes());
    v6[8..24].copy_from_slice(&"fd00::2".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(parse_sockaddr(&v6).unwrap(), "[fd00::2]:80".parse().unwrap());
    assert_eq!(parse_sockaddr(&v6[..20]), None);
    assert_eq!(parse_sockaddr(&[0u8; 16]), None); // AF_UNSPEC
                                                  // A struct sockaddr_in of exactly 16 bytes.
    let sin = sockaddr_in([10, 0, 0, 1], 443);
    assert_eq!(parse_sockaddr(&sin[..16]), Some("10.0.0.1:443".parse().unwrap()));
}

#[test]
fn subflow_addrs_local_only() {
    let mut raw = [0u8; SUBFLOW_ADDRS_SIZE];
    raw[..128].copy_from_slice(&sockaddr_in([10, 0, 0, 1], 40000));
    assert_eq!(parse_subflow_addrs(&raw), (Some("10.0.0.1:40000".parse().unwrap()), None));
}

#[test]
fn subflow_data_request_layout() {
    let mut buf = vec![0xffu8; SUBFLOW_DATA_SIZE + 4 * SUBFLOW_ADDRS_SIZE];
    subflow_data_request(&mut buf, SUBFLOW_ADDRS_SIZE as u32);
    assert_eq!(buf[0..4], (SUBFLOW_DATA_SIZE as u32).to_ne_bytes()); // size_subflow_data
    assert_eq!(buf[4..12], [0u8; 8]); // num_subflows, size_kernel
    assert_eq!(buf[12..16], (SUBFLOW_ADDRS_SIZE as u32).to_ne_bytes()); // size_user
    assert!(buf[16..].iter().all(|&b| b == 0));
}

#[test]
fn subflow_data_counts() {
    // Room for one 8-byte element, the kernel says 3 subflows: truncated.
    let mut buf = [0u8; SUBFLOW_DATA_SIZE + 8];
    subflow_data_request(&mut buf, 8);
    buf[4..8].copy_from_slice(&3u32.to_ne_bytes());
    assert!(parse_subflow_data(&buf, buf.len()).unwrap().truncated());
    // Two elements, both present.
    let mut buf = [0u8; SUBFLOW_DATA_SIZE + 2 * 8];
    subflow_data_request(&mut buf, 8);
    buf[4..8].copy_from_slice(&2u32.to_ne_bytes());
    let data = parse_subflow_data(&buf, buf.len()).unwrap();
    assert_eq!((data.num_subflows, data.elements.len()), (2, 2));
    assert!(!data.truncated());
    assert!(parse_subflow_data(&buf, 8).is_none()); // header cut short
    let element = [0u8; 8];
    let data = SubflowData { num_subflows: 3, size_kernel: 256, elements: vec![&element[..]] };
    assert!(data.truncated());
}

#[test]
fn subflow_data_full_and_truncated() {
    let mut buf = vec![0u8; 16 + 2 * 256];
    subflow_data_request(&mut buf, 256);
    buf[4..8].copy_from_slice(&3u32.to_ne_bytes()); // kernel: 3 subflows
    buf[8..12].copy_from_slice(&256u32.to_ne_bytes());
    let mut e = sockaddr_in([10, 0, 1, 1], 1000);
    e.extend(sockaddr_in([10, 0, 1, 2], 2000));
    buf[16..272].copy_from_slice(&e);
    let len = buf.len();
    let d = parse_subflow_data(&buf, len).unwrap();
    assert_eq!(d.num_subflows, 3);
    assert_eq!(d.elements.len(), 2);
    assert!(d.truncated());
    let (l, r) = parse_subflow_addrs(d.elements[0]);
    assert_eq!(l.unwrap().port(), 1000);
    assert_eq!(r.unwrap().port(), 2000);
    // Malformed header.
    assert!(parse_subflow_data(&buf[..8], 8).is_none());
    let mut bad = buf.clone();
    bad[0..4].copy_from_slice(&4u32.to_ne_bytes());
    assert!(parse_subflow_data(&bad, len).is_none());
}

#[test]
fn full_info_header() {
    let mut raw = [0u8; FULL_INFO_HEADER_SIZE];
    raw[8..12].copy_from_slice(&264u32.to_ne_bytes()); // size_sfinfo_kernel
    raw[16..20].copy_from_slice(&2u32.to_ne_bytes()); // num_subflows
    let h = parse_full_info_header(&raw).unwrap();
    assert_eq!((h.size_sfinfo_kernel, h.num_subflows), (264, 2));
    assert_eq!(parse_full_info_header(&[0u8; 40]).unwrap().num_subflows, 0);
    assert!(parse_full_info_header(&[0u8; 16]).is_none()); // num_subflows missing
}

#[test]
fn subflow_info_elements() {
    let mut v = vec![0u8; SUBFLOW_INFO_SIZE];
    v[0..4].copy_from_slice(&2u32.to_ne_bytes());
    v[8..136].copy_from_slice(&sockaddr_in([10, 0, 2, 1], 3));
    let (id, l, r) = parse_subflow_info(&v);
    assert_eq!(id, Some(2));
    assert_eq!(l.unwrap().ip().to_string(), "10.0.2.1");
    assert_eq!(r, None);
    assert_eq!(parse_subflow_info(&v[..2]), (None, None, None));
    let mut raw = [0u8; SUBFLOW_INFO_SIZE];
    raw[0..4].copy_from_slice(&3u32.to_ne_bytes());
    raw[8..136].copy_from_slice(&sockaddr_in([10, 0, 0, 1], 5201));
    assert_eq!(parse_subflow_info(&raw), (Some(3), Some("10.0.0.1:5201".parse().unwrap()), None));
}

/// `struct sockaddr_in` / `sockaddr_in6` as the kernel writes them, in a
/// 128-byte `sockaddr_storage`-sized slot.
fn kernel_sockaddr(a: &SocketAddr) -> Vec<u8> {
    let mut v = vec![0u8; 128];
    v[2..4].copy_from_slice(&a.port().to_be_bytes());
    match a {
        SocketAddr::V4(a) => {
            v[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            v[4..8].copy_from_slice(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            v[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            v[4..8].copy_from_slice(&a.flowinfo().to_be_bytes());
            v[8..24].copy_from_slice(&a.ip().octets());
            v[24..28].copy_from_slice(&a.scope_id().to_ne_bytes());
        }
    }
    v
}

fn sockaddr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(IpAddr::from(ip), port)),
        (any::<[u8; 16]>(), any::<u16>(), any::<u32>(), any::<u32>())
            .prop_map(|(ip, port, flow, scope)| SocketAddr::V6(SocketAddrV6::new(ip.into(), port, flow, scope))),
    ]
}

/// One `struct mptcp_subflow_addrs` (local, then remote).
fn kernel_addrs(l: &SocketAddr, r: &SocketAddr) -> Vec<u8> {
    let mut v = kernel_sockaddr(l);
    v.extend(kernel_sockaddr(r));
    v
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..1200), len in 0usize..1400) {
        let _ = parse_sockaddr(&raw);
        let _ = parse_subflow_addrs(&raw);
        let _ = parse_subflow_info(&raw);
        let _ = parse_full_info_header(&raw);
        // A length past the buffer is refused, not read.
        let d = parse_subflow_data(&raw, len);
        if len > raw.len() {
            prop_assert!(d.is_none());
        }
        if let Some(d) = d {
            prop_assert!(d.elements.len() <= d.num_subflows as usize);
            prop_assert!(d.elements.iter().all(|e| e.len() == d.elements[0].len()));
        }
    }

    #[test]
    fn sockaddrs_parse_as_laid_out(a in sockaddr(), b in sockaddr()) {
        prop_assert_eq!(parse_sockaddr(&kernel_sockaddr(&a)), Some(a));
        prop_assert_eq!(parse_subflow_addrs(&kernel_addrs(&a, &b)), (Some(a), Some(b)));
        // A cut sockaddr is absent, never a different address.
        let raw = kernel_sockaddr(&a);
        for cut in 0..raw.len() {
            let p = parse_sockaddr(&raw[..cut]);
            prop_assert!(p.is_none() || p == Some(a), "{:?}", p);
        }
    }

    /// `MPTCP_SUBFLOW_ADDRS` answers: every element that fits, in order;
    /// cut anywhere, a prefix of them (or `None` when the header is cut).
    #[test]
    fn subflow_data_round_trip(
        pairs in proptest::collection::vec((sockaddr(), sockaddr()), 0..6),
        room in 0usize..6,
        cut in 0usize..2000,
    ) {
        let mut buf = vec![0u8; SUBFLOW_DATA_SIZE + room * SUBFLOW_ADDRS_SIZE];
        subflow_data_request(&mut buf, SUBFLOW_ADDRS_SIZE as u32);
        buf[4..8].copy_from_slice(&(pairs.len() as u32).to_ne_bytes());
        buf[8..12].copy_from_slice(&(SUBFLOW_ADDRS_SIZE as u32).to_ne_bytes());
        let written = pairs.len().min(room);
        for (i, (l, r)) in pairs.iter().take(written).enumerate() {
            let off = SUBFLOW_DATA_SIZE + i * SUBFLOW_ADDRS_SIZE;
            buf[off..off + SUBFLOW_ADDRS_SIZE].copy_from_slice(&kernel_addrs(l, r));
        }
        let len = SUBFLOW_DATA_SIZE + written * SUBFLOW_ADDRS_SIZE;
        let d = parse_subflow_data(&buf, len).unwrap();
        prop_assert_eq!(d.num_subflows as usize, pairs.len());
        prop_assert_eq!(d.truncated(), written < pairs.len());
        let got: Vec<_> = d.elements.iter().map(|e| parse_subflow_addrs(e)).collect();
        let want: Vec<_> = pairs.iter().take(written).map(|(l, r)| (Some(*l), Some(*r))).collect();
        prop_assert_eq!(&got, &want);
        let cut = cut.min(len);
        match parse_subflow_data(&buf, cut) {
            None => prop_assert!(cut < SUBFLOW_DATA_SIZE),
            Some(d) => {
                let got: Vec<_> = d.elements.iter().map(|e| parse_subflow_addrs(e)).collect();
                prop_assert!(want.starts_with(&got));
            }
        }
    }

    /// `struct mptcp_full_info`'s header and `struct mptcp_subflow_info`.
    #[test]
    fn full_info_parts(h in any::<[u32; 5]>(), id in any::<u32>(), l in sockaddr(), r in sockaddr(), cut in 0usize..300) {
        let mut head = vec![0u8; FULL_INFO_HEADER_SIZE];
        for (i, v) in h.iter().enumerate() {
            head[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        }
        let p = parse_full_info_header(&head).unwrap();
        prop_assert_eq!(
            [p.size_tcpinfo_kernel, p.size_tcpinfo_user, p.size_sfinfo_kernel, p.size_sfinfo_user, p.num_subflows],
            h
        );
        prop_assert_eq!(parse_full_info_header(&head[..cut.min(20)]).is_some(), cut >= 20);
        let mut sf = vec![0u8; SUBFLOW_INFO_SIZE];
        sf[0..4].copy_from_slice(&id.to_ne_bytes());
        sf[8..].copy_from_slice(&kernel_addrs(&l, &r));
        prop_assert_eq!(parse_subflow_info(&sf), (Some(id), Some(l), Some(r)));
        let (pid, pl, pr) = parse_subflow_info(&sf[..cut.min(sf.len())]);
        prop_assert!(pid.is_none() || pid == Some(id));
        prop_assert!(pl.is_none() || pl == Some(l));
        prop_assert!(pr.is_none() || pr == Some(r));
    }
}
