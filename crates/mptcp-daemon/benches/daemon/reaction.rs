//! Reaction time: from the rtnetlink event to the endpoint's change in the
//! kernel. Two clocks: the daemon's own (event read -> the kernel's answer
//! to its request for this endpoint), and this process's (event read ->
//! a path-manager dump that shows the change). The second is later when
//! the daemon has more to do: the `mptcp_pm` generic netlink family runs
//! one request at a time (genl_mutex), and a dump waiting behind one
//! delete can also wait behind the next (a link with two addresses, two
//! deletes of 5-20 ms each).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mptcp_netns::{Netns, Path};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::{ms, Stats};

type Log<T> = Arc<Mutex<Vec<(Instant, T)>>>;

/// One case's numbers, milliseconds.
#[derive(Debug, serde::Serialize)]
pub struct Case {
    pub name: String,
    /// The daemon's own account: event read to the kernel's answer to its
    /// request for this endpoint (the change is done).
    pub answered_ms: Stats,
    /// Event to endpoint change, as this process sees both.
    pub reaction_ms: Stats,
    /// Times the endpoint changed before this process had read the event
    /// (counted as 0 above).
    pub listener_late: usize,
    /// The daemon's own account: event received to request sent.
    pub daemon_ms: Stats,
    /// The daemon's own account: request to the kernel's answer.
    pub kernel_ms: Stats,
    /// `ip` command to rtnetlink event (the kernel's own delay).
    pub command_to_event_ms: Stats,
    pub target_ms: f64,
}

#[derive(Debug, serde::Serialize)]
pub struct Reaction {
    pub cases: Vec<Case>,
}

/// Records every change the policy looks at, with its time.
fn listen(ns: &Netns, stop: Arc<AtomicBool>, log: Log<String>) -> std::thread::JoinHandle<()> {
    ns.spawn(move || {
        let mut sock = Socket::new(NETLINK_ROUTE).unwrap();
        sock.bind_auto().unwrap();
        for g in [1, 5, 9] {
            sock.add_membership(g).unwrap();
        }
        let mut net = mptcp_daemon::dump_network().unwrap();
        let mut buf = vec![0u8; 65536];
        while !stop.load(Ordering::Relaxed) {
            let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0) == 0 {
                continue;
            }
            let mut slice = &mut buf[..];
            let n = sock.recv(&mut slice, 0).unwrap().min(buf.len());
            let at = Instant::now();
            let mut data = &buf[..n];
            while data.len() >= 16 {
                let Ok(m) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(data) else { break };
                let len = m.header.length as usize;
                if let NetlinkPayload::InnerMessage(msg) = m.payload {
                    if let Some(c) = net.apply(&msg) {
                        log.lock().unwrap().push((at, c.to_string()));
                    }
                }
                data = data.get((len + 3) & !3..).unwrap_or(&[]);
            }
        }
    })
    .unwrap()
}

