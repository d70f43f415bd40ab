//! The host alone: MPTCP's availability, the path manager, endpoints,
//! limits, endpoint managers, the blackhole history.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::*;

impl<'a> Reasoner<'a> {
    pub(super) fn availability(&mut self) -> bool {
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

    pub(super) fn path_manager(&mut self) {
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

    pub(super) fn userspace_idle_finding(&self, severity: Severity, subflows: Option<SubflowCount>) -> Finding {
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

    pub(super) fn endpoints(&mut self) {
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
                    if !rc.reaches() {
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
    pub(super) fn host_paths(&mut self, eps: &[Endpoint]) {
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
    pub(super) fn endpoint_add_fix(&self, addrs: &[(IpAddr, String)], except: Option<IpAddr>) -> String {
        match addrs.iter().find(|(a, _)| Some(*a) != except) {
            Some((a, dev)) => format!("ip mptcp endpoint add {a} dev {dev} subflow"),
            None => "ip mptcp endpoint add ADDRESS dev DEVICE subflow".to_string(),
        }
    }

    pub(super) fn address_gone(&self, ep: &Endpoint, sev: Severity, c: Option<&Client>) -> Finding {
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

    pub(super) fn interface_down(&self, ep: &Endpoint, sev: Severity) -> Finding {
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

    pub(super) fn no_route(&self, ep: &Endpoint, rc: &RouteCheck, c: Option<&Client>) -> Finding {
        let dev = rc.dev.map(|d| self.ifname(d));
        let answer = match (rc.answer.error, rc.answer.kind.as_deref(), rc.answer.dev) {
            (Some(e), _, _) => errno_name(e),
            (None, Some("unicast"), Some(out)) if rc.dev.is_some_and(|d| d != out) => {
                format!("a route through {}, not through the endpoint's device", self.ifname(out))
            }
            (None, Some(k), _) => format!("a route of type {k}"),
            (None, None, _) => "no answer".to_string(),
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

    pub(super) fn limit_zero(&self, endpoints: usize, announced: usize, subflows: Option<SubflowCount>) -> Finding {
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

    pub(super) fn managers(&mut self) {
        let m = &self.host.managers;
        if m.is_empty() {
            return;
        }
        let names: BTreeSet<&str> = m.iter().map(|m| m.name.as_str()).collect();
        let list: Vec<String> = m.iter().map(|m| format!("{} (pid {})", m.name, m.pid)).collect();
        let foreign = names.iter().any(|n| *n != "mptcp daemon");
        // Two processes fight over the endpoints, two of one kind as well.
        if m.len() >= 2 {
            self.push(
                Finding::new(
                    Id::AnotherManager,
                    Severity::Error,
                    format!(
                        "{} programs manage the MPTCP endpoints of this network namespace at once ({}): each \
                         adds and deletes endpoints as addresses come and go, with its own flags, so the \
                         endpoints change under the other's feet and connections may lose subflows.",
                        m.len(),
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

    pub(super) fn blackhole_history(&mut self) {
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
