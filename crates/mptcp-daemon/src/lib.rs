//! A path-manager daemon for Linux MPTCP: the kernel's endpoints follow the
//! interfaces.
//!
//! The in-kernel path manager only uses the endpoints someone configured,
//! and does nothing when a link goes down or an address goes away: a dead
//! subflow stalls its connection until retransmission timers give up, and a
//! link that comes back is used again only when its endpoint is added
//! again. This daemon watches rtnetlink (links, carrier, addresses, default
//! routes) and keeps the endpoint set equal to its policy applied to the
//! current addresses: an address added becomes an endpoint; a link down,
//! carrier lost or address removed deletes it at once (and, with `delete
//! id 0 ADDR`, the initial subflows that started from it), so the kernel
//! closes the dead subflows and reinjects their data on the others; a link
//! back adds it again, so existing connections regain their subflows.
//!
//! - [`Config`]: the policy (defaults like NetworkManager's, a TOML file).
//! - [`spawn`]: the daemon on a thread in the calling thread's network
//!   namespace, with a [`Handle`] to stop it (for labs and tests).
//! - [`run_foreground`]: what `mptcp daemon` runs (signals, systemd
//!   readiness, logs).
//! - [`status::query`]: what `mptcp daemon status` asks.
//! - [`metrics`]: Prometheus text exposition.
//!
//! # Examples
//!
//! ```no_run
//! use mptcp_daemon::{Config, DefaultRoute};
//!
//! // In a lab namespace: no default route, no state file.
//! let mut cfg = Config::default();
//! cfg.default_route = DefaultRoute::Any;
//! cfg.runtime_dir = None;
//! let daemon = mptcp_daemon::spawn(cfg)?;
//! for e in &daemon.status().endpoints {
//!     println!("id {} {} {:?}", e.id, e.addr, e.dev);
//! }
//! daemon.stop()?;
//! # Ok::<(), mptcp_daemon::Error>(())
//! ```
#![deny(missing_docs, missing_debug_implementations)]

mod config;
mod daemon;
mod engine;
pub mod metrics;
pub mod net;
mod notify;
mod pattern;
pub mod policy;
mod rtnl;
mod server;
mod state;
pub mod status;
pub mod time;

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

pub use config::{
    Config, ConfigError, DefaultRoute, Limit, Manage, OnExit, Rule, DEFAULT_CONFIG_PATH, DEFAULT_IGNORE_INTERFACES,
    DEFAULT_RUNTIME_DIR, EXAMPLE,
};
pub use engine::{Held, MAX_ENDPOINTS};
pub use notify::init_logging;
pub use pattern::{Glob, Prefix};
pub use rtnl::dump as dump_network;
pub use state::{Owned, StateFile};
pub use status::Status;

/// Errors that stop the daemon.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is wrong (nothing was touched).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No `CAP_NET_ADMIN` in this network namespace.
    #[error(
        "the path manager needs CAP_NET_ADMIN: run `mptcp daemon` as root, or give it the capability \
         (systemd: AmbientCapabilities=CAP_NET_ADMIN)"
    )]
    NotPermitted,
    /// MPTCP is not available and the configuration does not ask to wait.
    #[error("MPTCP is not available here: {0}; to keep running until it is, set wait_for_mptcp = true")]
    NoMptcp(String),
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The path manager failed.
    #[error("path manager: {0}")]
    Pm(#[from] mptcp::pm::Error),
}

impl Error {
    /// The exit status `mptcp daemon` uses: 2 for a configuration error
    /// (nothing was touched), 1 otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mptcp_daemon::Config::from_toml("manage = 1", "x.toml").unwrap_err();
    /// assert_eq!(mptcp_daemon::Error::from(e).exit_code(), 2);
    /// assert_eq!(mptcp_daemon::Error::NotPermitted.exit_code(), 1);
    /// ```
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) => 2,
            _ => 1,
        }
    }
}

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

    fn wake(&self) {
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

    fn wake_fd(&self) -> BorrowedFd<'_> {
        self.inner.wake_rx.as_fd()
    }

    fn take_stop(&self) -> bool {
        self.inner.stop.load(Ordering::SeqCst)
    }

    fn take_reload(&self) -> bool {
        self.inner.reload.swap(false, Ordering::SeqCst)
    }
}

