//! The daemon's life: checks, start-up reconcile, the event loop (blocked
//! in `poll` on the rtnetlink socket and the control pipe: no work while
//! nothing happens), reload and exit.

use std::io::{self, Read};
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mptcp::pm::PathManager;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::config::{Config, OnExit};
use crate::engine::{Engine, Fatal, Trigger};
use crate::net::{Change, NetState};
use crate::rtnl::{self, Events};
use crate::server::{Servers, Shared};
use crate::state::{StateFile, Store};
use crate::status::{AddrStatus, EndpointStatus, InterfaceStatus, Status};
use crate::time::{rfc3339, unix_now};
use crate::{notify, Control, Error};

/// How often a daemon waiting for MPTCP looks again (there is no event
/// for a sysctl change).
const WAIT_POLL: Duration = Duration::from_secs(5);

/// `CAP_NET_ADMIN` (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;

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

/// Everything the loop owns.
struct Daemon {
    cfg: Config,
    store: Option<Store>,
    pending_state: Option<StateFile>,
    engine: Option<Engine>,
    waiting: Option<String>,
    net: NetState,
    shared: Arc<Mutex<Shared>>,
    started: f64,
    counters_events: std::collections::BTreeMap<&'static str, u64>,
    resyncs: u64,
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
            (Some(s), st)
        }
        None => (None, StateFile::default()),
    };
    let control_listener = match &store {
        Some(s) => Some(bind_control(s.socket_path())?),
        None => None,
    };
    let metrics = match cfg.metrics {
        Some(a) => Some(TcpListener::bind(a).map_err(io_err(format!("metrics listener on {a}")))?),
        None => None,
    };
    let mut events = Events::open().map_err(io_err("rtnetlink socket"))?;
    let net = rtnl::dump().map_err(io_err("rtnetlink dump"))?;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let servers = Servers::start(control_listener, metrics, shared.clone()).map_err(io_err("status server thread"))?;
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
    };
    let result = d.main_loop(&mut events, control, &opts, on_ready);
    if opts.notify {
        notify::stopping();
    }
    let exit = d.exit();
    servers.stop();
    if let Some(s) = &d.store {
        let _ = std::fs::remove_file(s.socket_path());
    }
    result.and(exit)
}

fn bind_control(path: PathBuf) -> Result<UnixListener, Error> {
    // The runtime directory is locked: a socket file left there belongs to
    // a daemon that died.
    let _ = std::fs::remove_file(&path);
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
        on_ready(&self.shared);
        if opts.notify {
            notify::ready(&self.summary());
        }
        let mut next_wait_check = Instant::now() + WAIT_POLL;
        loop {
            let deadline =
                [self.engine.as_ref().and_then(|e| e.next_retry()), self.waiting.as_ref().map(|_| next_wait_check)]
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
                if control.take_stop() {
                    return Ok(());
                }
                reload = control.take_reload();
            }
            if reload {
                if opts.notify {
                    notify::reloading();
                }
                self.reload(at)?;
                if opts.notify {
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
            }
            self.save();
            self.publish();
        }
    }

    fn start_engine(&mut self, trig: &Trigger) -> Result<(), Error> {
        let pm = PathManager::new()?;
        let state = self.pending_state.take().unwrap_or_default();
        let mut engine = Engine::new(self.cfg.clone(), pm, state);
        engine.apply_fixed_limits(trig).map_err(fatal)?;
        engine.reconcile(&self.net, trig, true).map_err(fatal)?;
        engine.read_limits();
        self.engine = Some(engine);
        self.save();
        Ok(())
    }

    fn reload(&mut self, at: Instant) -> Result<(), Error> {
        let trig = Trigger { what: "configuration reloaded (SIGHUP)".into(), at, event: false };
        let new = match &self.cfg.source {
            Some(p) => match Config::load(p) {
                Ok(c) => c,
                Err(e) => {
                    log::error!("reload refused, keeping the running configuration: {e}");
                    return Ok(());
                }
            },
            None => self.cfg.clone(),
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
        let (Some(store), Some(engine)) = (&self.store, self.engine.as_mut()) else { return };
        if engine.dirty {
            match store.save(&engine.state()) {
                Ok(()) => engine.dirty = false,
                Err(e) => log::error!("cannot write the state file: {e}"),
            }
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
        let cfg = &self.cfg;
        let mut s = Status {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started: rfc3339(self.started),
            config: cfg.source.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in defaults".into()),
            manage: format!("{:?}", cfg.manage).to_lowercase(),
            on_exit: format!("{:?}", cfg.on_exit).to_lowercase(),
            state: match &self.waiting {
                Some(w) => format!("waiting for MPTCP: {w}"),
                None => "running".into(),
            },
            ..Status::default()
        };
        let plan = self.engine.as_ref().map(|e| e.plan.clone()).unwrap_or_else(|| crate::policy::plan(cfg, &self.net));
        for l in self.net.links() {
            let addresses = self
                .net
                .addrs()
                .filter(|a| a.index == l.index)
                .map(|a| {
                    let (endpoint, why) = match (plan.get(a.addr), plan.skipped.iter().find(|x| x.addr == a.addr)) {
                        (Some(w), _) => (true, w.why.clone()),
                        (None, Some(x)) => (false, x.why.clone()),
                        _ => (false, String::new()),
                    };
                    AddrStatus { addr: format!("{}/{}", a.addr, a.prefix_len), endpoint, why }
                })
                .collect();
            s.interfaces.push(InterfaceStatus {
                name: l.name.clone(),
                index: l.index,
                up: l.up,
                carrier: l.carrier,
                addresses,
            });
        }
        let Some(e) = &self.engine else { return s };
        s.limit_subflows = e.limits.map(|l| l.subflows);
        s.limit_add_addr_accepted = e.limits.map(|l| l.add_addr_accepted);
        let owned = e.owned_ids();
        for ep in &e.kernel {
            let ours = owned.contains(&ep.id);
            let why = match (plan.get(ep.addr), ours) {
                (Some(w), true) => w.why.clone(),
                (Some(_), false) => "not the daemon's (manage = \"own\"); its address is one the policy wants".into(),
                (None, true) => "the daemon's; no longer wanted (being removed)".into(),
                (None, false) => "not the daemon's; left alone".into(),
            };
            s.endpoints.push(EndpointStatus {
                id: ep.id,
                addr: ep.addr.to_string(),
                dev: ep.ifindex.map(|i| self.net.name(i)),
                flags: ep.flags.names().into_iter().map(String::from).collect(),
                port: ep.port,
                owner: if ours { "daemon" } else { "other" }.into(),
                why,
            });
        }
        s.pending = e
            .notes
            .iter()
            .map(|(a, why)| AddrStatus { addr: a.to_string(), endpoint: false, why: why.clone() })
            .collect();
        s.held = e.held.values().cloned().collect();
        s.last_actions = e.actions.iter().cloned().collect();
        s
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

impl Control {
    /// Empties the wake pipe.
    fn drain_wake(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.inner.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
    }
}
