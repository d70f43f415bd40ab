//! The command's only `unsafe` code: signal dispositions for `mptcp run`,
//! and the socket's pacing cap for `mptcp bench -b`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicI32, Ordering};

static CHILD: AtomicI32 = AtomicI32::new(0);

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

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe and takes integers only.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Ignores SIGINT/SIGQUIT (the terminal sends them to the child too) and
/// forwards SIGTERM/SIGHUP to process `child`.
pub fn forward_signals_to(child: i32) -> io::Result<()> {
    CHILD.store(child, Ordering::Relaxed);
    let handler = forward as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for (sig, action) in [
        (libc::SIGINT, libc::SIG_IGN),
        (libc::SIGQUIT, libc::SIG_IGN),
        (libc::SIGTERM, handler),
        (libc::SIGHUP, handler),
    ] {
        // SAFETY: `sigaction` is plain data, valid when zeroed (an empty mask).
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = action;
        // Interrupted system calls restart, as with glibc's signal(3).
        act.sa_flags = libc::SA_RESTART;
        // SAFETY: `act` is live for the call and the old action is not
        // asked for. Installing SIG_IGN, or a handler that only calls an
        // async-signal-safe function, is sound; no other code here uses
        // these signals.
        cvt(unsafe { libc::sigaction(sig, &act, std::ptr::null_mut()) })?;
    }
    Ok(())
}

/// `SO_MAX_PACING_RATE` (asm-generic/socket.h), bytes per second.
const SO_MAX_PACING_RATE: libc::c_int = 47;

/// `setsockopt(SOL_SOCKET, SO_MAX_PACING_RATE)`: caps the socket's pacing
/// rate at `bytes_per_s` (a 64-bit value, Linux 4.20+).
pub fn set_max_pacing_rate(fd: BorrowedFd<'_>, bytes_per_s: u64) -> io::Result<()> {
    // SAFETY: the pointer and length describe a live u64 for the whole call;
    // the kernel only reads it.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_MAX_PACING_RATE,
            (&bytes_per_s as *const u64).cast(),
            std::mem::size_of::<u64>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// `getsockopt(SOL_SOCKET, SO_MAX_PACING_RATE)`: the socket's pacing cap,
/// bytes per second (`u64::MAX`: none).
pub fn max_pacing_rate(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut v = [0u8; 8];
    let mut len = v.len() as libc::socklen_t;
    // SAFETY: the pointers describe a live 8-byte buffer and its length for
    // the whole call; the kernel writes at most `len` bytes.
    cvt(unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, SO_MAX_PACING_RATE, v.as_mut_ptr().cast(), &mut len)
    })?;
    // Kernels before 4.20 answer with a u32.
    Ok(match len {
        4 => u64::from(u32::from_ne_bytes([v[0], v[1], v[2], v[3]])),
        _ => u64::from_ne_bytes(v),
    })
}
