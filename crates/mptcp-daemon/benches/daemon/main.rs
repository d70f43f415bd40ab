//! Benchmark of `mptcp daemon` (issue 13), run by `bench/daemon.sh`:
//!
//! - reaction: from the kernel's rtnetlink event (seen by a listener of
//!   our own in the same namespace) to the endpoint's change in the
//!   kernel (seen by polling the endpoint list every 0.1 ms), for link
//!   down/up, carrier lost/back and address removed/added;
//! - failover: an upload over 2 x 50 Mbit/s, one path taken down; the
//!   stall until the remaining path carries 85% of its rate (50 ms
//!   samples) with the kernel path manager alone and with the daemon, for
//!   the initial subflow's path and for a joined path; then the path comes
//!   back: the time until it carries data again;
//! - soak: 1,000 random events on 4 interfaces, the endpoint set compared
//!   with the policy's answer after each burst, leaks after SIGTERM, the
//!   daemon's peak RSS and its CPU time and context switches while idle;
//! - slow: `mptcp daemon status` and a scrape while 100 slow clients hold
//!   each listener (a byte every 2 s), and a link change followed meanwhile.
//!
//! ```text
//! cargo bench -p mptcp-daemon --bench daemon -- --mptcp target/release/mptcp [--runs 7] [--only failover] [--json FILE]
//! ```
//! Needs root (namespaces) and the `mptcp` binary (release build).

#[path = "../../tests/common/events.rs"]
mod events;
mod failover;
mod reaction;
mod slow;
mod soak;

use std::time::Duration;

/// The failover stall: one definition and one implementation, `mptcp lab`'s.
use mptcp_transfer::stall;

/// Median and range of a sample.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    /// Number of finite samples.
    pub n: usize,
    /// Their median (NaN when there are none).
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Stats {
    /// Median and range of the finite values of `v`.
    pub fn of(v: &[f64]) -> Stats {
        let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        s.sort_by(|a, b| a.total_cmp(b));
        let n = s.len();
        if n == 0 {
            return Stats { n: 0, median: f64::NAN, min: f64::NAN, max: f64::NAN };
        }
        let median = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
        Stats { n, median, min: s[0], max: s[n - 1] }
    }

    /// `12.3 (10.1-15.0)` in `unit`.
    pub fn show(&self, digits: usize) -> String {
        format!("{:.d$} ({:.d$}-{:.d$})", self.median, self.min, self.max, d = digits)
    }
}

/// `d` in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Args {
    mptcp: String,
    runs: usize,
    only: Option<String>,
    json: Option<String>,
}

fn args() -> Args {
    let mut a = Args { mptcp: "target/release/mptcp".into(), runs: 7, only: None, json: None };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--mptcp" => a.mptcp = it.next().expect("--mptcp PATH"),
            "--runs" => a.runs = it.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--only" => a.only = it.next(),
            "--json" => a.json = it.next(),
            "--bench" => {} // added by `cargo bench`
            other => panic!("unknown argument {other} (expected --mptcp PATH, --runs N, --only SECTION, --json FILE)"),
        }
    }
    a
}

fn main() {
    let a = args();
    if !mptcp_netns::is_root() {
        eprintln!("the daemon benchmark builds network namespaces: run it as root (bench/daemon.sh)");
        std::process::exit(1);
    }
    assert!(
        std::path::Path::new(&a.mptcp).exists(),
        "{} not found: build it (cargo build --release -p mptcp-cli)",
        a.mptcp
    );
    mptcp_netns::install_signal_cleanup();
    let want = |s: &str| a.only.as_deref().is_none_or(|o| o == s);
    let mut report = serde_json::Map::new();
    if want("reaction") {
        let r = reaction::run(&a.mptcp, 3 * a.runs.max(7));
        report.insert("reaction".into(), serde_json::to_value(&r).unwrap());
    }
    if want("failover") {
        let r = failover::run(&a.mptcp, a.runs);
        report.insert("failover".into(), serde_json::to_value(&r).unwrap());
    }
    if want("slow") {
        let r = slow::run(&a.mptcp, 10, a.runs);
        report.insert("slow".into(), serde_json::to_value(&r).unwrap());
    }
    if want("soak") {
        let r = soak::run(&a.mptcp, 1000);
        report.insert("soak".into(), serde_json::to_value(&r).unwrap());
    }
    if let Some(p) = a.json {
        std::fs::write(&p, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    }
}
