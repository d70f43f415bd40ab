//! The system layer: every raw system call of the crate, and the kernel
//! constants that neither `libc` nor `socket2` has.
//!
//! This is the only module with `unsafe`; each block says why it is sound.
//! Constants `libc` has are used from there: `libc::IPPROTO_MPTCP`,
//! `libc::SOL_TCP`, `libc::TCP_INFO`, `libc::SIOCGSKNS`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use socket2::{Domain, Protocol, Socket, Type};

/// `SOL_MPTCP` (linux/socket.h, 5.16).
pub(crate) const SOL_MPTCP: i32 = 284;
/// `TCP_IS_MPTCP` (linux/tcp.h, 6.10), at level `SOL_TCP`.
pub(crate) const TCP_IS_MPTCP: i32 = 43;
/// `MPTCP_INFO` (linux/mptcp.h, 5.16): `struct mptcp_info`.
pub(crate) const MPTCP_INFO: i32 = 1;
/// `MPTCP_TCPINFO` (5.16): `struct tcp_info` of every subflow.
pub(crate) const MPTCP_TCPINFO: i32 = 2;
/// `MPTCP_SUBFLOW_ADDRS` (5.16): addresses of every subflow.
pub(crate) const MPTCP_SUBFLOW_ADDRS: i32 = 3;
/// `MPTCP_FULL_INFO` (6.5): all of the above in one call.
pub(crate) const MPTCP_FULL_INFO: i32 = 4;

/// Turns the `-1` a system call returns on failure into the thread's
/// `errno` as an `io::Error` (what socket2's `syscall!` and std's `cvt`
/// do); any other value is the call's result.
fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `socket(domain, SOCK_STREAM, IPPROTO_MPTCP)`.
pub(crate) fn mptcp_socket(domain: Domain) -> io::Result<Socket> {
    Socket::new(domain, Type::STREAM, Some(Protocol::MPTCP))
}

/// Reads a socket option into `buf`; returns the length the kernel reported
/// (which may be smaller than `buf`).
///
/// Performs `getsockopt(2)`.
pub(crate) fn getsockopt_buf(fd: BorrowedFd<'_>, level: i32, name: i32, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = libc::socklen_t::try_from(buf.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `buf` is a valid, writable region of `len` bytes for the whole
    // call; `len` points to a live socklen_t; the fd is borrowed, so open.
    cvt(unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, buf.as_mut_ptr().cast(), &mut len) })?;
    Ok(len as usize)
}

/// Reads an `int` socket option. Performs `getsockopt(2)`.
pub(crate) fn getsockopt_int(fd: BorrowedFd<'_>, level: i32, name: i32) -> io::Result<i32> {
    let mut buf = [0u8; 4];
    let n = getsockopt_buf(fd, level, name, &mut buf)?;
    if n < 1 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "socket option returned no data"));
    }
    Ok(i32::from_ne_bytes(buf))
}

