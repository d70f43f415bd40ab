//! The crate's only `unsafe` code: the socket's pacing cap
//! (`SO_MAX_PACING_RATE`), which neither std nor socket2 sets.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

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
