//! The failover phases: one path goes down a third of the way through an MPTCP
//! upload; every byte must still arrive, and the stall (see [`stall`]) is
//! measured at the receiver.
//!
//! `failover` leaves the failure to the kernel path manager alone, which
//! does nothing when a link goes down: the dead subflow keeps its data until
//! retransmission timeouts give up on it. `failover-daemon` runs `mptcp
//! daemon` in the client namespace, which deletes the dead path's endpoint
//! (and, for the initial subflow's path, the initial subflow) at once: the
//! kernel closes the subflow and reinjects its data on the others.
//!
//! Everything else is the same in both: the topology, the client's
//! endpoints (one `subflow` endpoint per path, as the daemon's default
//! policy makes them, set before the transfer: the client opens one subflow
//! per path from them, see [`Topology::reset_client_pm`]; the daemon
//! adopts them and changes nothing until the link goes down), the path, and
//! the instant it goes down.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mptcp_daemon::status::Action;
use mptcp_daemon::{Manage, OnExit};
use mptcp_transfer::plot::{Panel, Shade};
use mptcp_transfer::stall::{self, FRACTION};
use mptcp_transfer::units::fmt_rate;

use crate::chart;
use crate::error::Context;
use crate::peers::Stage;
use crate::phase::{Failover, Phase, PhaseKind, PhaseReport, INTACT};
use crate::topo::Topology;

/// Runs `phase` (`failover` or `failover-daemon`); the path is brought back
/// up, and the client's path manager reset, before it returns.
pub fn run(phase: Phase, stage: &mut Stage) -> crate::Result<(PhaseReport, Panel)> {
    let (topo, server, plan) = (stage.topo, stage.server, stage.plan);
    let fail = plan.fail_path;
    let endpoints = ClientEndpoints::add(topo)?;
    let daemon = match phase {
        Phase::FailoverDaemon => Some(start_daemon(topo)?),
        _ => None,
    };
    let at_start = daemon.as_ref().map(|d| d.status().last_actions).unwrap_or_default();
    // A third of the way in (at least 1 s, for every subflow to carry data):
    // two thirds of the transfer are left to measure the stall in.
    let down_after = (plan.duration / 3).max(Duration::from_secs(1));
    let down_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let cancel = Arc::new(AtomicBool::new(false));
    let (d2, c2) = (down_at.clone(), cancel.clone());
    let path = topo.paths[fail].lan.clone();
    let started = Instant::now();
    let killer = std::thread::spawn(move || {
        // Wait for data to flow, then pull the link.
        while started.elapsed() < down_after + Duration::from_millis(100) {
            if c2.load(Ordering::Acquire) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let now = Instant::now();
        let r = path.down();
        if let Ok(mut d) = d2.lock() {
            *d = Some(now);
        }
        r
    });
    let who = if daemon.is_some() { "mptcp daemon on the client" } else { "kernel path manager alone" };
    let res = stage.client(0, true, &format!("path {} goes down mid-transfer ({who})", fail + 1));
    cancel.store(true, Ordering::Release);
    let down_result = killer.join().map_err(|_| crate::Error::Failed("the failover thread panicked".into()))?;
    let actions = daemon.as_ref().map(|d| d.status().last_actions);
    let stopped = daemon.map(|d| d.stop()).unwrap_or(Ok(()));
    // Bring the path back and the client's endpoints to what they were,
    // for the phases that follow, whatever failed.
    let up = topo.up(fail);
    let reset = endpoints.remove();
    std::thread::sleep(Duration::from_millis(200));
    let back = up.is_ok() && path_carries_a_handshake(topo, fail);
    down_result.context("taking the path down")?;
    up.context("bringing the path back up")?;
    reset?;
    stopped.context("stopping mptcp daemon")?;
    let (c, t0) = res?;
    let s = server.report()?;
    let timeline = c.timeline.clone();
    let all: Vec<usize> = (0..topo.paths.len()).collect();
    let mut p = PhaseReport::from_transfer(phase, c, s, topo, &all, true);
    let limit_before = p.limit_bps;
    // The limit that matters after the failure is that of the remaining paths.
    let remaining: Vec<usize> = all.iter().copied().filter(|i| *i != fail).collect();
    let mut f = Failover {
        failed_path: Some(fail + 1),
        remaining_limit_bps: p.limit_of(topo, &remaining),
        path_back: Some(back),
        ..Failover::default()
    };
    p.limit_bps = None;
    p.fraction_of_limit = None;
    let verified = p.note_integrity(INTACT);
    let down = down_at.lock().ok().and_then(|d| *d);
    let mut panel = chart::panel(phase_title(phase, fail), timeline, limit_before, plan);
    let mut reacted = true;
    let mut measured = false;
    match down {
        Some(d) => {
            let at = d.saturating_duration_since(t0).as_secs_f64();
            f.down_at_s = Some(at);
            panel.markers.push((at, format!("path {} down", fail + 1)));
            if let Some(r) = f.remaining_limit_bps {
                panel.limits.push(chart::limit(at, r, "remaining paths' limit"));
            }
            measured =
                measure_stall(&mut f, &mut p.notes, &mut panel, &server.deliveries(), (d, at), t0 + plan.duration);
            if let Some(all) = &actions {
                let after: Vec<&Action> = all.iter().filter(|a| !at_start.contains(a)).collect();
                reacted = daemon_notes(&mut p.notes, &at_start, &after, topo.paths[fail].client_addr());
                f.daemon_actions = Some(after.into_iter().cloned().collect());
            }
        }
        None => p.notes.push("the transfer ended before the path went down".into()),
    }
    if !back {
        p.notes.push(format!("path {} carried no TCP handshake after it came back up", fail + 1));
    }
    p.kind = PhaseKind::Failover(f);
    // A failover shows what it should when the data arrived, the path went
    // down, the remaining paths took over (a stall that ended), the daemon
    // did its part and the path came back.
    p.ok = verified && down.is_some() && measured && reacted && back;
    Ok((p, panel))
}

/// Whether path `i` works again: a TCP handshake from the client's address
/// on it to the server's address on it, to a port where nothing listens
/// (the server's RST answers: nothing is served), within 3 tries of 2 s.
fn path_carries_a_handshake(topo: &Topology, i: usize) -> bool {
    let (from, to) = (topo.paths[i].client_addr(), topo.paths[i].server_addr());
    let probe = move || {
        (0..3).any(|_| {
            let Ok(sock) = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None) else {
                return false;
            };
            if sock.bind(&std::net::SocketAddr::new(from, 0).into()).is_err() {
                return false;
            }
            let to = std::net::SocketAddr::new(to, crate::peers::PORT + 9);
            match sock.connect_timeout(&to.into(), Duration::from_secs(2)) {
                Ok(()) => true,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
            }
        })
    };
    topo.client.in_ns(probe).unwrap_or(false)
}