/// Sets an `int` socket option. Performs `setsockopt(2)`.
#[cfg(feature = "netlink")]
pub(crate) fn setsockopt_int(fd: BorrowedFd<'_>, level: i32, name: i32, value: i32) -> io::Result<()> {
    let len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `value` is a live i32 of `len` bytes that the kernel only
    // reads during the call; the fd is borrowed, so open for the call.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (&value as *const i32).cast(), len) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `MPTCP_FULL_INFO`: fills `head` (the fixed 40-byte header followed by
/// `struct mptcp_info`, as the kernel lays it out) and the two arrays the
/// header points to. `subflow_info` holds `n` elements of `sf_size` bytes and
/// `tcp_info` `n` elements of `tcp_size` bytes. Returns the length reported.
///
/// Performs one `getsockopt(2)`.
pub(crate) fn getsockopt_full_info(
    fd: BorrowedFd<'_>,
    head: &mut [u8],
    subflow_info: &mut [u8],
    sf_size: u32,
    tcp_info: &mut [u8],
    tcp_size: u32,
    n: u32,
) -> io::Result<usize> {
    if head.len() < 40
        || (subflow_info.len() as u64) < u64::from(sf_size) * u64::from(n)
        || (tcp_info.len() as u64) < u64::from(tcp_size) * u64::from(n)
    {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    head[..40].fill(0);
    head[4..8].copy_from_slice(&tcp_size.to_ne_bytes());
    head[12..16].copy_from_slice(&sf_size.to_ne_bytes());
    head[20..24].copy_from_slice(&n.to_ne_bytes());
    head[24..32].copy_from_slice(&(subflow_info.as_mut_ptr() as u64).to_ne_bytes());
    head[32..40].copy_from_slice(&(tcp_info.as_mut_ptr() as u64).to_ne_bytes());
    let mut len = libc::socklen_t::try_from(head.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `head` is writable for `len` bytes. The kernel also writes at
    // most `n` elements of `sf_size` / `tcp_size` bytes through the two user
    // pointers stored in `head`; we checked above that both arrays are at
    // least that large, and they stay mutably borrowed for the whole call.
    cvt(unsafe { libc::getsockopt(fd.as_raw_fd(), SOL_MPTCP, MPTCP_FULL_INFO, head.as_mut_ptr().cast(), &mut len) })?;
    Ok(len as usize)
}

/// `getpeername(2)`: `Ok` when socket `fd` is connected, else the errno
/// (`ENOTCONN` for a listening or unconnected socket, `ENOTSOCK`, `EBADF`).
pub(crate) fn check_peer(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `sockaddr_storage` is plain data, valid when zeroed.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `addr` is writable for `len` bytes and `len` is a live
    // socklen_t; the fd is borrowed, so open for the call.
    cvt(unsafe { libc::getpeername(fd.as_raw_fd(), (&mut addr as *mut libc::sockaddr_storage).cast(), &mut len) })?;
    Ok(())
}

/// Interface index of the device socket `fd` is bound to (`SO_BINDTODEVICE`),
/// 0 when unbound. The name is resolved by `ioctl(SIOCGIFINDEX)` on `fd`
/// itself, so in the socket's own network namespace.
#[cfg(feature = "netlink")]
pub(crate) fn bound_ifindex(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut name = [0u8; libc::IFNAMSIZ];
    let n = getsockopt_buf(fd, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, &mut name)?;
    let len = name[..n.min(name.len())].iter().position(|&b| b == 0).unwrap_or(n.min(name.len()));
    if len == 0 {
        return Ok(0);
    }
    // SAFETY: `ifreq` is plain data (a name and a union of plain data), valid when zeroed.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(&name[..len.min(libc::IFNAMSIZ - 1)]) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFINDEX reads the NUL-terminated name in `req` (zeroed
    // past it) and writes the index into its union; `req` outlives the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFINDEX as _, &mut req) })?;
    // SAFETY: SIOCGIFINDEX succeeded, so the kernel wrote `ifru_ifindex`.
    Ok(u32::try_from(unsafe { req.ifr_ifru.ifru_ifindex }).unwrap_or(0))
}

/// Indexes of the interfaces that hold address `ip` in the calling
/// thread's network namespace (`getifaddrs(3)`, then `if_nametoindex(3)`
/// for each match).
#[cfg(feature = "netlink")]
pub(crate) fn interfaces_with(ip: std::net::IpAddr) -> io::Result<Vec<u32>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `head`, freed below.
    cvt(unsafe { libc::getifaddrs(&mut head) })?;
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, alive
        // until freeifaddrs below; its `ifa_addr`, when not null, points to
        // a sockaddr of the family it names, and `ifa_name` to a C string.
        unsafe {
            let ifa = &*cur;
            let addr = ifa.ifa_addr;
            let found = if addr.is_null() {
                None
            } else {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let a = &*(addr as *const libc::sockaddr_in);
                        Some(std::net::IpAddr::from(a.sin_addr.s_addr.to_ne_bytes()))
                    }
                    libc::AF_INET6 => {
                        let a = &*(addr as *const libc::sockaddr_in6);
                        Some(std::net::IpAddr::from(a.sin6_addr.s6_addr))
                    }
                    _ => None,
                }
            };
            if found == Some(ip) {
                let index = libc::if_nametoindex(ifa.ifa_name);
                if index != 0 && !out.contains(&index) {
                    out.push(index);
                }
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// `SO_NETNS_COOKIE` (5.14): 71 on every architecture Rust targets but
/// sparc, which numbers it otherwise (and is left to [`socket_netns`]).
#[cfg(all(feature = "netlink", not(target_arch = "sparc64")))]
const SO_NETNS_COOKIE: i32 = 71;

/// The cookie of socket `fd`'s network namespace (`SO_NETNS_COOKIE`,
/// Linux 5.14): equal for two sockets exactly when they share a namespace.
/// One `getsockopt`, no descriptor opened.
#[cfg(feature = "netlink")]
pub(crate) fn netns_cookie(fd: BorrowedFd<'_>) -> io::Result<u64> {
    #[cfg(not(target_arch = "sparc64"))]
    {
        let mut buf = [0u8; 8];
        let n = getsockopt_buf(fd, libc::SOL_SOCKET, SO_NETNS_COOKIE, &mut buf)?;
        if n != buf.len() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        Ok(u64::from_ne_bytes(buf))
    }
    #[cfg(target_arch = "sparc64")]
    {
        let _ = fd;
        Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT))
    }
}

/// Opens the network namespace of socket `fd` (`ioctl(SIOCGSKNS)`).
#[cfg(feature = "netlink")]
pub(crate) fn socket_netns(fd: BorrowedFd<'_>) -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: SIOCGSKNS takes no argument and returns a new fd or -1.
    let fd = cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGSKNS as _) })?;
    // SAFETY: `fd` is a fresh descriptor the kernel just gave us; nothing
    // else owns it.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Moves the calling thread into the network namespace `ns` (`setns(2)`).
