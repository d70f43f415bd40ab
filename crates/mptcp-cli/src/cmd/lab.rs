//! `mptcp lab`: builds a client and a server joined by N shaped paths in
//! network namespaces and shows MPTCP at work: plain TCP on one path against
//! MPTCP over all of them, failover when a path dies mid-transfer (with the
//! kernel path manager alone, then with `mptcp daemon`), and fallback to TCP
//! when a middlebox strips the MPTCP option. Every namespace it made is
//! removed at the end, on error and on Ctrl-C.
//!
//! The engine is the crate `mptcp-lab`; this module parses the flags into
//! its [`Plan`], shows the live view and prints the report.
//!
//! Before it creates anything, [`mptcp_lab::preflight`] checks what this
//! run needs (root, namespaces, veth, tbf, MPTCP, the nf_tables middlebox;
//! iperf3 and mptcpize for the iperf3 phase): what is missing is said one
//! line each, with the package or setting that provides it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mptcp_lab::summary::{intro, phase_line, summary};
use mptcp_lab::topo::{parse_rate, PM_VIA};
use mptcp_lab::{Observer, PathInfo, Phase, PhaseReport, Plan};
use mptcp_transfer::sampler::Sample;

use crate::args::SockArgs;
use crate::errors::{failure, Kind};
use crate::live::Live;
use crate::util::{from_transfer, print_json, usage};

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
    #[arg(long, default_value = mptcp_lab::DEFAULT_PHASES, value_name = "LIST")]
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

/// The plan of `args`; bad input is a usage error (exit status 2).
fn plan(a: &Args) -> anyhow::Result<Plan> {
    let rate_strs: Vec<String> = match &a.rates {
        Some(r) => r.clone(),
        None => {
            if !(1..=8).contains(&a.paths) {
                return Err(usage(format!("--paths {}: expected 1 to 8 (the path manager's limit)", a.paths)));
            }
            vec![a.rate.clone(); a.paths]
        }
    };
    if !(1..=8).contains(&rate_strs.len()) {
        return Err(usage(format!("--rates: {} paths given, expected 1 to 8", rate_strs.len())));
    }
    let rates = rate_strs.iter().map(|r| parse_rate(r).map_err(usage)).collect::<anyhow::Result<Vec<_>>>()?;
    if !(a.duration >= 1.0 && a.duration <= 3600.0) {
        return Err(usage(format!("--duration {}: expected 1 to 3600 seconds", a.duration)));
    }
    let phases = Phase::parse_list(&a.phases).map_err(|e| usage(format!("--phases: {e}")))?;
    if !a.no_plot {
        if let Some(dir) = a.plot.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(usage(format!("--plot {}: directory {} does not exist", a.plot.display(), dir.display())));
            }
        }
    }
    if a.fail_path == 0 {
        return Err(usage(format!("--fail-path 0: expected 1 to {}", rates.len())));
    }
    let plan = Plan {
        rates,
        phases,
        duration: Duration::from_secs_f64(a.duration),
        opts: a.sock.opts()?,
        fail_path: a.fail_path - 1,
        plot: (!a.no_plot).then(|| a.plot.clone()),
    };
    plan.check().map_err(from_lab)?;
    Ok(plan)
}

/// An error of the lab engine as the command reports it: bad input exits
/// 2, what the machine lacks is `permission` (no root) or `unsupported`,
/// and the causes keep their types (for the JSON `kind`).
pub fn from_lab(e: mptcp_lab::Error) -> anyhow::Error {
    use mptcp_lab::Error as E;
    match e {
        E::Usage(m) => usage(m),
        E::Missing { message, privileges } => {
            failure(if privileges { Kind::Permission } else { Kind::Unsupported }, message)
        }
        E::Context { context, source } => from_cause(source).context(context),
        E::Other(source) => from_cause(source),
        e => anyhow::Error::new(e),
    }
}

/// A cause of a lab error, its type kept.
fn from_cause(c: mptcp_lab::Cause) -> anyhow::Error {
    let c = match c.downcast::<mptcp_lab::Error>() {
        Ok(e) => return from_lab(*e),
        Err(c) => c,
    };
    match c.downcast::<mptcp_transfer::Error>() {
        Ok(e) => from_transfer(*e),
        Err(c) => anyhow::Error::from_boxed(c),
    }
}

/// What the command shows while the lab runs: the intro, a live view of
/// each transfer on a terminal, and a line per phase (none with `--json`).
struct Shown {
    human: bool,
    quiet: bool,
    live: Option<Live>,
    /// The first error writing to stdout (a closed stdout ends quietly).
    failed: Option<std::io::Error>,
}

impl Shown {
    /// Writes `text` on stdout, for people only.
    fn print(&mut self, text: &str) {
        if !self.human || self.failed.is_some() {
            return;
        }
        let mut out = crate::util::stdout();
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            self.failed = Some(e);
        }
    }
}

impl Observer for Shown {
    fn note(&mut self, text: &str) {
        eprintln!("mptcp lab: note: {text}");
    }

    fn built(&mut self, namespaces: &[String], paths: &[PathInfo], plan: &Plan) {
        self.print(&intro(namespaces, paths, PM_VIA, plan));
    }

    fn transfer_started(&mut self, title: &str) {
        self.live = Live::new(title, self.quiet || !self.human);
    }

    fn transfer_sample(&mut self, samples: &[Sample]) {
        if let Some(l) = self.live.as_mut() {
            l.update(samples);
        }
    }

    fn transfer_ended(&mut self) {
        if let Some(l) = self.live.take() {
            l.finish();
        }
    }

    fn phase_done(&mut self, report: &PhaseReport) {
        self.print(&format!("{}\n", phase_line(report)));
    }
}

/// Runs `mptcp lab`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = plan(&args)?;
    mptcp_netns::install_signal_cleanup();
    let mut shown = Shown { human: !args.json, quiet: args.quiet, live: None, failed: None };
    let report = mptcp_lab::run(&plan, &mut shown).map_err(from_lab)?;
    if let Some(e) = shown.failed {
        return Err(e.into());
    }
    if args.json {
        print_json(&report)?;
    } else {
        let mut out = crate::util::stdout();
        write!(out, "{}", summary(&report))?;
        out.flush()?;
    }
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
