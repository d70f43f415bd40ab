//! The `iperf3` phase (opt-in): `mptcpize run iperf3` on the same topology,
//! for comparison with the lab's own transfers. Skipped, with a note,
//! where its programs are missing.

use std::io::Read;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mptcp_netns::{Missing, Tool};
use mptcp_transfer::proto::Status;

use crate::error::Context;
use crate::phase::{Phase, PhaseReport};
use crate::topo::Topology;
use crate::Plan;

/// The iperf3 port inside the lab (next to the bench's).
const PORT: u16 = 5202;

/// `TCP_ESTABLISHED` of the kernel's TCP states (include/net/tcp_states.h).
const TCP_ESTABLISHED: u8 = 1;

/// The programs the phase runs, for [`mptcp_netns::preflight`].
pub fn tools() -> Vec<Tool> {
    vec![Tool::new("iperf3", "iperf3", "the iperf3 phase"), Tool::new("mptcpize", "mptcpize", "the iperf3 phase")]
}

/// The note of a phase skipped because `absent` (what the preflight found
/// missing) names some of its programs; `None` when it can run.
pub fn skip_note(absent: &[Missing]) -> Option<String> {
    let (mut programs, mut packages) = (Vec::new(), Vec::new());
    for m in absent {
        if let Missing::Program { program, package, .. } = m {
            if tools().iter().any(|t| &t.program == program) {
                programs.push(format!("`{program}`"));
                packages.push(package.as_str());
            }
        }
    }
    if programs.is_empty() {
        return None;
    }
    Some(format!("skipped: {} not found (apt-get install {})", programs.join(" and "), packages.join(" ")))
}

/// Runs the phase, or skips it (see [`skip_note`]).
pub fn run(topo: &Topology, plan: &Plan, absent: &[Missing]) -> crate::Result<PhaseReport> {
    let mut p = PhaseReport::new(Phase::Iperf3);
    p.paths_used = (1..=topo.paths.len()).collect();
    if let Some(note) = skip_note(absent) {
        p.skipped = true;
        p.notes.push(note);
        return Ok(p);
    }
    let port = PORT.to_string();
    let mut srv = topo
        .server
        .command("mptcpize")
        .args(["run", "iperf3", "-s", "-1", "-p", &port])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting iperf3 -s")?;
    std::thread::sleep(Duration::from_millis(500));
    let secs = format!("{}", plan.duration.as_secs_f64().round().max(1.0));
    let mut cmd = topo.client.command("mptcpize");
    cmd.args(["run", "iperf3", "-c", &topo.paths[0].server_addr().to_string(), "-p", &port, "-t", &secs, "--json"]);
    if let Some(cc) = &plan.opts.congestion {
        cmd.args(["-C", cc]);
    }
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().context("starting iperf3 -c")?;
    // While it runs: what the kernel says of its connections (inet_diag in
    // the client's namespace), to check it used MPTCP on every path.
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let watch = topo.client.spawn(move || watch_subflows(&stop2))?;
    let mut out = String::new();
    if let Some(mut so) = child.stdout.take() {
        let _ = so.read_to_string(&mut out);
    }
    let _ = child.wait();
    stop.store(true, Ordering::Release);
    let seen = watch.join().unwrap_or_default();
    let _ = srv.kill();
    let _ = srv.wait();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let recv = &v["end"]["sum_received"];
    match recv["bits_per_second"].as_f64() {
        Some(bps) => {
            p.goodput_bps = bps;
            p.bytes = recv["bytes"].as_u64().unwrap_or(0);
            p.duration_s = recv["seconds"].as_f64().unwrap_or(0.0);
            p.retransmits = v["end"]["sum_sent"]["retransmits"].as_u64().unwrap_or(0);
            p.notes.push("mptcpize run iperf3 (receiver's goodput)".into());
            p.subflows = seen.max_subflows;
            let want = topo.paths.len().min(2);
            let mptcp = seen.mptcp && seen.max_subflows >= want;
            p.client_status = Some(if seen.mptcp { Status::Mptcp } else { Status::Unknown });
            if !seen.mptcp {
                p.notes.push("the kernel listed no MPTCP connection of iperf3's (did mptcpize work?)".into());
            } else if seen.max_subflows < want {
                p.notes.push(format!("only {} subflow(s) for {} paths", seen.max_subflows, topo.paths.len()));
            }
            p.ok = mptcp;
        }
        None => {
            let err = v["error"].as_str().unwrap_or("no result").to_string();
            p.notes.push(format!("iperf3 failed: {err}"));
        }
    }
    Ok(p)
}

/// What the kernel showed of iperf3's connections while it ran.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// An MPTCP connection (not fallen back) to or from iperf3's port.
    mptcp: bool,
    /// The most established subflows of one such connection.
    max_subflows: usize,
}

/// Lists the MPTCP connections on iperf3's port every 100 ms until `stop`
/// (on a thread in the client's namespace).
fn watch_subflows(stop: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    while !stop.load(Ordering::Acquire) {
        if let Ok(conns) = mptcp::diag::connections(&mptcp::diag::Filter::default().port(PORT)) {
            for c in conns.iter().filter(|c| c.fallback != Some(true)) {
                let established = c.subflows.iter().filter(|s| s.state == TCP_ESTABLISHED).count();
                seen.mptcp |= established > 0;
                seen.max_subflows = seen.max_subflows.max(established);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_only_for_its_own_programs() {
        let program = |p: &str, opt: bool| Missing::Program {
            program: p.into(),
            package: p.into(),
            optional: opt.then(|| "the iperf3 phase".to_string()),
        };
        assert_eq!(skip_note(&[]), None);
        assert_eq!(skip_note(&[program("ethtool", true)]), None);
        assert_eq!(
            skip_note(&[program("iperf3", true)]).unwrap(),
            "skipped: `iperf3` not found (apt-get install iperf3)"
        );
        assert_eq!(
            skip_note(&[program("iperf3", true), program("mptcpize", true)]).unwrap(),
            "skipped: `iperf3` and `mptcpize` not found (apt-get install iperf3 mptcpize)"
        );
    }
}
