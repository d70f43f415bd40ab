//! What a listener saw: clients without MPTCP, handshakes stripped on
//! the way, joins refused, what this host announces.

use std::collections::BTreeSet;

use super::*;

impl<'a> Reasoner<'a> {
    pub(super) fn server(&mut self, s: &Server, available: bool) {
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
