//! `mptcp doctor [HOST:PORT | --listen PORT]`: why a connection is not
//! MPTCP, or has fewer subflows than the host has paths. The observations
//! and the reasoning are the library's (`mptcp::diagnose`); this module
//! makes the connection (or listens), prints the report and picks the exit
//! status.

mod client;
mod server;
mod text;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mptcp::diagnose::{self, Observations, Report};
use serde::Serialize;

use crate::util::usage;

/// Text after `mptcp doctor --help` and in mptcp-doctor(1).
const AFTER_HELP: &str = "\
What it looks at: the socket (TCP_IS_MPTCP, MPTCP_INFO, MPTCP_FULL_INFO), the path manager's \
events of the connection (subflows established and closed, with their errors and reset reasons; \
addresses announced; they need CAP_NET_ADMIN: run as root), the MPTcpExt counters' increase around \
the attempt, the sysctls, the limits and endpoints, the interfaces, the route the kernel would pick \
for each endpoint towards the server (source address and device, as for a subflow), rp_filter, the \
neighbour cache (did the server answer ARP on a link the kernel assumed), and the programs managing \
endpoints (mptcpd, NetworkManager, mptcp daemon). Counters belong to the \
network namespace: other connections there add to them, and findings that rest on them say so.

The kernel opens extra subflows only once the connection is fully established (the server \
acknowledged our first data, or sent some): the doctor sends a small payload (--send; by default an \
HTTP HEAD request naming the host) and watches for --watch seconds, less when every possible \
subflow is up sooner.

Output: a verdict line, then findings, each with what was observed (the numbers), what it means and \
the fix (the exact command where there is one, on one line). Paragraphs are wrapped to 100 columns, \
or to COLUMNS. With --json: {\"target\", \"mode\", \"mptcp\", \
\"subflows\": {\"established\", \"possible\"}, \"verdict\", \"findings\": [{\"id\", \"severity\", \
\"observed\", \"message\", \"fix\"}], \"connection\"}. Finding ids are stable (mptcp-disabled, \
no-mptcp-answer, syn-dropped-fallback, blackhole, limit-subflows-zero, no-subflow-endpoints, \
add-addr-not-accepted, endpoint-address-gone, endpoint-no-route, join-unanswered, join-rejected, \
rp-filter, userspace-pm-idle, endpoint-limit, another-manager, ...).

Exit status: 0 healthy (warnings may remain), 3 a finding of severity error explains a fallback \
or a missing subflow (or, for the host alone, breaks MPTCP), 1 the doctor itself could not run \
(e.g. the connection was refused), 2 bad input.

Example: a client with two paths (10.0.1.0/24, 10.0.2.0/24) and no endpoint, to a server that \
announces its second address (COLUMNS=66 wraps the report to fit this page; 100 columns otherwise):

  $ mptcp doctor 10.0.1.2:8080 --watch 2
  10.0.1.2:8080: MPTCP with 1 of 2 possible subflows:
    add-addr-not-accepted: The server announced 10.0.2.2 (ADD_ADDR),
    and this host accepts no announcement (add_addr_accepted 0, the
    kernel's default)
    connected 10.0.1.1:42822 -> 10.0.1.2:8080, sent an HTTP HEAD
    request (61 bytes): acknowledged, 61 bytes came back; watched
    2004 ms for subflows
    subflow 10.0.1.1:42822 -> 10.0.1.2:8080 ESTAB

  error add-addr-not-accepted
    observed: announced 10.0.2.2, limit_add_addr_accepted 0,
              AddAddr 1
    meaning:  The server announced 10.0.2.2 (ADD_ADDR), and this
              host accepts no announcement (add_addr_accepted 0, the
              kernel's default): the kernel ignores it, so no
              subflow goes to the server's other address.
    fix:      ip mptcp limits set add_addr_accepted 1
  $ echo $?
  3
  $ ip mptcp limits set add_addr_accepted 1
  $ mptcp doctor 10.0.1.2:8080 --watch 2
  10.0.1.2:8080: healthy: MPTCP with 2 of 2 possible subflows
    connected 10.0.1.1:42838 -> 10.0.1.2:8080, sent an HTTP HEAD
    request (61 bytes): acknowledged, 61 bytes came back; watched
    310 ms for subflows
    subflow 10.0.1.1:42838 -> 10.0.1.2:8080 ESTAB
    subflow 10.0.2.1:54911 -> 10.0.2.2:8080 ESTAB
  $ echo $?
  0

  $ mptcp doctor                       # the host alone
  $ mptcp doctor --listen 8080         # what the server sees";

/// Arguments of `mptcp doctor`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Server to connect to and explain, e.g. `example.net:443` or
    /// `[2001:db8::1]:80`; without it (and without --listen), the host alone.
    target: Option<String>,
    /// Listen on PORT (every address, with MPTCP) and explain what the
    /// incoming connections show: MP_CAPABLE or not, joins refused, limits,
    /// announcements.
    #[arg(long, value_name = "PORT", conflicts_with = "target", value_parser = clap::value_parser!(u16).range(1..))]
    listen: Option<u16>,
    /// How long to watch the connection, or to listen, in seconds
    /// [default: 3, with --listen 30].
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, value_parser = watch_secs)]
    watch: Option<f64>,
    /// Bytes to send after connecting [default: an HTTP HEAD request
    /// naming the host]; extra subflows come only after the first data.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["no_send", "listen"])]
    send: Option<String>,
    /// Send nothing (then no extra subflow can be expected unless the
    /// server speaks first).
    #[arg(long, conflicts_with = "listen")]
    no_send: bool,
    /// Connect timeout in seconds (0.001 to 3600).
    #[arg(long, value_name = "SECS", default_value_t = 5.0, allow_negative_numbers = true,
          value_parser = crate::args::connect_timeout)]
    timeout: f64,
    /// With --listen: stop once N connections were accepted and closed.
    #[arg(long, value_name = "N", requires = "listen", value_parser = clap::value_parser!(u32).range(1..))]
    count: Option<u32>,
    /// Print one JSON object.
    #[arg(short = 'j', long)]
    pub json: bool,
    /// Write what was observed to FILE as JSON (the library's test
    /// fixtures are such files).
    #[arg(long, value_name = "FILE", hide = true)]
    record: Option<PathBuf>,
}

