//! A connection this host opened: why it fell back, or which subflows
//! are missing and why.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::*;

impl<'a> Reasoner<'a> {
    /// Whether endpoint `ep` could carry an extra subflow of the client's
    /// MPTCP connection (subflow flag, same family, not the first
    /// subflow's address): then the connection's reasoning judges it.
    pub(super) fn client_candidate(&self, ep: &Endpoint) -> bool {
        match self.conn {
            Some((remote, local)) => {
                ep.has("subflow") && Some(ep.addr) != local && remote.is_none_or(|r| same_family(ep.addr, r))
            }
            None => false,
        }
    }

    pub(super) fn client(&mut self, c: &Client, available: bool) -> (Option<bool>, Option<SubflowCount>) {
        let remote = c.remote.map(|r| r.ip());
        let local = c.local.map(|l| l.ip());
        let token = c.info.and_then(|i| i.token);
        let events: Vec<&Event> = c.events.iter().filter(|e| token.is_some() && e.token == token).collect();
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

    pub(super) fn exchange_notes(&mut self, c: &Client) {
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

    pub(super) fn noise_note(c: &Client) -> &'static str {
        if c.other_activity {
            " Other MPTCP connections were active in this network namespace during the attempt, so these \
             counters may include theirs."
        } else {
            ""
        }
    }

    pub(super) fn fallback(&mut self, c: &Client) {
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
    pub(super) fn missing_subflows(
        &mut self,
        c: &Client,
        events: &[&Event],
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
        if self.out.len() == before && count.established < count.possible {
            let d = &c.counters;
            let rose: Vec<String> = d.iter().map(|(k, v)| format!("{k} {v}")).collect();
            self.push(
                Finding::new(
                    Id::SubflowMissing,
                    Severity::Warning,
                    format!(
                        "{} of {} possible subflows are established and no cause was found in what this host \
                         shows: the counters that rose and the subflow list are in the observed values.",
                        count.established, count.possible
                    ),
                )
                .fact("subflows_established", count.established)
                .fact("subflows_possible", count.possible)
                .fact("counters_that_rose", rose),
            );
        }
    }

    pub(super) fn add_addr_not_accepted(&self, c: &Client, announced: &BTreeSet<IpAddr>, sev: Severity) -> Finding {
        Finding::new(
            Id::AddAddrNotAccepted,
            sev,
            format!(
                "The server announced {} (ADD_ADDR), and this host accepts no announcement (add_addr_accepted \
                 0, the kernel's default): the kernel ignores {}, so no subflow goes to the server's other \
                 address{}.",
                announced.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "),
                if announced.len() == 1 { "it" } else { "them" },
                if announced.len() == 1 { "" } else { "es" }
            ),
        )
        .fact("announced", announced.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        .fact("limit_add_addr_accepted", 0u64)
        .fact("AddAddr", counter(&c.counters, "AddAddr"))
        .fix(format!("ip mptcp limits set add_addr_accepted {}", announced.len().min(MAX_ENDPOINTS)))
    }

    /// What became of the subflow from endpoint `ep`.
    pub(super) fn endpoint_subflow(&mut self, c: &Client, ep: &Endpoint, events: &[&Event]) {
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
            if !rc.reaches() {
                self.push(self.no_route(ep, rc, Some(c)));
                return;
            }
        }
        let sf = c.subflows.iter().find(|s| s.local.map(|l| l.ip()) == Some(ep.addr));
        if sf.is_some_and(|s| s.established()) {
            return;
        }
        let from_ep: Vec<&&Event> = events.iter().filter(|e| e.saddr == Some(ep.addr)).collect();
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
    pub(super) fn announced_subflow(&mut self, c: &Client, addr: IpAddr, events: &[&Event]) {
        let sf = c.subflows.iter().find(|s| s.remote.map(|r| r.ip()) == Some(addr));
        if sf.is_some_and(|s| s.established()) {
            return;
        }
        let to: Vec<&&Event> = events.iter().filter(|e| e.daddr == Some(addr) && e.kind.starts_with("sf_")).collect();
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

    pub(super) fn unanswered(&mut self, c: &Client, ep: &Endpoint, rc: Option<&RouteCheck>, remote: Option<IpAddr>) {
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
        // No route through the endpoint's device: the kernel took the
        // server to be on that link. Did it answer ARP/NDP there?
        let onlink_dev = dev.filter(|_| asymmetric && rc.is_some_and(|r| r.answer.gateway.is_none()));
        let neighbour = onlink_dev.and_then(|d| c.neighbours.iter().find(|n| n.ifindex == d && Some(n.addr) == remote));
        let mut fix = format!(
            "let TCP SYNs with option 30 (MPTCP) from {} reach {dst}; watch them with tcpdump -ni {} 'tcp[13] & 2 != 0'",
            ep.addr,
            dev.map(|d| self.ifname(d)).unwrap_or_else(|| "any".into())
        );
        let onlink = match (onlink_dev, neighbour) {
            (Some(d), Some(n)) if !n.answered() => {
                let name = self.ifname(d);
                fix = format!(
                    "route that source through the next hop on {name}: ip route add {dst} via GATEWAY dev {name} \
                     table 100 && ip rule add from {} table 100",
                    ep.addr
                );
                format!(
                    " The routing table has no route to {dst} through {name}, so the kernel took {dst} to be on \
                     that link, and its neighbour requests (ARP) for {dst} there got no answer (neighbour {}): \
                     the SYN never left. Through a router, that works only with proxy ARP.",
                    n.state
                )
            }
            (Some(d), None) => format!(
                " The routing table has no route to {dst} through {}: the kernel takes {dst} to be on that link \
                 and asks for it with ARP there, which through a router works only with proxy ARP.",
                self.ifname(d)
            ),
            _ => String::new(),
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
            .fix(fix),
        );
    }

    pub(super) fn rejected(
        &mut self,
        c: &Client,
        src: IpAddr,
        remote: Option<IpAddr>,
        e: &Event,
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
    pub(super) fn closed_subflows(&mut self, c: &Client, events: &[&Event]) {
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
}
