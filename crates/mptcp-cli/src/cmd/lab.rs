//! `mptcp lab`: builds a client and a server joined by N shaped paths in
//! network namespaces and shows MPTCP at work: plain TCP on one path against
//! MPTCP over all of them, failover when a path dies mid-transfer (with the
//! kernel path manager alone, then with `mptcp daemon`), and fallback to TCP
//! when a middlebox strips the MPTCP option. Every namespace it made is
//! removed at the end, on error and on Ctrl-C.
//!
//! Before it creates anything, [`mptcp_netns::preflight`] checks what this
//! run needs (root, namespaces, veth, tbf, MPTCP, the nf_tables middlebox;
//! iperf3 and mptcpize for the iperf3 phase): what is missing is said one
//! line each, with the package or setting that provides it.

mod chart;
mod failover;
mod fallback;
mod iperf3;
mod peers;
mod phase;
mod plan;
mod summary;
mod throughput;
pub mod topo;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use mptcp_netns::{Missing, Requirements};

use mptcp_transfer::plot;
use mptcp_transfer::units::fmt_rate;

use crate::args::SockArgs;
use crate::errors::{failure, Kind};
use crate::util::print_json;
use peers::{Server, Stage};
use phase::Phase;
use plan::Plan;
use summary::{intro, phase_line, summary, FailoverComparison, LabReport, PathInfo};
use topo::Topology;

/// The phases run unless `--phases` says otherwise.
const DEFAULT_PHASES: &str = "tcp,mptcp,failover,failover-daemon,fallback";

/// Arguments of `mptcp lab`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of paths between client and server (1-8).
    #[arg(long, default_value_t = 2)]
    paths: usize,
    /// Rate of every path (tbf), e.g. 50mbit, or `unshaped`.
    #[arg(long, default_value = "50mbit")]
    rate: String,
    /// One rate per path, e.g. 10mbit,40mbit (overrides --paths and --rate).
    #[arg(long, value_delimiter = ',', value_name = "RATE,...")]
    rates: Option<Vec<String>>,
    /// Seconds per transfer.
    #[arg(short = 't', long, default_value_t = 5.0)]
    duration: f64,
    /// Phases to run, in this order: tcp, mptcp, iperf3 (`mptcpize run
    /// iperf3` for comparison), failover (kernel path manager alone),
    /// failover-daemon (the same with `mptcp daemon` on the client),
    /// fallback.
    #[arg(long, default_value = DEFAULT_PHASES, value_name = "LIST")]
    phases: String,
    /// Path taken down in the failover phases (1 = the initial subflow's).
    #[arg(long, default_value_t = 1)]
    fail_path: usize,
    /// Where to write the SVG chart.
    #[arg(long, value_name = "FILE.svg", default_value = "mptcp-lab.svg")]
    plot: PathBuf,
    /// Do not write the chart.
    #[arg(long)]
    no_plot: bool,
    /// Print the results as one JSON object.
    #[arg(short = 'j', long)]
    pub json: bool,
    /// No live view.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    sock: SockArgs,
}

