//! `mptcp lab`: builds a client, a server and one router per path in
//! network namespaces, emulates each path (rate, delay, jitter, loss,
//! queue, traces) in its router, and shows MPTCP at work: plain TCP on
//! each path alone against MPTCP over all of them, failover when a path
//! dies mid-transfer (with the kernel path manager alone, then with `mptcp
//! daemon`), and fallback to TCP when a middlebox strips the MPTCP option.
//! `mptcp lab exec -- COMMAND` and `mptcp lab shell` give the same network
//! to a program of the user's. Every namespace it made is removed at the
//! end, on error and on Ctrl-C.
//!
//! The engine is the crate `mptcp-lab`; this module parses the flags into
//! its [`Plan`], shows the live view and prints the report.
//!
//! Before it creates anything, [`mptcp_lab::preflight`] checks what this
//! run needs (root, namespaces, veth, MPTCP, the link emulator, the
//! nf_tables middlebox; iperf3 and mptcpize for the iperf3 phase): what is
//! missing is said one line each, with the package or setting that
//! provides it.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mptcp_lab::spec::PathFlags;
use mptcp_lab::summary::{intro, phase_line, summary};
use mptcp_lab::topo::PM_VIA;
use mptcp_lab::{Observer, PathInfo, Phase, PhaseReport, Plan};
use mptcp_transfer::sampler::Sample;

use crate::args::SockArgs;
use crate::errors::{failure, JsonError, Kind};
use crate::live::Live;
use crate::util::{from_transfer, print_json, usage};

/// What `--help` says after the flags: the value syntax and the profiles.
fn after_help() -> String {
    format!(
        "Per-path flags (--rates, --delays, --jitters, --losses, --queues, --traces, --up-traces) take one value \
         for every path or one per path, comma-separated; a value is BOTH or DOWN/UP (down: server to client, \
         up: client to server; the lab's transfers go up). Delays are one way, added in each direction (the \
         round-trip time grows by twice the delay). Losses: 0, 1%, ge:1%,4 (Gilbert-Elliott: mean loss, mean \
         burst length). Queues: 50ms (the longest wait, the default) or 64kb. Traces: mahimahi files (one \
         1500-byte delivery opportunity per line, in ms).\n\nCongestion control: the lab's transfers use bbr \
         where the kernel has it (it aggregates a fast path with a slow, lossy, long one; cubic's lossy subflow \
         holds the others back), else cubic; --congestion overrides.\n\n{}",
        mptcp_lab::profiles::help()
    )
}

/// The flags that describe the paths, shared by `mptcp lab`, `exec` and
/// `shell`.
#[derive(Debug, Clone, clap::Args)]
pub struct PathArgs {
    /// Named paths with sourced numbers: wifi-lte, unequal, two-isps,
    /// satellite-backup, wifi-starlink; `list` prints them with their
    /// sources. Other flags override what they set.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Number of paths between client and server (1-8; default 2).
    #[arg(long)]
    paths: Option<usize>,
    /// Rate of every path, e.g. 50mbit, or `unshaped` (default 50mbit).
    #[arg(long)]
    rate: Option<String>,
    /// Rate of each path, e.g. 10mbit,40mbit or 30mbit/10mbit (down/up).
    #[arg(long, value_delimiter = ',', value_name = "RATE,...")]
    rates: Option<Vec<String>>,
    /// One-way delay of each path, added in each direction, e.g. 10ms,60ms.
    #[arg(long, value_delimiter = ',', value_name = "DELAY,...")]
    delays: Option<Vec<String>>,
    /// Jitter of each path (standard deviation of the delay), e.g. 0,5ms.
    #[arg(long, value_delimiter = ',', value_name = "JITTER,...")]
    jitters: Option<Vec<String>>,
    /// Random loss of each path, e.g. 0,0.5% or ge:1%,4 for bursts.
    #[arg(long, value_delimiter = ',', value_name = "LOSS,...")]
    losses: Option<Vec<String>>,
    /// Queue of each path: the longest wait (50ms, the default) or a size (64kb).
    #[arg(long, value_delimiter = ',', value_name = "QUEUE,...")]
    queues: Option<Vec<String>>,
    /// Rate of each path from a mahimahi trace file (both directions).
    #[arg(long, value_delimiter = ',', value_name = "FILE,...")]
    traces: Option<Vec<String>>,
    /// Uplink rate of each path from a mahimahi trace file.
    #[arg(long, value_delimiter = ',', value_name = "FILE,...")]
    up_traces: Option<Vec<String>>,
    /// Seed of the random loss and jitter (the same seed, the same choices).
    #[arg(long)]
    seed: Option<u64>,
}

impl PathArgs {
    /// The library's flags.
    fn flags(&self) -> PathFlags {
        PathFlags {
            profile: self.profile.clone(),
            paths: self.paths,
            rate: self.rate.clone(),
            rates: self.rates.clone(),
            delays: self.delays.clone(),
            jitters: self.jitters.clone(),
            losses: self.losses.clone(),
            queues: self.queues.clone(),
            traces: self.traces.clone(),
            up_traces: self.up_traces.clone(),
            seed: self.seed,
        }
    }

    /// Whether `--profile list` asks for the profiles.
    fn lists_profiles(&self) -> bool {
        self.profile.as_deref() == Some("list")
    }
}

