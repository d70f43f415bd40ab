//! The `tcp` and `mptcp` phases: plain TCP on each path alone, path by
//! path, then MPTCP over every path, each against its physical limit.

use mptcp_transfer::plot::Panel;
use mptcp_transfer::proto::Status;

use crate::chart::{self, rate_of_limit};
use crate::peers::Stage;
use crate::phase::{Phase, PhaseReport, VERIFIED};

/// Runs plain TCP on path `path` (0-based) alone: a connection to the
/// server's address on that path.
pub fn run_tcp(path: usize, stage: &mut Stage) -> crate::Result<(PhaseReport, Panel)> {
    let (topo, server, plan) = (stage.topo, stage.server, stage.plan);
    let n = path + 1;
    let label = topo.paths[path].spec.label.as_str();
    let what =
        if label.is_empty() { format!("plain TCP on path {n}") } else { format!("plain TCP on path {n} ({label})") };
    let (c, _) = stage.client(path, false, &what)?;
    let s = server.report()?;
    let points = c.timeline.clone();
    let mut p = PhaseReport::from_transfer(Phase::Tcp, c, s, topo, &[path], false);
    let title = format!("tcp, path {n}: {what}, {}", rate_of_limit(p.goodput_bps, p.limit_bps));
    let panel = chart::panel(title, points, p.limit_bps, plan);
    let verified = p.note_integrity(VERIFIED);
    let (client, _) = p.statuses();
    let status_ok = client == Status::Tcp;
    if !status_ok {
        p.notes.push(format!("expected plain TCP, client says {client}"));
    }
    let on_path = !p.subflow_rtts.is_empty() && p.subflow_rtts.iter().all(|r| r.path == Some(n));
    if !on_path {
        let seen: Vec<String> = p.subflow_rtts.iter().map(|r| r.subflow.clone()).collect();
        p.notes.push(format!("expected the connection on path {n}, saw {}", seen.join(", ")));
    }
    p.ok = verified && status_ok && on_path;
    Ok((p, panel))
}

/// Runs MPTCP over every path: a connection to the server's first address
/// (its initial subflow on path 1), one subflow joining from each other
/// path.
pub fn run_mptcp(stage: &mut Stage) -> crate::Result<(PhaseReport, Panel)> {
    let (topo, server, plan) = (stage.topo, stage.server, stage.plan);
    let npaths = topo.paths.len();
    let what = format!("MPTCP over {npaths} paths");
    let (c, _) = stage.client(0, true, &what)?;
    let s = server.report()?;
    let all: Vec<usize> = (0..npaths).collect();
    let points = c.timeline.clone();
    let mut p = PhaseReport::from_transfer(Phase::Mptcp, c, s, topo, &all, true);
    let title = format!("mptcp: {what}, {}", rate_of_limit(p.goodput_bps, p.limit_bps));
    let panel = chart::panel(title, points, p.limit_bps, plan);
    let verified = p.note_integrity(VERIFIED);
    let subflows = p.subflows;
    let (client, server) = p.statuses();
    let want = npaths.min(2);
    let status_ok = client == Status::Mptcp && server == Status::Mptcp;
    if !status_ok {
        p.notes.push(format!("expected MPTCP on both ends, got client {client} server {server}"));
    }
    if subflows < want {
        p.notes.push(format!("only {subflows} subflow(s) for {npaths} paths"));
    } else if subflows < npaths {
        p.notes.push(format!("{subflows} subflows for {npaths} paths"));
    }
    let unused: Vec<String> =
        (1..=npaths).filter(|n| !p.subflow_rtts.iter().any(|r| r.path == Some(*n))).map(|n| n.to_string()).collect();
    if !unused.is_empty() {
        p.notes.push(format!("no subflow on path {}", unused.join(", ")));
    }
    p.ok = verified && status_ok && subflows >= want;
    Ok((p, panel))
}
