//! The control channel: stop and reload requests (from signals or from a
//! [`Handle`](crate::Handle)), and a wake-up pipe the daemon's loop polls.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Tells a running daemon to stop or reload; cheap to clone.
///
/// # Examples
///
/// ```
/// let c = mptcp_daemon::Control::new()?;
/// c.reload(); // the daemon reloads its configuration at its next wake-up
/// c.stop();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Control {
    inner: Arc<ControlInner>,
}

#[derive(Debug)]
struct ControlInner {
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
    wake_tx: UnixStream,
    wake_rx: UnixStream,
}

impl Control {
    /// A new control channel.
    ///
    /// # Errors
    ///
    /// When the wake-up socket pair cannot be made (out of descriptors).
    pub fn new() -> io::Result<Control> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let inner = ControlInner {
            stop: Arc::new(AtomicBool::new(false)),
            reload: Arc::new(AtomicBool::new(false)),
            wake_tx,
            wake_rx,
        };
        Ok(Control { inner: Arc::new(inner) })
    }

    /// Asks the daemon to stop (as SIGTERM does).
    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Asks the daemon to reload its configuration (as SIGHUP does).
    pub fn reload(&self) {
        self.inner.reload.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Wakes the daemon's loop (a full pipe already wakes it).
    pub(crate) fn wake(&self) {
        let _ = io::Write::write(&mut &self.inner.wake_tx, b"w");
    }

    /// SIGTERM and SIGINT stop, SIGHUP reloads.
    ///
    /// # Errors
    ///
    /// When a handler cannot be installed.
    pub fn install_signal_handlers(&self) -> io::Result<()> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        for (sig, flag) in [(SIGTERM, &self.inner.stop), (SIGINT, &self.inner.stop), (SIGHUP, &self.inner.reload)] {
            signal_hook::flag::register(sig, flag.clone())?;
            signal_hook::low_level::pipe::register(sig, self.inner.wake_tx.try_clone()?)?;
        }
        Ok(())
    }

    /// What the daemon's loop polls.
    pub(crate) fn wake_fd(&self) -> BorrowedFd<'_> {
        self.inner.wake_rx.as_fd()
    }

    /// Empties the wake-up pipe.
    pub(crate) fn drain_wake(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.inner.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Whether a stop was asked for (it stays asked for).
    pub(crate) fn stop_requested(&self) -> bool {
        self.inner.stop.load(Ordering::SeqCst)
    }

    /// Whether a reload was asked for since the last call.
    pub(crate) fn take_reload(&self) -> bool {
        self.inner.reload.swap(false, Ordering::SeqCst)
    }
}
