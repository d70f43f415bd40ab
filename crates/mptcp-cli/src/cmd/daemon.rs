//! `mptcp daemon`: the path-manager daemon (crate `mptcp-daemon`): the
//! kernel's endpoints follow the interfaces.
//!
//! ```text
//! mptcp daemon [--config FILE] [--metrics ADDR] [--runtime-dir DIR] [-v]
//! mptcp daemon status [--json]
//! mptcp daemon check            # validate the configuration, show what it would do now
//! mptcp daemon example-config   # a commented configuration with every key
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use mptcp_daemon::{Config, DEFAULT_CONFIG_PATH, DEFAULT_RUNTIME_DIR};

use std::io::Write;

use crate::util::{print_json, stdout, usage};

const AFTER_HELP: &str = "\
Policy without a configuration file (like NetworkManager's mptcp-flags): every
global unicast address of an interface that is up with carrier becomes a
`subflow` endpoint bound to its interface. Skipped: loopback, link-local,
IPv6 temporary (privacy), deprecated, tentative and unique-local addresses,
container and VM bridges (docker*, veth*, br-*, virbr*, ...), and an address
family without a default route in the main table. Link down, carrier lost or
address removed: the endpoint is deleted at once (the kernel closes the dead
subflows and reinjects their data); link or address back: added again, and
existing connections regain a subflow. Only the endpoints the daemon created
are touched (their ids are kept in RUNTIME_DIR/state.json); the `subflows`
limit is raised to cover them. SIGHUP reloads the configuration; SIGTERM
leaves the endpoints (or flushes the daemon's own: on_exit = \"flush\").

Files: /etc/mptcp/daemon.toml (every key: `mptcp daemon example-config`),
/run/mptcp-daemon/{state.json,control.sock}; systemd unit in the repository:
dist/systemd/mptcp-daemon.service (Type=notify).

Metrics (--metrics 127.0.0.1:9477): Prometheus text format at /metrics: the
kernel's MPTcpExt counters (mptcp_netstat_total{counter=...}), MPTCP sockets
and subflows, endpoints per interface, the daemon's actions, errors and
reaction times. A bare :PORT is refused: write 0.0.0.0:PORT to serve every
interface. Each connection (metrics or status) has 5 s to be answered, at
most 128 are open (a new one closes the oldest). Example scrape
configuration and queries: README, section \"Path-manager daemon\".

Exit status: 0 after SIGTERM, 1 when it cannot run (no CAP_NET_ADMIN, no
MPTCP unless wait_for_mptcp = true, a runtime directory in use), 2 for a
configuration error (reported with file, line and key; nothing touched).";

/// Arguments of `mptcp daemon`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Configuration file [default: /etc/mptcp/daemon.toml if it exists, else built-in defaults].
    #[arg(short, long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Directory of the state file and control socket [default: runtime_dir of the configuration, /run/mptcp-daemon].
    #[arg(long, value_name = "DIR", global = true)]
    runtime_dir: Option<PathBuf>,
    /// Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9477, [::1]:9477; every interface: 0.0.0.0:9477, never a bare :9477); overrides `metrics` of the file.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// Log every event, not only actions.
    #[arg(short, long)]
    verbose: bool,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Interfaces, the endpoints and why, the last actions (asks the running daemon).
    Status {
        /// Print JSON (errors too, as `{"error": ..., "kind": ...}`).
        #[arg(short, long)]
        json: bool,
    },
    /// Check the configuration and show what the daemon would do now (changes nothing).
    Check,
    /// Print a commented configuration file with every key and its default.
    ExampleConfig,
}

/// The configuration: `--config`, else the default file if present, else
/// the defaults. Errors are usage errors (exit 2): nothing was touched.
fn load(args: &Args) -> anyhow::Result<Config> {
    let mut cfg = match &args.config {
        Some(p) => Config::load(p).map_err(|e| usage(e.to_string()))?,
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
            Config::load(Path::new(DEFAULT_CONFIG_PATH)).map_err(|e| usage(e.to_string()))?
        }
        None => Config::default(),
    };
    if let Some(m) = &args.metrics {
        let parsed = mptcp_daemon::parse_metrics_address(m).map_err(|e| usage(format!("--metrics {e}")))?;
        cfg.metrics = Some(parsed);
    }
    if let Some(d) = &args.runtime_dir {
        if !d.is_absolute() {
            return Err(usage(format!("--runtime-dir {}: expected an absolute path", d.display())));
        }
        cfg.runtime_dir = Some(d.clone());
    }
    Ok(cfg)
}

impl Args {
    /// Whether the command prints JSON (`daemon status --json`).
    pub fn json(&self) -> bool {
        matches!(self.action, Some(Action::Status { json: true }))
    }
}

/// Runs `mptcp daemon`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match &args.action {
        Some(Action::ExampleConfig) => {
            write!(stdout(), "{}", mptcp_daemon::EXAMPLE)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Action::Status { json }) => status(&args, *json),
        Some(Action::Check) => check(&args),
        None => {
            let cfg = load(&args)?;
            mptcp_daemon::init_logging(args.verbose);
            match mptcp_daemon::run_foreground(cfg) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) if e.exit_code() == 2 => Err(usage(e.to_string())),
                Err(e) => Err(anyhow::Error::new(e)),
            }
        }
    }
}

fn status(args: &Args, json: bool) -> anyhow::Result<ExitCode> {
    let dir = match &args.runtime_dir {
        Some(d) => d.clone(),
        None => load(args)?.runtime_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_RUNTIME_DIR)),
    };
    let s = mptcp_daemon::status::query(&dir.join("control.sock"))?;
    if json {
        print_json(&s)?;
    } else {
        write!(stdout(), "{}", s.render())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn check(args: &Args) -> anyhow::Result<ExitCode> {
    let cfg = load(args)?;
    let source = cfg.source.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in defaults".into());
    let mut out = stdout();
    writeln!(out, "configuration: {source}: valid")?;
    let net = mptcp_daemon::dump_network().context("reading links and addresses (rtnetlink)")?;
    let plan = mptcp_daemon::policy::plan(&cfg, &net);
    writeln!(out, "\nendpoints it would keep now:")?;
    if plan.want.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for w in &plan.want {
        let port = w.port.map(|p| format!(" port {p}")).unwrap_or_default();
        writeln!(out, "  {}{port} dev {} {}    {}", w.addr, w.ifname, w.flags, w.why)?;
    }
    writeln!(out, "\naddresses it leaves out:")?;
    for s in &plan.skipped {
        writeln!(out, "  {} ({})    {}", s.addr, s.ifname, s.why)?;
    }
    if plan.want.len() > mptcp_daemon::MAX_ENDPOINTS {
        writeln!(
            out,
            "\nnote: the kernel holds at most {} endpoints; the first ones above get them",
            mptcp_daemon::MAX_ENDPOINTS
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