/// A daemon running on its own thread (see [`spawn`]); stopped (with its
/// `on_exit` policy) when dropped.
#[derive(Debug)]
pub struct Handle {
    control: Control,
    shared: Arc<Mutex<server::Shared>>,
    thread: Option<JoinHandle<Result<(), Error>>>,
}

impl Handle {
    /// The current status (as `mptcp daemon status --json` shows it).
    pub fn status(&self) -> Status {
        self.shared.lock().unwrap_or_else(|p| p.into_inner()).status.clone()
    }

    /// Reloads the configuration (a configuration read from a file is read
    /// again); holds on endpoints changed by someone else are released.
    pub fn reload(&self) {
        self.control.reload();
    }

    /// The control channel.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Stops the daemon and waits for it; returns what stopped it, if it
    /// failed on its own.
    ///
    /// # Errors
    ///
    /// The error that ended the daemon's loop, if any.
    pub fn stop(mut self) -> Result<(), Error> {
        match self.finish() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Stops and joins the thread; `Err` carries its panic.
    fn finish(&mut self) -> std::thread::Result<Result<(), Error>> {
        self.control.stop();
        self.thread.take().map(|t| t.join()).unwrap_or(Ok(Ok(())))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // No second panic here: the caller may be unwinding already.
        match self.finish() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::error!("mptcp daemon: {e}"),
            Err(_) => log::error!("mptcp daemon: its thread panicked"),
        }
    }
}

/// Starts the daemon on a new thread in the calling thread's network
/// namespace (a thread started inside a namespace stays there), and
/// returns once its start-up reconcile is done.
///
/// For a lab namespace: call it from inside `Netns::in_ns` (the daemon's
/// thread outlives that closure), with `runtime_dir = None` (or a private
/// directory) and `default_route = DefaultRoute::Any` when the namespace
/// has no default route.
///
/// # Errors
///
/// What stops the daemon from starting: no `CAP_NET_ADMIN`, no MPTCP
/// (unless `wait_for_mptcp`), a runtime directory another daemon holds, a
/// metrics address in use.
///
/// # Examples
///
/// ```no_run
/// let mut cfg = mptcp_daemon::Config::default();
/// cfg.runtime_dir = None;
/// let daemon = mptcp_daemon::spawn(cfg)?;
/// println!("{}", daemon.status().render());
/// daemon.stop()?;
/// # Ok::<(), mptcp_daemon::Error>(())
/// ```
pub fn spawn(cfg: Config) -> Result<Handle, Error> {
    let control = Control::new().map_err(|source| Error::Io { what: "control channel".into(), source })?;
    let (tx, rx) = mpsc::channel();
    let c = control.clone();
    let thread = std::thread::Builder::new()
        .name("mptcp-daemon".into())
        .spawn(move || {
            let mut ready = |shared: &Arc<Mutex<server::Shared>>| {
                let _ = tx.send(shared.clone());
            };
            daemon::run(cfg, &c, daemon::Options { notify: false }, &mut ready)
        })
        .map_err(|source| Error::Io { what: "daemon thread".into(), source })?;
    match rx.recv() {
        Ok(shared) => Ok(Handle { control, shared, thread: Some(thread) }),
        Err(_) => match thread.join() {
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => Err(Error::Io { what: "daemon".into(), source: io::ErrorKind::Interrupted.into() }),
            Err(p) => std::panic::resume_unwind(p),
        },
    }
}

/// Runs the daemon on the calling thread until SIGTERM or SIGINT (SIGHUP
/// reloads), telling systemd when it is ready: what `mptcp daemon` does.
///
/// # Errors
///
/// As [`spawn`], and any error that ends the loop.
///
/// # Examples
///
/// ```no_run
/// let cfg = mptcp_daemon::Config::load("/etc/mptcp/daemon.toml".as_ref())?;
/// mptcp_daemon::init_logging(false);
/// mptcp_daemon::run_foreground(cfg)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_foreground(cfg: Config) -> Result<(), Error> {
    let control = Control::new().map_err(|source| Error::Io { what: "control channel".into(), source })?;
    control.install_signal_handlers().map_err(|source| Error::Io { what: "signal handlers".into(), source })?;
    let mut ready = |_: &Arc<Mutex<server::Shared>>| log::info!("ready");
    daemon::run(cfg, &control, daemon::Options { notify: true }, &mut ready)
}