/// `--watch`: 0.1 s to an hour.
fn watch_secs(s: &str) -> Result<f64, String> {
    crate::args::seconds_in(s, 0.1, 3600.0)
}

/// The connection part of the JSON report.
#[derive(Debug, Serialize)]
pub(crate) struct Connection {
    remote: std::net::SocketAddr,
    local: Option<std::net::SocketAddr>,
    status: mptcp::diagnose::ConnStatus,
    /// What was sent, as text (lossy).
    payload: String,
    sent: u64,
    received: u64,
    acked: Option<bool>,
    closed_by_server: bool,
    watched_ms: u64,
    subflows: Vec<mptcp::diagnose::Subflow>,
}

/// The JSON document: the report, and what the connection did.
#[derive(Serialize)]
struct Output<'a> {
    #[serde(flatten)]
    report: &'a Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection: Option<&'a Connection>,
    /// What could not be read, one sentence each.
    notes: Vec<String>,
}

/// Runs `mptcp doctor`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (obs, connection, notes) = match (&args.target, args.listen) {
        (Some(target), _) => {
            let r = client::run(target, &args)?;
            (r.obs, Some(r.connection), r.notes)
        }
        (None, Some(port)) => {
            let r = server::run(port, &args)?;
            (r.0, None, r.1)
        }
        (None, None) => {
            if args.send.is_some() || args.no_send || args.watch.is_some() {
                return Err(usage("--send, --no-send and --watch need HOST:PORT or --listen PORT"));
            }
            let mut obs = Observations::default();
            obs.host = diagnose::observe_host(None);
            let notes = obs.host.notes.clone();
            (obs, None, notes)
        }
    };
    if let Some(path) = &args.record {
        let text = serde_json::to_string_pretty(&obs)? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing the observations to {}", path.display()))?;
    }
    let report = diagnose::diagnose(&obs);
    if args.json {
        crate::util::print_json(&Output { report: &report, connection: connection.as_ref(), notes })?;
    } else {
        text::print(&report, &obs, connection.as_ref(), &notes)?;
    }
    Ok(if report.has_errors() { ExitCode::from(3) } else { ExitCode::SUCCESS })
}
