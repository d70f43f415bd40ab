//! What the lab prints: one line per phase as it ends, the summary table,
//! and the whole report for `--json`.

use std::net::IpAddr;
use std::time::Duration;

use mptcp_linkem::{LinkConfig, Loss, QueueLimit};
use mptcp_transfer::units::fmt_rate;
use serde::Serialize;

use crate::phase::{Phase, PhaseReport, INTACT, VERIFIED};
use crate::plan::Plan;
use crate::spec::LinkKind;
use crate::topo::Topology;

/// One path as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PathInfo {
    /// 1-based.
    pub path: usize,
    /// The client's address on it.
    pub client: IpAddr,
    /// The server's address on it.
    pub server: IpAddr,
    /// Its rate for people (`50 Mbit/s`, `115 Mbit/s down, 17 Mbit/s up`),
    /// or `unshaped`.
    pub rate: String,
    /// Its uplink rate (the lab's transfers go up), bits per second
    /// (`None`: unshaped).
    pub rate_bps: Option<u64>,
    /// Its downlink rate, bits per second.
    pub down_bps: Option<u64>,
    /// What it stands for (a profile's label).
    pub label: String,
    /// The client's interface on it.
    pub interface: String,
    /// The kind of that interface.
    pub kind: LinkKind,
    /// The client's gateway (the router's address).
    pub gateway: IpAddr,
    /// The metric of the client's default route through it.
    pub metric: u32,
    /// Whether the client's endpoint on it is a backup.
    pub backup: bool,
    /// Round-trip time the emulator adds (both one-way delays), ms.
    pub added_rtt_ms: f64,
    /// The emulated link from client to server (a linkem spec).
    pub up: String,
    /// The emulated link from server to client.
    pub down: String,
    /// What the links emulate, for people.
    pub emulated: String,
}

impl PathInfo {
    /// The paths of `topo`.
    pub fn of(topo: &Topology) -> Vec<PathInfo> {
        topo.paths
            .iter()
            .map(|p| {
                let (down, up) = (p.spec.down_rate_bps(), p.spec.up_rate_bps());
                let rate = rate_of(down, up);
                PathInfo {
                    path: p.index + 1,
                    client: p.client_addr(),
                    server: p.server_addr(),
                    rate,
                    rate_bps: up,
                    down_bps: down,
                    label: p.spec.label.clone(),
                    interface: p.client_dev().to_string(),
                    kind: p.spec.kind,
                    gateway: p.gateway(),
                    metric: p.metric,
                    backup: p.spec.backup,
                    added_rtt_ms: (p.spec.down.delay + p.spec.up.delay).as_secs_f64() * 1000.0,
                    up: p.spec.up.to_string(),
                    down: p.spec.down.to_string(),
                    emulated: describe(&rate_of(down, up), &p.spec.up, &p.spec.down),
                }
            })
            .collect()
    }
}

/// `50 Mbit/s`, `115 Mbit/s down, 17 Mbit/s up`, `unshaped`.
fn rate_of(down: Option<u64>, up: Option<u64>) -> String {
    let r = |v: Option<u64>| v.map(|b| fmt_rate(b as f64)).unwrap_or_else(|| "unshaped".into());
    if down == up {
        r(up)
    } else {
        format!("{} down, {} up", r(down), r(up))
    }
}

/// What a path's links emulate, for people: `50 Mbit/s, +120 ms RTT, loss
/// 0.5%, queue 50 ms`.
fn describe(rate: &str, up: &LinkConfig, down: &LinkConfig) -> String {
    let mut s = rate.to_string();
    let rtt = (up.delay + down.delay).as_secs_f64() * 1000.0;
    if rtt > 0.0 {
        s.push_str(&format!(", +{} ms RTT", trim(rtt)));
    }
    let ms = |d: Duration| format!("{} ms", trim(d.as_secs_f64() * 1000.0));
    let both = |what: &str, u: String, d: String, none: bool| -> String {
        match (none, u == d) {
            (true, _) => String::new(),
            (false, true) => format!(", {what} {u}"),
            (false, false) => format!(", {what} {u} up, {d} down"),
        }
    };
    s.push_str(&both("jitter", ms(up.jitter), ms(down.jitter), up.jitter.is_zero() && down.jitter.is_zero()));
    s.push_str(&both("loss", loss(&up.loss), loss(&down.loss), up.loss == Loss::None && down.loss == Loss::None));
    s.push_str(&both("queue", queue(up.queue), queue(down.queue), false));
    s
}

