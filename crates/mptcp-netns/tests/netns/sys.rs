//! The test suite's only `unsafe`: raw `getsockopt`, to check MPTCP's state
//! on real sockets without depending on the `mptcp` library (whose tests
//! use this crate).

use std::io;
use std::os::fd::{AsFd, AsRawFd};

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

/// `getsockopt(fd, level, name)` into `buf`; returns the length the kernel wrote.
pub fn getsockopt(fd: impl AsFd, level: i32, name: i32, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is valid for writes of `len` bytes and `len` points to a
    // live socklen_t; the kernel writes at most `len` bytes and updates `len`.
    cvt(unsafe { libc::getsockopt(fd.as_fd().as_raw_fd(), level, name, buf.as_mut_ptr().cast(), &mut len) })?;
    Ok(len as usize)
}

/// An `int` socket option.
pub fn getsockopt_int(fd: impl AsFd, level: i32, name: i32) -> io::Result<i32> {
    let mut b = [0u8; 4];
    getsockopt(fd, level, name, &mut b)?;
    Ok(i32::from_ne_bytes(b))
}