/// Arguments of `mptcp lab`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, after_long_help = after_help())]
pub struct Args {
    #[command(subcommand)]
    action: Option<Box<Action>>,
    #[command(flatten)]
    path_args: Box<PathArgs>,
    /// Seconds per transfer.
    #[arg(short = 't', long, default_value_t = 5.0)]
    duration: f64,
    /// Phases to run, in this order: tcp (each path alone), mptcp, iperf3
    /// (`mptcpize run iperf3` for comparison), failover (kernel path
    /// manager alone), failover-daemon (the same with `mptcp daemon` on the
    /// client), fallback.
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

/// `mptcp lab exec` and `mptcp lab shell`.
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Build the lab's network, run COMMAND in the client namespace (the
    /// namespaces and server addresses in its environment), remove
    /// everything; exits with COMMAND's status.
    #[command(after_long_help = EXEC_HELP)]
    Exec(ExecArgs),
    /// The same with your shell ($SHELL, else /bin/sh).
    #[command(after_long_help = EXEC_HELP)]
    Shell(ShellArgs),
}

/// What `exec --help` and `shell --help` say after the flags.
const EXEC_HELP: &str = "Environment of the command: MPTCP_LAB_CLIENT_NS (where it runs), MPTCP_LAB_SERVER_NS \
(start a server there: ip netns exec \"$MPTCP_LAB_SERVER_NS\" python3 -m http.server 8000 &), \
MPTCP_LAB_SERVER_ADDRS (comma-separated, path 1 first: the server's address on path N is reached through path \
N), MPTCP_LAB_CLIENT_ADDRS, MPTCP_LAB_ROUTER_NS. The client has one subflow endpoint per path: an MPTCP \
connection gets one subflow per path. Exit status: the command's (128+N when a signal N killed it); \
everything is removed when it ends, and on SIGINT, SIGTERM or SIGHUP of mptcp lab.";

/// Arguments of `mptcp lab exec`.
#[derive(Debug, clap::Args)]
struct ExecArgs {
    #[command(flatten)]
    path_args: PathArgs,
    /// The command and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// Arguments of `mptcp lab shell`.
#[derive(Debug, clap::Args)]
struct ShellArgs {
    #[command(flatten)]
    path_args: PathArgs,
}

/// The plan of `args`; bad input is a usage error (exit status 2).
fn plan(a: &Args) -> anyhow::Result<Plan> {
    let paths = a.path_args.flags().paths().map_err(from_lab)?;
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
        return Err(usage(format!("--fail-path 0: expected 1 to {}", paths.len())));
    }
    let plan = Plan {
        paths,
        phases,
        duration: Duration::from_secs_f64(a.duration),
        opts: lab_opts(&a.sock)?,
        fail_path: a.fail_path - 1,
        plot: (!a.no_plot).then(|| a.plot.clone()),
    };
    plan.check().map_err(from_lab)?;
    Ok(plan)
}

/// The socket options of the lab's transfers: the user's, with
/// [`mptcp_lab::default_congestion`] unless `--congestion` says otherwise.
fn lab_opts(sock: &SockArgs) -> anyhow::Result<mptcp_transfer::opts::SocketOpts> {
    let mut s = sock.clone();
    if s.congestion.is_none() {
        s.congestion = Some(mptcp_lab::default_congestion().to_string());
    }
    s.opts()
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

    fn built(&mut self, namespaces: &[String], paths: &[PathInfo], plan: &Plan, scheduler: Option<&str>) {
        self.print(&intro(namespaces, paths, PM_VIA, plan, scheduler));
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

/// The name of signal `sig` (SIGINT, SIGTERM, SIGHUP), or its number.
fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig).map(|s| s.as_str().to_string()).unwrap_or_else(|_| format!("signal {sig}"))
}

/// Runs `mptcp lab` (or `exec`, `shell`).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action.as_deref() {
        Some(Action::Exec(e)) => return exec(&e.path_args, &e.command),
        Some(Action::Shell(s)) => {
            let shell = std::env::var_os("SHELL").filter(|s| !s.is_empty()).unwrap_or_else(|| "/bin/sh".into());
            return exec(&s.path_args, &[shell]);
        }
        None => {}
    }
    if args.path_args.lists_profiles() {
        let mut out = crate::util::stdout();
        out.write_all(mptcp_lab::profiles::describe().as_bytes())?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let plan = plan(&args)?;
    mptcp_netns::install_signal_cleanup();
    if args.json {
        // Interrupted, the lab still answers with one JSON object.
        mptcp_netns::on_signal(|sig| {
            let e = JsonError {
                error: format!("interrupted by {}; every namespace the lab made was removed", signal_name(sig)),
                kind: Kind::Failed,
            };
            e.print();
        });
    }
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

/// `mptcp lab exec` (and `shell`): builds the network, describes it on
/// stderr, runs `command` in the client namespace, removes everything, and
/// exits with the command's status.
fn exec(path_args: &PathArgs, command: &[OsString]) -> anyhow::Result<ExitCode> {
    if path_args.lists_profiles() {
        return Err(usage("--profile list: use `mptcp lab --profile list`".to_string()));
    }
    let paths = path_args.flags().paths().map_err(from_lab)?;
    if command.is_empty() {
        return Err(usage("no command given: mptcp lab exec [FLAGS] -- COMMAND [ARGS]".to_string()));
    }
    mptcp_netns::install_signal_cleanup();
    let session = mptcp_lab::exec::Session::start(&paths).map_err(from_lab)?;
    eprint!("{}", session.describe());
    let status = session.run(command).map_err(from_lab)?;
    drop(session);
    Ok(ExitCode::from(mptcp_lab::exec::exit_code(status)))
}
