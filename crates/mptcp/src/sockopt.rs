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
#[path = "sockopt_tests.rs"]
mod tests;
