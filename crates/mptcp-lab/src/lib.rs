//! The engine of `mptcp lab`: a client, a server and one router per path in
//! network namespaces, routed like a real multi-homed host ([`topo`]), each
//! path emulated in its router by `mptcp-linkem` ([`spec`], [`profiles`]),
//! and the phases that show MPTCP at work: plain TCP on each path alone
//! against MPTCP over all of them, failover when a path dies mid-transfer
//! (with the kernel path manager alone, then with `mptcp daemon`), and
//! fallback to TCP when a middlebox strips the MPTCP option; and the same
//! network for a program of the user's ([`exec`]). Every namespace it made
//! is removed at the end, on error and (with
//! [`mptcp_netns::install_signal_cleanup`]) on Ctrl-C.
//!
//! The `mptcp` command is a thin layer over [`run`]: it parses the flags
//! into a [`Plan`], shows progress through an [`Observer`] and prints the
//! [`LabReport`].
//!
//! # Examples
//!
//! ```no_run
//! use mptcp_lab::spec::PathFlags;
//! use mptcp_lab::{Plan, Phase, Silent};
//!
//! let paths = PathFlags { profile: Some("wifi-lte".into()), ..PathFlags::default() }.paths()?;
//! let plan = Plan::new(paths, vec![Phase::Tcp, Phase::Mptcp])?;
//! let report = mptcp_lab::run(&plan, &mut Silent)?;
//! println!("{}", mptcp_lab::summary::summary(&report));
//! # Ok::<(), mptcp_lab::Error>(())
//! ```
#![deny(missing_docs, missing_debug_implementations)]
#![forbid(unsafe_code)]

mod chart;
mod error;
pub mod exec;
mod failover;
mod fallback;
pub mod iperf3;
mod kind;
pub mod peers;
pub mod phase;
pub mod plan;
pub mod profiles;
pub mod spec;
pub mod summary;
mod throughput;
pub mod topo;

use std::time::Instant;

use mptcp_netns::{Missing, Requirements};
use mptcp_transfer::plot;
use mptcp_transfer::sampler::Sample;

pub use error::{Cause, Error, Result};
pub use phase::{Failover, Phase, PhaseKind, PhaseReport};
pub use plan::Plan;
pub use summary::{Aggregation, FailoverComparison, LabReport, PathInfo};

use error::Context;
use peers::{Server, Stage};
use topo::Topology;

/// The congestion control the lab uses unless told otherwise: BBR, which
/// aggregates a fast path with a slow, lossy, long one (issue 19's target:
/// 1.29 x the best path, 0.95 of the sum in one run, where cubic's lossy
/// subflow holds the others back; see README.md, "Unequal paths"), when
/// this kernel has it; else cubic.
///
/// # Examples
///
/// ```
/// assert!(["bbr", "cubic"].contains(&mptcp_lab::default_congestion()));
/// ```
pub fn default_congestion() -> &'static str {
    let avail = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control").unwrap_or_default();
    if avail.split_whitespace().any(|c| c == "bbr") {
        "bbr"
    } else {
        "cubic"
    }
}

/// The phases run unless the user says otherwise.
pub const DEFAULT_PHASES: &str = "tcp,mptcp,failover,failover-daemon,fallback";

/// What a front end sees of a running lab: the network once built, each
/// transfer's samples while it runs, each phase as it ends. Every method
/// does nothing by default.
///
/// # Examples
///
/// ```
/// use mptcp_lab::{Observer, PhaseReport};
///
/// struct Lines;
/// impl Observer for Lines {
///     fn phase_done(&mut self, report: &PhaseReport) {
///         println!("{}", mptcp_lab::summary::phase_line(report));
///     }
/// }
/// ```
pub trait Observer: Send {
    /// Something worth a line before the lab starts (an optional program
    /// missing, a phase that will be skipped).
    fn note(&mut self, _text: &str) {}
    /// The network is built: its namespaces and paths, and the MPTCP
    /// scheduler in use.
    fn built(&mut self, _namespaces: &[String], _paths: &[PathInfo], _plan: &Plan, _scheduler: Option<&str>) {}
    /// A transfer starts; `title` says which phase and what it shows.
    fn transfer_started(&mut self, _title: &str) {}
    /// The transfer's sample history so far (every 100 ms).
    fn transfer_sample(&mut self, _samples: &[Sample]) {}
    /// The transfer ended (successfully or not).
    fn transfer_ended(&mut self) {}
    /// A phase ended.
    fn phase_done(&mut self, _report: &PhaseReport) {}
}

