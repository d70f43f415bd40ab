//! The engine of `mptcp lab`: a client and a server joined by N shaped
//! paths in network namespaces, and the phases that show MPTCP at work:
//! plain TCP on one path against MPTCP over all of them, failover when a
//! path dies mid-transfer (with the kernel path manager alone, then with
//! `mptcp daemon`), and fallback to TCP when a middlebox strips the MPTCP
//! option. Every namespace it made is removed at the end, on error and (with
//! [`mptcp_netns::install_signal_cleanup`]) on Ctrl-C.
//!
//! The `mptcp` command is a thin layer over [`run`]: it parses the flags
//! into a [`Plan`], shows progress through an [`Observer`] and prints the
//! [`LabReport`].
//!
//! # Examples
//!
//! ```no_run
//! use mptcp_lab::{Plan, Phase, Silent};
//!
//! let plan = Plan::new(2, Some(50_000_000), vec![Phase::Tcp, Phase::Mptcp])?;
//! let report = mptcp_lab::run(&plan, &mut Silent)?;
//! println!("{}", mptcp_lab::summary::summary(&report));
//! # Ok::<(), mptcp_lab::Error>(())
//! ```
#![deny(missing_docs, missing_debug_implementations)]
#![forbid(unsafe_code)]

mod chart;
mod error;
mod failover;
mod fallback;
pub mod iperf3;
pub mod peers;
pub mod phase;
pub mod plan;
pub mod summary;
mod throughput;
pub mod topo;

use std::time::Instant;

use mptcp_netns::{Missing, Requirements};
use mptcp_transfer::plot;
use mptcp_transfer::sampler::Sample;
use mptcp_transfer::units::fmt_rate;

pub use error::{Cause, Error, Result};
pub use phase::{Failover, Phase, PhaseKind, PhaseReport};
pub use plan::Plan;
pub use summary::{FailoverComparison, LabReport, PathInfo};

use error::Context;
use peers::{Server, Stage};
use topo::Topology;

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
    /// The network is built: its namespaces and paths.
    fn built(&mut self, _namespaces: &[String], _paths: &[PathInfo], _plan: &Plan) {}
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
/// let plan = mptcp_lab::Plan::new(2, Some(50_000_000), vec![mptcp_lab::Phase::Mptcp])?;
/// let report = mptcp_lab::run(&plan, &mut mptcp_lab::Silent)?;
/// assert!(report.ok);
/// # Ok::<(), mptcp_lab::Error>(())
/// ```
pub fn run(plan: &Plan, observer: &mut dyn Observer) -> Result<LabReport> {
    let absent = preflight(plan)?;
    for m in &absent {
        observer.note(&one_line(&m.to_string()));
    }
    mptcp_netns::sweep_stale();
    let started = Instant::now();
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
    observer.built(&names, &path_info, plan);
    let server = Server::start(&topo, &plan.opts)?;
    let mut phases = Vec::new();
    let mut panels = Vec::new();
    let total = plan.phases.len();
    for (k, &phase) in plan.phases.iter().enumerate() {
        let mut stage =
            Stage { topo: &topo, server: &server, plan, title: format!("[{}/{total}] {phase}", k + 1), observer };
        let charted = |(report, panel)| (report, Some(panel));
        let (rep, panel) = match phase {
            Phase::Tcp | Phase::Mptcp => charted(throughput::run(phase, &mut stage)?),
            Phase::Failover | Phase::FailoverDaemon => charted(failover::run(phase, &mut stage)?),
            Phase::Fallback => charted(fallback::run(&mut stage)?),
            Phase::Iperf3 => (iperf3::run(&topo, plan, &absent)?, None),
        };
        observer.phase_done(&rep);
        phases.push(rep);
        panels.extend(panel);
    }
    server.stop();
    let plot_path = match &plan.plot {
        Some(p) if !panels.is_empty() => {
            plot::write(p, &panels).with_context(|| format!("writing {}", p.display()))?;
            Some(p.display().to_string())
        }
        _ => None,
    };
    drop(topo);
    let listed = mptcp_netns::cmd(&["ip", "netns", "list"])
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let removed = !names.iter().any(|n| listed.lines().any(|l| l.split_whitespace().next() == Some(n.as_str())));
    let ok = phases.iter().all(|p| p.ok || p.skipped) && removed;
    Ok(LabReport {
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
    })
}

/// What a run of `plan` needs from the machine: namespaces and veth always,
/// tbf when a path is shaped, the middlebox for the fallback phase, MPTCP,
/// and iperf3's programs (optional) for its phase.
pub fn requirements(plan: &Plan) -> Requirements {
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
/// let plan = mptcp_lab::Plan::new(2, None, vec![mptcp_lab::Phase::Mptcp])?;
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
