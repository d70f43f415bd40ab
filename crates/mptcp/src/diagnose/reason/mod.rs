//! The reasoning: observations in, findings out. No I/O here.
//!
//! The entry point and what every part shares are here; the host's
//! checks (`host`), a client's connection (`client`) and a listener
//! (`server`) have a module each.

mod client;
mod host;
mod server;

use std::net::IpAddr;

use super::finding::{Finding, FindingId as Id, Report, Severity, SubflowCount};
use super::observe::{Client, ConnStatus, Endpoint, Event, Host, Interface, Observations, RouteCheck, Server, Support};

/// The kernel's maximum of endpoints per namespace (`MPTCP_PM_ADDR_MAX`).
pub const MAX_ENDPOINTS: usize = 8;

/// `MPTCP_PM_EV_FLAG_DENY_JOIN_ID0`.
const DENY_JOIN_ID0: u16 = 1;

/// Explains what was observed: see the [module documentation](super) for
/// what each finding means.
///
/// # Examples
///
/// ```
/// use mptcp::diagnose::{diagnose, Client, ConnStatus, Observations};
///
/// // A connection that fell back: the server answered without MP_CAPABLE.
/// let mut obs = Observations::default();
/// let mut c = Client::default();
/// c.target = "192.0.2.7:80".into();
/// c.remote = Some("192.0.2.7:80".parse().unwrap());
/// c.status = ConnStatus::Fallback;
/// c.counters_read = true;
/// c.counters.insert("MPCapableSYNTX".into(), 1);
/// c.counters.insert("MPCapableFallbackSYNACK".into(), 1);
/// obs.client = Some(c);
/// let report = diagnose(&obs);
/// assert_eq!(report.mptcp, Some(false));
/// assert_eq!(report.error_ids()[0].name(), "no-mptcp-answer");
/// ```
pub fn diagnose(obs: &Observations) -> Report {
    let mode = match (&obs.client, &obs.server) {
        (Some(_), _) => Mode::Client,
        (None, Some(_)) => Mode::Server,
        _ => Mode::Host,
    };
    let conn = obs
        .client
        .as_ref()
        .filter(|c| c.status == ConnStatus::Mptcp)
        .map(|c| (c.remote.map(|r| r.ip()), c.local.map(|l| l.ip())));
    let mut r = Reasoner { host: &obs.host, mode, conn, out: Vec::new() };
    let available = r.availability();
    if available {
        r.path_manager();
        r.endpoints();
        r.managers();
        if mode == Mode::Host {
            r.blackhole_history();
        }
    }
    let (mptcp, subflows) = match (&obs.client, &obs.server) {
        (Some(c), _) => r.client(c, available),
        (None, Some(s)) => {
            r.server(s, available);
            let any = !s.accepted.is_empty();
            (any.then(|| s.accepted.iter().all(|a| a.status == ConnStatus::Mptcp)), None)
        }
        _ => (None, None),
    };
    let mut findings = r.out;
    // Errors first; within a severity, the order of the reasoning.
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let target = obs.client.as_ref().map(|c| c.target.clone());
    let verdict = verdict(mode, mptcp, subflows, &findings, &obs.host);
    Report { target, mode: mode.name(), mptcp, subflows, verdict, findings }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Host,
    Client,
    Server,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Host => "host",
            Mode::Client => "client",
            Mode::Server => "server",
        }
    }
}

struct Reasoner<'a> {
    host: &'a Host,
    mode: Mode,
    /// An MPTCP connection's remote and local addresses: its subflow
    /// endpoints are judged with it.
    conn: Option<(Option<IpAddr>, Option<IpAddr>)>,
    out: Vec<Finding>,
}

/// The first sentence of a message, for the verdict.
fn first_sentence(s: &str) -> &str {
    let end = [s.find(". "), s.find(": ")].into_iter().flatten().min();
    match end {
        Some(i) => &s[..i],
        None => s.trim_end_matches('.'),
    }
}

fn verdict(
    mode: Mode,
    mptcp: Option<bool>,
    subflows: Option<SubflowCount>,
    findings: &[Finding],
    host: &Host,
) -> String {
    let line = verdict_line(mode, mptcp, subflows, findings, host);
    match findings.iter().filter(|f| f.severity == Severity::Warning).count() {
        0 => line,
        1 => format!("{line} (and 1 warning)"),
        n => format!("{line} (and {n} warnings)"),
    }
}

