//! The crate's only `unsafe`: batched receives (`recvmmsg`), integer
//! socket options nix and socket2 do not offer (`SO_RCVBUFFORCE`,
//! `NETLINK_NO_ENOBUFS`) and the thread's timer slack (`PR_SET_TIMERSLACK`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `setsockopt(fd, level, name, &int)`.
pub(crate) fn setsockopt_int(fd: BorrowedFd<'_>, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` lives across the call and its size is passed; the
    // kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the calling thread's timer slack (`prctl(PR_SET_TIMERSLACK)`), so
/// that its timers fire as close to their deadline as the kernel can.
pub(crate) fn set_timer_slack(ns: u64) -> io::Result<()> {
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long by value and touches
    // no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Buffers for receiving up to `N` datagrams with one `recvmmsg`.
pub(crate) struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch").field("count", &self.bufs.len()).finish()
    }
}

impl RecvBatch {
    /// `count` buffers of `size` bytes each.
    pub(crate) fn new(count: usize, size: usize) -> RecvBatch {
        let mut bufs: Vec<Vec<u8>> = (0..count).map(|_| vec![0u8; size]).collect();
        let mut iovs: Vec<libc::iovec> =
            bufs.iter_mut().map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() }).collect();
        let hdrs = iovs
            .iter_mut()
            .map(|iov| {
                // SAFETY: an all-zero msghdr is valid (no name, no control).
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        RecvBatch { bufs, iovs, hdrs }
    }

    /// Receives what is waiting without blocking (`MSG_DONTWAIT`); returns
    /// how many datagrams arrived (0 when none was waiting).
    pub(crate) fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        for (h, iov) in self.hdrs.iter_mut().zip(&self.iovs) {
            h.msg_len = 0;
            h.msg_hdr.msg_flags = 0;
            debug_assert_eq!(h.msg_hdr.msg_iov as *const libc::iovec, iov as *const libc::iovec);
        }
        // SAFETY: every header points to one iovec of `self.iovs`, each of
        // which points to a live buffer of `self.bufs` of the stated length;
        // the kernel writes at most that much and updates `msg_len`.
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }

    /// Datagram `i` of the last receive, and whether it was truncated.
    pub(crate) fn get(&self, i: usize) -> (&[u8], bool) {
        let h = &self.hdrs[i];
        let len = (h.msg_len as usize).min(self.bufs[i].len());
        (&self.bufs[i][..len], h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0)
    }
}

/// The MTU of interface `name` in the calling thread's namespace
/// (`ioctl(SIOCGIFMTU)` on a throwaway datagram socket).
pub(crate) fn if_mtu(name: &str) -> io::Result<u32> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    // SAFETY: an all-zero ifreq is valid; the name is copied in below,
    // NUL-terminated and within IFNAMSIZ.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "interface name too long"));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFMTU reads the name from and writes the MTU into the
    // ifreq, which lives across the call.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFMTU, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member of the union.
    Ok(unsafe { req.ifr_ifru.ifru_mtu } as u32)
}