/// Measures the stall from what the receiver got (`deliveries`) between
/// the failure (`down`, as an instant and in seconds of the transfer) and
/// `end` (the sender stopped), into the failover's report, its notes and
/// the panel. Returns whether the stall ended (the rate came back).
fn measure_stall(
    f: &mut Failover,
    notes: &mut Vec<String>,
    panel: &mut Panel,
    deliveries: &[(Instant, u64)],
    down: (Instant, f64),
    end: Instant,
) -> bool {
    let (d, at) = down;
    let Some(st) = stall::measure(deliveries, d, end) else {
        notes.push(format!(
            "too little time after the failure to measure the stall (it needs {} ms; use a longer --duration)",
            (stall::SAMPLE * 2 * stall::HOLD as u32).as_millis()
        ));
        return false;
    };
    f.stall_ms = st.ms;
    f.remaining_bps = Some(st.reference_bps);
    f.stall_samples_mbps = Some(st.samples_bps.iter().map(|b| (b / 1e5).round() / 10.0).collect());
    let end_s = at + end.saturating_duration_since(d).as_secs_f64();
    let (to, label) = match st.ms {
        Some(ms) => (at + ms / 1000.0, format!("stall {ms:.0} ms")),
        None => (end_s, "no recovery".to_string()),
    };
    let legend = format!(
        "stall: from the link going down until the receiver gets {:.0}% of the remaining paths' rate ({}), {} ms \
         samples",
        FRACTION * 100.0,
        fmt_rate(st.reference_bps),
        stall::SAMPLE.as_millis()
    );
    panel.shade = Some(Shade { from: at, to, label, legend });
    if st.ms.is_none() {
        notes.push(format!("the remaining paths never carried {:.0}% of their rate", FRACTION * 100.0));
    }
    st.ms.is_some()
}

fn phase_title(phase: Phase, fail: usize) -> String {
    match phase {
        Phase::FailoverDaemon => format!("failover-daemon: path {} down, mptcp daemon on the client", fail + 1),
        _ => format!("failover: path {} down, kernel path manager alone", fail + 1),
    }
}