fn loss(l: &Loss) -> String {
    match l {
        Loss::None => "none".into(),
        Loss::Bernoulli(p) => format!("{}%", trim(p * 100.0)),
        Loss::GilbertElliott(g) => {
            format!("{}% in bursts of {}", trim(g.mean_loss() * 100.0), trim(g.mean_burst()))
        }
    }
}

fn queue(q: QueueLimit) -> String {
    match q {
        QueueLimit::Unlimited => "unlimited".into(),
        QueueLimit::Bytes(b) => format!("{b} bytes"),
        QueueLimit::Time(t) => format!("{} ms", trim(t.as_secs_f64() * 1000.0)),
    }
}

/// `20`, `0.5`: at most 3 decimals, no trailing zeros.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// MPTCP against the paths alone: its goodput over the best single path's
/// and over their sum, all measured in the same run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregation {
    /// The path whose plain TCP transfer was fastest (1-based).
    pub best_path: usize,
    /// Its goodput, bits per second.
    pub best_tcp_bps: f64,
    /// The sum of the single-path goodputs.
    pub tcp_sum_bps: f64,
    /// MPTCP's goodput over every path.
    pub mptcp_bps: f64,
    /// `mptcp_bps / best_tcp_bps`: above 1, MPTCP beats the best path.
    pub over_best: f64,
    /// `mptcp_bps / tcp_sum_bps`: 1 is perfect aggregation.
    pub over_sum: f64,
}

impl Aggregation {
    /// From the phases, when every path's `tcp` row and the `mptcp` phase
    /// ran and moved data.
    pub fn of(phases: &[PhaseReport], npaths: usize) -> Option<Aggregation> {
        let tcp: Vec<(usize, f64)> =
            phases.iter().filter(|p| p.name == Phase::Tcp).filter_map(|p| Some((p.path?, p.goodput_bps))).collect();
        let m = phases.iter().find(|p| p.name == Phase::Mptcp)?;
        if tcp.len() != npaths || npaths < 2 || tcp.iter().any(|t| t.1 <= 0.0) || m.goodput_bps <= 0.0 {
            return None;
        }
        let (best_path, best) = tcp.iter().copied().fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
        let sum: f64 = tcp.iter().map(|t| t.1).sum();
        Some(Aggregation {
            best_path,
            best_tcp_bps: best,
            tcp_sum_bps: sum,
            mptcp_bps: m.goodput_bps,
            over_best: m.goodput_bps / best,
            over_sum: m.goodput_bps / sum,
        })
    }

    /// The summary's line.
    fn line(&self, scheduler: Option<&str>) -> String {
        format!(
            "  mptcp against the paths alone: {} = {:.2} x the best path (path {}, {}) and {:.2} of their sum ({}); \
             scheduler {}\n",
            fmt_rate(self.mptcp_bps),
            self.over_best,
            self.best_path,
            fmt_rate(self.best_tcp_bps),
            self.over_sum,
            fmt_rate(self.tcp_sum_bps),
            scheduler.unwrap_or("unknown"),
        )
    }
}

