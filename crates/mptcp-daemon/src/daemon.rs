//! The daemon's life: checks, start-up reconcile, the event loop (blocked
//! in `poll` on the rtnetlink socket and the control pipe; while nothing
//! happens, one read of the kernel's endpoints a second, [`KERNEL_CHECK`]),
//! reload and exit; how it is started ([`spawn`],
//! [`run_foreground`]) and what stops it ([`Error`]).

use std::io;
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mptcp::pm::PathManager;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::config::{Config, ConfigError, OnExit};
use crate::control::Control;
use crate::engine::{Engine, Fatal, Trigger};
use crate::net::{Change, NetState};
use crate::notify;
use crate::rtnl::{self, Events};
use crate::server::{Servers, Shared};
use crate::state::{StateFile, Store};
use crate::status::{self, Status};
use crate::time::unix_now;

/// How often a daemon waiting for MPTCP looks again (there is no event
/// for a sysctl change).
const WAIT_POLL: Duration = Duration::from_secs(5);

/// How often the kernel's endpoint set is read to notice changes made by
/// others (`ip mptcp endpoint flush`): the kernel announces none, neither
/// on rtnetlink nor on the path manager's multicast groups (checked on
/// 6.18). One dump of at most 8 endpoints per period.
const KERNEL_CHECK: Duration = Duration::from_secs(1);

/// `CAP_NET_ADMIN` (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;

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

/// A daemon running on its own thread (see [`spawn`]); stopped (with its
/// `on_exit` policy) when dropped.
#[derive(Debug)]
pub struct Handle {
    control: Control,
    shared: Arc<Mutex<Shared>>,
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
            let mut ready = |shared: &Arc<Mutex<Shared>>| {
                let _ = tx.send(shared.clone());
            };
            run(cfg, &c, Options { notify: false }, &mut ready)
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
    let mut ready = |_: &Arc<Mutex<Shared>>| log::info!("ready");
    run(cfg, &control, Options { notify: true }, &mut ready)
}

pub(crate) struct Options {
    /// Talk to systemd (`NOTIFY_SOCKET`).
    pub notify: bool,
}

