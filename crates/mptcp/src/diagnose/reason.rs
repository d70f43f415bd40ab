//! The reasoning: observations in, findings out. No I/O here.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::finding::{Finding, FindingId as Id, Report, Severity, SubflowCount};
use super::observe::{Client, ConnStatus, Endpoint, Host, Observations, RouteCheck, Server, Support};

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
    fn iface_of(&self, ip: IpAddr) -> Option<&super::observe::Interface> {
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

    fn availability(&mut self) -> bool {
        let enabled = self.host.sysctls.get("enabled").cloned();
        let f = match self.host.availability {
            Support::Available => return true,
            Support::NotBuilt => Finding::new(
                Id::MptcpNotBuilt,
                Severity::Error,
                "This kernel was built without MPTCP: socket(IPPROTO_MPTCP) answers EPROTONOSUPPORT, so every \
                 connection from this host is plain TCP, whatever the server supports.",
            )
            .fact("socket_error", errno_name(libc::EPROTONOSUPPORT))
            .fix("boot a kernel built with CONFIG_MPTCP=y (Linux 5.6 or newer; Debian 12's 6.1 has it)"),
            Support::TooOld => Finding::new(
                Id::MptcpKernelTooOld,
                Severity::Error,
                "This kernel predates MPTCP (Linux 5.6): socket(IPPROTO_MPTCP) answers EINVAL, so every \
                 connection from this host is plain TCP.",
            )
            .fact("socket_error", errno_name(libc::EINVAL))
            .fix("boot Linux 5.6 or newer, built with CONFIG_MPTCP=y"),
            Support::Disabled => Finding::new(
                Id::MptcpDisabled,
                Severity::Error,
                "MPTCP is disabled in this network namespace (net.mptcp.enabled=0): socket(IPPROTO_MPTCP) \
                 answers ENOPROTOOPT, so programs get plain TCP. To keep it enabled after a reboot, put \
                 net.mptcp.enabled=1 in /etc/sysctl.d/.",
            )
            .fact("socket_error", errno_name(libc::ENOPROTOOPT))
            .fact_opt("net.mptcp.enabled", enabled)
            .fix("sysctl -w net.mptcp.enabled=1"),
            Support::Blocked(e) => Finding::new(
                Id::MptcpBlocked,
                Severity::Error,
                format!(
                    "Creating an MPTCP socket fails with {}: MPTCP is built in, but a seccomp filter (a \
                     container runtime's profile) or a security module refuses socket(IPPROTO_MPTCP).",
                    errno_name(e)
                ),
            )
            .fact("socket_error", errno_name(e))
            .fix("allow socket(AF_INET/AF_INET6, SOCK_STREAM, 262) in the seccomp profile or LSM policy"),
            Support::Unsupported => Finding::new(
                Id::MptcpNotBuilt,
                Severity::Error,
                "This operating system has no MPTCP support that this tool knows (Linux only).",
            ),
        };
        self.push(f);
        false
    }

    fn path_manager(&mut self) {
        if !self.host.pm_family {
            self.push(Finding::new(
                Id::NoPathManager,
                Severity::Warning,
                "The kernel has MPTCP sockets but no path manager interface (generic netlink family \
                 mptcp_pm, Linux 5.7): endpoints and limits cannot be read or set, so connections stay on \
                 one subflow unless the server announces addresses.",
            ));
            return;
        }
        if self.is_userspace() && self.mode == Mode::Host && self.userspace_idle() {
            self.push(self.userspace_idle_finding(Severity::Error, None));
        }
    }

    fn userspace_idle_finding(&self, severity: Severity, subflows: Option<SubflowCount>) -> Finding {
        let listeners = self.host.event_listeners;
        let msg = if severity == Severity::Error {
            "The userspace path manager is selected (net.mptcp.path_manager=userspace) and nothing drives it: \
             no program listens to the path manager's events (no mptcpd or other manager in this namespace). \
             In this mode the kernel opens no subflow and announces no address by itself: endpoints and limits \
             set with ip mptcp are ignored."
        } else {
            "The userspace path manager is selected and a program listens to its events, but it created no \
             extra subflow for this connection during the watch."
        };
        let mut f = Finding::new(Id::UserspacePmIdle, severity, msg)
            .fact("net.mptcp.path_manager", "userspace")
            .fact_opt("event_listeners", listeners)
            .fact(
                "managers",
                self.host.managers.iter().map(|m| format!("{} (pid {})", m.name, m.pid)).collect::<Vec<_>>(),
            )
            .fix(
                "sysctl -w net.mptcp.path_manager=kernel (or start the program meant to manage subflows, e.g. mptcpd)",
            );
        if let Some(s) = subflows {
            f = f.fact("subflows_established", s.established).fact("subflows_possible", s.possible);
        }
        f
    }

    fn endpoints(&mut self) {
        if self.is_userspace() {
            return;
        }
        let Some(eps) = &self.host.endpoints else { return };
        // The kernel's maximum, with addresses left without an endpoint.
        if eps.len() >= MAX_ENDPOINTS {
            let covered: BTreeSet<IpAddr> = eps.iter().map(|e| e.addr).collect();
            let left: Vec<String> = self
                .usable_addrs()
                .into_iter()
                .filter(|(a, _)| !covered.contains(a))
                .map(|(a, dev)| format!("{a} ({dev})"))
                .collect();
            if !left.is_empty() {
                self.push(
                    Finding::new(
                        Id::EndpointLimit,
                        Severity::Error,
                        format!(
                            "The kernel holds at most {MAX_ENDPOINTS} endpoints per network namespace, all {} are \
                             in use, and {} address{} no endpoint: adding one fails with ERANGE (\"-34 Numerical \
                             result out of range\"), so no subflow can use {}.",
                            eps.len(),
                            left.len(),
                            if left.len() == 1 { " has" } else { "es have" },
                            if left.len() == 1 { "it" } else { "them" },
                        ),
                    )
                    .fact("endpoints", eps.len())
                    .fact("max_endpoints", MAX_ENDPOINTS)
                    .fact("addresses_without_endpoint", left)
                    .fix("ip mptcp endpoint delete id ID (for an endpoint you need least), then add the address"),
                );
            }
        }
        for ep in eps {
            let does_something = ep.has("subflow") || ep.has("signal") || ep.has("fullmesh");
            if !self.has_addr(ep.addr) {
                // In a client run, endpoints that matter to the connection are judged there.
                if self.client_candidate(ep) {
                    continue;
                }
                let sev = if does_something { Severity::Error } else { Severity::Warning };
                self.push(self.address_gone(ep, sev, None));
                continue;
            }
            if let Some(idx) = ep.ifindex {
                let up = self.host.interfaces.iter().find(|i| i.index == idx).map(|i| i.up);
                if up != Some(true) && !self.client_candidate(ep) {
                    self.push(self.interface_down(ep, Severity::Warning));
                }
            }
            if self.mode == Mode::Host && ep.has("subflow") {
                if let Some(rc) = self.route_for(ep, None) {
                    if !rc.answer.reaches() {
                        self.push(self.no_route(ep, rc, None));
                    }
                }
            }
        }
        // Limits against endpoints.
        if let Some(l) = self.host.limits {
            let subflow_eps = eps.iter().filter(|e| e.has("subflow")).count();
            if self.mode == Mode::Host && l.subflows == 0 && subflow_eps > 0 {
                self.push(self.limit_zero(subflow_eps, 0, None));
            } else if l.subflows > 0 && subflow_eps as u32 > l.subflows + 1 {
                // One endpoint may be the first subflow's own address.
                self.push(
                    Finding::new(
                        Id::LimitBelowEndpoints,
                        Severity::Warning,
                        format!(
                            "{subflow_eps} endpoints have the subflow flag and the subflow limit is {}: a \
                             connection uses at most {} of them.",
                            l.subflows, l.subflows
                        ),
                    )
                    .fact("subflow_endpoints", subflow_eps)
                    .fact("limit_subflows", l.subflows)
                    .fix(format!("ip mptcp limits set subflows {}", subflow_eps.min(MAX_ENDPOINTS))),
                );
            }
        }
        if self.mode == Mode::Host {
            self.host_paths(eps);
        }
    }

    /// Host alone: several addresses and no subflow endpoint; strict
    /// reverse-path filtering on a multi-homed host.
    fn host_paths(&mut self, eps: &[Endpoint]) {
        let addrs = self.usable_addrs();
        let ifaces: BTreeSet<&str> = addrs.iter().map(|(_, d)| d.as_str()).collect();
        if ifaces.len() < 2 {
            return;
        }
        if !eps.iter().any(|e| e.has("subflow")) {
            self.push(
                Finding::new(
                    Id::NoSubflowEndpoints,
                    Severity::Warning,
                    format!(
                        "This host has addresses on {} interfaces and no endpoint with the subflow flag: its \
                         connections get extra subflows only where the server announces addresses (and only \
                         with add_addr_accepted above 0).",
                        ifaces.len()
                    ),
                )
                .fact("addresses", addrs.iter().map(|(a, d)| format!("{a} ({d})")).collect::<Vec<_>>())
                .fix(self.endpoint_add_fix(&addrs, None)),
            );
        }
        for ep in eps.iter().filter(|e| e.has("subflow") && e.addr.is_ipv4()) {
            let Some(idx) = ep.ifindex.or_else(|| self.iface_of(ep.addr).map(|i| i.index)) else { continue };
            if self.rp_filter(idx) == Some(1) {
                self.push(
                    Finding::new(
                        Id::RpFilter,
                        Severity::Warning,
                        format!(
                            "Strict reverse-path filtering (rp_filter=1) is on for {}, which carries the subflow \
                             endpoint {} of this multi-homed host: answers that arrive on {} from a server the \
                             main routing table reaches through another interface are dropped, and such \
                             subflows never establish.",
                            self.ifname(idx),
                            ep.addr,
                            self.ifname(idx)
                        ),
                    )
                    .fact("endpoint", ep.id)
                    .fact("interface", self.ifname(idx))
                    .fact_opt("net.ipv4.conf.all.rp_filter", self.host.rp_filter_all)
                    .fix(format!(
                        "sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.{}.rp_filter=2",
                        self.ifname(idx)
                    )),
                );
            }
        }
    }

    /// `ip mptcp endpoint add` for the first address in `addrs` (not `except`).
    fn endpoint_add_fix(&self, addrs: &[(IpAddr, String)], except: Option<IpAddr>) -> String {
        match addrs.iter().find(|(a, _)| Some(*a) != except) {
            Some((a, dev)) => format!("ip mptcp endpoint add {a} dev {dev} subflow"),
            None => "ip mptcp endpoint add ADDRESS dev DEVICE subflow".to_string(),
        }
    }

    fn address_gone(&self, ep: &Endpoint, sev: Severity, c: Option<&Client>) -> Finding {
        let mut f = Finding::new(
            Id::EndpointAddressGone,
            sev,
            format!(
                "Endpoint {} is for {}, an address this host no longer has: the kernel cannot bind a subflow to \
                 it (MPJoinSynTxBindErr), so that path is lost until the address returns or the endpoint is \
                 deleted.",
                ep.id, ep.addr
            ),
        )
        .fact("endpoint", ep.id)
        .fact("address", ep.addr.to_string())
        .fact("flags", ep.flags.clone());
        if let Some(c) = c {
            f = f.fact("MPJoinSynTxBindErr", counter(&c.counters, "MPJoinSynTxBindErr"));
        }
        f.fix(format!("ip mptcp endpoint delete id {}", ep.id))
    }

    fn interface_down(&self, ep: &Endpoint, sev: Severity) -> Finding {
        let idx = ep.ifindex.unwrap_or(0);
        let exists = self.host.interfaces.iter().any(|i| i.index == idx);
        let name = self.ifname(idx);
        let (what, fix) = if exists {
            (format!("is bound to {name}, which is down"), format!("ip link set {name} up"))
        } else {
            (
                format!("is bound to interface index {idx}, which no longer exists"),
                format!("ip mptcp endpoint delete id {}", ep.id),
            )
        };
        Finding::new(
            Id::EndpointInterfaceDown,
            sev,
            format!("Endpoint {} ({}) {what}: no subflow can leave through it.", ep.id, ep.addr),
        )
        .fact("endpoint", ep.id)
        .fact("address", ep.addr.to_string())
        .fact("interface", name)
        .fact("exists", exists)
        .fix(fix)
    }

    fn no_route(&self, ep: &Endpoint, rc: &RouteCheck, c: Option<&Client>) -> Finding {
        let dev = rc.dev.map(|d| self.ifname(d));
        let answer = match (rc.answer.error, rc.answer.kind.as_deref()) {
            (Some(e), _) => errno_name(e),
            (None, Some(k)) => format!("a route of type {k}"),
            (None, None) => "no answer".to_string(),
        };
        let towards = if c.is_some() { format!("the server {}", rc.dst) } else { format!("{} (anywhere)", rc.dst) };
        let mut f = Finding::new(
            Id::EndpointNoRoute,
            Severity::Error,
            format!(
                "No route to {towards} from endpoint {} ({}{}): the kernel's route lookup for that source \
                 answers {answer}, so a subflow from it fails before its SYN is sent (MPJoinSynTxConnectErr).",
                ep.id,
                ep.addr,
                dev.as_ref().map(|d| format!(" dev {d}")).unwrap_or_default()
            ),
        )
        .fact("endpoint", ep.id)
        .fact("src", ep.addr.to_string())
        .fact("dst", rc.dst.to_string())
        .fact_opt("dev", dev.clone())
        .fact("lookup", answer);
        if let Some(c) = c {
            f = f.fact("MPJoinSynTxConnectErr", counter(&c.counters, "MPJoinSynTxConnectErr"));
        }
        let get = format!(
            "ip route get {} from {}{}",
            rc.dst,
            ep.addr,
            dev.as_ref().map(|d| format!(" oif {d}")).unwrap_or_default()
        );
        f.fix(format!(
            "{get} shows the answer; give that source a route, e.g. ip route add default via GATEWAY dev {} table \
             100 && ip rule add from {} table 100",
            dev.unwrap_or_else(|| "DEVICE".into()),
            ep.addr
        ))
    }

    fn limit_zero(&self, endpoints: usize, announced: usize, subflows: Option<SubflowCount>) -> Finding {
        let mut f = Finding::new(
            Id::LimitSubflowsZero,
            Severity::Error,
            format!(
                "The subflow limit is 0 (ip mptcp limits shows subflows 0), so connections may have no subflow \
                 besides the first, although {}.",
                match (endpoints, announced) {
                    (e, 0) => format!("{e} endpoint{} the subflow flag", if e == 1 { " has" } else { "s have" }),
                    (0, a) => format!("the server announced {a} address{}", if a == 1 { "" } else { "es" }),
                    (e, a) => format!("{e} endpoints have the subflow flag and the server announced {a} addresses"),
                }
            ),
        )
        .fact("limit_subflows", 0u32)
        .fact("subflow_endpoints", endpoints);
        if announced > 0 {
            f = f.fact("announced", announced);
        }
        if let Some(s) = subflows {
            f = f.fact("subflows_established", s.established);
        }
        f.fix(format!("ip mptcp limits set subflows {}", (endpoints.max(announced)).clamp(1, MAX_ENDPOINTS)))
    }

    fn managers(&mut self) {
        let m = &self.host.managers;
        if m.is_empty() {
            return;
        }
        let names: BTreeSet<&str> = m.iter().map(|m| m.name.as_str()).collect();
        let list: Vec<String> = m.iter().map(|m| format!("{} (pid {})", m.name, m.pid)).collect();
        let foreign = names.iter().any(|n| *n != "mptcp daemon");
        if names.len() >= 2 {
            self.push(
                Finding::new(
                    Id::AnotherManager,
                    Severity::Error,
                    format!(
                        "{} programs manage the MPTCP endpoints of this network namespace at once ({}): each \
                         adds and deletes endpoints as addresses come and go, with its own flags, so the \
                         endpoints change under the other's feet and connections may lose subflows.",
                        names.len(),
                        list.join(", ")
                    ),
                )
                .fact("managers", list)
                .fix(manager_fix(&names)),
            );
        } else if foreign {
            let name = *names.iter().next().expect("one name");
            self.push(
                Finding::new(
                    Id::AnotherManager,
                    Severity::Warning,
                    format!(
                        "{name} manages the MPTCP endpoints of this network namespace ({}): endpoints set with \
                         ip mptcp or mptcp endpoint may be replaced by it; change its configuration instead.",
                        list.join(", ")
                    ),
                )
                .fact("managers", list),
            );
        }
    }

    fn blackhole_history(&mut self) {
        let n = counter(&self.host.counters, "Blackhole");
        if n == 0 {
            return;
        }
        let timeout = self.host.sysctls.get("blackhole_timeout").cloned();
        self.push(
            Finding::new(
                Id::Blackhole,
                Severity::Warning,
                format!(
                    "The kernel detected an MPTCP blackhole {n} time{} in this network namespace (MP_CAPABLE SYNs \
                     dropped on the way): each time it disables MPTCP for new connections for \
                     net.mptcp.blackhole_timeout seconds, doubled on each repeat. Connections made while it is \
                     disabled are plain TCP (MPCapableSYNTXDisabled counts them).",
                    if n == 1 { "" } else { "s" }
                ),
            )
            .fact("Blackhole", n)
            .fact("MPCapableSYNTXDisabled", counter(&self.host.counters, "MPCapableSYNTXDisabled"))
            .fact_opt("net.mptcp.blackhole_timeout", timeout.clone())
            .fix(format!(
                "sysctl -w net.mptcp.blackhole_timeout={} (writing it re-enables MPTCP now)",
                timeout.as_deref().unwrap_or("3600")
            )),
        );
    }

    // ---- client ----

    /// Whether endpoint `ep` could carry an extra subflow of the client's
    /// MPTCP connection (subflow flag, same family, not the first
    /// subflow's address): then the connection's reasoning judges it.
    fn client_candidate(&self, ep: &Endpoint) -> bool {
        match self.conn {
            Some((remote, local)) => {
                ep.has("subflow") && Some(ep.addr) != local && remote.is_none_or(|r| same_family(ep.addr, r))
            }
            None => false,
        }
    }

    fn client(&mut self, c: &Client, available: bool) -> (Option<bool>, Option<SubflowCount>) {
        let remote = c.remote.map(|r| r.ip());
        let local = c.local.map(|l| l.ip());
        let token = c.info.and_then(|i| i.token);
        let events: Vec<&super::observe::Event> =
            c.events.iter().filter(|e| token.is_some() && e.token == token).collect();
        let announced: BTreeSet<IpAddr> = events
            .iter()
            .filter(|e| e.kind == "announced")
            .filter_map(|e| e.daddr)
            .filter(|a| Some(*a) != remote && remote.is_none_or(|r| same_family(*a, r)))
            .collect();
        // Local paths: usable addresses and subflow endpoints of the
        // connection's family, besides the first subflow's address.
        let mut locals: BTreeSet<IpAddr> = self.usable_addrs().into_iter().map(|(a, _)| a).collect();
        if let Some(eps) = &self.host.endpoints {
            if !self.is_userspace() {
                locals.extend(eps.iter().filter(|e| e.has("subflow")).map(|e| e.addr));
            }
        }
        locals.retain(|a| Some(*a) != local && remote.is_none_or(|r| same_family(*a, r)));
        let possible = 1 + locals.len().max(announced.len()).min(MAX_ENDPOINTS) as u32;
        let established = if c.status != ConnStatus::Mptcp {
            1
        } else if !c.subflows.is_empty() {
            c.subflows.iter().filter(|s| s.established()).count() as u32
        } else {
            let up = events.iter().filter(|e| e.kind == "sf_established").count() as i64;
            let down = events.iter().filter(|e| e.kind == "sf_closed").count() as i64;
            (1 + up - down).max(1) as u32
        };
        let count = SubflowCount { established, possible };
        self.exchange_notes(c);
        if !available {
            return (Some(c.status == ConnStatus::Mptcp), Some(count));
        }
        if c.status != ConnStatus::Mptcp {
            self.fallback(c);
            return (Some(false), Some(count));
        }
        if !c.events_seen {
            self.push(Finding::new(
                Id::PartialEvidence,
                Severity::Info,
                "No path manager events were received (subscribing needs CAP_NET_ADMIN): the findings rest on \
                 the subflow list and the counters; run as root for per-subflow evidence.",
            ));
        }
        if established < possible || !announced.is_empty() {
            self.missing_subflows(c, &events, &announced, &locals, count);
        } else if possible == 1 {
            self.push(Finding::new(
                Id::SinglePath,
                Severity::Info,
                "This host has one usable address for this connection and the server announced no other: one \
                 subflow is all there can be.",
            ));
        }
        self.closed_subflows(c, &events);
        (Some(true), Some(count))
    }

    fn exchange_notes(&mut self, c: &Client) {
        if c.sent == 0 && c.received == 0 {
            self.push(
                Finding::new(
                    Id::NoDataExchanged,
                    Severity::Warning,
                    "Nothing was sent or received: the kernel opens extra subflows only once the connection is \
                 fully established (the server acknowledged our data, or sent some), so no extra subflow could \
                 be expected here.",
                )
                .fix("run again with a payload: --send 'TEXT'"),
            );
        } else if c.acked == Some(false) && c.received == 0 {
            self.push(
                Finding::new(
                    Id::NoDataExchanged,
                    Severity::Warning,
                    "The server acknowledged none of our data and sent none during the watch: the connection is \
                     not fully established, so the kernel has not tried extra subflows yet.",
                )
                .fact("sent", c.sent),
            );
        }
        if c.closed_by_server {
            self.push(
                Finding::new(
                    Id::ServerClosed,
                    Severity::Info,
                    "The server closed the connection during the watch: the subflows are those seen until then.",
                )
                .fact("received", c.received),
            );
        }
    }

    fn noise_note(c: &Client) -> &'static str {
        if c.other_activity {
            " Other MPTCP connections were active in this network namespace during the attempt, so these \
             counters may include theirs."
        } else {
            ""
        }
    }

    fn fallback(&mut self, c: &Client) {
        let d = &c.counters;
        let n = |k: &str| counter(d, k);
        let note = Self::noise_note(c);
        let port = c.remote.map(|r| r.port().to_string()).unwrap_or_else(|| "PORT".into());
        if !c.counters_read {
            self.push(Finding::new(
                Id::FallbackUnexplained,
                Severity::Error,
                "The connection runs as plain TCP and the MPTcpExt counters could not be read, so the stage \
                 that lost MPTCP is unknown.",
            ));
            return;
        }
        if n("MPCapableSYNTXDisabled") > 0 && n("MPCapableSYNTX") == 0 {
            let timeout = self.host.sysctls.get("blackhole_timeout").cloned();
            self.push(
                Finding::new(
                    Id::Blackhole,
                    Severity::Error,
                    format!(
                        "Our SYN did not ask for MPTCP: the kernel has disabled active MPTCP in this network \
                         namespace after an earlier connection's MP_CAPABLE SYNs went unanswered (an MPTCP \
                         blackhole: a firewall that drops SYNs carrying MPTCP). It stays disabled for \
                         net.mptcp.blackhole_timeout seconds, doubled on each new blackhole.{note}"
                    ),
                )
                .fact("MPCapableSYNTX", 0u64)
                .fact("MPCapableSYNTXDisabled", n("MPCapableSYNTXDisabled"))
                .fact("Blackhole_total", counter(&self.host.counters, "Blackhole"))
                .fact_opt("net.mptcp.blackhole_timeout", timeout.clone())
                .fix(format!(
                    "sysctl -w net.mptcp.blackhole_timeout={} (writing it re-enables MPTCP now); then find what \
                     drops MPTCP SYNs: mptcp doctor reports syn-dropped-fallback on the next attempt",
                    timeout.as_deref().unwrap_or("3600")
                )),
            );
        } else if n("MPCapableSYNTXDrop") > 0 {
            let retries = self.host.sysctls.get("syn_retrans_before_tcp_fallback").cloned();
            let bh = if n("Blackhole") > 0 {
                " The kernel now counts this as a blackhole (Blackhole) and disables MPTCP for new connections \
                 in this network namespace for net.mptcp.blackhole_timeout seconds."
            } else {
                ""
            };
            self.push(
                Finding::new(
                    Id::SynDroppedFallback,
                    Severity::Error,
                    format!(
                        "Our SYNs carrying MP_CAPABLE got no answer; after the retransmissions \
                         net.mptcp.syn_retrans_before_tcp_fallback allows, the kernel sent a SYN without MPTCP, \
                         and that one was answered: something on the path drops SYNs that carry the MPTCP option \
                         (TCP option 30).{bh}{note}"
                    ),
                )
                .fact("MPCapableSYNTX", n("MPCapableSYNTX"))
                .fact("MPCapableSYNTXDrop", n("MPCapableSYNTXDrop"))
                .fact("Blackhole", n("Blackhole"))
                .fact_opt("net.mptcp.syn_retrans_before_tcp_fallback", retries)
                .fix(
                    "let TCP option 30 (MPTCP) through the firewall on the path (on Linux, look for rules matching \
                      --tcp-option 30 or `tcp option mptcp`)",
                ),
            );
        } else if n("MPCapableFallbackSYNACK") > 0 {
            self.push(
                Finding::new(
                    Id::NoMptcpAnswer,
                    Severity::Error,
                    format!(
                        "The server answered our SYN, which asked for MPTCP, without MP_CAPABLE: either it does \
                         not speak MPTCP (its listener is a plain TCP socket, or MPTCP is off on its host) or a \
                         middlebox removed the option, from our SYN or from its SYN-ACK. To tell them apart, \
                         look on the server while this runs again: `mptcp doctor --listen {port}` there (or \
                         `nstat -az MPTcpExtMPCapableSYNRX MPTcpExtMPCapableFallbackACK`): if MPCapableSYNRX \
                         rises, our SYN arrived with MP_CAPABLE, and if MPCapableFallbackACK rises too, the \
                         server answered with MPTCP and the option was stripped on the way back; if nothing \
                         rises, the server's listener is not MPTCP or our SYN lost the option on the way.{note}"
                    ),
                )
                .fact("MPCapableSYNTX", n("MPCapableSYNTX"))
                .fact("MPCapableFallbackSYNACK", n("MPCapableFallbackSYNACK"))
                .fact("MPCapableSYNACKRX", n("MPCapableSYNACKRX"))
                .fix(
                    "on the server: listen with MPTCP (mptcp run PROGRAM, mptcpize run PROGRAM, Go: \
                      net.ListenConfig.SetMultipathTCP(true)) and check net.mptcp.enabled=1 there",
                ),
            );
        } else if n("MPCapableSYNACKRX") > 0 {
            let causes: Vec<String> = [
                "MPCapableDataFallback",
                "DssFallback",
                "DSSCorruptionFallback",
                "MD5SigFallback",
                "SimultConnectFallback",
                "FallbackFailed",
                "InfiniteMapRx",
            ]
            .iter()
            .filter(|k| n(k) > 0)
            .map(|k| format!("{k} {}", n(k)))
            .collect();
            self.push(
                Finding::new(
                    Id::LateFallback,
                    Severity::Error,
                    format!(
                        "The handshake negotiated MPTCP (the SYN-ACK carried MP_CAPABLE), then the connection \
                         fell back to TCP: a middlebox removed or changed the MPTCP options of data packets \
                         (MPCapableDataFallback: the first data came without a mapping; DssFallback, \
                         DSSCorruptionFallback: a mapping did not match the data).{note}"
                    ),
                )
                .fact("MPCapableSYNACKRX", n("MPCapableSYNACKRX"))
                .fact("fallback_counters", causes),
            );
        } else {
            let rose: Vec<String> = d.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect();
            self.push(
                Finding::new(
                    Id::FallbackUnexplained,
                    Severity::Error,
                    format!(
                        "The connection runs as plain TCP and no MPTcpExt counter of this namespace explains \
                         it.{note}"
                    ),
                )
                .fact("counters_that_rose", rose),
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn missing_subflows(
        &mut self,
        c: &Client,
        events: &[&super::observe::Event],
        announced: &BTreeSet<IpAddr>,
        locals: &BTreeSet<IpAddr>,
        count: SubflowCount,
    ) {
        let remote = c.remote.map(|r| r.ip());
        let local = c.local.map(|l| l.ip());
        if self.is_userspace() {
            if count.established < count.possible {
                let sev = if self.userspace_idle() { Severity::Error } else { Severity::Warning };
                self.push(self.userspace_idle_finding(sev, Some(count)));
            }
            return;
        }
        // The limits the connection got; the namespace's now where the
        // kernel does not say; unknown where neither could be read.
        let info = c.info.unwrap_or_default();
        let limits = self.host.limits;
        let subflows_max = info.subflows_max.map(u32::from).or(limits.map(|l| l.subflows));
        let accepted_max = info.add_addr_accepted_max.map(u32::from).or(limits.map(|l| l.add_addr_accepted));
        let candidates: Vec<&Endpoint> = self
            .host
            .endpoints
            .iter()
            .flatten()
            .filter(|e| e.has("subflow") && Some(e.addr) != local && remote.is_none_or(|r| same_family(e.addr, r)))
            .collect();
        let before = self.out.len();
        if subflows_max == Some(0) && (!candidates.is_empty() || !announced.is_empty()) {
            self.push(self.limit_zero(candidates.len(), announced.len(), Some(count)));
            return;
        }
        let deny_id0 = events.iter().any(|e| e.flags.is_some_and(|f| f & DENY_JOIN_ID0 != 0));
        if deny_id0 && announced.is_empty() && !candidates.is_empty() {
            self.push(
                Finding::new(
                    Id::JoinRejected,
                    Severity::Error,
                    "The server refuses joins to the address we connected to (its MP_CAPABLE carried the \
                     deny-join-id0 flag, which net.mptcp.allow_join_initial_addr_port=0 sets there) and announced no other \
                     address, so our endpoints cannot add a subflow to this connection.",
                )
                .fact("deny_join_id0", true)
                .fact("announced", 0u64)
                .fact("subflow_endpoints", candidates.len())
                .fix(
                    "on the server: sysctl -w net.mptcp.allow_join_initial_addr_port=1, or announce another \
                      address (ip mptcp endpoint add ADDRESS dev DEVICE signal)",
                ),
            );
            return;
        }
        for ep in &candidates {
            self.endpoint_subflow(c, ep, events);
        }
        if candidates.is_empty() {
            if !announced.is_empty() && accepted_max == Some(0) {
                self.push(self.add_addr_not_accepted(c, announced, Severity::Error));
            } else if !announced.is_empty() {
                for a in announced {
                    self.announced_subflow(c, *a, events);
                }
            } else if !locals.is_empty() {
                let addrs: Vec<(IpAddr, String)> =
                    self.usable_addrs().into_iter().filter(|(a, _)| locals.contains(a)).collect();
                let eps = self.host.endpoints.as_ref().map(|e| e.len()).unwrap_or(0);
                self.push(
                    Finding::new(
                        Id::NoSubflowEndpoints,
                        Severity::Error,
                        format!(
                            "No endpoint has the subflow flag for this connection's address family, and the \
                             server announced no address: the kernel has nothing to open a second subflow from \
                             or to, although this host has {} more usable address{}.",
                            locals.len(),
                            if locals.len() == 1 { "" } else { "es" }
                        ),
                    )
                    .fact("endpoints", eps)
                    .fact("subflow_endpoints", 0u64)
                    .fact("announced", 0u64)
                    .fact("unused_addresses", addrs.iter().map(|(a, d)| format!("{a} ({d})")).collect::<Vec<_>>())
                    .fix(self.endpoint_add_fix(&addrs, local)),
                );
            }
        } else if !announced.is_empty() && accepted_max == Some(0) && count.established < count.possible {
            self.push(self.add_addr_not_accepted(c, announced, Severity::Warning));
        }
        if let (true, Some(subflows_max)) =
            (self.out.len() == before && count.established < count.possible, subflows_max)
        {
            let used = count.established.saturating_sub(1);
            if used >= subflows_max {
                self.push(
                    Finding::new(
                        Id::LimitBelowEndpoints,
                        Severity::Warning,
                        format!(
                            "The connection uses its {subflows_max} extra subflow{} (the subflow limit) and \
                             this host has more paths.",
                            if subflows_max == 1 { "" } else { "s" }
                        ),
                    )
                    .fact("limit_subflows", subflows_max)
                    .fact("subflows_established", count.established)
                    .fix(format!("ip mptcp limits set subflows {}", (count.possible - 1).min(8))),
                );
            }
        }
    }

    fn add_addr_not_accepted(&self, c: &Client, announced: &BTreeSet<IpAddr>, sev: Severity) -> Finding {
        Finding::new(
            Id::AddAddrNotAccepted,
            sev,
            format!(
                "The server announced {} (ADD_ADDR), and this host accepts no announcement (add_addr_accepted \
                 0, the kernel's default): the kernel ignores them, so no subflow goes to the server's other \
                 address{}.",
                announced.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "),
                if announced.len() == 1 { "" } else { "es" }
            ),
        )
        .fact("announced", announced.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        .fact("limit_add_addr_accepted", 0u64)
        .fact("AddAddr", counter(&c.counters, "AddAddr"))
        .fix(format!("ip mptcp limits set add_addr_accepted {}", announced.len().min(MAX_ENDPOINTS)))
    }

    /// What became of the subflow from endpoint `ep`.
    fn endpoint_subflow(&mut self, c: &Client, ep: &Endpoint, events: &[&super::observe::Event]) {
        let remote = c.remote.map(|r| r.ip());
        if !self.has_addr(ep.addr) {
            self.push(self.address_gone(ep, Severity::Error, Some(c)));
            return;
        }
        if let Some(idx) = ep.ifindex {
            if self.host.interfaces.iter().find(|i| i.index == idx).map(|i| i.up) != Some(true) {
                self.push(self.interface_down(ep, Severity::Error));
                return;
            }
        }
        let rc = self.route_for(ep, remote);
        if let Some(rc) = rc {
            if !rc.answer.reaches() {
                self.push(self.no_route(ep, rc, Some(c)));
                return;
            }
        }
        let sf = c.subflows.iter().find(|s| s.local.map(|l| l.ip()) == Some(ep.addr));
        if sf.is_some_and(|s| s.established()) {
            return;
        }
        let from_ep: Vec<&&super::observe::Event> = events.iter().filter(|e| e.saddr == Some(ep.addr)).collect();
        let closed = from_ep.iter().find(|e| e.kind == "sf_closed");
        let d = &c.counters;
        if sf.is_some_and(|s| s.state == "SYN-SENT")
            || (sf.is_none() && closed.is_none() && counter(d, "MPJoinSynTx") > counter(d, "MPJoinSynAckRx"))
        {
            self.unanswered(c, ep, rc, remote);
        } else if let Some(e) = closed {
            self.rejected(c, ep.addr, remote, e, from_ep.iter().any(|e| e.kind == "sf_established"));
        }
    }

    /// What became of the subflow to announced address `addr`.
    fn announced_subflow(&mut self, c: &Client, addr: IpAddr, events: &[&super::observe::Event]) {
        let sf = c.subflows.iter().find(|s| s.remote.map(|r| r.ip()) == Some(addr));
        if sf.is_some_and(|s| s.established()) {
            return;
        }
        let to: Vec<&&super::observe::Event> =
            events.iter().filter(|e| e.daddr == Some(addr) && e.kind.starts_with("sf_")).collect();
        if let Some(e) = to.iter().find(|e| e.kind == "sf_closed") {
            self.rejected(c, e.saddr.unwrap_or(addr), Some(addr), e, to.iter().any(|e| e.kind == "sf_established"));
        } else if sf.is_some_and(|s| s.state == "SYN-SENT") {
            let d = &c.counters;
            self.push(
                Finding::new(
                    Id::JoinUnanswered,
                    Severity::Error,
                    format!(
                        "The MP_JOIN SYN to {addr}, an address the server announced, got no SYN-ACK during the \
                         watch: a firewall drops it, or that address is not reachable from here."
                    ),
                )
                .fact("dst", addr.to_string())
                .fact("MPJoinSynTx", counter(d, "MPJoinSynTx"))
                .fact("MPJoinSynAckRx", counter(d, "MPJoinSynAckRx"))
                .fact("watched_ms", c.watched_ms),
            );
        }
    }

    fn unanswered(&mut self, c: &Client, ep: &Endpoint, rc: Option<&RouteCheck>, remote: Option<IpAddr>) {
        let d = &c.counters;
        let dst = remote.map(|r| r.to_string()).unwrap_or_else(|| "the server".into());
        let dev = ep.ifindex.or(rc.and_then(|r| r.answer.dev));
        let reverse = rc.and_then(|r| r.unbound.as_ref()).and_then(|u| u.dev);
        let asymmetric = dev.is_some() && reverse.is_some() && dev != reverse;
        let strict = dev.and_then(|i| self.rp_filter(i)) == Some(1);
        let rpf_drops = counter(&c.tcp_counters, "IPReversePathFilter");
        if ep.addr.is_ipv4() && strict && (asymmetric || rpf_drops > 0) {
            let name = self.ifname(dev.unwrap_or(0));
            self.push(
                Finding::new(
                    Id::RpFilter,
                    Severity::Error,
                    format!(
                        "The subflow from {} leaves through {name} and its SYN-ACK comes back there, but strict \
                         reverse-path filtering (rp_filter=1) on {name} drops it: the routing table reaches {dst} \
                         through {}, not {name}, so answers from {dst} on {name} look spoofed (this multi-homed \
                         host has no route for {dst} from {} through {name}).",
                        ep.addr,
                        reverse.map(|r| self.ifname(r)).unwrap_or_else(|| "another interface".into()),
                        ep.addr
                    ),
                )
                .fact("endpoint", ep.id)
                .fact("interface", name.clone())
                .fact_opt("net.ipv4.conf.all.rp_filter", self.host.rp_filter_all)
                .fact_opt(
                    &format!("net.ipv4.conf.{name}.rp_filter"),
                    self.host.interfaces.iter().find(|i| Some(i.index) == dev).and_then(|i| i.rp_filter),
                )
                .fact_opt("reverse_route_dev", reverse.map(|r| self.ifname(r)))
                .fact("IPReversePathFilter", rpf_drops)
                .fact("MPJoinSynTx", counter(d, "MPJoinSynTx"))
                .fact("MPJoinSynAckRx", counter(d, "MPJoinSynAckRx"))
                .fix(format!(
                    "sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.{name}.rp_filter=2 (loose), or route \
                     that source through {name}: ip route add {dst} via GATEWAY dev {name} table 100 && ip rule \
                     add from {} table 100",
                    ep.addr
                )),
            );
            return;
        }
        let onlink = if asymmetric && rc.is_some_and(|r| r.answer.gateway.is_none()) {
            format!(
                " The routing table has no route to {dst} through {}: the kernel assumes {dst} is on that link \
                 and asks for it with ARP there, which through a router works only with proxy ARP.",
                self.ifname(dev.unwrap_or(0))
            )
        } else {
            String::new()
        };
        self.push(
            Finding::new(
                Id::JoinUnanswered,
                Severity::Error,
                format!(
                    "The MP_JOIN SYN from endpoint {} ({}) to {dst} got no SYN-ACK during the watch ({} ms): a \
                     firewall on the way or on the server drops SYNs carrying MP_JOIN, or {dst} is not reachable \
                     from that address.{onlink}",
                    ep.id, ep.addr, c.watched_ms
                ),
            )
            .fact("endpoint", ep.id)
            .fact("src", ep.addr.to_string())
            .fact("dst", dst.clone())
            .fact_opt("dev", dev.map(|d| self.ifname(d)))
            .fact("MPJoinSynTx", counter(d, "MPJoinSynTx"))
            .fact("MPJoinSynAckRx", counter(d, "MPJoinSynAckRx"))
            .fact("watched_ms", c.watched_ms)
            .fix(format!(
                "let TCP SYNs with option 30 (MPTCP) from {} reach {dst}; watch them with tcpdump -ni {} 'tcp[13] & 2 != 0'",
                ep.addr,
                dev.map(|d| self.ifname(d)).unwrap_or_else(|| "any".into())
            )),
        );
    }

    fn rejected(
        &mut self,
        c: &Client,
        src: IpAddr,
        remote: Option<IpAddr>,
        e: &super::observe::Event,
        was_established: bool,
    ) {
        let d = &c.counters;
        let dst = remote.map(|r| r.to_string()).unwrap_or_else(|| "the server".into());
        let how = match (e.error, e.reset_reason) {
            (_, Some(r)) => format!("reset it ({})", reset_reason(r)),
            (Some(err), None) if err != 0 => format!("closed it ({})", errno_name(i32::from(err))),
            _ if was_established => "reset it right after the handshake".to_string(),
            _ => "refused it".to_string(),
        };
        self.push(
            Finding::new(
                Id::JoinRejected,
                Severity::Error,
                format!(
                    "The server answered the MP_JOIN from {src} to {dst} and then {how}: it refuses extra \
                     subflows, most often because its own subflow limit is reached (ip mptcp limits on the \
                     server; MPJoinRejected counts these there)."
                ),
            )
            .fact("src", src.to_string())
            .fact("dst", dst)
            .fact("MPJoinSynTx", counter(d, "MPJoinSynTx"))
            .fact("MPJoinSynAckRx", counter(d, "MPJoinSynAckRx"))
            .fact_opt("error", e.error.filter(|e| *e != 0).map(|e| errno_name(i32::from(e))))
            .fact_opt("reset_reason", e.reset_reason.map(reset_reason))
            .fact("MPRstTx", counter(d, "MPRstTx"))
            .fact("MPRstRx", counter(d, "MPRstRx"))
            .fix("on the server: ip mptcp limits set subflows 2 (or more)"),
        );
    }

    /// Subflows that were established and closed during the watch, not
    /// already explained.
    fn closed_subflows(&mut self, c: &Client, events: &[&super::observe::Event]) {
        if self.out.iter().any(|f| f.id == Id::JoinRejected) {
            return;
        }
        for e in events.iter().filter(|e| e.kind == "sf_closed") {
            let established_before =
                events.iter().any(|x| x.kind == "sf_established" && x.saddr == e.saddr && x.sport == e.sport);
            let still = c
                .subflows
                .iter()
                .any(|s| s.established() && s.local.map(|l| l.ip()) == e.saddr && s.local.map(|l| l.port()) == e.sport);
            if !established_before || still {
                continue;
            }
            let mut f = Finding::new(
                Id::SubflowClosed,
                Severity::Warning,
                format!(
                    "The subflow {} -> {} was established and then closed during the watch{}.",
                    e.saddr.map(|a| a.to_string()).unwrap_or_else(|| "?".into()),
                    e.daddr.map(|a| a.to_string()).unwrap_or_else(|| "?".into()),
                    match (e.error, e.reset_reason) {
                        (_, Some(r)) => format!(" (reset: {})", reset_reason(r)),
                        (Some(err), None) if err != 0 => format!(" ({})", errno_name(i32::from(err))),
                        _ => String::new(),
                    }
                ),
            )
            .fact("at_ms", e.at_ms);
            f = f.fact_opt("error", e.error.map(|x| errno_name(i32::from(x))));
            f = f.fact_opt("reset_reason", e.reset_reason.map(reset_reason));
            self.push(f);
        }
    }

    // ---- server ----

    fn server(&mut self, s: &Server, available: bool) {
        if !available {
            return;
        }
        let d = &s.counters;
        let n = |k: &str| counter(d, k);
        let note = if s.other_activity {
            " Other MPTCP connections were active in this network namespace, so the counters may include theirs."
        } else {
            ""
        };
        let plain: Vec<String> = s
            .accepted
            .iter()
            .filter(|a| a.status == ConnStatus::Tcp)
            .map(|a| a.remote.map(|r| r.to_string()).unwrap_or_else(|| "?".into()))
            .collect();
        let stripped: Vec<String> = s
            .accepted
            .iter()
            .filter(|a| a.status == ConnStatus::Fallback)
            .map(|a| a.remote.map(|r| r.to_string()).unwrap_or_else(|| "?".into()))
            .collect();
        if !stripped.is_empty() {
            self.push(
                Finding::new(
                    Id::PassiveFallback,
                    Severity::Error,
                    format!(
                        "{} client{} asked for MPTCP (MP_CAPABLE in the SYN), we answered with MP_CAPABLE, and \
                         the client's ACK came without it: a middlebox between us strips MPTCP from our SYN-ACK \
                         (or from the client's ACK), and both ends fell back to TCP.{note}",
                        stripped.len(),
                        if stripped.len() == 1 { "" } else { "s" }
                    ),
                )
                .fact("clients", stripped)
                .fact("MPCapableSYNRX", n("MPCapableSYNRX"))
                .fact("MPCapableFallbackACK", n("MPCapableFallbackACK")),
            );
        }
        if !plain.is_empty() {
            self.push(
                Finding::new(
                    Id::ClientNoMptcp,
                    Severity::Error,
                    format!(
                        "{} client{} connected without asking for MPTCP (no MP_CAPABLE in the SYN): the client \
                         program does not use MPTCP, MPTCP is off on its host, or a middlebox stripped the option \
                         from its SYN.{note}",
                        plain.len(),
                        if plain.len() == 1 { "" } else { "s" }
                    ),
                )
                .fact("clients", plain)
                .fact("MPCapableSYNRX", n("MPCapableSYNRX"))
                .fix(
                    "on the client: mptcp check HOST:PORT or mptcp doctor HOST:PORT; run the program with \
                      mptcp run, or Go: net.Dialer.SetMultipathTCP(true)",
                ),
            );
        }
        let refused = n("MPJoinRejected") + n("MPJoinSynAckHMacFailure") + n("MPJoinAckHMacFailure");
        if refused > 0 {
            let limit = self.host.limits.map(|l| l.subflows);
            let hmac = n("MPJoinAckHMacFailure") + n("MPJoinSynAckHMacFailure") > 0;
            self.push(
                Finding::new(
                    Id::JoinRejected,
                    Severity::Error,
                    format!(
                        "Clients tried to add subflows (MP_JOIN) and this host refused {refused}: {}.",
                        if hmac {
                            "some joins failed their HMAC check (a middlebox changed them)".to_string()
                        } else {
                            format!(
                                "its subflow limit ({}) was reached",
                                limit.map(|l| format!("subflows {l}")).unwrap_or_else(|| "ip mptcp limits".into())
                            )
                        }
                    ),
                )
                .fact("MPJoinSynRx", n("MPJoinSynRx"))
                .fact("MPJoinRejected", n("MPJoinRejected"))
                .fact("MPJoinAckHMacFailure", n("MPJoinAckHMacFailure"))
                .fact_opt("limit_subflows", limit)
                .fix("ip mptcp limits set subflows 2 (or more)"),
            );
        }
        if self.host.sysctls.get("allow_join_initial_addr_port").map(String::as_str) == Some("0") {
            self.push(Finding::new(
                Id::JoinRejected,
                Severity::Info,
                "This host refuses joins to its initial address (net.mptcp.allow_join_initial_addr_port=0): \
                 clients can add subflows only towards the addresses it announces.",
            ));
        }
        // Announcements: several addresses, none announced.
        if !self.is_userspace() {
            let signals = self.host.endpoints.iter().flatten().filter(|e| e.has("signal")).count();
            let addrs = self.usable_addrs();
            let ifaces: BTreeSet<&str> = addrs.iter().map(|(_, d)| d.as_str()).collect();
            if signals == 0 && ifaces.len() >= 2 {
                self.push(
                    Finding::new(
                        Id::NoSignalEndpoints,
                        Severity::Warning,
                        format!(
                            "This server has addresses on {} interfaces and announces none (no endpoint with the \
                             signal flag): clients with a single address get no second subflow.",
                            ifaces.len()
                        ),
                    )
                    .fact("addresses", addrs.iter().map(|(a, d)| format!("{a} ({d})")).collect::<Vec<_>>())
                    .fix(match addrs.get(1) {
                        Some((a, d)) => format!("ip mptcp endpoint add {a} dev {d} signal"),
                        None => "ip mptcp endpoint add ADDRESS dev DEVICE signal".into(),
                    }),
                );
            } else if signals > 0 {
                self.push(
                    Finding::new(
                        Id::NoSignalEndpoints,
                        Severity::Info,
                        format!(
                            "This server announces {signals} address{} (signal endpoints).",
                            if signals == 1 { "" } else { "es" }
                        ),
                    )
                    .fact("AddAddrTx", n("AddAddrTx"))
                    .fact("AddAddrTxDrop", n("AddAddrTxDrop")),
                );
            }
        }
        if s.accepted.is_empty() {
            self.push(Finding::new(
                Id::PartialEvidence,
                Severity::Info,
                format!("No connection arrived on port {} while listening ({} ms).", s.port, s.watched_ms),
            ));
        }
    }
}

fn manager_fix(names: &BTreeSet<&str>) -> String {
    let mut v = Vec::new();
    if names.contains("mptcpd") {
        v.push("systemctl disable --now mptcp.service (mptcpd)");
    }
    if names.contains("NetworkManager") {
        v.push("nmcli connection modify CONNECTION connection.mptcp-flags disabled (NetworkManager)");
    }
    if names.contains("mptcp daemon") {
        v.push("systemctl disable --now mptcp-daemon.service (mptcp daemon)");
    }
    format!("keep one manager: {}", v.join(", or "))
}
