//! The crate's only `unsafe` code: the socket's pacing cap
//! (`SO_MAX_PACING_RATE`), which neither std nor socket2 sets, and `poll(2)`
//! for `POLLRDHUP`, which nix's `PollFlags` does not know.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// `SO_MAX_PACING_RATE` (asm-generic/socket.h), bytes per second.
const SO_MAX_PACING_RATE: libc::c_int = 47;

/// `setsockopt(SOL_SOCKET, SO_MAX_PACING_RATE)`: caps the socket's pacing
/// rate at `bytes_per_s` (a 64-bit value, Linux 4.20+).
pub(crate) fn set_max_pacing_rate(fd: BorrowedFd<'_>, bytes_per_s: u64) -> io::Result<()> {
    // SAFETY: the pointer and length describe a live u64 for the whole call;
    // the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_MAX_PACING_RATE,
            (&bytes_per_s as *const u64).cast(),
            std::mem::size_of::<u64>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt(SOL_SOCKET, SO_MAX_PACING_RATE)`: the socket's pacing cap,
/// bytes per second (`u64::MAX`: none).
pub(crate) fn max_pacing_rate(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut v = [0u8; 8];
    let mut len = v.len() as libc::socklen_t;
    // SAFETY: the pointers describe a live 8-byte buffer and its length for
    // the whole call; the kernel writes at most `len` bytes.
    let r = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, SO_MAX_PACING_RATE, v.as_mut_ptr().cast(), &mut len)
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // Kernels before 4.20 answer with a u32.
    Ok(match len {
        4 => u64::from(u32::from_ne_bytes([v[0], v[1], v[2], v[3]])),
        _ => u64::from_ne_bytes(v),
    })
}

/// `poll(2)` on one descriptor for `events` (`POLLHUP` and `POLLERR` are
/// always reported), waiting at most `timeout` (rounded up to whole
/// milliseconds, at most `i32::MAX` of them). Returns the events that
/// occurred: `0` when the time ran out or a signal interrupted the wait.
pub(crate) fn poll_one(fd: BorrowedFd<'_>, events: libc::c_short, timeout: Duration) -> io::Result<libc::c_short> {
    let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int;
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events, revents: 0 };
    // SAFETY: the pointer is to one live `pollfd` for the whole call and the
    // count says one; the kernel writes only its `revents`. The descriptor is
    // borrowed, so it stays open during the call.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    match r {
        0 => Ok(0),
        r if r > 0 => Ok(p.revents),
        _ => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(e)
            }
        }
    }
}