/// Runs `mptcp lab`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = Plan::from_args(&args)?;
    mptcp_netns::install_signal_cleanup();
    let absent = preflight(&plan)?;
    for m in &absent {
        eprintln!("mptcp lab: note: {}", one_line(&m.to_string()));
    }
    mptcp_netns::sweep_stale();
    let started = Instant::now();
    let human = !args.json;
    let topo = Topology::build(&plan.rates)?;
    let names = vec![topo.client.name().to_string(), topo.server.name().to_string()];
    let path_info: Vec<PathInfo> = topo
        .paths
        .iter()
        .zip(&plan.rates)
        .enumerate()
        .map(|(i, (p, r))| PathInfo {
            path: i + 1,
            client: p.a_addr,
            server: p.b_addr,
            rate: r.as_ref().map(|r| fmt_rate(r.bps as f64)).unwrap_or_else(|| "unshaped".into()),
            rate_bps: r.as_ref().map(|r| r.bps),
        })
        .collect();
    let mut out = crate::util::stdout();
    if human {
        write!(out, "{}", intro(&names, &path_info, topo::PM_VIA, &plan))?;
        out.flush()?;
    }
    let server = Server::start(&topo, &plan.opts)?;
    let mut phases = Vec::new();
    let mut panels = Vec::new();
    let total = plan.phases.len();
    for (k, &phase) in plan.phases.iter().enumerate() {
        let stage = Stage {
            topo: &topo,
            server: &server,
            plan: &plan,
            title: format!("[{}/{total}] {phase}", k + 1),
            quiet: args.quiet || args.json,
        };
        let charted = |(report, panel)| (report, Some(panel));
        let (rep, panel) = match phase {
            Phase::Tcp | Phase::Mptcp => charted(throughput::run(phase, &stage)?),
            Phase::Failover | Phase::FailoverDaemon => charted(failover::run(phase, &stage)?),
            Phase::Fallback => charted(fallback::run(&stage)?),
            Phase::Iperf3 => (iperf3::run(&topo, &plan, &absent)?, None),
        };
        if human {
            writeln!(out, "{}", phase_line(&rep))?;
            out.flush()?;
        }
        phases.push(rep);
        panels.extend(panel);
    }
    server.stop();
    let plot_path = if args.no_plot || panels.is_empty() {
        None
    } else {
        plot::write(&args.plot, &panels).with_context(|| format!("writing {}", args.plot.display()))?;
        Some(args.plot.display().to_string())
    };
    drop(topo);
    let listed = mptcp_netns::cmd(&["ip", "netns", "list"])
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let removed = !names.iter().any(|n| listed.lines().any(|l| l.split_whitespace().next() == Some(n.as_str())));
    let ok = phases.iter().all(|p| p.ok || p.skipped) && removed;
    let report = LabReport {
        ok,
        paths: path_info,
        congestion: plan.opts.congestion.clone(),
        path_manager_via: topo::PM_VIA,
        duration_s: plan.duration.as_secs_f64(),
        failover: FailoverComparison::of(&phases),
        phases,
        plot: plot_path,
        namespaces: names,
        namespaces_removed: removed,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    if args.json {
        print_json(&report)?;
    } else {
        write!(out, "{}", summary(&report))?;
        out.flush()?;
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// What this run needs from the machine: namespaces and veth always, tbf
/// when a path is shaped, the middlebox for the fallback phase, MPTCP, and
/// iperf3's programs (optional) for its phase.
fn requirements(plan: &Plan) -> Requirements {
    Requirements {
        mptcp: true,
        tbf: plan.rates.iter().any(Option::is_some),
        htb: false,
        middlebox: plan.phases.contains(&Phase::Fallback),
        optional: if plan.phases.contains(&Phase::Iperf3) { iperf3::tools() } else { Vec::new() },
    }
}

/// `text` on one line: what a program printed may span several.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

/// Runs [`mptcp_netns::preflight`] for `plan`: the optional programs that
/// are absent, or an error listing everything missing, one line each
/// (kind `permission` without root, else `unsupported`).
fn preflight(plan: &Plan) -> anyhow::Result<Vec<Missing>> {
    let req = requirements(plan);
    let missing = match mptcp_netns::preflight(&req) {
        Ok(ready) => return Ok(ready.absent),
        Err(missing) => missing,
    };
    let mut needs = vec!["root", "network namespaces", "veth pairs"];
    if req.tbf {
        needs.push("the tbf qdisc");
    }
    if req.middlebox {
        needs.push("an nf_tables middlebox");
    }
    let mut msg = format!("`mptcp lab` needs {} and MPTCP; this machine lacks:", needs.join(", "));
    for m in &missing {
        msg.push_str("\n  - ");
        msg.push_str(&one_line(&m.to_string()));
    }
    let kind = if missing.iter().any(|m| matches!(m, Missing::Privileges { .. })) {
        Kind::Permission
    } else {
        Kind::Unsupported
    };
    Err(failure(kind, msg))
}
