//! Property tests of the `SOL_MPTCP` structure parsers: any bytes parse
//! without a panic, the kernel's layouts parse to what was laid out, and a
//! cut answer yields a prefix of the elements, never garbage.

use std::net::{IpAddr, SocketAddrV6};

use proptest::prelude::*;

use super::*;
use crate::info::props::config;

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
