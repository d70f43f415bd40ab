//! Filling the observations on this host: the host itself, a connection
//! this host opened, and what a listener saw. Each source that cannot be
//! read leaves its field empty and a note, never an error: the reasoning
//! says what it could not see.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::observe::{Client, ConnStatus, Endpoint, Event, Host, Info, Manager, RouteCheck, Server, Subflow};
use super::rtnl::{self, RouteQuery};
use crate::counters::MptcpCounters;
use crate::MptcpExt;

/// Where a route lookup goes when there is no server to look towards:
/// TEST-NET-2 (RFC 5737), which only a default route reaches. Nothing is
/// sent to it: a route lookup stays in the kernel.
pub const ANYWHERE_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The IPv6 stand-in: the documentation prefix (RFC 3849).
pub const ANYWHERE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// `TcpExt` counters the reasoning reads.
const TCP_COUNTERS: [&str; 1] = ["IPReversePathFilter"];

/// Observes the calling thread's network namespace: MPTCP's availability,
/// the sysctls, the path manager's limits and endpoints, the interfaces,
/// the route each endpoint's subflows would take towards `server` (or,
/// without one, towards [`ANYWHERE_V4`]/[`ANYWHERE_V6`] where a default
/// route exists), reverse-path filtering, the programs managing
/// endpoints, the subscribers of the path manager's events and the
/// `MPTcpExt` counters.
///
/// Reading needs no privilege, except the network namespaces of other
/// users' processes (to find endpoint managers), which needs root.
///
/// # Examples
///
/// ```no_run
/// use mptcp::diagnose::{diagnose, observe_host, Observations};
///
/// let mut obs = Observations::default();
/// obs.host = observe_host(Some("10.0.1.2".parse().unwrap()));
/// println!("{}", diagnose(&obs).verdict);
/// ```
pub fn observe_host(server: Option<IpAddr>) -> Host {
    let mut h = Host {
        availability: crate::HostSupport::probe().availability.into(),
        sysctls: crate::sysctls().into_iter().collect(),
        ..Host::default()
    };
    // Subscribers first: the caller's own listener comes after.
    let group = crate::pm::events_group();
    match crate::pm::PathManager::new() {
        Ok(mut pm) => {
            h.pm_family = true;
            match pm.limits() {
                Ok(l) => h.limits = Some(l),
                Err(e) => h.notes.push(format!("path manager limits: {e}")),
            }
            match pm.endpoints() {
                Ok(eps) => h.endpoints = Some(eps.iter().map(endpoint).collect()),
                Err(e) => h.notes.push(format!("path manager endpoints: {e}")),
            }
        }
        Err(crate::pm::Error::FamilyNotFound { .. }) => {}
        Err(e) => {
            h.pm_family = true;
            h.notes.push(format!("path manager: {e}"));
        }
    }
    match group {
        Ok(Some(g)) => match event_listeners(g) {
            Ok(n) => h.event_listeners = Some(n),
            Err(e) => h.notes.push(format!("netlink subscribers (/proc/net/netlink): {e}")),
        },
        Ok(None) => h.notes.push("the path manager has no events group".into()),
        Err(_) => {}
    }
    match rtnl::interfaces() {
        Ok(mut ifs) => {
            for i in &mut ifs {
                i.rp_filter = read_u8(&format!("/proc/sys/net/ipv4/conf/{}/rp_filter", i.name));
            }
            h.interfaces = ifs;
        }
        Err(e) => h.notes.push(format!("interfaces (rtnetlink): {e}")),
    }
    h.rp_filter_all = read_u8("/proc/sys/net/ipv4/conf/all/rp_filter");
    if let Some(eps) = &h.endpoints {
        h.routes = route_checks(eps, server, &mut h.notes);
    }
    h.managers = managers(&mut h.notes);
    match MptcpCounters::read() {
        Ok(c) => h.counters = c.iter().filter(|(_, v)| *v > 0).map(|(k, v)| (k.to_string(), v)).collect(),
        Err(e) => h.notes.push(format!("MPTcpExt counters: {e}")),
    }
    h
}

fn endpoint(e: &crate::pm::Endpoint) -> Endpoint {
    Endpoint {
        id: e.id,
        addr: e.addr,
        port: e.port,
        flags: e.flags.names().into_iter().map(str::to_string).collect(),
        ifindex: e.ifindex,
    }
}