/// Notes what the daemon did: nothing at start-up (else the comparison is
/// not fair), and deleting the dead path's endpoint after the failure.
/// Returns whether both held.
fn daemon_notes(notes: &mut Vec<String>, at_start: &[Action], after: &[&Action], addr: IpAddr) -> bool {
    let fair = at_start.is_empty();
    if !fair {
        let what: Vec<String> = at_start.iter().map(|a| format!("{} {}", a.op, a.endpoint)).collect();
        notes.push(format!("the daemon changed the client's path manager at start-up: {}", what.join(", ")));
    }
    let deleted =
        after.iter().find(|a| a.op == "delete" && a.result == "ok" && a.endpoint.contains(&format!(" {addr} ")));
    match deleted {
        Some(a) => notes.push(format!(
            "mptcp daemon deleted {} {:.1} ms after the link event{}",
            a.endpoint,
            a.after_event_ms,
            if after.iter().any(|a| a.op == "delete id 0" && a.result == "ok") {
                " and closed the initial subflow from it"
            } else {
                ""
            }
        )),
        None => notes.push(format!("mptcp daemon did not delete the endpoint of {addr}")),
    }
    fair && deleted.is_some()
}

/// Starts `mptcp daemon` on a thread in the client namespace with its
/// default policy (an address is used while the main table has a default
/// route of its family: the client has one per path), no state file or
/// control socket; it adopts the endpoints the lab set (`manage = all`) and
/// deletes its endpoints when it stops.
fn start_daemon(topo: &Topology) -> crate::Result<mptcp_daemon::Handle> {
    let mut c = mptcp_daemon::Config::default();
    c.runtime_dir = None;
    c.manage = Manage::All;
    c.on_exit = OnExit::Flush;
    topo.client.in_ns(|| mptcp_daemon::spawn(c))?.context("starting mptcp daemon in the client namespace")
}

/// The client's `subflow` endpoints for a failover phase; removed (the
/// client's path manager reset) by [`remove`](Self::remove) or on drop.
struct ClientEndpoints<'a> {
    topo: Option<&'a Topology>,
}

impl<'a> ClientEndpoints<'a> {
    fn add(topo: &'a Topology) -> crate::Result<ClientEndpoints<'a>> {
        let guard = ClientEndpoints { topo: Some(topo) };
        topo.reset_client_pm().context("setting the client's endpoints")?;
        Ok(guard)
    }

    fn remove(mut self) -> crate::Result<()> {
        match self.topo.take() {
            Some(t) => t.reset_client_pm().context("resetting the client's path manager"),
            None => Ok(()),
        }
    }
}

impl Drop for ClientEndpoints<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.topo.take() {
            let _ = t.reset_client_pm();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 12.5 kB every 10 ms (10 Mbit/s) from `t`, except in `gap` (ms from
    /// `t`).
    fn deliveries(t: Instant, ms: u64, gap: std::ops::Range<u64>) -> Vec<(Instant, u64)> {
        (0..ms / 10).filter(|i| !gap.contains(&(i * 10))).map(|i| (t + Duration::from_millis(i * 10), 12_500)).collect()
    }

    #[test]
    fn a_stall_that_ends_is_measured() {
        let t = Instant::now();
        let (mut f, mut notes, mut panel) = (Failover::default(), Vec::new(), Panel::default());
        let ok = measure_stall(
            &mut f,
            &mut notes,
            &mut panel,
            &deliveries(t, 3000, 1000..1300),
            (t + Duration::from_secs(1), 1.0),
            t + Duration::from_secs(3),
        );
        assert!(ok, "{notes:?}");
        assert_eq!(f.stall_ms, Some(300.0));
        assert!(notes.is_empty());
        assert_eq!(panel.shade.take().unwrap().label, "stall 300 ms");
    }

    /// The failover phase is ok only when this returns true: a failure the
    /// remaining paths never took over (or a window too short to tell) is
    /// a failed phase, and says so.
    #[test]
    fn no_recovery_or_no_measurement_is_not_a_success() {
        let t = Instant::now();
        let (mut f, mut notes, mut panel) = (Failover::default(), Vec::new(), Panel::default());
        let down = (t + Duration::from_secs(1), 1.0);
        // Nothing arrives after the failure.
        let ok = measure_stall(
            &mut f,
            &mut notes,
            &mut panel,
            &deliveries(t, 3000, 1000..3000),
            down,
            t + Duration::from_secs(3),
        );
        assert!(!ok);
        assert_eq!(f.stall_ms, None);
        assert_eq!(notes, ["the remaining paths never carried 85% of their rate"]);
        assert_eq!(panel.shade.take().unwrap().label, "no recovery");
        // 400 ms after the failure: too little to tell.
        let (mut f, mut notes) = (Failover::default(), Vec::new());
        let ok = measure_stall(
            &mut f,
            &mut notes,
            &mut panel,
            &deliveries(t, 3000, 0..0),
            down,
            t + Duration::from_millis(1400),
        );
        assert!(!ok);
        assert!(notes[0].starts_with("too little time after the failure"), "{notes:?}");
    }
}
