//! The command's only `unsafe` code: signal dispositions for `mptcp run`.

use std::sync::atomic::{AtomicI32, Ordering};

static CHILD: AtomicI32 = AtomicI32::new(0);

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
pub fn forward_signals_to(child: i32) {
    CHILD.store(child, Ordering::Relaxed);
    let handler = forward as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: installing SIG_IGN or a handler that only calls an
    // async-signal-safe function is sound; no other code here uses these signals.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGHUP, handler);
    }
}
