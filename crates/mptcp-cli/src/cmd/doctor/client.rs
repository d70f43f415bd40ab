//! `mptcp doctor HOST:PORT`: connect with MPTCP, send a little, watch.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::Context;
use mptcp::diagnose::{self, Client, ClientWatch, ConnStatus, Observations};
use mptcp::{MptcpBuilder, MptcpExt};

use super::{Args, Connection};
use crate::util::usage;

/// Default watch, in seconds.
const WATCH: f64 = 3.0;
/// Shortest watch when every possible subflow is up early: announcements
/// can still arrive just after the first data.
const MIN_WATCH: Duration = Duration::from_millis(300);
/// How often the connection is looked at.
const TICK: Duration = Duration::from_millis(50);

/// What the client side observed.
pub(super) struct Run {
    pub obs: Observations,
    pub connection: Connection,
    pub notes: Vec<String>,
}

/// The default payload: an HTTP HEAD request for `host` (HTTP/1.1 keeps
/// the connection open while the doctor watches it).
fn default_payload(target: &str) -> String {
    let host = target.rsplit_once(':').map(|(h, _)| h).unwrap_or(target);
    format!("HEAD / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mptcp-doctor\r\n\r\n")
}

pub(super) fn run(target: &str, args: &Args) -> anyhow::Result<Run> {
    if !target.contains(':') {
        return Err(usage(format!("{target:?} has no port: use HOST:PORT, e.g. example.net:443")));
    }
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|e| usage(format!("cannot resolve {target:?}: {e} (expected HOST:PORT)")))?
        .collect();
    if addrs.is_empty() {
        return Err(usage(format!("{target:?} resolves to no address")));
    }
    let watch_for = Duration::from_secs_f64(args.watch.unwrap_or(WATCH));
    let payload = match (&args.send, args.no_send) {
        (_, true) => String::new(),
        (Some(s), false) => s.clone(),
        (None, false) => default_payload(target),
    };
    // The host before anything of ours: its event subscribers are others'.
    let mut obs = Observations::default();
    obs.host = diagnose::observe_host(Some(addrs[0].ip()));
    let mut watch = ClientWatch::start();
    let builder = MptcpBuilder::new().connect_timeout(Duration::from_secs_f64(args.timeout));
    // Every address and its error when none answers.
    let (stream, remote) = builder.dial(addrs.as_slice()).map_err(|e| {
        anyhow::Error::new(std::io::Error::from(e))
            .context(format!("cannot connect to {target}, so there is no connection to examine"))
    })?;
    if remote.ip() != addrs[0].ip() {
        // Routes towards the address that answered.
        obs.host.routes = diagnose::observe_host(Some(remote.ip())).routes;
    }
    let mut c = Client::default();
    c.target = target.to_string();
    c.remote = Some(remote);
    c.local = stream.local_addr().ok();
    if !payload.is_empty() {
        (&stream)
            .write_all(payload.as_bytes())
            .with_context(|| format!("sending the payload ({} bytes) to {target}", payload.len()))?;
        c.sent = payload.len() as u64;
    }
    stream.set_read_timeout(Some(TICK))?;
    let start = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if !c.closed_by_server {
            match (&stream).read(&mut buf) {
                Ok(0) => c.closed_by_server = true,
                Ok(n) => c.received += n as u64,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(_) => c.closed_by_server = true,
            }
        } else {
            std::thread::sleep(TICK);
        }
        watch.observe(&stream, &mut c);
        c.acked = acked(&stream, c.sent);
        let elapsed = start.elapsed();
        if elapsed >= watch_for || c.closed_by_server {
            break;
        }
        // A fallback is known at once; so is a connection with every
        // possible subflow up.
        if elapsed >= MIN_WATCH.min(watch_for) && (c.status != ConnStatus::Mptcp || all_up(&obs, &c)) {
            break;
        }
    }
    watch.observe(&stream, &mut c);
    let mut notes = obs.host.notes.clone();
    notes.extend(watch.notes().iter().cloned());
    let connection = Connection {
        remote,
        local: c.local,
        status: c.status,
        payload: payload.clone(),
        sent: c.sent,
        received: c.received,
        acked: c.acked,
        closed_by_server: c.closed_by_server,
        watched_ms: c.watched_ms,
        subflows: c.subflows.clone(),
    };
    obs.client = Some(c);
    Ok(Run { obs, connection, notes })
}

/// Whether the server acknowledged everything sent, at the MPTCP level
/// (`None` where `MPTCP_INFO` says nothing: a fallback, an old kernel).
fn acked(stream: &TcpStream, sent: u64) -> Option<bool> {
    if sent == 0 {
        return None;
    }
    let i = stream.mptcp_info().ok()??;
    Some(i.snd_una? >= i.write_seq?)
}

/// Whether every possible subflow is established (and there is more than
/// one): nothing more to wait for.
fn all_up(host: &Observations, c: &Client) -> bool {
    let mut obs = Observations::default();
    obs.host = host.host.clone();
    obs.client = Some(c.clone());
    diagnose::diagnose(&obs).subflows.is_some_and(|s| s.possible > 1 && s.established >= s.possible)
}
