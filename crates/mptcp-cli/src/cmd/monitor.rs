//! `mptcp monitor`: live path manager events, one line each (like
//! `ip mptcp monitor`), or JSON lines with `--json`.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mptcp::pm::EventListener;

use crate::cmd::endpoint::pm_err;
use crate::util::usage;

/// Arguments of `mptcp monitor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One JSON object per line.
    #[arg(short = 'j', long)]
    json: bool,
    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
}

/// Runs `mptcp monitor`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let deadline = match args.timeout {
        Some(t) if t.is_finite() && t > 0.0 && t < 1e9 => Some(Instant::now() + Duration::from_secs_f64(t)),
        Some(t) => return Err(usage(format!("invalid timeout {t} (expected seconds > 0)"))),
        None => None,
    };
    let mut events = EventListener::new().map_err(pm_err)?;
    eprintln!("mptcp: monitoring MPTCP events");
    let mut seen = 0u64;
    let mut out = crate::util::stdout();
    while args.count.map_or(true, |c| seen < c) {
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