/// The whole lab report (`--json`).
#[derive(Debug, Serialize)]
pub struct LabReport {
    /// Every phase ok (or skipped) and every namespace removed.
    pub ok: bool,
    /// The paths.
    pub paths: Vec<PathInfo>,
    /// The client's routes (`ip route` syntax), main table and per-path
    /// tables.
    pub client_routes: Vec<String>,
    /// The client's policy rules (`ip rule` syntax).
    pub client_rules: Vec<String>,
    /// Congestion control of the transfers (`None`: the system's).
    pub congestion: Option<String>,
    /// The client's send buffer (`SO_SNDBUF`), when the lab bounds it for
    /// slow paths (`None`: the kernel's autotuning).
    pub send_buffer: Option<usize>,
    /// The MPTCP packet scheduler in use (`net.mptcp.scheduler` of the
    /// client's namespace).
    pub scheduler: Option<String>,
    /// MPTCP against the best single path and the sum of them.
    pub aggregation: Option<Aggregation>,
    /// How the path manager was set up (always `netlink`: `mptcp::pm`).
    pub path_manager_via: &'static str,
    /// Seconds per transfer.
    pub duration_s: f64,
    /// The two failover phases side by side, when both ran.
    pub failover: Option<FailoverComparison>,
    /// The phases, in the order they ran.
    pub phases: Vec<PhaseReport>,
    /// The chart written, if any.
    pub plot: Option<String>,
    /// The namespaces the lab made.
    pub namespaces: Vec<String>,
    /// Whether they are gone.
    pub namespaces_removed: bool,
    /// Seconds the whole lab took.
    pub elapsed_s: f64,
}

/// The stall of the `failover` phase (kernel path manager alone) against
/// that of `failover-daemon` (`mptcp daemon` on the client).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailoverComparison {
    /// The path taken down in both (1-based).
    pub failed_path: usize,
    /// The stall with the kernel path manager alone, ms.
    pub kernel_stall_ms: Option<f64>,
    /// The stall with `mptcp daemon`, ms.
    pub daemon_stall_ms: Option<f64>,
    /// `daemon_stall_ms / kernel_stall_ms`.
    pub daemon_over_kernel: Option<f64>,
}

impl FailoverComparison {
    /// From the phases, when both failover phases ran and measured (a
    /// stall that never ended counts; a window too short to tell does not).
    pub fn of(phases: &[PhaseReport]) -> Option<FailoverComparison> {
        let find = |ph: Phase| {
            phases.iter().filter(|p| p.name == ph).find_map(|p| p.failover()).filter(|f| f.remaining_bps.is_some())
        };
        let (k, d) = (find(Phase::Failover)?, find(Phase::FailoverDaemon)?);
        let ratio = match (k.stall_ms, d.stall_ms) {
            (Some(k), Some(d)) if k > 0.0 => Some(d / k),
            _ => None,
        };
        Some(FailoverComparison {
            failed_path: k.failed_path.unwrap_or(0),
            kernel_stall_ms: k.stall_ms,
            daemon_stall_ms: d.stall_ms,
            daemon_over_kernel: ratio,
        })
    }

    /// The summary's line.
    fn line(&self) -> String {
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.0} ms")).unwrap_or_else(|| "no recovery".into());
        let ratio = self.daemon_over_kernel.map(|r| format!(" ({r:.2} of it)")).unwrap_or_default();
        format!(
            "  failover stall, path {} down: kernel path manager alone {}, with mptcp daemon {}{ratio}; one run \
             each, and single runs vary: bench/daemon.sh gives medians\n",
            self.failed_path,
            ms(self.kernel_stall_ms),
            ms(self.daemon_stall_ms),
        )
    }
}

/// The lines printed before the first phase: the namespaces, the paths
/// (addresses, interfaces, route metrics, what is emulated), the routing,
/// the path manager and the transfers' settings.
pub fn intro(names: &[String], paths: &[PathInfo], pm_via: &str, plan: &Plan, scheduler: Option<&str>) -> String {
    let n = paths.len();
    let mut s = format!(
        "mptcp lab: client, server and {n} router{} in namespaces {}\n",
        if n == 1 { "" } else { "s" },
        names.join(", ")
    );
    for p in paths {
        s.push_str(&path_line(p));
        s.push('\n');
    }
    s.push_str(
        "  routing: the client's default route through each router at its metric, the server's address on path N \
         through router N, and per path a table and a rule `from <client address N>`; the routers drop packets \
         from another path's addresses (strict rp_filter)\n",
    );
    let backup = if paths.iter().any(|p| p.backup) { " (backup where marked)" } else { "" };
    let sndbuf = match plan.client_opts().send_buffer {
        Some(b) if plan.opts.send_buffer.is_none() => format!("; send buffer {} KiB (bounded: slow paths)", b >> 10),
        _ => String::new(),
    };
    s.push_str(&format!(
        "  path manager: one subflow endpoint per path on the client, bound to its interface{backup}, limits \
         subflows {} (via {pm_via}); congestion {}; scheduler {}{sndbuf}; {} s per transfer\n",
        n.saturating_sub(1),
        plan.opts.congestion.as_deref().unwrap_or("system default"),
        scheduler.unwrap_or("unknown"),
        plan.duration.as_secs_f64()
    ));
    s
}

