//! `mptcp`: the Multipath TCP toolkit's command-line tool.
//!
//! A thin layer over the `mptcp` library: parse the arguments, dispatch to
//! one module per subcommand, print the error chain (and, with `--json`,
//! the error as JSON on stdout). Exit status: 0 on success (also when
//! stdout is closed early), 1 when the work failed, 2 on bad input
//! (nothing was changed).

mod args;
mod cmd;
mod errors;
mod live;
mod sys;
mod token;
mod util;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Text after `mptcp --help` and in mptcp(1): the conventions every
/// subcommand follows.
const CONVENTIONS: &str = "\
Exit status: 0 success (also when stdout is closed early, as in `mptcp conns | head -1`); \
1 the work failed; 2 bad input, nothing was changed; `mptcp check` exits 3 when the connection \
runs as plain TCP, `mptcp doctor` when a finding explains a fallback or a missing subflow.

JSON: -j/--json prints data as JSON; an error is then also a JSON object on stdout, \
{\"error\": \"...\", \"kind\": \"...\"}, with the same exit status, and kind one of usage, \
permission, unsupported, not-found, io, failed.

Tokens: MPTCP connection tokens are printed as 0x and eight hex digits (0x5c11f85e; a number \
in JSON). Every command that takes a token also reads decimal, and iproute2's hex without 0x \
(`ss -M`, `ip mptcp monitor`).";

/// Multipath TCP toolkit: host status, checks, path manager, events,
/// connections, throughput bench, MPTCP for unmodified programs, and a lab.
#[derive(Debug, Parser)]
#[command(name = "mptcp", version, propagate_version = true, after_long_help = CONVENTIONS)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what this host's kernel can do: MPTCP support, sysctls, path manager, limits.
    Status(cmd::status::Args),
    /// Connect to HOST:PORT with MPTCP and report whether the server negotiated it.
    Check(cmd::check::Args),
    /// Explain why a connection is not MPTCP or lacks subflows (or check the host, or a listener).
    Doctor(cmd::doctor::Args),
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cmd::completions::Args),
    /// Print the manual page, or write one page per subcommand to a directory.
    Man(cmd::man::Args),
    /// Enable or disable MPTCP for a systemd service through a drop-in.
    Systemd(cmd::systemd::Args),
    /// Path-manager daemon: endpoints follow the interfaces (addresses, links, carrier).
    Daemon(cmd::daemon::Args),
}

impl Command {
    /// Whether the command line asked for JSON.
    fn json(&self, argv: &[std::ffi::OsString]) -> bool {
        match self {
            Command::Status(a) => a.json,
            Command::Check(a) => a.json,
            Command::Doctor(a) => a.json,
            Command::Endpoint(a) => a.json,
            Command::Limits(a) => a.json,
            Command::Monitor(a) => a.json,
            Command::Conns(a) => a.json,
            Command::Pm(a) => a.json,
            Command::Lab(a) => a.json,
            Command::Daemon(a) => a.json(),
            Command::Run(a) => a.json,
            // Its options take no free text: the words tell.
            Command::Bench(_) => errors::wants_json(argv),
            // systemd, completions, man: nothing to print as JSON.
            _ => false,
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            if e.use_stderr() && errors::wants_json(&argv) {
                errors::JsonError::of_clap(&e).print();
            }
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let json = cli.command.json(&argv);
    let result = match cli.command {
        Command::Status(a) => cmd::status::run(a),
        Command::Check(a) => cmd::check::run(a),
        Command::Doctor(a) => cmd::doctor::run(a),
        Command::Endpoint(a) => cmd::endpoint::run(a),
        Command::Limits(a) => cmd::limits::run(a),
        Command::Monitor(a) => cmd::monitor::run(a),
        Command::Conns(a) => cmd::conns::run(a),
        Command::Pm(a) => cmd::pm::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Lab(a) => cmd::lab::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Completions(a) => cmd::completions::run(a),
        Command::Man(a) => cmd::man::run(a),
        Command::Systemd(a) => cmd::systemd::run(a),
        Command::Daemon(a) => cmd::daemon::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if json && !errors::json_failure_printed() {
                errors::JsonError::of(&err).print();
            }
            errors::report_error(&err)
        }
    }
}
