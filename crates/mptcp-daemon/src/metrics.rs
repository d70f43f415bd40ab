//! Prometheus metrics in the text exposition format (version 0.0.4): the
//! kernel's MPTcpExt counters, connections and subflows (inet_diag),
//! endpoints per interface, and the daemon's own work.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use mptcp::counters::{CounterKind, MptcpCounters};
use mptcp::pm::PathManager;

use crate::engine::Counters;
use crate::net::NetState;

/// Content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub use crate::engine::REACTION_BUCKETS;

/// Builds a text exposition: families with `# HELP` and `# TYPE`, then
/// their samples, names and labels escaped as the format requires.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
    families: BTreeSet<String>,
}

impl Exposition {
    /// Starts a metric family.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp_daemon::metrics::Exposition;
    ///
    /// let mut e = Exposition::default();
    /// e.family("demo_total", "counter", "A \"demo\"\\counter.");
    /// e.sample("demo_total", &[("path", "a\"b\n")], 3.0);
    /// assert_eq!(
    ///     e.finish(),
    ///     "# HELP demo_total A \"demo\"\\\\counter.\n# TYPE demo_total counter\ndemo_total{path=\"a\\\"b\\n\"} 3\n"
    /// );
    /// ```
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        debug_assert!(self.families.insert(name.to_string()), "family {name} twice");
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// Adds one sample.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                let _ = write!(self.out, "{k}=\"{v}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", format_value(value));
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// What the daemon knows that the metrics show.
#[derive(Debug, Clone, Default)]
pub(crate) struct DaemonView {
    pub counters: Counters,
    pub owned: BTreeSet<u8>,
    pub net: NetState,
    pub held: usize,
    pub started_unix: f64,
    pub waiting: bool,
}

/// Renders every metric; reads the kernel (counters, sockets, endpoints,
/// limits) in the calling thread's network namespace.
pub(crate) fn render(view: &DaemonView, pm: Option<&mut PathManager>) -> String {
    let mut e = Exposition::default();
    kernel_metrics(&mut e, pm, view);
    daemon_metrics(&mut e, view);
    e.finish()
}

fn kernel_metrics(e: &mut Exposition, pm: Option<&mut PathManager>, view: &DaemonView) {
    // Unreadable (no MPTCP in this kernel): no samples.
    netstat_metrics(e, &MptcpCounters::read().unwrap_or_default());
    let enabled =
        std::fs::read_to_string("/proc/sys/net/mptcp/enabled").ok().and_then(|s| s.trim().parse::<f64>().ok());
    e.family("mptcp_enabled", "gauge", "sysctl net.mptcp.enabled (absent without MPTCP in the kernel).");
    if let Some(v) = enabled {
        e.sample("mptcp_enabled", &[], v);
    }
    let mut states: BTreeMap<&str, u64> = [("established", 0), ("listen", 0), ("other", 0)].into_iter().collect();
    let mut fallback = 0u64;
    let mut sockets_ok = true;
    for fam in mptcp::diag::AddressFamily::ALL {
        match mptcp::diag::mptcp_sockets(fam) {
            Ok(list) => {
                for s in list {
                    let st = match s.state {
                        1 => "established",
                        10 => "listen",
                        _ => "other",
                    };
                    *states.entry(st).or_default() += 1;
                    if s.state == 1 && s.info.as_ref().and_then(|i| i.is_fallback()) == Some(true) {
                        fallback += 1;
                    }
                }
            }
            Err(_) => sockets_ok = false,
        }
    }
    if sockets_ok {
        e.family("mptcp_sockets", "gauge", "MPTCP sockets by state (inet_diag): established, listen, other.");
        for (k, v) in &states {
            e.sample("mptcp_sockets", &[("state", k)], *v as f64);
        }
        e.family("mptcp_sockets_fallback", "gauge", "Established MPTCP sockets that fell back to plain TCP.");
        e.sample("mptcp_sockets_fallback", &[], fallback as f64);
    }
    if let Ok(sfs) = mptcp::diag::subflows() {
        e.family(
            "mptcp_subflows",
            "gauge",
            "TCP subflows of MPTCP connections (inet_diag), by interface of the local address.",
        );
        let mut by_if: BTreeMap<String, u64> = BTreeMap::new();
        for sf in sfs {
            let ifname = view
                .net
                .addrs()
                .find(|a| a.addr == sf.local.ip())
                .map(|a| view.net.name(a.index))
                .unwrap_or_else(|| "unknown".into());
            *by_if.entry(ifname).or_default() += 1;
        }
        for (k, v) in &by_if {
            e.sample("mptcp_subflows", &[("interface", k)], *v as f64);
        }
    }
    let Some(pm) = pm else { return };
    if let Ok(eps) = pm.endpoints() {
        e.family("mptcp_endpoints", "gauge", "Path-manager endpoints by interface and owner (daemon or other).");
        let mut by: BTreeMap<(String, &str), u64> = BTreeMap::new();
        for ep in eps {
            let ifname = ep.ifindex.map(|i| view.net.name(i)).unwrap_or_else(|| "none".into());
            let owner = if view.owned.contains(&ep.id) { "daemon" } else { "other" };
            *by.entry((ifname, owner)).or_default() += 1;
        }
        for ((i, o), v) in &by {
            e.sample("mptcp_endpoints", &[("interface", i), ("owner", o)], *v as f64);
        }
    }
    if let Ok(l) = pm.limits() {
        e.family("mptcp_limit", "gauge", "Path-manager limits: subflows, add_addr_accepted.");
        e.sample("mptcp_limit", &[("limit", "subflows")], f64::from(l.subflows));
        e.sample("mptcp_limit", &[("limit", "add_addr_accepted")], f64::from(l.add_addr_accepted));
    }
}

/// The kernel's `MPTcpExt` counters: one `mptcp_netstat_total` series per
/// counter, and the one gauge (`MPCurrEstab`) on its own.
fn netstat_metrics(e: &mut Exposition, counters: &MptcpCounters) {
    e.family(
        "mptcp_netstat_total",
        "counter",
        "The kernel's MPTcpExt counters (/proc/net/netstat), one series per counter name; summing them is meaningless.",
    );
    for (k, v) in counters.iter().filter(|(k, _)| CounterKind::of(k) == CounterKind::Counter) {
        e.sample("mptcp_netstat_total", &[("counter", k)], v as f64);
    }
    if let Some(v) = counters.curr_estab() {
        e.family(
            "mptcp_netstat_current_established",
            "gauge",
            "MPTCP connections established now (MPTcpExt MPCurrEstab).",
        );
        e.sample("mptcp_netstat_current_established", &[], v as f64);
    }
}

fn daemon_metrics(e: &mut Exposition, view: &DaemonView) {
    let c = &view.counters;
    e.family(
        "mptcp_daemon_actions_total",
        "counter",
        "Operations on the path manager by the daemon, by operation and result.",
    );
    for ((op, result), v) in &c.actions {
        e.sample("mptcp_daemon_actions_total", &[("op", op), ("result", result)], *v as f64);
    }
    e.family(
        "mptcp_daemon_errors_total",
        "counter",
        "Errors: failed operations (kind=\"action\") and lost or unparsable rtnetlink events (kind=\"rtnetlink\").",
    );
    let failed: u64 = c.actions.iter().filter(|((_, r), _)| *r == "error").map(|(_, v)| v).sum();
    e.sample("mptcp_daemon_errors_total", &[("kind", "action")], failed as f64);
    e.sample("mptcp_daemon_errors_total", &[("kind", "rtnetlink")], c.resyncs as f64);
    e.family(
        "mptcp_daemon_events_total",
        "counter",
        "rtnetlink events that changed what the policy looks at, by kind.",
    );
    for (k, v) in &c.events {
        e.sample("mptcp_daemon_events_total", &[("kind", k)], *v as f64);
    }
    e.family(
        "mptcp_daemon_reconciles_total",
        "counter",
        "Passes that compared the kernel's endpoints with the policy.",
    );
    e.sample("mptcp_daemon_reconciles_total", &[], c.reconciles as f64);
    e.family(
        "mptcp_daemon_reaction_seconds",
        "histogram",
        "From receiving an rtnetlink event to the kernel's answer to the endpoint operation it caused.",
    );
    for (op, h) in &c.reaction {
        // `observe` counts a value in every bucket it fits: cumulative already.
        for (i, le) in REACTION_BUCKETS.iter().enumerate() {
            e.sample(
                "mptcp_daemon_reaction_seconds_bucket",
                &[("op", op), ("le", &format_value(*le))],
                h.counts[i] as f64,
            );
        }
        e.sample("mptcp_daemon_reaction_seconds_bucket", &[("op", op), ("le", "+Inf")], h.count as f64);
        e.sample("mptcp_daemon_reaction_seconds_sum", &[("op", op)], h.sum);
        e.sample("mptcp_daemon_reaction_seconds_count", &[("op", op)], h.count as f64);
    }
    e.family(
        "mptcp_daemon_held_endpoints",
        "gauge",
        "Endpoints someone else deleted or changed, which the daemon leaves so.",
    );
    e.sample("mptcp_daemon_held_endpoints", &[], view.held as f64);
    e.family("mptcp_daemon_waiting_for_mptcp", "gauge", "1 while the daemon waits for MPTCP to be enabled.");
    e.sample("mptcp_daemon_waiting_for_mptcp", &[], if view.waiting { 1.0 } else { 0.0 });
    e.family("mptcp_daemon_interface_up", "gauge", "Interfaces: 1 when administratively up.");
    for l in view.net.links() {
        e.sample("mptcp_daemon_interface_up", &[("interface", &l.name)], if l.up { 1.0 } else { 0.0 });
    }
    e.family("mptcp_daemon_interface_carrier", "gauge", "Interfaces: 1 with carrier.");
    for l in view.net.links() {
        e.sample("mptcp_daemon_interface_carrier", &[("interface", &l.name)], if l.carrier { 1.0 } else { 0.0 });
    }
    e.family("mptcp_daemon_start_time_seconds", "gauge", "Start time of the daemon, seconds since the Unix epoch.");
    e.sample("mptcp_daemon_start_time_seconds", &[], view.started_unix);
    e.family("mptcp_daemon_build_info", "gauge", "Version of the daemon (value 1).");
    e.sample("mptcp_daemon_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
