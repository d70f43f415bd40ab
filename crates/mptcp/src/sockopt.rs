//! Layouts of the `SOL_MPTCP` socket option structures around the public
//! info types: `struct mptcp_subflow_data` (the header of `MPTCP_TCPINFO` /
//! `MPTCP_SUBFLOW_ADDRS`), `struct mptcp_subflow_addrs`,
//! `struct mptcp_full_info` and `struct mptcp_subflow_info`.
//!
//! Parsers never read past the length the kernel returned; a field that is
//! not there is `None`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::info::Bytes;

/// Size of `struct mptcp_subflow_addrs` (two `sockaddr_storage`-sized unions).
pub(crate) const SUBFLOW_ADDRS_SIZE: usize = 256;
/// Size of `struct mptcp_subflow_info` (u32 id, padding, addrs).
pub(crate) const SUBFLOW_INFO_SIZE: usize = 8 + SUBFLOW_ADDRS_SIZE;
/// Size of `struct mptcp_subflow_data`.
pub(crate) const SUBFLOW_DATA_SIZE: usize = 16;
/// Size of the fixed part of `struct mptcp_full_info` before its
/// `struct mptcp_info`.
pub(crate) const FULL_INFO_HEADER_SIZE: usize = 40;

/// Parses a `sockaddr_in` / `sockaddr_in6` (family at offset 0, port in
/// network order at 2). `None` for other families or short buffers.
pub(crate) fn parse_sockaddr(buf: &[u8]) -> Option<SocketAddr> {
    let b = Bytes(buf);
    let family = i32::from(u16::from_ne_bytes(buf.get(0..2)?.try_into().ok()?));
    let port = u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?);
    match family {
        libc::AF_INET => {
            let ip: [u8; 4] = buf.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flow = u32::from_be_bytes(buf.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = buf.get(8..24)?.try_into().ok()?;
            let scope = b.u32(24)?;
            Some(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope)))
        }
        _ => None,
    }
}

/// Parses one `struct mptcp_subflow_addrs`: (local, remote).
pub(crate) fn parse_subflow_addrs(buf: &[u8]) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let local = buf.get(..128).and_then(parse_sockaddr);
    let remote = buf.get(128..256).and_then(parse_sockaddr);
    (local, remote)
}

/// The answer to `MPTCP_TCPINFO` / `MPTCP_SUBFLOW_ADDRS`: a
/// `struct mptcp_subflow_data` header and the elements that fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubflowData<'a> {
    /// Real number of subflows; more than `elements.len()` means truncated.
    pub num_subflows: u32,
    /// The kernel's element size.
    pub size_kernel: u32,
    /// The elements written, each `min(requested, kernel)` bytes long.
    pub elements: Vec<&'a [u8]>,
}

impl SubflowData<'_> {
    /// Whether the buffer was too small for every subflow.
    pub(crate) fn truncated(&self) -> bool {
        self.elements.len() < self.num_subflows as usize
    }
}

/// Builds the input header of `MPTCP_TCPINFO` / `MPTCP_SUBFLOW_ADDRS` into
/// the start of `buf` (zeroing the rest), asking for elements of
/// `elem_size` bytes. `buf` must hold at least [`SUBFLOW_DATA_SIZE`] bytes.
pub(crate) fn subflow_data_request(buf: &mut [u8], elem_size: u32) {
    buf.fill(0);
    buf[0..4].copy_from_slice(&(SUBFLOW_DATA_SIZE as u32).to_ne_bytes());
    buf[12..16].copy_from_slice(&elem_size.to_ne_bytes());
}

/// Parses the answer of `MPTCP_TCPINFO` / `MPTCP_SUBFLOW_ADDRS`; `len` is
/// the length the kernel returned. `None` when the header is malformed.
pub(crate) fn parse_subflow_data(buf: &[u8], len: usize) -> Option<SubflowData<'_>> {
    let buf = buf.get(..len)?;
    let b = Bytes(buf);
    let hdr = b.u32(0)? as usize;
    let num = b.u32(4)?;
    let size_kernel = b.u32(8)?;
    let size_user = b.u32(12)? as usize;
    if hdr < SUBFLOW_DATA_SIZE || size_user == 0 {
        return None;
    }
    let mut elements = Vec::new();
    let mut off = hdr;
    while elements.len() < num as usize {
        match off.checked_add(size_user).and_then(|end| buf.get(off..end)) {
            Some(e) => elements.push(e),
            None => break,
        }
        off = off.saturating_add(size_user);
    }
    Some(SubflowData { num_subflows: num, size_kernel, elements })
}

/// Header fields of `struct mptcp_full_info` as returned by the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FullInfoHeader {
    /// Kernel `struct tcp_info` size.
    pub size_tcpinfo_kernel: u32,
    /// Bytes written per `tcp_info` element.
    pub size_tcpinfo_user: u32,
    /// Kernel `struct mptcp_subflow_info` size.
    pub size_sfinfo_kernel: u32,
    /// Bytes written per subflow-info element.
    pub size_sfinfo_user: u32,
    /// Real number of subflows.
    pub num_subflows: u32,
}

/// Parses the fixed header of `struct mptcp_full_info`.
pub(crate) fn parse_full_info_header(buf: &[u8]) -> Option<FullInfoHeader> {
    let b = Bytes(buf);
    Some(FullInfoHeader {
        size_tcpinfo_kernel: b.u32(0)?,
        size_tcpinfo_user: b.u32(4)?,
        size_sfinfo_kernel: b.u32(8)?,
        size_sfinfo_user: b.u32(12)?,
        num_subflows: b.u32(16)?,
    })
}

/// Parses one `struct mptcp_subflow_info`: (id, local, remote).
pub(crate) fn parse_subflow_info(buf: &[u8]) -> (Option<u32>, Option<SocketAddr>, Option<SocketAddr>) {
    let id = Bytes(buf).u32(0);
    let (l, r) = buf.get(8..).map(parse_subflow_addrs).unwrap_or((None, None));
    (id, l, r)
}

#[cfg(test)]
#[path = "sockopt_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

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
}