/// One path for people: `path 1: client 10.100.0.1 (p0, wifi, metric 600)
/// -> router 10.100.0.254 -> server 10.200.0.2: 50 Mbit/s, ...`.
pub fn path_line(p: &PathInfo) -> String {
    let label = if p.label.is_empty() { String::new() } else { format!(" {}", p.label) };
    let backup = if p.backup { ", backup" } else { "" };
    format!(
        "  path {}{label}: client {} ({}, {}, metric {}{backup}) -> router {} -> server {}: {}",
        p.path,
        p.client,
        p.interface,
        p.kind.name(),
        p.metric,
        p.gateway,
        p.server,
        p.emulated
    )
}

/// The name of a phase's row: `tcp path 2` for a single-path `tcp` row.
pub fn row_name(p: &PhaseReport) -> String {
    match (p.name, p.path) {
        (Phase::Tcp, Some(n)) => format!("tcp path {n}"),
        (name, _) => name.name().to_string(),
    }
}

/// The line printed when a phase ends.
pub fn phase_line(p: &PhaseReport) -> String {
    let mark = match (p.ok, p.skipped) {
        (true, _) => "ok ",
        (false, true) => "skip",
        (false, false) => "FAIL",
    };
    format!("  {mark} {:<15} {}", row_name(p), p.notes.join("; "))
}

/// Each subflow's median RTT in ms, in path order: `20.4/121`.
fn rtts(p: &PhaseReport) -> String {
    let mut v: Vec<(usize, f64)> =
        p.subflow_rtts.iter().filter_map(|r| Some((r.path.unwrap_or(usize::MAX), r.rtt_ms?))).collect();
    if v.is_empty() {
        return "-".into();
    }
    v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let one = |ms: f64| if ms < 10.0 { format!("{ms:.1}") } else { format!("{ms:.0}") };
    v.iter().map(|(_, ms)| one(*ms)).collect::<Vec<_>>().join("/")
}

fn pct(v: Option<f64>) -> String {
    v.map(|f| format!("{:.1}%", f * 100.0)).unwrap_or_else(|| "-".into())
}

/// The notes column: the failover's outcome, else the notes that the
/// integrity column does not already say.
fn notes(p: &PhaseReport) -> String {
    let Some(f) = p.failover() else {
        return p
            .notes
            .iter()
            .filter(|n| ![VERIFIED, INTACT].contains(&n.as_str()))
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
    };
    let path = f.failed_path.unwrap_or(0);
    let then = match (f.remaining_bps, f.remaining_limit_bps) {
        (Some(r), Some(l)) if l > 0.0 => format!("; then {} ({:.1}% of the limit)", fmt_rate(r), r / l * 100.0),
        (Some(r), _) => format!("; then {}", fmt_rate(r)),
        _ => String::new(),
    };
    let others = || p.notes.iter().filter(|n| n.as_str() != INTACT).cloned().collect::<Vec<_>>().join("; ");
    // A failed failover phase says why after its figures.
    let why = if p.ok { String::new() } else { format!("; {}", others()) };
    match (f.down_at_s, f.stall_ms) {
        (Some(d), Some(st)) => format!("path {path} down at {d:.1} s; stall {st:.0} ms{then}{why}"),
        (Some(d), None) if f.remaining_bps.is_some() => {
            format!("path {path} down at {d:.1} s; the rate never came back{then}{why}")
        }
        _ => others(),
    }
}

