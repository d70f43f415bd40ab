//! The command's only `unsafe` code: signal dispositions for `mptcp run`.

use std::io;
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
