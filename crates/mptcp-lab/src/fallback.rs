//! The `fallback` phase: a middlebox strips MPTCP from the server's
//! SYN-ACK; the transfer completes over TCP and both ends say `fallback`
//! (the server through the kernel's counters, see `FallbackWatch`).

use mptcp_transfer::plot::Panel;
use mptcp_transfer::proto::Status;

use crate::chart::{self, rate_of_limit};
use crate::error::Context;
use crate::peers::Stage;
use crate::phase::{Phase, PhaseReport, VERIFIED};

/// Runs the phase; the middlebox rule is removed before it returns.
pub fn run(stage: &mut Stage) -> crate::Result<(PhaseReport, Panel)> {
    let (topo, server, plan) = (stage.topo, stage.server, stage.plan);
    topo.server
        .strip_mptcp(false, mptcp_netns::Strip::SynAck)
        .context("adding the middlebox that strips MPTCP from the SYN-ACK")?;
    let res = stage.client(0, true, "a middlebox strips the MPTCP option");
    let _ = topo.server.unstrip_mptcp(false, mptcp_netns::Strip::SynAck);
    let (c, _) = res?;
    let s = server.report()?;
    let (client, server) = (c.status, s.status);
    let points = c.timeline.clone();
    // The limit is that of path 1, for plain TCP segments.
    let mut p = PhaseReport::from_transfer(Phase::Fallback, c, s, topo, &[0], false);
    let ends = match (client, server) {
        (Status::Fallback, Status::Fallback) => "both ends fall back to TCP".to_string(),
        _ => format!("client {client}, server {server}"),
    };
    let title = format!("fallback: a middlebox strips MPTCP; {ends}, {}", rate_of_limit(p.goodput_bps, p.limit_bps));
    let panel = chart::panel(title, points, p.limit_bps, plan);
    let verified = p.note_integrity(VERIFIED);
    p.notes.push(format!("client reports {client}, server reports {server}"));
    p.ok = verified && client == Status::Fallback && server == Status::Fallback;
    Ok((p, panel))
}