/// Whether the calling thread has `CAP_NET_ADMIN` (effective set).
fn has_net_admin() -> bool {
    let text = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

/// `None` when MPTCP works in this namespace, else why not.
fn mptcp_unavailable() -> Option<String> {
    let a = mptcp::HostSupport::probe().availability;
    if a != mptcp::Availability::Available {
        return Some(a.to_string());
    }
    match PathManager::new() {
        Ok(_) => None,
        Err(e @ mptcp::pm::Error::FamilyNotFound { .. }) => Some(e.to_string()),
        Err(e) => Some(format!("the path manager does not answer: {e}")),
    }
}

fn fatal(f: Fatal) -> Error {
    match f {
        Fatal::NotPermitted => Error::NotPermitted,
        Fatal::Pm(e) => Error::Pm(e),
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// A configuration file being read for a reload.
struct Reading {
    rx: mpsc::Receiver<Result<Config, ConfigError>>,
    since: Instant,
}

impl Reading {
    /// `None` while the read goes on; then what it gave (`None` if its
    /// thread ended without an answer).
    fn result(&mut self) -> Option<Option<Result<Config, ConfigError>>> {
        match self.rx.try_recv() {
            Ok(r) => Some(Some(r)),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => {
                log::error!("reload refused: reading the configuration failed");
                Some(None)
            }
        }
    }
}

/// Everything the loop owns.
struct Daemon {
    cfg: Config,
    store: Option<Arc<Store>>,
    pending_state: Option<StateFile>,
    engine: Option<Engine>,
    waiting: Option<String>,
    net: NetState,
    shared: Arc<Mutex<Shared>>,
    started: f64,
    counters_events: std::collections::BTreeMap<&'static str, u64>,
    resyncs: u64,
    /// A reload's configuration being read.
    reading: Option<Reading>,
    /// Another reload was asked for while reading.
    read_again: bool,
    /// The control socket and metrics listener, bound at start (their
    /// clients wait in the backlog) and served once the start-up is done.
    listeners: Option<(Option<UnixListener>, Option<TcpListener>)>,
    servers: Option<Servers>,
}

pub(crate) fn run(
    cfg: Config,
    control: &Control,
    opts: Options,
    on_ready: &mut dyn FnMut(&Arc<Mutex<Shared>>),
) -> Result<(), Error> {
    if !has_net_admin() {
        return Err(Error::NotPermitted);
    }
    let waiting = mptcp_unavailable();
    if let Some(why) = &waiting {
        if !cfg.wait_for_mptcp {
            return Err(Error::NoMptcp(why.clone()));
        }
        log::warn!("MPTCP is not available ({why}); waiting for it (wait_for_mptcp = true)");
    }
    let (store, state) = match &cfg.runtime_dir {
        Some(dir) => {
            let (s, st, warn) = Store::open(dir).map_err(io_err(format!("runtime directory {}", dir.display())))?;
            if let Some(w) = warn {
                log::warn!("{w}");
            }
            (Some(Arc::new(s)), st)
        }
        None => (None, StateFile::default()),
    };
    let control_listener = match &store {
        Some(s) => Some(bind_control(s)?),
        None => None,
    };
    let metrics = match cfg.metrics {
        Some(a) => Some(TcpListener::bind(a).map_err(io_err(format!("metrics listener on {a}")))?),
        None => None,
    };
    let mut events = Events::open().map_err(io_err("rtnetlink socket"))?;
    let net = rtnl::dump().map_err(io_err("rtnetlink dump"))?;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let mut d = Daemon {
        cfg,
        store,
        pending_state: Some(state),
        engine: None,
        waiting,
        net,
        shared,
        started: unix_now(),
        counters_events: Default::default(),
        resyncs: 0,
        reading: None,
        read_again: false,
        listeners: Some((control_listener, metrics)),
        servers: None,
    };
    let result = d.main_loop(&mut events, control, &opts, on_ready);
    if opts.notify {
        notify::stopping();
    }
    let exit = d.exit();
    if let Some(s) = d.servers.take() {
        s.stop();
    }
    if let Some(s) = &d.store {
        s.remove_socket();
    }
    result.and(exit)
}

fn bind_control(store: &Store) -> Result<UnixListener, Error> {
    // The runtime directory is locked: a socket file left there belongs to
    // a daemon that died.
    store.remove_socket();
    let path = store.socket_path();
    let l = UnixListener::bind(&path).map_err(io_err(format!("control socket {}", path.display())))?;
    // Status is for every local user, like `ip address`.
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666));
    Ok(l)
}

impl Daemon {
    fn main_loop(
        &mut self,
        events: &mut Events,
        control: &Control,
        opts: &Options,
        on_ready: &mut dyn FnMut(&Arc<Mutex<Shared>>),
    ) -> Result<(), Error> {
        let start = Trigger { what: "start-up".into(), at: Instant::now(), event: false };
        if self.waiting.is_none() {
            self.start_engine(&start)?;
        }
        self.publish();
        // Served from now on: a status asked for during the start-up
        // waits for it instead of getting an empty one.
        let (control_listener, metrics) = self.listeners.take().unwrap_or_default();
        self.servers = Some(
            Servers::start(control_listener, metrics, self.shared.clone()).map_err(io_err("status server thread"))?,
        );
        on_ready(&self.shared);
        if opts.notify {
            notify::ready(&self.summary());
        }
        let mut next_wait_check = Instant::now() + WAIT_POLL;
        let mut next_kernel_check = Instant::now() + KERNEL_CHECK;
        loop {
            let deadline = [
                self.engine.as_ref().and_then(|e| e.next_retry()),
                self.waiting.as_ref().map(|_| next_wait_check),
                self.engine.as_ref().map(|_| next_kernel_check),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let ms = d.saturating_duration_since(Instant::now()).as_millis().min(60_000) as u16;
                    PollTimeout::from(ms.max(1))
                }
            };
            let (ev_ready, wake_ready) = {
                let mut fds =
                    [PollFd::new(events.as_fd(), PollFlags::POLLIN), PollFd::new(control.wake_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, timeout) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(io_err("poll")(e.into())),
                }
                let r = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
                (r(&fds[0]), r(&fds[1]))
            };
            let at = Instant::now();
            let mut changes: Vec<Change> = Vec::new();
            let mut lost = false;
            if ev_ready {
                let drained = events.drain().map_err(io_err("rtnetlink events"))?;
                for m in &drained.messages {
                    if let Some(c) = self.net.apply(m) {
                        let kind = match c {
                            Change::Link(_) => "link",
                            Change::Addr(_) => "address",
                            Change::Route(_) => "route",
                        };
                        *self.counters_events.entry(kind).or_default() += 1;
                        log::debug!("{c}");
                        changes.push(c);
                    }
                }
                if drained.lost {
                    lost = true;
                    log::warn!("rtnetlink events were lost; reading the whole state again");
                    self.resyncs += 1;
                    self.net = rtnl::dump().map_err(io_err("rtnetlink dump"))?;
                    changes.push(Change::Link("state read again after lost events".into()));
                }
            }
            let mut reload = false;
            if wake_ready {
                control.drain_wake();
                if control.stop_requested() {
                    return Ok(());
                }
                reload = control.take_reload();
            }
            if reload {
                if opts.notify {
                    notify::reloading();
                }
                self.request_reload(control);
            }
            if let Some(result) = self.reading.as_mut().and_then(Reading::result) {
                self.reading = None;
                if let Some(new) = result {
                    self.apply_config(new, at)?;
                }
                if std::mem::take(&mut self.read_again) {
                    self.request_reload(control);
                }
                if self.reading.is_none() && opts.notify {
                    notify::ready(&self.summary());
                }
            }
            if self.waiting.is_some() && (reload || Instant::now() >= next_wait_check) {
                next_wait_check = Instant::now() + WAIT_POLL;
                self.waiting = mptcp_unavailable();
                if self.waiting.is_none() {
                    log::info!("MPTCP is available now; starting");
                    self.start_engine(&Trigger { what: "MPTCP became available".into(), at, event: false })?;
                }
            }
            if let Some(engine) = self.engine.as_mut() {
                if !changes.is_empty() {
                    let trig = Trigger { what: summarize(&changes), at, event: true };
                    let plan = crate::policy::plan(&engine.cfg, &self.net);
                    if plan.want != engine.plan.want || lost {
                        engine.reconcile(&self.net, &trig, false).map_err(fatal)?;
                    } else {
                        engine.plan = plan;
                    }
                }
                if engine.next_retry().is_some_and(|t| t <= Instant::now()) {
                    let trig = Trigger { what: "retry after an error".into(), at: Instant::now(), event: false };
                    engine.reconcile(&self.net, &trig, false).map_err(fatal)?;
                }
                if Instant::now() >= next_kernel_check {
                    next_kernel_check = Instant::now() + KERNEL_CHECK;
                    if engine.kernel_changed().map_err(fatal)? {
                        let trig = Trigger {
                            what: "endpoints changed by someone else".into(),
                            at: Instant::now(),
                            event: false,
                        };
                        engine.reconcile(&self.net, &trig, false).map_err(fatal)?;
                    }
                }
            }
            self.save();
            self.publish();
        }
    }

    fn start_engine(&mut self, trig: &Trigger) -> Result<(), Error> {
        let pm = PathManager::new()?;
        let state = self.pending_state.take().unwrap_or_default();
        let mut engine = Engine::new(self.cfg.clone(), pm, state, self.store.clone());
        engine.apply_fixed_limits(trig).map_err(fatal)?;
        engine.reconcile(&self.net, trig, true).map_err(fatal)?;
        engine.read_limits();
        self.engine = Some(engine);
        self.save();
        Ok(())
    }

    /// SIGHUP: the configuration file is read on a thread of its own (a
    /// slow or stuck file system must not stop the event loop); a read
    /// asked for while one runs starts when it ends.
    fn request_reload(&mut self, control: &Control) {
        let (tx, rx) = mpsc::channel();
        let Some(path) = self.cfg.source.clone() else {
            // Built in code: nothing to read; applied again (holds and
            // retries start afresh).
            let _ = tx.send(Ok(self.cfg.clone()));
            self.reading = Some(Reading { rx, since: Instant::now() });
            return;
        };
        if let Some(r) = &self.reading {
            log::warn!(
                "still reading {} ({:.0} s); reloading again once that is done",
                path.display(),
                r.since.elapsed().as_secs_f64()
            );
            self.read_again = true;
            return;
        }
        let wake = control.clone();
        let (p, thread_tx) = (path.clone(), tx.clone());
        let started = std::thread::Builder::new().name("mptcp-daemon-config".into()).spawn(move || {
            let _ = thread_tx.send(Config::load(&p));
            wake.wake();
        });
        if let Err(e) = started {
            let message = format!("cannot start a thread to read it: {e}");
            let _ = tx.send(Err(ConfigError { file: path.display().to_string(), line: None, key: None, message }));
        }
        self.reading = Some(Reading { rx, since: Instant::now() });
    }

    /// Applies a configuration read for a reload; a broken one is refused.
    fn apply_config(&mut self, new: Result<Config, ConfigError>, at: Instant) -> Result<(), Error> {
        let trig = Trigger { what: "configuration reloaded (SIGHUP)".into(), at, event: false };
        let new = match new {
            Ok(c) => c,
            Err(e) => {
                log::error!("reload refused, keeping the running configuration: {e}");
                return Ok(());
            }
        };
        if new.runtime_dir != self.cfg.runtime_dir || new.metrics != self.cfg.metrics {
            log::warn!("runtime_dir and metrics take effect at the next start, not on reload");
        }
        log::info!(
            "configuration reloaded from {}",
            new.source.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "memory".into())
        );
        self.cfg = new.clone();
        if let Some(engine) = self.engine.as_mut() {
            engine.set_config(new);
            engine.apply_fixed_limits(&trig).map_err(fatal)?;
            engine.reconcile(&self.net, &trig, false).map_err(fatal)?;
            engine.read_limits();
        }
        Ok(())
    }

    fn save(&mut self) {
        if let Some(engine) = self.engine.as_mut() {
            engine.save();
        }
    }

    /// SIGTERM: keep or flush the endpoints, save the state.
    fn exit(&mut self) -> Result<(), Error> {
        let trig = Trigger { what: "stopping".into(), at: Instant::now(), event: false };
        if let Some(engine) = self.engine.as_mut() {
            if engine.cfg.on_exit == OnExit::Flush {
                engine.flush_owned(&self.net, &trig).map_err(fatal)?;
            }
        }
        self.save();
        Ok(())
    }

    fn summary(&self) -> String {
        match (&self.waiting, &self.engine) {
            (Some(w), _) => format!("waiting for MPTCP: {w}"),
            (None, Some(e)) => format!("{} endpoints, {} of them the daemon's", e.kernel.len(), e.owned_ids().len()),
            _ => "starting".into(),
        }
    }

    /// Publishes the status and the metrics' view for the server thread.
    fn publish(&self) {
        let status = self.status();
        let mut sh = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        sh.status = status;
        let v = &mut sh.view;
        v.net = self.net.clone();
        v.started_unix = self.started;
        v.waiting = self.waiting.is_some();
        if let Some(e) = &self.engine {
            v.counters = e.counters.clone();
            v.owned = e.owned_ids();
            v.held = e.held.len();
        }
        v.counters.events = self.counters_events.clone();
        v.counters.resyncs = self.resyncs;
    }

    fn status(&self) -> Status {
        status::build(&self.cfg, &self.net, self.engine.as_ref(), self.waiting.as_deref(), self.started)
    }
}

/// One line for many changes.
fn summarize(changes: &[Change]) -> String {
    let mut parts: Vec<String> = changes.iter().take(3).map(|c| c.to_string()).collect();
    if changes.len() > 3 {
        parts.push(format!("and {} more", changes.len() - 3));
    }
    parts.join("; ")
}
