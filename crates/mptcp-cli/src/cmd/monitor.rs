//! `mptcp monitor`: live path manager events, one line each (like
//! `ip mptcp monitor`), or JSON lines with `--json`.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mptcp::pm::EventListener;

use crate::cmd::endpoint::pm_err;

/// Arguments of `mptcp monitor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One JSON object per line.
    #[arg(short = 'j', long)]
    pub json: bool,
    /// Stop after this many events (at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Stop after this many seconds (0.001 to 31536000, a year).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, value_parser = crate::args::monitor_timeout)]
    timeout: Option<f64>,
}

/// Runs `mptcp monitor`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let deadline = match args.timeout {
        Some(t) => Instant::now().checked_add(Duration::from_secs_f64(t)),
        None => None,
    };
    // A family without its events group (before 5.12) is the library's
    // `pm::Error::NotSupported`, which says so.
    let mut events = EventListener::new().map_err(pm_err)?;
    eprintln!("mptcp: monitoring MPTCP events");
    let mut seen = 0u64;
    let mut out = crate::util::stdout();
    while args.count.is_none_or(|c| seen < c) {
        let ev = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match events.recv_timeout(left).map_err(pm_err)? {
                    Some(ev) => ev,
                    None => break,
                }
            }
            None => events.recv().map_err(pm_err)?,
        };
        if args.json {
            serde_json::to_writer(&mut out, &ev)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{ev}")?;
        }
        out.flush()?;
        seen += 1;
    }
    Ok(ExitCode::SUCCESS)
}
