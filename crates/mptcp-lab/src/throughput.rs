//! The `tcp` and `mptcp` phases: plain TCP on path 1 against MPTCP over
//! every path, each against its physical limit.

use mptcp_transfer::plot::Panel;
use mptcp_transfer::proto::Status;

use crate::chart::{self, rate_of_limit};
use crate::peers::Stage;
use crate::phase::{Phase, PhaseReport, VERIFIED};

/// Runs `phase` (`tcp` or `mptcp`).
pub fn run(phase: Phase, stage: &mut Stage) -> crate::Result<(PhaseReport, Panel)> {
    let (topo, server, plan) = (stage.topo, stage.server, stage.plan);
    let mptcp = phase == Phase::Mptcp;
    let npaths = topo.paths.len();
    let what = if mptcp { format!("MPTCP over {npaths} paths") } else { "plain TCP on path 1".into() };
    let (c, _) = stage.client(mptcp, &what)?;
    let s = server.report()?;
    let paths: Vec<usize> = if mptcp { (0..npaths).collect() } else { vec![0] };
    let points = c.timeline.clone();
    let mut p = PhaseReport::from_transfer(phase, c, s, topo, &paths, mptcp);
    let title = format!("{phase}: {what}, {}", rate_of_limit(p.goodput_bps, p.limit_bps));
    let panel = chart::panel(title, points, p.limit_bps, plan);
    let verified = p.note_integrity(VERIFIED);
    let subflows = p.subflows;
    match p.statuses() {
        (client, server) if mptcp => {
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
            p.ok = verified && status_ok && subflows >= want;
        }
        (client, _) => {
            let status_ok = client == Status::Tcp;
            if !status_ok {
                p.notes.push(format!("expected plain TCP, client says {client}"));
            }
            p.ok = verified && status_ok;
        }
    }
    Ok((p, panel))
}