/// Records each new endpoint set, polling every 0.1 ms.
fn poll_endpoints(ns: &Netns, stop: Arc<AtomicBool>, log: Log<BTreeSet<IpAddr>>) -> std::thread::JoinHandle<()> {
    ns.spawn(move || {
        let mut pm = mptcp::pm::PathManager::new().unwrap();
        let mut last = BTreeSet::new();
        while !stop.load(Ordering::Relaxed) {
            let now: BTreeSet<IpAddr> = pm.endpoints().unwrap().iter().map(|e| e.addr).collect();
            if now != last {
                log.lock().unwrap().push((Instant::now(), now.clone()));
                last = now;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    })
    .unwrap()
}

pub fn run(mptcp: &str, n: usize) -> Reaction {
    let host = Netns::new("rhost").unwrap();
    let peer = Netns::new("rpeer").unwrap();
    let _p0 = Path::new(&host, "10.95.0.1".parse().unwrap(), &peer, "10.95.0.2".parse().unwrap(), 24).unwrap();
    let _p1 = Path::new(&host, "10.96.0.1".parse().unwrap(), &peer, "10.96.0.2".parse().unwrap(), 24).unwrap();
    host.ip(&["route", "add", "default", "via", "10.95.0.2"]).unwrap();
    let dir = std::env::temp_dir().join(format!("mptcp-daemon-bench-{}", std::process::id()));
    let mut daemon = host
        .command(mptcp)
        .args(["daemon", "--runtime-dir", dir.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let events: Log<String> = Arc::default();
    let eps: Log<BTreeSet<IpAddr>> = Arc::default();
    let threads = [listen(&host, stop.clone(), events.clone()), poll_endpoints(&host, stop.clone(), eps.clone())];
    let target: IpAddr = "10.96.0.1".parse().unwrap();
    let extra: IpAddr = "10.96.0.9".parse().unwrap();
    wait(&eps, Instant::now(), |s| s.contains(&target), Duration::from_secs(10)).expect("the daemon's endpoints");
    let _ = host.ip(&["addr", "add", "10.96.0.9/24", "dev", "p1"]);
    std::thread::sleep(Duration::from_millis(300));

    // (name, namespace of the command, command, address, present after,
    // the events that can make the change, target ms)
    type CaseDef<'a> = (&'a str, &'a Netns, &'a str, IpAddr, bool, &'a [&'a str], f64);
    let cases: [CaseDef; 6] = [
        ("link down", &host, "link set p1 down", target, false, &["p1: down"], 20.0),
        ("link up", &host, "link set p1 up", target, true, &["p1: up", "p1: carrier back"], 50.0),
        ("carrier lost", &peer, "link set p1 down", target, false, &["p1: carrier lost"], 20.0),
        ("carrier back", &peer, "link set p1 up", target, true, &["p1: carrier back"], 50.0),
        ("address removed", &host, "addr del 10.96.0.9/24 dev p1", extra, false, &["p1: 10.96.0.9/24 removed"], 20.0),
        ("address added", &host, "addr add 10.96.0.9/24 dev p1", extra, true, &["p1: 10.96.0.9/24 valid"], 50.0),
    ];
    let mut samples: Vec<Samples> = (0..cases.len()).map(|_| Samples::default()).collect();
    for _ in 0..n {
        for (i, (name, ns, cmd, addr, present, event, _)) in cases.iter().enumerate() {
            let t_cmd = Instant::now();
            ns.ip(&cmd.split_whitespace().collect::<Vec<_>>()).unwrap();
            let Some(t_ep) = wait(&eps, t_cmd, |s| s.contains(addr) == *present, Duration::from_secs(5)) else {
                eprintln!("{name}: the endpoint did not change within 5 s");
                continue;
            };
            // The event that made the change: the last matching one before
            // it, or (when the daemon read it before this process did) the
            // first one after it.
            std::thread::sleep(Duration::from_millis(20));
            let ev = {
                let log = events.lock().unwrap();
                let matching = |(t, e): &&(Instant, String)| *t >= t_cmd && event.iter().any(|p| e.starts_with(p));
                let before = log.iter().filter(matching).filter(|(t, _)| *t <= t_ep).map(|(t, _)| *t).next_back();
                before.or_else(|| log.iter().filter(matching).map(|(t, _)| *t).next())
            };
            let sm = &mut samples[i];
            match ev {
                Some(t_ev) if t_ev <= t_ep => sm.reaction.push(ms(t_ep - t_ev)),
                Some(_) => {
                    sm.reaction.push(0.0);
                    sm.late += 1;
                }
                None => eprintln!("{name}: no {event:?} event"),
            }
            if let Some(t_ev) = ev {
                sm.command.push(ms(t_ev.saturating_duration_since(t_cmd)));
            }
            if let Some((d, k)) = daemon_account(mptcp, &dir, *addr, *present) {
                sm.daemon.push(d);
                sm.kernel.push(k);
                sm.answered.push(d + k);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let _ = std::process::Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status();
    let _ = daemon.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let cases: Vec<Case> = cases
        .iter()
        .zip(samples)
        .map(|(c, s)| Case {
            name: c.0.into(),
            answered_ms: Stats::of(&s.answered),
            reaction_ms: Stats::of(&s.reaction),
            listener_late: s.late,
            daemon_ms: Stats::of(&s.daemon),
            kernel_ms: Stats::of(&s.kernel),
            command_to_event_ms: Stats::of(&s.command),
            target_ms: c.6,
        })
        .collect();
    println!(
        "\n### Reaction: rtnetlink event -> endpoint changed in the kernel ({n} times each, ms: median (min-max))\n"
    );
    println!(
        "| event | event -> the kernel's answer (daemon's clock) | target | of which: daemon (event read -> request sent) | kernel (request -> answer) | event -> change seen by another path-manager dump | `ip` command -> event |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for c in &cases {
        println!(
            "| {} | {} | {} ms | {} | {} | {}{} | {} |",
            c.name,
            c.answered_ms.show(2),
            c.target_ms,
            c.daemon_ms.show(2),
            c.kernel_ms.show(2),
            c.reaction_ms.show(2),
            if c.listener_late > 0 {
                format!(" [{}x 0: changed before we read the event]", c.listener_late)
            } else {
                String::new()
            },
            c.command_to_event_ms.show(1)
        );
    }
    Reaction { cases }
}

#[derive(Default)]
struct Samples {
    answered: Vec<f64>,
    reaction: Vec<f64>,
    late: usize,
    daemon: Vec<f64>,
    kernel: Vec<f64>,
    command: Vec<f64>,
}

/// The daemon's own timing of its last add (or delete) of `addr`, from
/// `mptcp daemon status --json`: (event read -> request sent, request ->
/// answer), milliseconds.
fn daemon_account(mptcp: &str, dir: &std::path::Path, addr: IpAddr, added: bool) -> Option<(f64, f64)> {
    let o = std::process::Command::new(mptcp)
        .args(["daemon", "status", "--json", "--runtime-dir", dir.to_str()?])
        .output()
        .ok()?;
    let st: mptcp_daemon::Status = serde_json::from_slice(&o.stdout).ok()?;
    let op = if added { "add" } else { "delete" };
    let a = st.last_actions.iter().rev().find(|a| a.op == op && a.endpoint.contains(&format!(" {addr} ")))?;
    Some((a.after_event_ms - a.ms, a.ms))
}

/// The first time at or after `from` the endpoint set satisfied `f`.
fn wait(
    log: &Log<BTreeSet<IpAddr>>,
    from: Instant,
    f: impl Fn(&BTreeSet<IpAddr>) -> bool,
    limit: Duration,
) -> Option<Instant> {
    let end = Instant::now() + limit;
    loop {
        {
            let l = log.lock().unwrap();
            // The state at `from` counts too (last entry before it).
            if let Some((t, s)) = l.iter().rev().find(|(t, _)| *t <= from) {
                if f(s) && l.iter().all(|(t2, _)| *t2 <= from) {
                    return Some(*t.max(&from));
                }
            }
            if let Some((t, _)) = l.iter().find(|(t, s)| *t > from && f(s)) {
                return Some(*t);
            }
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
