//! The lab's arguments, checked before anything is created.

use std::time::Duration;

use mptcp_transfer::opts::SocketOpts;

use super::phase::Phase;
use super::topo::{parse_rate, Rate};
use super::Args;
use crate::util::usage;

/// What the lab will do, from valid arguments.
#[derive(Debug)]
pub struct Plan {
    /// Shaping of each path (`None`: unshaped).
    pub rates: Vec<Option<Rate>>,
    /// The phases, in the order they run.
    pub phases: Vec<Phase>,
    /// Duration of each transfer.
    pub duration: Duration,
    /// Socket options of both ends.
    pub opts: SocketOpts,
    /// The path the failover phases take down (0-based).
    pub fail_path: usize,
}

impl Plan {
    /// Checks the arguments; bad input is a usage error (exit status 2).
    pub fn from_args(a: &Args) -> anyhow::Result<Plan> {
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
        if let Some(f) = phases.iter().find(|p| p.is_failover()).filter(|_| rates.len() < 2) {
            return Err(usage(format!(
                "the {f} phase needs at least 2 paths (use --paths 2 or drop it from --phases)"
            )));
        }
        if a.fail_path == 0 || a.fail_path > rates.len() {
            return Err(usage(format!("--fail-path {}: expected 1 to {}", a.fail_path, rates.len())));
        }
        if !a.no_plot {
            if let Some(dir) = a.plot.parent().filter(|d| !d.as_os_str().is_empty()) {
                if !dir.is_dir() {
                    return Err(usage(format!(
                        "--plot {}: directory {} does not exist",
                        a.plot.display(),
                        dir.display()
                    )));
                }
            }
        }
        let opts = a.sock.opts()?;
        Ok(Plan { rates, phases, duration: Duration::from_secs_f64(a.duration), opts, fail_path: a.fail_path - 1 })
    }
}