fn read_u8(path: &str) -> Option<u8> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The lookups a subflow from each endpoint would make.
fn route_checks(eps: &[Endpoint], server: Option<IpAddr>, notes: &mut Vec<String>) -> Vec<RouteCheck> {
    let mut out = Vec::new();
    for ep in eps.iter().filter(|e| e.has("subflow")) {
        let dst = match server {
            Some(s) if s.is_ipv4() == ep.addr.is_ipv4() => s,
            Some(_) => continue,
            None => {
                let any = if ep.addr.is_ipv4() { IpAddr::V4(ANYWHERE_V4) } else { IpAddr::V6(ANYWHERE_V6) };
                // Without a default route, "anywhere" is nowhere for every
                // source alike: nothing to learn about this endpoint.
                match rtnl::route_get(&RouteQuery::to(any)) {
                    Ok(a) if a.reaches() => any,
                    _ => continue,
                }
            }
        };
        let mut q = RouteQuery::to(dst).from(ep.addr);
        if let Some(i) = ep.ifindex {
            q = q.oif(i);
        }
        let answer = match rtnl::route_get(&q) {
            Ok(a) => a,
            Err(e) => {
                notes.push(format!("route lookup from {} to {dst}: {e}", ep.addr));
                continue;
            }
        };
        let unbound =
            if ep.ifindex.is_some() { rtnl::route_get(&RouteQuery::to(dst).from(ep.addr)).ok() } else { None };
        out.push(RouteCheck { endpoint: ep.id, src: ep.addr, dst, dev: ep.ifindex, answer, unbound });
    }
    out
}

/// The network namespace of the calling thread, as `/proc` links name it.
fn own_netns() -> Option<std::path::PathBuf> {
    std::fs::read_link("/proc/thread-self/ns/net").ok()
}

/// Programs that manage endpoints, running in this network namespace.
fn managers(notes: &mut Vec<String>) -> Vec<Manager> {
    let Some(own) = own_netns() else {
        notes.push("cannot read /proc/thread-self/ns/net: endpoint managers not looked for".into());
        return Vec::new();
    };
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut out = Vec::new();
    let mut unreadable = 0;
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let Some(name) = manager_name(&args) else { continue };
        match std::fs::read_link(format!("/proc/{pid}/ns/net")) {
            Ok(ns) if ns == own => out.push(Manager::new(pid, name)),
            Ok(_) => {}
            Err(_) => unreadable += 1,
        }
    }
    if unreadable > 0 {
        notes.push(format!(
            "{unreadable} endpoint manager process(es) whose network namespace could not be read (run as root)"
        ));
    }
    out.sort_by_key(|m| m.pid);
    out
}

/// Which endpoint manager a command line is, if any.
fn manager_name(args: &[String]) -> Option<&'static str> {
    let prog = args.first()?.rsplit('/').next()?;
    match prog {
        "mptcpd" => Some("mptcpd"),
        "NetworkManager" => Some("NetworkManager"),
        "mptcp" if args.get(1).map(String::as_str) == Some("daemon") => {
            // `mptcp daemon status|check|example-config` only ask.
            let asks = args.iter().skip(2).any(|a| matches!(a.as_str(), "status" | "check" | "example-config"));
            (!asks).then_some("mptcp daemon")
        }
        _ => None,
    }
}

/// Netlink sockets of this namespace subscribed to generic netlink group
/// `group` (`/proc/net/netlink`: the `Groups` column holds the first 32
/// groups, group `g` as bit `g - 1`).
fn event_listeners(group: u32) -> std::io::Result<u32> {
    let text = std::fs::read_to_string("/proc/thread-self/net/netlink")?;
    Ok(count_subscribers(&text, group))
}

fn count_subscribers(text: &str, group: u32) -> u32 {
    if group == 0 || group > 32 {
        return 0;
    }
    let bit = 1u32 << (group - 1);
    text.lines()
        .skip(1)
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.get(1) == Some(&"16")
                && cols.get(3).and_then(|g| u32::from_str_radix(g, 16).ok()).is_some_and(|g| g & bit != 0)
        })
        .count() as u32
}

/// `TcpExt` values named in [`TCP_COUNTERS`].
fn tcp_counters() -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(crate::counters::NETSTAT_PATH).unwrap_or_default();
    parse_tcpext(&text)
}

fn parse_tcpext(text: &str) -> BTreeMap<String, u64> {
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else { return BTreeMap::new() };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .skip(1)
        .filter(|(n, _)| TCP_COUNTERS.contains(n))
        .filter_map(|(n, v)| Some((n.to_string(), v.parse().ok()?)))
        .collect()
}

fn delta(now: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    now.iter().map(|(k, v)| (k.clone(), v.saturating_sub(before.get(k).copied().unwrap_or(0)))).collect()
}

/// Path manager events received on a thread, while a watch lasts.
#[derive(Debug)]
struct EventFeed {
    rx: mpsc::Receiver<(Instant, crate::pm::Event)>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EventFeed {
    /// Subscribes in the calling thread's namespace (needs `CAP_NET_ADMIN`).
    fn start() -> crate::pm::Result<EventFeed> {
        let mut listener = crate::pm::EventListener::new()?;
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("mptcp-diagnose-events".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match listener.recv_timeout(Duration::from_millis(50)) {
                        Ok(Some(e)) => {
                            if tx.send((Instant::now(), e)).is_err() {
                                return;
                            }
                        }
                        Ok(None) => {}
                        Err(_) => return,
                    }
                }
            })
            .map_err(crate::pm::Error::Io)?;
        Ok(EventFeed { rx, stop, thread: Some(thread) })
    }

    fn drain(&self, into: &mut Vec<(Instant, crate::pm::Event)>) {
        into.extend(self.rx.try_iter());
    }
}