fn verdict_line(
    mode: Mode,
    mptcp: Option<bool>,
    subflows: Option<SubflowCount>,
    findings: &[Finding],
    host: &Host,
) -> String {
    let first_error = findings.iter().find(|f| f.severity == Severity::Error);
    let cause = |f: &Finding| format!("{}: {}", f.id, first_sentence(&f.message));
    match mode {
        Mode::Client => {
            let sf = subflows.map(|s| format!("{} of {} possible subflows", s.established, s.possible));
            match (mptcp, first_error) {
                (Some(false), Some(f)) => format!("plain TCP, not MPTCP: {}", cause(f)),
                (Some(false), None) => "plain TCP, not MPTCP, and no cause found".to_string(),
                (_, Some(f)) => format!("MPTCP with {}: {}", sf.unwrap_or_default(), cause(f)),
                (_, None) if subflows.is_some_and(|s| s.established < s.possible) => {
                    format!("MPTCP with {}, and no cause found", sf.unwrap_or_default())
                }
                (_, None) => format!("healthy: MPTCP with {}", sf.unwrap_or_default()),
            }
        }
        Mode::Server => match first_error {
            Some(f) => format!("problem seen by the server: {}", cause(f)),
            None if mptcp.is_none() => "no connection arrived while listening".to_string(),
            None => "healthy: the connections arrived with MPTCP".to_string(),
        },
        Mode::Host => match first_error {
            Some(f) => format!("problem: {}", cause(f)),
            None => {
                let pm = path_manager(host);
                let n = host.endpoints.as_ref().map(|e| e.iter().filter(|e| e.has("subflow")).count());
                let mut s = format!("healthy: MPTCP is available, path manager {pm}");
                if let Some(n) = n {
                    s.push_str(&format!(", {n} subflow endpoint{}", if n == 1 { "" } else { "s" }));
                }
                if let Some(l) = host.limits {
                    s.push_str(&format!(", subflow limit {}", l.subflows));
                }
                s
            }
        },
    }
}

/// `kernel` or `userspace`, from `path_manager` (6.15) or `pm_type` (older).
fn path_manager(h: &Host) -> &str {
    match (h.sysctls.get("path_manager"), h.sysctls.get("pm_type")) {
        (Some(p), _) => p.as_str(),
        (None, Some(t)) if t == "1" => "userspace",
        _ => "kernel",
    }
}

/// An errno by name, with its number.
pub(crate) fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ENODEV => "ENODEV",
        libc::ENETDOWN => "ENETDOWN",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        _ => return format!("errno {e}"),
    };
    format!("{name} ({e})")
}

/// `MPTCP_RST_*`, as RFC 8684 names the reasons.
fn reset_reason(r: u32) -> String {
    let what = match r {
        0 => "unspecified error",
        1 => "MPTCP-specific error",
        2 => "lack of resources",
        3 => "administratively prohibited",
        4 => "too much outstanding data",
        5 => "unacceptable performance",
        6 => "middlebox interference",
        _ => return format!("reason {r}"),
    };
    format!("{what} ({r})")
}

fn counter(m: &std::collections::BTreeMap<String, u64>, name: &str) -> u64 {
    m.get(name).copied().unwrap_or(0)
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

impl<'a> Reasoner<'a> {
    fn push(&mut self, f: Finding) {
        self.out.push(f);
    }

    fn ifname(&self, index: u32) -> String {
        self.host
            .interfaces
            .iter()
            .find(|i| i.index == index)
            .map(|i| i.name.clone())
            .unwrap_or_else(|| format!("ifindex {index}"))
    }

    fn has_addr(&self, ip: IpAddr) -> bool {
        self.host.interfaces.iter().any(|i| i.addrs.iter().any(|a| a.addr == ip))
    }

    /// The interface holding `ip`.
    fn iface_of(&self, ip: IpAddr) -> Option<&Interface> {
        self.host.interfaces.iter().find(|i| i.addrs.iter().any(|a| a.addr == ip))
    }

    /// Usable addresses on interfaces that are up, not loopback.
    fn usable_addrs(&self) -> Vec<(IpAddr, String)> {
        let mut v = Vec::new();
        for i in self.host.interfaces.iter().filter(|i| i.up && !i.loopback) {
            for a in i.addrs.iter().filter(|a| a.usable()) {
                v.push((a.addr, i.name.clone()));
            }
        }
        v
    }

    fn is_userspace(&self) -> bool {
        path_manager(self.host) == "userspace"
    }

    /// Whether nothing drives a userspace path manager.
    fn userspace_idle(&self) -> bool {
        self.host.event_listeners == Some(0) && self.host.managers.is_empty()
    }

    /// The effective `rp_filter` of interface `index` (the larger of
    /// `all` and the interface's own).
    fn rp_filter(&self, index: u32) -> Option<u8> {
        let own = self.host.interfaces.iter().find(|i| i.index == index).and_then(|i| i.rp_filter);
        match (self.host.rp_filter_all, own) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).max(b.unwrap_or(0))),
        }
    }

    fn route_for(&self, ep: &Endpoint, dst: Option<IpAddr>) -> Option<&'a RouteCheck> {
        let host: &'a Host = self.host;
        host.routes.iter().find(|r| r.endpoint == ep.id && r.src == ep.addr && dst.is_none_or(|d| r.dst == d))
    }
}