/// The summary table and the closing lines.
pub fn summary(r: &LabReport) -> String {
    let mut s = String::new();
    s.push_str("\nSummary\n");
    s.push_str(&format!(
        "  {:<15} {:>13} {:>13} {:>9} {:>8} {:>13}  {:<20} {:<9} {}\n",
        "phase", "goodput", "limit", "of limit", "subflows", "RTT ms", "status client/server", "integrity", "notes"
    ));
    for p in &r.phases {
        let status = match (&p.client_status, &p.server_status) {
            (Some(c), Some(sv)) => format!("{c}/{sv}"),
            (Some(c), None) => c.to_string(),
            _ => "-".into(),
        };
        let integrity = match p.verified {
            Some(true) => "verified",
            Some(false) => "MISMATCH",
            None => "-",
        };
        let remaining = p.failover().and_then(|f| f.remaining_limit_bps);
        let limit = p.limit_bps.or(remaining).map(fmt_rate).unwrap_or_else(|| "-".into());
        let row = format!(
            "  {:<15} {:>13} {:>13} {:>9} {:>8} {:>13}  {:<20} {:<9} {}",
            row_name(p),
            if p.goodput_bps > 0.0 { fmt_rate(p.goodput_bps) } else { "-".into() },
            limit,
            pct(p.fraction_of_limit),
            if p.subflows > 0 { p.subflows.to_string() } else { "-".into() },
            rtts(p),
            status,
            integrity,
            notes(p)
        );
        s.push_str(row.trim_end());
        s.push('\n');
    }
    s.push_str(
        "  limit: sum of the paths' uplink rates x payload per IP packet / its size, from the MSS used (the \
         emulator counts IP bytes); failover: the limit of the remaining paths; RTT: each subflow's median \
         smoothed RTT (tcp_info), path 1 first\n",
    );
    if let Some(a) = &r.aggregation {
        s.push_str(&a.line(r.scheduler.as_deref()));
    }
    if let Some(f) = &r.failover {
        s.push_str(&f.line());
    }
    if let Some(pl) = &r.plot {
        s.push_str(&format!("  plot: {pl}\n"));
    }
    s.push_str(&format!(
        "  namespaces {}: {}; {:.1} s in all. {}\n",
        r.namespaces.join(", "),
        if r.namespaces_removed { "removed" } else { "NOT removed" },
        r.elapsed_s,
        if r.ok { "All checks passed." } else { "Some checks FAILED." }
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use mptcp_transfer::proto::Status;

    use crate::phase::{Failover, PhaseKind};

    /// The failover part of a failover phase's report.
    fn fo(p: &mut PhaseReport) -> &mut Failover {
        match &mut p.kind {
            PhaseKind::Failover(f) => f,
            k => panic!("not a failover phase: {k:?}"),
        }
    }

    fn report(phases: Vec<PhaseReport>) -> LabReport {
        LabReport {
            ok: phases.iter().all(|p| p.ok || p.skipped),
            paths: vec![],
            client_routes: vec![],
            client_rules: vec![],
            congestion: Some("cubic".into()),
            send_buffer: None,
            scheduler: Some("default".into()),
            aggregation: None,
            path_manager_via: "netlink",
            duration_s: 2.0,
            failover: FailoverComparison::of(&phases),
            phases,
            plot: None,
            namespaces: vec!["mptcp-1-0-client".into(), "mptcp-1-1-server".into()],
            namespaces_removed: true,
            elapsed_s: 9.5,
        }
    }

    #[test]
    fn the_table_shows_each_phase_and_hides_what_columns_say() {
        let mut m = PhaseReport::new(Phase::Mptcp);
        m.ok = true;
        m.goodput_bps = 93.9e6;
        m.limit_bps = Some(94.1e6);
        m.fraction_of_limit = Some(0.998);
        m.subflows = 2;
        m.verified = Some(true);
        m.client_status = Some(Status::Mptcp);
        m.server_status = Some(Status::Mptcp);
        m.notes = vec![VERIFIED.into(), "2 subflows for 3 paths".into()];
        let mut f = PhaseReport::new(Phase::Failover);
        f.ok = true;
        f.verified = Some(true);
        fo(&mut f).failed_path = Some(1);
        fo(&mut f).down_at_s = Some(2.61);
        fo(&mut f).stall_ms = Some(450.0);
        fo(&mut f).remaining_bps = Some(46.9e6);
        fo(&mut f).remaining_limit_bps = Some(47.0e6);
        f.notes = vec![INTACT.into()];
        let mut d = f.clone();
        d.name = Phase::FailoverDaemon;
        fo(&mut d).stall_ms = Some(100.0);
        let mut i = PhaseReport::new(Phase::Iperf3);
        i.skipped = true;
        i.notes = vec!["skipped: `iperf3` not found".into()];
        assert_eq!(phase_line(&i), "  skip iperf3          skipped: `iperf3` not found");
        let mut fb = PhaseReport::new(Phase::Fallback);
        fb.verified = Some(false);
        let text = summary(&report(vec![m, f, d, i, fb]));
        let line = |name: &str| text.lines().find(|l| l.trim_start().starts_with(name)).unwrap().to_string();
        let mptcp = line("mptcp ");
        assert!(mptcp.contains("93.9 Mbit/s") && mptcp.contains("99.8%") && mptcp.contains("mptcp/mptcp"), "{mptcp}");
        assert!(mptcp.contains("verified") && mptcp.ends_with("2 subflows for 3 paths"), "{mptcp}");
        let failover = line("failover ");
        assert!(failover.contains("47.0 Mbit/s"), "the remaining paths' limit: {failover}");
        let then = "then 46.9 Mbit/s (99.8% of the limit)";
        assert!(failover.ends_with(&format!("path 1 down at 2.6 s; stall 450 ms; {then}")), "{failover}");
        let daemon = line("failover-daemon");
        assert!(daemon.ends_with(&format!("path 1 down at 2.6 s; stall 100 ms; {then}")), "{daemon}");
        let both = line("failover stall");
        assert_eq!(
            both,
            "  failover stall, path 1 down: kernel path manager alone 450 ms, with mptcp daemon 100 ms (0.22 of \
             it); one run each, and single runs vary: bench/daemon.sh gives medians"
        );
        let iperf = line("iperf3");
        assert!(iperf.contains(" - ") && iperf.ends_with("skipped: `iperf3` not found"), "{iperf}");
        assert!(line("fallback").contains("MISMATCH"));
        assert!(text.contains("removed; 9.5 s in all. Some checks FAILED."));
    }

    #[test]
    fn a_failover_without_recovery_or_failure_says_so() {
        let mut f = PhaseReport::new(Phase::Failover);
        fo(&mut f).failed_path = Some(2);
        fo(&mut f).down_at_s = Some(1.0);
        fo(&mut f).remaining_bps = Some(3e6);
        f.notes = vec![INTACT.into(), "mptcp daemon did not delete the endpoint of 10.101.0.1".into()];
        assert_eq!(
            notes(&f),
            "path 2 down at 1.0 s; the rate never came back; then 3.0 Mbit/s; mptcp daemon did not delete the \
             endpoint of 10.101.0.1"
        );
        f.ok = true;
        assert_eq!(notes(&f), "path 2 down at 1.0 s; the rate never came back; then 3.0 Mbit/s");
        f.ok = false;
        fo(&mut f).down_at_s = None;
        fo(&mut f).remaining_bps = None;
        f.notes = vec![INTACT.into(), "the transfer ended before the path went down".into()];
        assert_eq!(notes(&f), "the transfer ended before the path went down");
        assert_eq!(
            phase_line(&f),
            format!("  FAIL failover        {INTACT}; the transfer ended before the path went down")
        );
        // Without the other failover phase, or a measurement, no comparison.
        assert_eq!(FailoverComparison::of(&[f.clone()]), None);
        let mut d = f.clone();
        d.name = Phase::FailoverDaemon;
        fo(&mut d).stall_ms = Some(100.0);
        assert_eq!(FailoverComparison::of(&[f.clone(), d.clone()]), None);
        fo(&mut f).remaining_bps = Some(3e6);
        fo(&mut d).remaining_bps = Some(47e6);
        let c = FailoverComparison::of(&[f, d]).unwrap();
        assert_eq!((c.kernel_stall_ms, c.daemon_stall_ms, c.daemon_over_kernel), (None, Some(100.0), None));
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["failed_path"], 2);
        assert!(v["daemon_over_kernel"].is_null());
    }
}
