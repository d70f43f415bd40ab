//! What the lab prints: one line per phase as it ends, the summary table,
//! and the whole report for `--json`.

use std::net::IpAddr;

use mptcp_transfer::units::fmt_rate;
use serde::Serialize;

use crate::phase::{Phase, PhaseReport, INTACT, VERIFIED};
use crate::plan::Plan;

/// One path as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PathInfo {
    /// 1-based.
    pub path: usize,
    /// The client's address on it.
    pub client: IpAddr,
    /// The server's address on it.
    pub server: IpAddr,
    /// Its rate for people, or `unshaped`.
    pub rate: String,
    /// Its rate, bits per second (`None`: unshaped).
    pub rate_bps: Option<u64>,
}

/// The whole lab report (`--json`).
#[derive(Debug, Serialize)]
pub struct LabReport {
    /// Every phase ok (or skipped) and every namespace removed.
    pub ok: bool,
    /// The paths.
    pub paths: Vec<PathInfo>,
    /// Congestion control of the transfers (`None`: the system's).
    pub congestion: Option<String>,
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

/// The lines printed before the first phase: the namespaces, the paths, the
/// path manager and the transfers' settings.
pub fn intro(names: &[String], paths: &[PathInfo], pm_via: &str, plan: &Plan) -> String {
    let n = paths.len();
    let list: Vec<String> = paths.iter().map(|p| format!("{} <-> {} ({})", p.client, p.server, p.rate)).collect();
    let failover = if plan.phases.iter().any(|p| p.is_failover()) {
        " (failover phases: the client opens them from one endpoint per path)"
    } else {
        ""
    };
    format!(
        "mptcp lab: client and server in namespaces {}, joined by {n} path{}: {}\n  path manager: server \
         announces {} address{}, limits subflows {} (via {pm_via}){failover}; congestion {}; {} s per transfer\n",
        names.join(" and "),
        if n == 1 { "" } else { "s" },
        list.join(", "),
        n - 1,
        if n == 2 { "" } else { "es" },
        n - 1,
        plan.opts.congestion.as_deref().unwrap_or("system default"),
        plan.duration.as_secs_f64()
    )
}

/// The line printed when a phase ends.
pub fn phase_line(p: &PhaseReport) -> String {
    let mark = match (p.ok, p.skipped) {
        (true, _) => "ok ",
        (false, true) => "skip",
        (false, false) => "FAIL",
    };
    format!("  {mark} {:<15} {}", p.name.name(), p.notes.join("; "))
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
        "  {:<15} {:>13} {:>13} {:>9} {:>8}  {:<20} {:<9} {}\n",
        "phase", "goodput", "limit", "of limit", "subflows", "status client/server", "integrity", "notes"
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
            "  {:<15} {:>13} {:>13} {:>9} {:>8}  {:<20} {:<9} {}",
            p.name.name(),
            if p.goodput_bps > 0.0 { fmt_rate(p.goodput_bps) } else { "-".into() },
            limit,
            pct(p.fraction_of_limit),
            if p.subflows > 0 { p.subflows.to_string() } else { "-".into() },
            status,
            integrity,
            notes(p)
        );
        s.push_str(row.trim_end());
        s.push('\n');
    }
    s.push_str(
        "  limit: sum of the path rates x payload per frame / frame size, from the MSS used; tbf lets a 32 KB burst \
         through at the start, so short runs can end slightly above it; failover: the limit of the remaining \
         paths\n",
    );
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
            congestion: Some("cubic".into()),
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