#[cfg(feature = "netlink")]
pub(crate) fn setns_net(ns: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: setns only reads the descriptor; CLONE_NEWNET affects this thread.
    cvt(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}

/// Registers a netlink socket with tokio's reactor (for `pm`'s async API).
#[cfg(all(feature = "tokio", feature = "netlink"))]
pub(crate) fn register_netlink(sock: netlink_sys::Socket) -> io::Result<tokio::io::unix::AsyncFd<netlink_sys::Socket>> {
    // SAFETY: `AsyncFd::register` needs the descriptor to stay open and
    // unreplaced while registered. `netlink_sys::Socket` owns its descriptor,
    // closes it only in its `Drop`, and has no method that replaces it; the
    // `AsyncFd` takes ownership of the socket, so the descriptor lives exactly
    // as long as the registration.
    Ok(unsafe { tokio::io::unix::AsyncFd::register(sock) }?)
}

/// Interface index of `name` in the calling thread's network namespace
/// (`if_nametoindex(3)`), for [`Endpoint::with_ifindex`](crate::pm::Endpoint::with_ifindex).
///
/// # Errors
///
/// `InvalidInput` for a string that cannot be an interface name (empty,
/// `IFNAMSIZ` bytes or longer, with `/`, NUL or white space), `NotFound`
/// when no interface has that name.
///
/// # Examples
///
/// ```
/// let lo = mptcp::pm::interface_index("lo")?;
/// assert_eq!(mptcp::pm::interface_name(lo).as_deref(), Some("lo"));
/// assert_eq!(mptcp::pm::interface_index("no such if").unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(feature = "netlink")]
pub fn interface_index(name: &str) -> io::Result<u32> {
    if name.is_empty()
        || name.len() >= libc::IFNAMSIZ
        || name.contains(['/', '\0'])
        || name.contains(char::is_whitespace)
    {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("`{name}` is not a valid interface name")));
    }
    let c = std::ffi::CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call; the
    // function only reads it.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("unknown interface `{name}`")));
    }
    Ok(index)
}

/// Name of interface `index` in the calling thread's network namespace
/// (`if_indextoname(3)`), `None` when there is no such interface.
///
/// # Examples
///
/// ```
/// use mptcp::pm::{interface_index, interface_name};
///
/// let lo = interface_index("lo")?;
/// assert_eq!(interface_name(lo).as_deref(), Some("lo"));
/// assert_eq!(interface_name(u32::MAX), None); // no such interface
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(feature = "netlink")]
pub fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` holds IF_NAMESIZE bytes, the size if_indextoname(3)
    // writes at most (the name and its NUL); it returns NULL or `buf`.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    let bytes: Vec<u8> = buf.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    Some(String::from_utf8_lossy(&bytes).into_owned()).filter(|n| !n.is_empty())
}

#[cfg(all(test, feature = "netlink"))]
#[path = "sys_tests.rs"]
mod tests;
