//! `mptcp doctor --listen PORT`: what a server sees of incoming
//! connections. Each is echoed (so the client's data is acknowledged and
//! its path manager may add subflows) until it closes or the watch ends.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use mptcp::diagnose::{self, Accepted, ConnStatus, Observations, Server, ServerWatch};
use mptcp::listener::{AcceptedStatus, MptcpListener};
use mptcp::MptcpExt;

use super::Args;

/// Default listening time, in seconds.
const WATCH: f64 = 30.0;
const TICK: Duration = Duration::from_millis(50);

/// One accepted connection, echoed on its own thread.
struct Handled {
    accepted: Accepted,
    thread: JoinHandle<u32>,
}

/// Echoes `s` until the client closes or `stop` is set; returns the
/// subflows established when it ended.
fn echo(s: TcpStream, stop: Arc<AtomicBool>) -> u32 {
    let _ = s.set_read_timeout(Some(TICK));
    let mut buf = vec![0u8; 64 * 1024];
    let mut subflows = established(&s);
    while !stop.load(Ordering::Relaxed) {
        match (&s).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if (&s).write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(_) => break,
        }
        subflows = subflows.max(established(&s));
    }
    subflows
}

/// Subflows in the state ESTABLISHED (1 for a plain TCP connection).
fn established(s: &TcpStream) -> u32 {
    match s.subflows() {
        Ok(v) if !v.is_empty() => v.iter().filter(|sf| sf.tcp.state == Some(1)).count() as u32,
        _ => 1,
    }
}

fn bind(port: u16) -> anyhow::Result<MptcpListener> {
    // Both families on one socket where IPv6 exists.
    MptcpListener::bind(("::", port))
        .or_else(|_| MptcpListener::bind(("0.0.0.0", port)))
        .with_context(|| format!("cannot listen on port {port}"))
}

pub(super) fn run(port: u16, args: &Args) -> anyhow::Result<(Observations, Vec<String>)> {
    let watch_for = Duration::from_secs_f64(args.watch.unwrap_or(WATCH));
    let mut obs = Observations::default();
    obs.host = diagnose::observe_host(None);
    let mut watch = ServerWatch::start();
    let listener = bind(port)?;
    listener.get_ref().set_nonblocking(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut handled: Vec<Handled> = Vec::new();
    loop {
        match listener.accept() {
            Ok((s, peer, status)) => {
                let _ = s.set_nonblocking(false);
                let mut a = Accepted::default();
                a.remote = Some(SocketAddr::new(peer.ip().to_canonical(), peer.port()));
                a.status = match status {
                    AcceptedStatus::Mptcp => ConnStatus::Mptcp,
                    AcceptedStatus::Fallback => ConnStatus::Fallback,
                    _ => ConnStatus::Tcp,
                };
                a.token = s.mptcp_info().ok().flatten().and_then(|i| i.token);
                let flag = stop.clone();
                let thread = std::thread::spawn(move || echo(s, flag));
                handled.push(Handled { accepted: a, thread });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(TICK)
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("accepting on port {port}"))),
        }
        let done =
            args.count.is_some_and(|n| handled.len() >= n as usize && handled.iter().all(|h| h.thread.is_finished()));
        if done || start.elapsed() >= watch_for {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut s = Server::default();
    s.port = port;
    for h in handled {
        let mut a = h.accepted;
        a.subflows = h.thread.join().unwrap_or(1);
        s.accepted.push(a);
    }
    watch.observe(&mut s);
    let mut notes = obs.host.notes.clone();
    notes.extend(watch.notes().iter().cloned());
    obs.server = Some(s);
    Ok((obs, notes))
}