/// An [`Observer`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// Runs the lab: checks the machine ([`preflight`]), builds the network,
/// runs the plan's phases in order, writes the chart (if the plan names
/// one), removes everything, and reports.
///
/// A phase that fails is in the report (`ok: false`); an error is returned
/// only when the lab cannot go on (bad plan, missing kernel features, a
/// namespace or path that cannot be made).
///
/// # Errors
///
/// [`Error::Missing`] for what the machine lacks, [`Error::Context`] for a
/// step that failed.
///
/// # Examples
///
/// ```no_run
/// let paths = mptcp_lab::spec::PathFlags::default().paths()?;
/// let plan = mptcp_lab::Plan::new(paths, vec![mptcp_lab::Phase::Mptcp])?;
/// let report = mptcp_lab::run(&plan, &mut mptcp_lab::Silent)?;
/// assert!(report.ok);
/// # Ok::<(), mptcp_lab::Error>(())
/// ```
pub fn run(plan: &Plan, observer: &mut dyn Observer) -> Result<LabReport> {
    let absent = preflight(plan)?;
    emulator_preflight()?;
    for m in &absent {
        observer.note(&one_line(&m.to_string()));
    }
    mptcp_netns::sweep_stale();
    let started = Instant::now();
    let topo = Topology::build(&plan.paths)?;
    let names = topo.namespaces();
    let path_info = PathInfo::of(&topo);
    let scheduler = topo.client.sysctl_get("net.mptcp.scheduler").ok();
    observer.built(&names, &path_info, plan, scheduler.as_deref());
    let server = Server::start(&topo, &plan.opts)?;
    let mut phases = Vec::new();
    let mut panels = Vec::new();
    // Each path's `tcp` row counts as a step of its own.
    let steps: Vec<(Phase, Option<usize>)> = plan
        .phases
        .iter()
        .flat_map(|&ph| match ph {
            Phase::Tcp => (0..topo.paths.len()).map(|i| (ph, Some(i))).collect::<Vec<_>>(),
            _ => vec![(ph, None)],
        })
        .collect();
    let total = steps.len();
    for (k, &(phase, path)) in steps.iter().enumerate() {
        let head = match path {
            Some(i) => format!("[{}/{total}] {phase} path {}", k + 1, i + 1),
            None => format!("[{}/{total}] {phase}", k + 1),
        };
        let mut stage = Stage { topo: &topo, server: &server, plan, title: head, observer };
        let charted = |(report, panel)| (report, Some(panel));
        let (rep, panel) = match (phase, path) {
            (Phase::Tcp, Some(i)) => charted(throughput::run_tcp(i, &mut stage)?),
            (Phase::Tcp | Phase::Mptcp, _) => charted(throughput::run_mptcp(&mut stage)?),
            (Phase::Failover | Phase::FailoverDaemon, _) => charted(failover::run(phase, &mut stage)?),
            (Phase::Fallback, _) => charted(fallback::run(&mut stage)?),
            (Phase::Iperf3, _) => (iperf3::run(&topo, plan, &absent)?, None),
        };
        observer.phase_done(&rep);
        phases.push(rep);
        panels.extend(panel);
    }
    server.stop();
    let client_routes: Vec<String> =
        topo.paths.iter().flat_map(|p| p.client_routes(topo.routing.source_rules)).map(|r| r.to_string()).collect();
    let client_rules: Vec<String> = if topo.routing.source_rules {
        topo.paths.iter().map(|p| p.client_rule().to_string()).collect()
    } else {
        Vec::new()
    };
    let npaths = topo.paths.len();
    let plot_path = match &plan.plot {
        Some(p) if !panels.is_empty() => {
            plot::write(p, &panels).with_context(|| format!("writing {}", p.display()))?;
            Some(p.display().to_string())
        }
        _ => None,
    };
    drop(topo);
    let listed = mptcp_netns::cmd(&["ip", "netns", "list"]).map(|o| String::from_utf8_lossy(&o.stdout).to_string());
    let removed = namespaces_gone(&names, listed.as_deref().ok());
    let ok = phases.iter().all(|p| p.ok || p.skipped) && removed;
    Ok(LabReport {
        ok,
        paths: path_info,
        client_routes,
        client_rules,
        congestion: plan.opts.congestion.clone(),
        send_buffer: plan.client_opts().send_buffer,
        scheduler,
        aggregation: Aggregation::of(&phases, npaths),
        path_manager_via: topo::PM_VIA,
        duration_s: plan.duration.as_secs_f64(),
        failover: FailoverComparison::of(&phases),
        phases,
        plot: plot_path,
        namespaces: names,
        namespaces_removed: removed,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// What a run of `plan` needs from the machine (besides the link
/// emulator, which [`preflight`] checks itself): namespaces and veth always,
/// the middlebox for the fallback phase, MPTCP, and iperf3's programs
/// (optional) for its phase.
pub fn requirements(plan: &Plan) -> Requirements {
    Requirements {
        mptcp: true,
        tbf: false,
        htb: false,
        middlebox: plan.phases.contains(&Phase::Fallback),
        optional: if plan.phases.contains(&Phase::Iperf3) { iperf3::tools() } else { Vec::new() },
    }
}

/// Whether none of `names` is in `listed` (what `ip netns list` printed)
/// nor under /run/netns; `false` when the list could not be read (`None`):
/// what cannot be checked is not reported as removed.
fn namespaces_gone(names: &[String], listed: Option<&str>) -> bool {
    let Some(listed) = listed else { return false };
    let in_list = |n: &String| listed.lines().any(|l| l.split_whitespace().next() == Some(n.as_str()));
    !names.iter().any(|n| in_list(n) || std::path::Path::new("/run/netns").join(n).exists())
}

/// `text` on one line: what a program printed may span several.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

/// Runs [`mptcp_netns::preflight`] for `plan`: the optional programs that
/// are absent, or [`Error::Missing`] listing everything missing, one line
/// each.
///
/// # Errors
///
/// [`Error::Missing`], its `privileges` set when root is what is missing.
///
/// # Examples
///
/// ```no_run
/// let plan = mptcp_lab::Plan::new(mptcp_lab::spec::PathFlags::default().paths()?, vec![mptcp_lab::Phase::Mptcp])?;
/// match mptcp_lab::preflight(&plan) {
///     Ok(absent) => println!("{} optional programs missing", absent.len()),
///     Err(e) => eprintln!("{e}"),
/// }
/// # Ok::<(), mptcp_lab::Error>(())
/// ```
pub fn preflight(plan: &Plan) -> Result<Vec<Missing>> {
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
    let mut message = format!("`mptcp lab` needs {} and MPTCP; this machine lacks:", needs.join(", "));
    for m in &missing {
        message.push_str("\n  - ");
        message.push_str(&one_line(&m.to_string()));
    }
    let privileges = missing.iter().any(|m| matches!(m, Missing::Privileges { .. }));
    Err(Error::Missing { message, privileges })
}

/// Whether the link emulator can run here: a namespace with a veth pair
/// whose two ends it forwards between, the emulator started and stopped.
/// `Err` says what is missing (nfnetlink_queue, nf_tables, its xtables
/// compatibility) and what to do.
///
/// # Examples
///
/// ```no_run
/// if let Err(e) = mptcp_lab::emulator_preflight() {
///     eprintln!("{e}");
/// }
/// ```
pub fn emulator_preflight() -> Result<()> {
    let missing = |what: String| Error::Missing {
        message: format!("`mptcp lab` emulates its paths with nfnetlink_queue; this machine lacks:\n  - {what}"),
        privileges: false,
    };
    let ns = mptcp_netns::Netns::new("lkprobe").map_err(|e| missing(e.to_string()))?;
    ns.ip(&["link", "add", "lan", "type", "veth", "peer", "name", "wan"]).map_err(|e| missing(e.to_string()))?;
    for dev in ["lan", "wan"] {
        ns.ip(&["link", "set", dev, "up"]).map_err(|e| missing(e.to_string()))?;
    }
    ns.set_forwarding(true).map_err(|e| missing(e.to_string()))?;
    let cfg = mptcp_linkem::EmulatorConfig::new("lan", "wan", Default::default(), Default::default());
    let emu = mptcp_linkem::Emulator::start(format!("/run/netns/{}", ns.name()), cfg)
        .map_err(|e| missing(format!("the link emulator: {e}")))?;
    drop(emu);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_removed_only_when_the_list_says_so() {
        let names = vec!["mptcp-1-0-client".to_string(), "mptcp-1-1-server".to_string()];
        assert!(namespaces_gone(&names, Some("")));
        assert!(namespaces_gone(&names, Some("other\nmptcp-1-0-clientx (id: 3)\n")));
        assert!(!namespaces_gone(&names, Some("mptcp-1-1-server (id: 4)\n")));
        // `ip netns list` failed: nothing says they are gone.
        assert!(!namespaces_gone(&names, None), "fail closed");
    }
}
