//! `mptcp monitor`: live path manager events, one line each (like
//! `ip mptcp monitor`), or JSON lines with `--json`.
//!
//! When events come faster than they are read (a slow reader of stdout, a
//! burst of connections), the kernel drops what no longer fits the
//! socket's receive buffer and says only that it did (`ENOBUFS`). The
//! monitor goes on, as `ip mptcp monitor` does, and says so in the stream:
//! `lost events (receive buffer overflowed N times)`, or with `--json`
//! `{"type":"lost","overflows":N}`, N counting the overflows since the
//! start (how many events each one cost is not known).

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mptcp::pm::{self, EventListener};
use serde::Serialize;

use crate::cmd::endpoint::pm_err;
use mptcp_transfer::units::parse_size;

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
    /// Receive buffer for events, e.g. 16M (1 to 1G; default 4M). Events
    /// that come while it is full are lost (reported in the output).
    #[arg(long, value_name = "SIZE", value_parser = rcvbuf)]
    rcvbuf: Option<usize>,
}

/// `--rcvbuf`: a size from 1 byte to 1 GiB (the kernel raises small ones
/// to its minimum).
fn rcvbuf(s: &str) -> Result<usize, String> {
    match parse_size(s) {
        Some(n) if (1..=1 << 30).contains(&n) => Ok(n as usize),
        _ => Err("expected a size from 1 to 1G, such as 16M".into()),
    }
}

/// `1 time`, `2 times`.
fn times(n: u64) -> String {
    if n == 1 {
        "1 time".into()
    } else {
        format!("{n} times")
    }
}

/// The line that says events were lost, in `--json`.
#[derive(Debug, Serialize)]
struct Lost {
    /// Always `lost`: events' lines have their kind in `type` too.
    #[serde(rename = "type")]
    kind: &'static str,
    /// How many times the receive buffer has overflowed since the start.
    overflows: u64,
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
    if let Some(bytes) = args.rcvbuf {
        events.set_receive_buffer(bytes).map_err(pm_err)?;
    }
    eprintln!("mptcp: monitoring MPTCP events");
    let mut seen = 0u64;
    let mut overflows = 0u64;
    let mut out = crate::util::stdout();
    while args.count.is_none_or(|c| seen < c) {
        let next = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                events.recv_timeout(left)
            }
            None => events.recv().map(Some),
        };
        let ev = match next {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            // The kernel dropped events; the subscription goes on.
            Err(pm::Error::EventsLost) => {
                overflows += 1;
                if args.json {
                    serde_json::to_writer(&mut out, &Lost { kind: "lost", overflows })?;
                    writeln!(out)?;
                } else {
                    writeln!(out, "lost events (receive buffer overflowed {})", times(overflows))?;
                }
                out.flush()?;
                continue;
            }
            Err(e) => return Err(pm_err(e)),
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
    if overflows > 0 {
        eprintln!(
            "mptcp: events were lost: the receive buffer overflowed {} (read faster or take a larger --rcvbuf)",
            times(overflows)
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rcvbuf_sizes() {
        assert_eq!(rcvbuf("16M"), Ok(16 << 20));
        assert_eq!(rcvbuf("4096"), Ok(4096));
        assert_eq!(rcvbuf("1G"), Ok(1 << 30));
        for bad in ["0", "2G", "-1", "lots", ""] {
            assert_eq!(rcvbuf(bad), Err("expected a size from 1 to 1G, such as 16M".into()), "{bad}");
        }
    }

    #[test]
    fn the_lost_line_is_typed_like_events() {
        let line = serde_json::to_string(&Lost { kind: "lost", overflows: 3 }).unwrap();
        assert_eq!(line, r#"{"type":"lost","overflows":3}"#);
    }
}
