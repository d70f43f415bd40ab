//! `mptcp`: the Multipath TCP toolkit's command-line tool.
//!
//! A thin layer over the `mptcp` library: parse the arguments, dispatch to
//! one module per subcommand, print the error chain. Exit status: 0 on
//! success, 1 when the work failed, 2 on bad input (nothing was changed).

mod cmd;
mod sys;
mod transfer;
mod util;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Multipath TCP toolkit: host status, checks, path manager, events,
/// connections, throughput bench, MPTCP for unmodified programs, and a lab.
#[derive(Debug, Parser)]
#[command(name = "mptcp", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what this host's kernel can do: MPTCP support, sysctls, path manager, limits.
    Status(cmd::status::Args),
    /// Connect to HOST:PORT with MPTCP and report whether the server negotiated it.
    Check(cmd::check::Args),
    /// Path manager endpoints (like `ip mptcp endpoint`).
    #[command(alias = "endpoints", alias = "endp")]
    Endpoint(cmd::endpoint::Args),
    /// Path manager limits (like `ip mptcp limits`).
    Limits(cmd::limits::Args),
    /// Live MPTCP events (like `ip mptcp monitor`).
    Monitor(cmd::monitor::Args),
    /// MPTCP connections on this host with their subflows (like `ss -M`).
    Conns(cmd::conns::Args),
    /// Userspace path manager: announce, remove, create and destroy subflows.
    Pm(cmd::pm::Args),
    /// Throughput benchmark (server and client), iperf-style.
    Bench(cmd::bench::Args),
    /// Build a multi-path network in namespaces and show MPTCP at work (root).
    Lab(cmd::lab::Args),
    /// Run an unmodified program with its TCP sockets turned into MPTCP sockets.
    Run(cmd::run::Args),
    /// Enable or disable MPTCP for a systemd service through a drop-in.
    Systemd(cmd::systemd::Args),
    /// Path-manager daemon: endpoints follow the interfaces (addresses, links, carrier).
    Daemon(cmd::daemon::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let result = match cli.command {
        Command::Status(a) => cmd::status::run(a),
        Command::Check(a) => cmd::check::run(a),
        Command::Endpoint(a) => cmd::endpoint::run(a),
        Command::Limits(a) => cmd::limits::run(a),
        Command::Monitor(a) => cmd::monitor::run(a),
        Command::Conns(a) => cmd::conns::run(a),
        Command::Pm(a) => cmd::pm::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Lab(a) => cmd::lab::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Systemd(a) => cmd::systemd::run(a),
        Command::Daemon(a) => cmd::daemon::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => util::report_error(&err),
    }
}