impl Drop for EventFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What both watches record before the attempt.
#[derive(Debug)]
struct Baseline {
    started: Instant,
    events: Option<EventFeed>,
    seen: Vec<(Instant, crate::pm::Event)>,
    counters: Option<MptcpCounters>,
    tcp: BTreeMap<String, u64>,
    /// MPTCP connections established in the namespace before the attempt.
    estab_before: u64,
    notes: Vec<String>,
}

impl Baseline {
    fn start() -> Baseline {
        let mut notes = Vec::new();
        // Subscribe before reading the counters: no event of the attempt is missed.
        let events = match EventFeed::start() {
            Ok(f) => Some(f),
            Err(e) => {
                notes.push(format!("path manager events: {e}"));
                None
            }
        };
        let counters = match MptcpCounters::read() {
            Ok(c) => Some(c),
            Err(e) => {
                notes.push(format!("MPTcpExt counters: {e}"));
                None
            }
        };
        let estab_before = counters.as_ref().and_then(|c| c.curr_estab()).unwrap_or(0);
        Baseline {
            started: Instant::now(),
            events,
            seen: Vec::new(),
            counters,
            tcp: tcp_counters(),
            estab_before,
            notes,
        }
    }

    fn at_ms(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.started).as_millis() as u64
    }

    fn drain(&mut self) {
        if let Some(f) = &self.events {
            f.drain(&mut self.seen);
        }
    }

    /// The counters that rose since the start, or `None` when they could
    /// not be read.
    fn counters(&self) -> Option<BTreeMap<String, u64>> {
        match (&self.counters, MptcpCounters::read()) {
            (Some(before), Ok(now)) => Some(
                now.since(before)
                    .iter()
                    .filter(|(k, v)| *k != MptcpCounters::CURR_ESTAB && *v > 0)
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// Watches a connection this host opens: start it before connecting (it
/// subscribes to the path manager's events and reads the counters), then
/// [`observe`](ClientWatch::observe) the connection as often as wanted;
/// each call fills a [`Client`] with what was seen so far.
///
/// Everything happens in the calling thread's network namespace, which
/// must be the connection's.
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
/// use std::net::TcpStream;
/// use mptcp::diagnose::{diagnose, observe_host, Client, ClientWatch, Observations};
/// use mptcp::MptcpStreamExt;
///
/// let mut obs = Observations::default();
/// obs.host = observe_host(Some("10.0.1.2".parse().unwrap()));
/// let mut watch = ClientWatch::start();
/// let mut stream = TcpStream::connect_mptcp("10.0.1.2:8080")?;
/// stream.write_all(b"hello")?;
/// std::thread::sleep(std::time::Duration::from_secs(2));
/// let mut client = Client::default();
/// client.target = "10.0.1.2:8080".into();
/// client.sent = 5;
/// watch.observe(&stream, &mut client);
/// obs.client = Some(client);
/// println!("{}", diagnose(&obs).verdict);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ClientWatch {
    base: Baseline,
}

impl ClientWatch {
    /// Subscribes to the path manager's events (needs `CAP_NET_ADMIN`;
    /// without it the watch goes on without events) and reads the counters.
    pub fn start() -> ClientWatch {
        ClientWatch { base: Baseline::start() }
    }

    /// What could not be watched, one sentence each.
    pub fn notes(&self) -> &[String] {
        &self.base.notes
    }

    /// Fills `c` from `conn` and what the watch saw so far: status,
    /// `mptcp_info`, subflows, the events of its token, the counters'
    /// increase, and how long it has watched. `target`, `sent`,
    /// `received`, `acked` and `closed_by_server` are the caller's.
    pub fn observe<S: MptcpExt>(&mut self, conn: &S, c: &mut Client) {
        if let Ok(s) = conn.mptcp_status() {
            c.status = ConnStatus::from(s);
        }
        if let Ok(Some(i)) = conn.mptcp_info() {
            c.info = Some(Info::from(&i));
        }
        if c.status != ConnStatus::Mptcp {
            c.info = None;
        }
        if let Ok(sfs) = conn.subflows() {
            c.subflows = sfs
                .iter()
                .map(|s| Subflow {
                    id: s.id,
                    local: s.local,
                    remote: s.remote,
                    state: s.tcp.state_name().unwrap_or("UNKNOWN").to_string(),
                })
                .collect();
        }
        self.base.drain();
        let token = c.info.and_then(|i| i.token);
        c.events_seen = self.base.events.is_some();
        c.events = self
            .base
            .seen
            .iter()
            .filter(|(_, e)| token.is_some() && e.token == token)
            .map(|(t, e)| Event::from_pm(e, self.base.at_ms(*t)))
            .collect();
        let others = self.base.seen.iter().any(|(_, e)| e.token.is_some() && e.token != token);
        c.other_activity = self.base.estab_before > 0 || others;
        let counters = self.base.counters();
        c.counters_read = counters.is_some();
        c.counters = counters.unwrap_or_default();
        c.tcp_counters = delta(&tcp_counters(), &self.base.tcp);
        if let Ok(n) = rtnl::neighbours() {
            c.neighbours = n;
        }
        c.watched_ms = self.base.at_ms(Instant::now());
    }
}

/// Watches what a listener sees: start it before listening, then
/// [`observe`](ServerWatch::observe) to fill a [`Server`] with the
/// events of server-side connections and the counters' increase. The
/// accepted connections are the caller's to add.
///
/// # Examples
///
/// ```no_run
/// use mptcp::diagnose::{diagnose, observe_host, Observations, Server, ServerWatch};
///
/// let mut watch = ServerWatch::start();
/// // ... accept connections on port 8080 for a while ...
/// let mut server = Server::default();
/// server.port = 8080;
/// watch.observe(&mut server);
/// let mut obs = Observations::default();
/// obs.host = observe_host(None);
/// obs.server = Some(server);
/// println!("{}", diagnose(&obs).verdict);
/// ```
#[derive(Debug)]
pub struct ServerWatch {
    base: Baseline,
}

impl ServerWatch {
    /// Subscribes to the path manager's events and reads the counters.
    pub fn start() -> ServerWatch {
        ServerWatch { base: Baseline::start() }
    }

    /// What could not be watched, one sentence each.
    pub fn notes(&self) -> &[String] {
        &self.base.notes
    }

    /// Fills `s` with the events of server-side connections, the
    /// counters' increase and how long it has watched.
    pub fn observe(&mut self, s: &mut Server) {
        self.base.drain();
        s.events_seen = self.base.events.is_some();
        let server_tokens: std::collections::BTreeSet<u32> =
            self.base.seen.iter().filter(|(_, e)| e.is_server_side()).filter_map(|(_, e)| e.token).collect();
        s.events = self
            .base
            .seen
            .iter()
            .filter(|(_, e)| e.token.is_some_and(|t| server_tokens.contains(&t)))
            .map(|(t, e)| Event::from_pm(e, self.base.at_ms(*t)))
            .collect();
        s.other_activity = self.base.estab_before > 0;
        let counters = self.base.counters();
        s.counters_read = counters.is_some();
        s.counters = counters.unwrap_or_default();
        s.watched_ms = self.base.at_ms(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_of_the_events_group_are_counted() {
        // Two lines of /proc/net/netlink as ip mptcp monitor and mptcpd
        // leave them (group 9: bit 8), one rtnetlink socket.
        let text = "sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode\n\
                    00000000673af186 16  0          00000000 0        0        0     2        0        44755\n\
                    0000000010d5d7b1 16  2662       00000100 0        0        0     2        0        45147\n\
                    00000000d8af3e3c 16  3703       00008100 0        0        0     2        0        47144\n\
                    00000000d8af3e3d 0   3704       00000100 0        0        0     2        0        47145\n";
        assert_eq!(count_subscribers(text, 9), 2);
        assert_eq!(count_subscribers(text, 1), 0);
        assert_eq!(count_subscribers(text, 40), 0, "groups above 32 are not in the column");
    }

    #[test]
    fn managers_by_command_line() {
        let args = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(manager_name(&args("/usr/libexec/mptcpd --log=journal")), Some("mptcpd"));
        assert_eq!(manager_name(&args("/usr/sbin/NetworkManager --no-daemon")), Some("NetworkManager"));
        assert_eq!(manager_name(&args("/usr/bin/mptcp daemon --config /etc/mptcp/daemon.toml")), Some("mptcp daemon"));
        assert_eq!(manager_name(&args("mptcp daemon status --json")), None);
        assert_eq!(manager_name(&args("mptcp doctor")), None);
        assert_eq!(manager_name(&args("/bin/mptcpd-helper")), None);
    }

    #[test]
    fn tcpext_values_by_name() {
        let text = "TcpExt: SyncookiesSent IPReversePathFilter\nTcpExt: 0 3\nIpExt: InNoRoutes\nIpExt: 1\n";
        assert_eq!(parse_tcpext(text).get("IPReversePathFilter"), Some(&3));
        assert!(parse_tcpext("IpExt: A\nIpExt: 1\n").is_empty());
    }
}
