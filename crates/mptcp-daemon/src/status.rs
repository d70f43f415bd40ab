//! What `mptcp daemon status` shows: interfaces, the endpoints and why,
//! the last actions. Served as JSON on the control socket
//! (`RUNTIME_DIR/control.sock`): connect, read to the end.

use std::fmt::Write as _;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::config::Config;
use crate::engine::Engine;
pub use crate::engine::{Action, Held};
use crate::net::NetState;
use crate::policy;
use crate::time::rfc3339;

/// An address of an interface and what the policy made of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AddrStatus {
    /// `ADDR/LEN`.
    pub addr: String,
    /// Whether the policy wants an endpoint for it.
    pub endpoint: bool,
    /// Why (or why not).
    pub why: String,
}

/// An interface.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InterfaceStatus {
    /// Name.
    pub name: String,
    /// Index.
    pub index: u32,
    /// Administratively up.
    pub up: bool,
    /// Carrier.
    pub carrier: bool,
    /// Its addresses.
    pub addresses: Vec<AddrStatus>,
}

/// An endpoint in the kernel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndpointStatus {
    /// Id.
    pub id: u8,
    /// Address.
    pub addr: String,
    /// Interface it is bound to.
    pub dev: Option<String>,
    /// Flags, as `ip mptcp` names them.
    pub flags: Vec<String>,
    /// Port.
    pub port: Option<u16>,
    /// `daemon` (created or adopted by it) or `other`.
    pub owner: String,
    /// Why it is there, or what the daemon thinks of it.
    pub why: String,
}

/// The daemon's state as `mptcp daemon status` shows it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// Process id.
    pub pid: u32,
    /// Version of the daemon.
    pub version: String,
    /// Start time (RFC 3339).
    pub started: String,
    /// Configuration file, or `built-in defaults`.
    pub config: String,
    /// `own` or `all`.
    pub manage: String,
    /// `keep` or `flush`.
    pub on_exit: String,
    /// `running`, or `waiting for MPTCP: ...`.
    pub state: String,
    /// `subflows` limit, when read.
    pub limit_subflows: Option<u32>,
    /// `add_addr_accepted` limit, when read.
    pub limit_add_addr_accepted: Option<u32>,
    /// Interfaces and their addresses.
    pub interfaces: Vec<InterfaceStatus>,
    /// The kernel's endpoints.
    pub endpoints: Vec<EndpointStatus>,
    /// Addresses the policy wants without an endpoint, and why.
    pub pending: Vec<AddrStatus>,
    /// Changes made by someone else that the daemon leaves alone.
    pub held: Vec<Held>,
    /// The last actions, oldest first.
    pub last_actions: Vec<Action>,
}

impl Status {
    /// Human-readable text.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mptcp_daemon::Status { state: "running".into(), ..Default::default() };
    /// assert!(s.render().contains("state: running"));
    /// ```
    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "mptcp daemon {} (pid {}), started {}", self.version, self.pid, self.started);
        let _ = writeln!(o, "state: {}", self.state);
        let _ = writeln!(o, "config: {} (manage {}, on exit {})", self.config, self.manage, self.on_exit);
        if let (Some(s), Some(a)) = (self.limit_subflows, self.limit_add_addr_accepted) {
            let _ = writeln!(o, "limits: subflows {s} add_addr_accepted {a}");
        }
        let _ = writeln!(o, "\ninterfaces:");
        for i in &self.interfaces {
            let st = match (i.up, i.carrier) {
                (true, true) => "up",
                (true, false) => "up, no carrier",
                _ => "down",
            };
            let _ = writeln!(o, "  {} ({st})", i.name);
            for a in &i.addresses {
                let mark = if a.endpoint { "endpoint" } else { "skipped" };
                let _ = writeln!(o, "    {:<28} {mark:<8}  {}", a.addr, a.why);
            }
        }
        let _ = writeln!(o, "\nendpoints:");
        if self.endpoints.is_empty() {
            let _ = writeln!(o, "  (none)");
        }
        for e in &self.endpoints {
            let mut line = format!("  id {:<3} {}", e.id, e.addr);
            if let Some(p) = e.port {
                let _ = write!(line, " port {p}");
            }
            if let Some(d) = &e.dev {
                let _ = write!(line, " dev {d}");
            }
            let _ = writeln!(o, "{line:<40} {:<18} [{}] {}", e.flags.join(" "), e.owner, e.why);
        }
        for p in &self.pending {
            let _ = writeln!(o, "  {:<37} {}", p.addr, p.why);
        }
        for h in &self.held {
            let _ = writeln!(o, "  held: {} {} (since {})", h.addr, h.what, h.since);
        }
        let _ = writeln!(o, "\nlast actions:");
        if self.last_actions.is_empty() {
            let _ = writeln!(o, "  (none)");
        }
        for a in self.last_actions.iter().rev().take(20).rev() {
            let _ = writeln!(
                o,
                "  {}  {} {}: {} ({}; {:.1} ms after it)",
                a.time, a.op, a.endpoint, a.result, a.trigger, a.after_event_ms
            );
        }
        o
    }
}

/// The status of a daemon with configuration `cfg`, seeing `net`, and its
/// engine (`None` while it waits for MPTCP, `waiting` saying why).
pub(crate) fn build(
    cfg: &Config,
    net: &NetState,
    engine: Option<&Engine>,
    waiting: Option<&str>,
    started: f64,
) -> Status {
    let mut s = Status {
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started: rfc3339(started),
        config: cfg.source.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in defaults".into()),
        manage: format!("{:?}", cfg.manage).to_lowercase(),
        on_exit: format!("{:?}", cfg.on_exit).to_lowercase(),
        state: match waiting {
            Some(w) => format!("waiting for MPTCP: {w}"),
            None => "running".into(),
        },
        ..Status::default()
    };
    let plan = engine.map(|e| e.plan.clone()).unwrap_or_else(|| policy::plan(cfg, net));
    for l in net.links() {
        let addresses = net
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
    let Some(e) = engine else { return s };
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
            dev: ep.ifindex.map(|i| net.name(i)),
            flags: ep.flags.names().into_iter().map(String::from).collect(),
            port: ep.port,
            owner: if ours { "daemon" } else { "other" }.into(),
            why,
        });
    }
    s.pending =
        e.notes.iter().map(|(a, why)| AddrStatus { addr: a.to_string(), endpoint: false, why: why.clone() }).collect();
    s.held = e.held.values().cloned().collect();
    s.last_actions = e.actions.iter().cloned().collect();
    s
}

/// Asks the daemon whose control socket is `socket` for its status.
///
/// # Errors
///
/// When no daemon listens there (it says so, with the path), or the
/// answer does not parse.
///
/// # Examples
///
/// ```no_run
/// let s = mptcp_daemon::status::query("/run/mptcp-daemon/control.sock".as_ref())?;
/// print!("{}", s.render());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn query(socket: &Path) -> io::Result<Status> {
    let mut s = UnixStream::connect(socket).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("no mptcp daemon answers on {} ({e}); is it running, with this runtime_dir?", socket.display()),
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    serde_json::from_str(&text)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad status answer: {e}")))
}
