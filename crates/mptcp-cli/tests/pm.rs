//! Tests of `mptcp endpoint`, `mptcp limits`, `mptcp monitor`, `mptcp conns`
//! and `mptcp pm` (issue 4), each checked against the kernel's own view
//! (`ip -j mptcp endpoint show`, `ip mptcp limits show`, `ss -M`).
//!
//! Namespace tests need root: they are `#[ignore]`d, so a plain `cargo test`
//! counts them as ignored; run them with `-- --include-ignored` as root
//! (scripts/test.sh does) and the apt packages iproute2 (`ip`, `ss`) and
//! util-linux (`setpriv`, for the capability-dropped run).
//! Addresses: 10.66.0.0/16, only inside namespaces created here.
//!
//! ```text
//! cargo test -p mptcp-cli --test pm -- --include-ignored
//! ```

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

use mptcp::{MptcpListenerExt, MptcpStreamExt};
use mptcp_netns::{Netns, Path};
use serde_json::Value;

const MPTCP: &str = env!("CARGO_BIN_EXE_mptcp");

/// Runs `mptcp ARGS...` inside `ns`.
fn mptcp(ns: &Netns, args: &[&str]) -> Output {
    ns.command(MPTCP).args(args).stdin(Stdio::null()).output().expect("run mptcp")
}

/// Runs `mptcp ARGS...` inside `ns` and insists on success.
fn mptcp_ok(ns: &Netns, args: &[&str]) -> String {
    let o = mptcp(ns, args);
    assert!(o.status.success(), "mptcp {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `mptcp ARGS...`, expects exit status `code` and `needle` on stderr.
fn mptcp_fails(ns: &Netns, args: &[&str], code: i32, needle: &str) {
    let o = mptcp(ns, args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "mptcp {args:?}: stderr {err}");
    assert!(err.contains(needle), "mptcp {args:?}: expected `{needle}` in: {err}");
}

/// `ip -j mptcp endpoint show`, sorted by id.
fn ip_endpoints(ns: &Netns) -> Value {
    let o = ns.run(&["ip", "-j", "mptcp", "endpoint", "show"]).unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let mut v: Vec<Value> = if text.trim().is_empty() { vec![] } else { serde_json::from_str(&text).unwrap() };
    v.sort_by_key(|e| e["id"].as_u64());
    Value::Array(v)
}

/// `mptcp endpoint list --json`, which must equal the kernel's view.
fn assert_endpoints_agree(ns: &Netns, expected_ids: &[u64]) {
    let ours: Value = serde_json::from_str(&mptcp_ok(ns, &["endpoint", "list", "--json"])).unwrap();
    let theirs = ip_endpoints(ns);
    assert_eq!(ours, theirs, "mptcp endpoint list vs ip -j mptcp endpoint show");
    let ids: Vec<u64> = theirs.as_array().unwrap().iter().filter_map(|e| e["id"].as_u64()).collect();
    assert_eq!(ids, expected_ids);
}

/// `(add_addr_accepted, subflows)` from `ip mptcp limits show`.
fn ip_limits(ns: &Netns) -> (u64, u64) {
    let o = ns.run(&["ip", "mptcp", "limits", "show"]).unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let words: Vec<&str> = text.split_whitespace().collect();
    let get = |k: &str| {
        words.iter().position(|w| *w == k).and_then(|i| words.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    (get("add_addr_accepted"), get("subflows"))
}

fn assert_limits_agree(ns: &Netns, expected: (u64, u64)) {
    let ours: Value = serde_json::from_str(&mptcp_ok(ns, &["limits", "--json"])).unwrap();
    assert_eq!((ours["add_addr_accepted"].as_u64().unwrap(), ours["subflows"].as_u64().unwrap()), ip_limits(ns));
    assert_eq!(ip_limits(ns), expected);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn endpoints_and_limits_match_ip_mptcp() {
    mptcp_netns::require_root();
    let a = Netns::new("epa").unwrap();
    let b = Netns::new("epb").unwrap();
    let p = Path::new(&a, "10.66.1.1".parse().unwrap(), &b, "10.66.1.2".parse().unwrap(), 24).unwrap();
    a.ip(&["addr", "add", "10.66.1.3/24", "dev", &p.a_dev]).unwrap();
    assert_endpoints_agree(&a, &[]);

    mptcp_ok(&a, &["endpoint", "add", "10.66.1.1", "dev", &p.a_dev, "subflow"]);
    assert_endpoints_agree(&a, &[1]);
    mptcp_ok(&a, &["endpoint", "add", "10.66.9.9", "id", "7", "signal", "backup"]);
    assert_endpoints_agree(&a, &[1, 7]);
    mptcp_ok(&a, &["endpoint", "add", "10.66.1.3", "port", "12345", "signal"]);
    mptcp_ok(&a, &["endpoint", "add", "fd66::1", "id", "9", "subflow", "fullmesh"]);
    assert_endpoints_agree(&a, &[1, 7, 8, 9]);
    let shown = mptcp_ok(&a, &["endpoint", "show", "id", "8"]);
    assert_eq!(shown.trim(), "10.66.1.3 port 12345 id 8 signal");
    // A duplicate is the kernel's refusal: exit 1, nothing changed.
    mptcp_fails(&a, &["endpoint", "add", "10.66.1.1", "subflow"], 1, "add endpoint");
    assert_endpoints_agree(&a, &[1, 7, 8, 9]);

    // Flag changes keep the flags not named (ip replaces both).
    mptcp_ok(&a, &["endpoint", "set", "id", "1", "backup"]);
    mptcp_ok(&a, &["endpoint", "change", "10.66.1.1", "fullmesh"]);
    assert_endpoints_agree(&a, &[1, 7, 8, 9]);
    let e1 = &ip_endpoints(&a)[0];
    assert_eq!((e1["backup"].as_bool(), e1["fullmesh"].as_bool()), (Some(true), Some(true)), "{e1}");
    mptcp_ok(&a, &["endpoint", "set", "id", "1", "nobackup"]);
    let e1 = &ip_endpoints(&a)[0];
    assert_eq!((e1.get("backup"), e1["fullmesh"].as_bool()), (None, Some(true)), "{e1}");

    mptcp_ok(&a, &["endpoint", "del", "id", "7"]);
    assert_endpoints_agree(&a, &[1, 8, 9]);
    mptcp_ok(&a, &["endpoint", "delete", "fd66::1"]);
    assert_endpoints_agree(&a, &[1, 8]);
    mptcp_fails(&a, &["endpoint", "del", "id", "77"], 1, "no endpoint with id 77");

    // Bad input: exit 2, named, nothing sent.
    mptcp_fails(&a, &["endpoint", "add", "10.66.1.300", "subflow"], 2, "invalid address `10.66.1.300`");
    mptcp_fails(
        &a,
        &["endpoint", "add", "10.66.1.5", "dev", "nosuchdev0", "subflow"],
        2,
        "unknown interface `nosuchdev0`",
    );
    mptcp_fails(&a, &["endpoint", "add", "10.66.1.5", "id", "256"], 2, "id 256 out of range");
    mptcp_fails(&a, &["endpoint", "add", "10.66.1.5", "port", "80", "subflow"], 2, "signal");
    mptcp_fails(&a, &["limits", "set", "subflows", "9"], 2, "above the kernel's maximum of 8");
    mptcp_fails(&a, &["limits", "set", "add_addr_accepted", "-1"], 2, "invalid add_addr_accepted");
    assert_endpoints_agree(&a, &[1, 8]);

    // Limits.
    assert_limits_agree(&a, (0, 2));
    mptcp_ok(&a, &["limits", "set", "subflows", "3", "add_addr_accepted", "5"]);
    assert_limits_agree(&a, (5, 3));
    mptcp_ok(&a, &["limits", "set", "subflows", "8"]);
    assert_limits_agree(&a, (5, 8));
    let text = mptcp_ok(&a, &["limits"]);
    assert_eq!(text.trim(), "add_addr_accepted 5 subflows 8");

    // Without CAP_NET_ADMIN: the clear permission error, nothing changed.
    let dropped = |args: &[&str]| {
        let mut v = vec!["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", MPTCP];
        v.extend_from_slice(args);
        a.run_status(&v).unwrap()
    };
    for args in [
        &["endpoint", "add", "10.66.1.7", "subflow"][..],
        &["limits", "set", "subflows", "1"],
        &["endpoint", "flush"],
        &["monitor"],
    ] {
        let o = dropped(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("needs CAP_NET_ADMIN in this network namespace"), "{args:?}: {err}");
    }
    // Reading needs no capability.
    assert!(dropped(&["endpoint", "list"]).status.success());
    assert_limits_agree(&a, (5, 8));

    mptcp_ok(&a, &["endpoint", "flush"]);
    assert_endpoints_agree(&a, &[]);
}

/// Two namespaces joined by two paths; the server listens on path 1.
struct TwoPaths {
    client: Netns,
    server: Netns,
    p1: Path,
    p2: Path,
}

fn two_paths(tag: &str, net: u8) -> TwoPaths {
    let client = Netns::new(&format!("{tag}c")).unwrap();
    let server = Netns::new(&format!("{tag}s")).unwrap();
    let p1 = Path::new(
        &client,
        format!("10.66.{net}.1").parse().unwrap(),
        &server,
        format!("10.66.{net}.2").parse().unwrap(),
        24,
    )
    .unwrap();
    let n2 = net + 1;
    let p2 = Path::new(
        &client,
        format!("10.66.{n2}.1").parse().unwrap(),
        &server,
        format!("10.66.{n2}.2").parse().unwrap(),
        24,
    )
    .unwrap();
    TwoPaths { client, server, p1, p2 }
}

/// A server thread: accepts one connection, echoes until EOF.
fn echo_server(ns: &Netns, addr: &str) -> std::thread::JoinHandle<()> {
    let listener = ns.in_ns(|| TcpListener::bind_mptcp(addr)).unwrap().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    })
}

/// Connects from `ns` and moves 256 KiB both ways (the kernel PM adds
/// subflows once the first data is acknowledged).
fn connect_and_exchange(ns: &Netns, addr: &str) -> TcpStream {
    let mut s = ns.in_ns(|| TcpStream::connect_mptcp(addr)).unwrap().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let data = vec![7u8; 256 * 1024];
    let mut reader = s.try_clone().unwrap();
    let rd = std::thread::spawn(move || {
        let mut got = vec![0u8; 256 * 1024];
        reader.read_exact(&mut got).map(|_| got)
    });
    s.write_all(&data).unwrap();
    assert_eq!(rd.join().unwrap().unwrap(), data);
    s
}

/// `mptcp conns --json --port P` in `ns`.
fn conns(ns: &Netns, port: u16) -> Vec<Value> {
    let out = mptcp_ok(ns, &["conns", "--json", "--port", &port.to_string()]);
    serde_json::from_str::<Vec<Value>>(&out).unwrap()
}

/// Waits (bounded) until the only connection on `port` has `n` subflows.
fn wait_subflows(ns: &Netns, port: u16, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = conns(ns, port);
        if c.len() == 1 && c[0]["subflows"].as_array().map(|s| s.len()) == Some(n) {
            return c[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no connection with {n} subflows on port {port}: {c:?}\nthe namespace's MPTCP counters:\n{}",
            mptcp_counters(ns)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The namespace's non-zero MPTcpExt counters (`nstat -as`), to tell a
/// join never sent from one unanswered or refused when a wait fails.
fn mptcp_counters(ns: &Netns) -> String {
    match ns.run(&["nstat", "-as"]) {
        Ok(o) => {
            String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with("MPTcp")).collect::<Vec<_>>().join("\n")
        }
        Err(e) => format!("(nstat failed: {e})"),
    }
}

/// `mptcp monitor --json` running in `ns`, its lines sent to a channel.
struct Monitor {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Monitor {
    fn start(ns: &Netns) -> Monitor {
        let mut child = ns
            .command(MPTCP)
            .args(["monitor", "--json", "--timeout", "30"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Subscribed once it says so on stderr.
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let (rtx, rrx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = err.read_line(&mut line);
            let _ = rtx.send(line);
        });
        let ready = rrx.recv_timeout(Duration::from_secs(5)).expect("monitor did not start");
        assert!(ready.contains("monitoring"), "monitor: {ready}");
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&l) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        Monitor { child, lines }
    }

    /// Collects events until one of `kind` for `token` arrives (bounded).
    fn until(&self, seen: &mut Vec<Value>, kind: &str, token: Option<u64>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let hit = |v: &Value| v["type"] == kind && (token.is_none() || v["token"].as_u64() == token);
        while !seen.iter().any(hit) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => seen.push(v),
                Err(_) => panic!("no `{kind}` event for token {token:?}; got {seen:#?}"),
            }
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens and closes `n` MPTCP connections to `listener` from its namespace
/// `ns`, accepting each: a few path manager events per connection
/// (`created` on both ends, ...).
fn churn(ns: &Netns, listener: &TcpListener, n: usize) {
    let addr = listener.local_addr().unwrap();
    ns.in_ns(|| {
        for _ in 0..n {
            let c = TcpStream::connect_mptcp(addr).expect("connect");
            let (s, _) = listener.accept().expect("accept");
            drop((c, s));
        }
    })
    .unwrap();
}

/// The messages the kernel dropped for the generic netlink socket of
/// process `pid` in `ns` (`Drops` in /proc/net/netlink: an independent
/// count of what overflowed its receive buffer); `None` when it has none.
fn netlink_drops(ns: &Netns, pid: u32) -> Option<u64> {
    let o = ns.run(&["cat", "/proc/net/netlink"]).unwrap();
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    let pid = pid.to_string();
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find_map(|f| (f.len() >= 10 && f[1] == "16" && f[2] == pid).then(|| f[8].parse().expect("Drops column")))
}

/// A child process killed (and reaped) on drop, also when the test panics.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mptcp monitor` (text or `--json`) with a small receive buffer whose
/// reader stops reading while connections come and go: once the kernel
/// has dropped events for its socket (its own count, /proc/net/netlink),
/// the monitor says so in its output (`lost`, overflows counted 1, 2, ...,
/// never more than the kernel dropped), and events made after that still
/// come, the monitor still running.
fn monitor_with_a_slow_reader(json: bool) {
    let ns = Netns::new("mlost").unwrap();
    let listener = ns.in_ns(|| TcpListener::bind_mptcp("127.0.0.1:0")).unwrap().unwrap();
    let marker = ns.in_ns(|| TcpListener::bind_mptcp("127.0.0.1:0")).unwrap().unwrap();
    let marker_port = marker.local_addr().unwrap().port();
    let mut args = vec!["monitor", "--rcvbuf", "4K"];
    if json {
        args.push("--json");
    }
    let mut child = KillOnDrop(
        ns.command(MPTCP)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let err = BufReader::new(child.0.stderr.take().unwrap());
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (rtx, rrx) = mpsc::channel();
    let copy = stderr.clone();
    std::thread::spawn(move || {
        for l in err.lines().map_while(Result::ok) {
            let _ = rtx.send(l.clone());
            copy.lock().unwrap().push_str(&(l + "\n"));
        }
    });
    let ready = rrx.recv_timeout(Duration::from_secs(5)).expect("monitor did not start");
    assert!(ready.contains("monitoring"), "monitor: {ready}");
    // Why the monitor stopped talking, for a failure message.
    let ended = |child: &mut KillOnDrop| {
        let status = common::wait_timeout(&mut child.0, Duration::from_secs(1));
        format!("monitor exit status {status:?} (None: still running), stderr: {}", stderr.lock().unwrap())
    };

    // Nobody reads its stdout: once the pipe is full the monitor blocks in
    // write and the kernel drops what does not fit its socket.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut made = 0;
    while netlink_drops(&ns, pid).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the kernel dropped no event after {made} connections");
        if child.0.try_wait().unwrap().is_some() {
            panic!("monitor ended while its reader was slow: {}", ended(&mut child));
        }
        churn(&ns, &listener, 50);
        made += 50;
    }

    // Now read: a `lost` line, then the events made after it.
    let out = BufReader::new(child.0.stdout.take().unwrap());
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let next = |what: &str, child: &mut KillOnDrop| match lines.recv_timeout(Duration::from_secs(20)) {
        Ok(l) => l,
        Err(_) => panic!("no line from the monitor while waiting for {what}: {}", ended(child)),
    };
    let lost = |l: &str| -> Option<u64> {
        if json {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            (v["type"] == "lost").then(|| {
                assert_eq!(v.as_object().map(|o| o.len()), Some(2), "{l}");
                v["overflows"].as_u64().unwrap_or_else(|| panic!("overflows: {l}"))
            })
        } else {
            let n = l.strip_prefix("lost events (receive buffer overflowed ")?;
            let n = n.strip_suffix(" time)").or_else(|| n.strip_suffix(" times)")).unwrap_or_else(|| panic!("{l}"));
            Some(n.parse().unwrap_or_else(|_| panic!("{l}")))
        }
    };
    // Events may come before it (those written before the pipe filled);
    // none may, where the monitor was too slow to read even the first
    // ones before the kernel dropped some (seen under qemu's emulation).
    let mut overflows = vec![];
    while overflows.is_empty() {
        let l = next("a `lost` line", &mut child);
        overflows.extend(lost(&l));
    }
    churn(&ns, &marker, 1);
    let port = marker_port.to_string();
    let is_marker = |l: &str| {
        if json {
            let v: Value = serde_json::from_str(l).unwrap();
            v["sport"].as_u64() == Some(marker_port.into()) || v["dport"].as_u64() == Some(marker_port.into())
        } else {
            l.split_whitespace().any(|w| w == format!("sport={port}") || w == format!("dport={port}"))
        }
    };
    // The marker's own events can be lost too, while the monitor still
    // works through what queued before it (another `lost` line then): a
    // new marker connection each time the monitor falls quiet.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match lines.recv_timeout(Duration::from_secs(1)) {
            Ok(l) => {
                if let Some(n) = lost(&l) {
                    overflows.push(n);
                } else if is_marker(&l) {
                    break;
                }
            }
            Err(_) => {
                assert!(
                    Instant::now() < deadline,
                    "no event of the connections made after the overflow: {}",
                    ended(&mut child)
                );
                churn(&ns, &marker, 1);
            }
        }
    }
    assert!(child.0.try_wait().unwrap().is_none(), "monitor ended after losing events: {}", ended(&mut child));
    let dropped = netlink_drops(&ns, pid).expect("the monitor's socket");
    let expected: Vec<u64> = (1..=overflows.len() as u64).collect();
    assert_eq!(overflows, expected, "overflows counted from 1");
    assert!(overflows.len() as u64 <= dropped, "{overflows:?} overflows, the kernel dropped {dropped}");
    drop(child);
    let stderr = stderr.lock().unwrap().clone();
    assert!(!stderr.contains("error"), "monitor stderr: {stderr}");
    println!(
        "json={json}: {made} connections, kernel dropped {dropped}, monitor reported {} overflows",
        overflows.len()
    );
}

/// Issue 21, item 10: a slow reader made `mptcp monitor` exit 1 on the
/// first overflow (ENOBUFS); `ip mptcp monitor` says it lost events and
/// goes on, and so does it now, in both output forms.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn monitor_goes_on_when_events_are_lost() {
    mptcp_netns::require_root();
    monitor_with_a_slow_reader(true);
    monitor_with_a_slow_reader(false);
}

/// The library under `mptcp monitor`: a subscription starts with a large
/// receive buffer (4 MiB asked, past net.core.rmem_max as root, so the
/// kernel reports 8 MiB); with a small one and nobody reading, the kernel
/// drops events and the listener says so with `Error::EventsLost`, then
/// goes on with the queued events and the next ones.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn event_listener_reports_lost_events_and_goes_on() {
    use mptcp::pm::{Error, EventListener};
    mptcp_netns::require_root();
    let ns = Netns::new("llost").unwrap();
    let mut events = ns.in_ns(EventListener::new).unwrap().unwrap();
    let start = events.receive_buffer().unwrap();
    assert!(start >= 8 << 20, "receive buffer {start} bytes, expected 4 MiB asked (8 MiB as the kernel counts)");
    let small = events.set_receive_buffer(4096).unwrap();
    assert!((4096..16384).contains(&small), "asked 4096 bytes, the kernel took {small}");
    assert_eq!(events.receive_buffer().unwrap(), small);
    assert!(matches!(events.set_receive_buffer(usize::MAX), Err(Error::InvalidArgument { .. })));

    let listener = ns.in_ns(|| TcpListener::bind_mptcp("127.0.0.1:0")).unwrap().unwrap();
    let marker = ns.in_ns(|| TcpListener::bind_mptcp("127.0.0.1:0")).unwrap().unwrap();
    let marker_port = marker.local_addr().unwrap().port();
    // Hundreds of events, read by nobody, for a few KiB of buffer.
    churn(&ns, &listener, 200);
    let (mut lost, mut queued) = (0, 0);
    loop {
        match events.recv_timeout(Duration::from_secs(1)) {
            Ok(Some(_)) => queued += 1,
            Ok(None) => break,
            Err(Error::EventsLost) => lost += 1,
            Err(e) => panic!("the listener failed: {e}"),
        }
    }
    assert!(lost >= 1, "no EventsLost after 200 connections ({queued} events read)");
    assert!(queued >= 1, "the events that fitted are read after the loss");
    churn(&ns, &marker, 1);
    let port = Some(marker_port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Some(ev)) if ev.sport == port || ev.dport == port => break,
            Ok(Some(_)) => {}
            Ok(None) => panic!("no event for the connection made after the loss"),
            Err(e) => panic!("the listener failed after the loss: {e}"),
        }
    }
    assert_eq!(Error::EventsLost.errno(), Some(libc::ENOBUFS));
    println!("receive buffer {start} then {small} bytes; {lost} overflows, {queued} events kept");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn events_and_conns_of_a_two_path_connection() {
    mptcp_netns::require_root();
    let t = two_paths("ev", 11);
    for ns in [&t.client, &t.server] {
        mptcp_ok(ns, &["limits", "set", "subflows", "2", "add_addr_accepted", "2"]);
    }
    mptcp_ok(&t.client, &["endpoint", "add", &t.p2.a_addr.to_string(), "dev", &t.p2.a_dev, "subflow"]);
    let server_addr = format!("{}:5000", t.p1.b_addr);
    let server = echo_server(&t.server, &server_addr);
    let monitor = Monitor::start(&t.client);
    let server_monitor = Monitor::start(&t.server);

    let stream = connect_and_exchange(&t.client, &server_addr);
    let conn = wait_subflows(&t.client, 5000, 2);
    let token = conn["token"].as_u64().expect("token");
    assert_eq!(conn["fallback"], Value::Bool(false));
    assert_eq!(conn["mptcp_info"]["token"].as_u64(), Some(token));
    let sfs = conn["subflows"].as_array().unwrap();
    let locals: BTreeSet<String> =
        sfs.iter().map(|s| s["local"].as_str().unwrap().rsplit_once(':').unwrap().0.to_string()).collect();
    assert_eq!(locals, BTreeSet::from([t.p1.a_addr.to_string(), t.p2.a_addr.to_string()]));
    for s in sfs {
        assert_eq!(s["remote"], server_addr.as_str());
        assert_eq!(s["token_local"].as_u64(), Some(token));
        assert_eq!(s["state"], "ESTAB");
    }
    assert_eq!(sfs[0]["join"], false);
    assert_eq!(sfs[1]["join"], true);

    // `ss -M` sees the same MPTCP connection, and `ss -ti` the same subflows.
    let ss = t.client.run(&["ss", "-HMn", "state", "established"]).unwrap();
    let ss = String::from_utf8_lossy(&ss.stdout).to_string();
    assert_eq!(ss.lines().count(), 1, "ss -M: {ss}");
    assert!(ss.contains(conn["local"].as_str().unwrap()) && ss.contains(&server_addr), "ss -M: {ss} vs {conn}");
    let ss = t.client.run(&["ss", "-Htni", "state", "established", "dport", "5000"]).unwrap();
    let ss = String::from_utf8_lossy(&ss.stdout).to_string();
    for s in sfs {
        let (ip, port) = s["local"].as_str().unwrap().rsplit_once(':').unwrap();
        assert!(
            ss.lines().any(|l| l.contains(ip) && l.contains(&format!(":{port} "))),
            "ss -ti lacks {ip}:{port}: {ss}"
        );
    }
    // ss prints `token:REMOTE(id:N)/LOCAL(id:M)` for each subflow.
    assert_eq!(ss.matches(&format!("/{token:04x}(id:")).count(), 2, "ss -ti: {ss}");
    // Filters.
    assert!(conns(&t.client, 5001).is_empty());
    let by_addr = mptcp_ok(&t.client, &["conns", "--json", "--addr", &t.p2.a_addr.to_string()]);
    assert_eq!(serde_json::from_str::<Vec<Value>>(&by_addr).unwrap().len(), 1);
    let text = mptcp_ok(&t.client, &["conns"]);
    assert!(text.contains(&format!("token 0x{token:08x}")) && text.contains("subflows 2"), "{text}");

    // Marking the endpoint backup re-prioritises the live subflow (MP_PRIO):
    // inet_diag shows the flag, the library reports it, an event says so.
    mptcp_ok(&t.client, &["endpoint", "set", "id", "1", "backup"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let flags = loop {
        let f = t.client.in_ns(|| mptcp::diag::subflow_backup_flags(token as u32)).unwrap().unwrap();
        if f.iter().any(|(_, _, b)| *b) || Instant::now() > deadline {
            break f;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(flags.len(), 2, "{flags:?}");
    for (local, remote, backup) in &flags {
        assert_eq!(remote.to_string(), server_addr);
        assert_eq!(*backup, local.ip() == t.p2.a_addr, "{flags:?}");
    }
    let conn = wait_subflows(&t.client, 5000, 2);
    assert!(conn["subflows"].as_array().unwrap().iter().any(|s| s["backup"] == true), "{conn}");

    drop(stream);
    server.join().unwrap();
    let mut seen = Vec::new();
    monitor.until(&mut seen, "closed", Some(token));
    // SUB_PRIORITY is reported where the MP_PRIO arrives: on the server.
    let mut server_seen = Vec::new();
    server_monitor.until(&mut server_seen, "sub_priority", None);
    let prio = server_seen.iter().find(|v| v["type"] == "sub_priority").unwrap();
    assert_eq!(
        (prio["daddr"].as_str(), prio["backup"].as_bool()),
        (Some(t.p2.a_addr.to_string().as_str()), Some(true)),
        "{prio}"
    );
    let mine: Vec<&Value> = seen.iter().filter(|v| v["token"].as_u64() == Some(token)).collect();
    let pos =
        |kind: &str| mine.iter().position(|v| v["type"] == kind).unwrap_or_else(|| panic!("no {kind}: {mine:#?}"));
    let (created, established, sub, closed) =
        (pos("created"), pos("established"), pos("sub_established"), pos("closed"));
    assert!(created < established && established < sub && sub < closed, "order: {mine:#?}");
    let c = mine[created];
    assert_eq!(c["saddr"], t.p1.a_addr.to_string());
    assert_eq!(c["daddr"], t.p1.b_addr.to_string());
    assert_eq!(c["dport"], 5000);
    // 6.18 sends SERVER_SIDE (and FLAGS bit 1) only on the server side.
    assert_ne!(c["server_side"], true);
    server_monitor.until(&mut server_seen, "created", None);
    let sc = server_seen.iter().find(|v| v["type"] == "created").unwrap();
    assert_eq!(sc["server_side"], true, "{sc}");
    assert_eq!((sc["saddr"].as_str(), sc["sport"].as_u64()), (Some(t.p1.b_addr.to_string().as_str()), Some(5000)));
    let s = mine[sub];
    assert_eq!(s["saddr"], t.p2.a_addr.to_string());
    assert_eq!(s["daddr"], t.p1.b_addr.to_string());
    assert_eq!(s["dport"], 5000);
    assert_eq!(s["backup"], false);
    assert!(s["local_id"].as_u64().unwrap_or(0) >= 1, "{s}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn userspace_pm_creates_and_destroys_a_subflow() {
    mptcp_netns::require_root();
    let t = two_paths("us", 21);
    if t.client.sysctl("net.mptcp.path_manager", "userspace").is_err() {
        t.client.sysctl("net.mptcp.pm_type", "1").unwrap();
    }
    // The server ignores announced addresses (it only reports them).
    mptcp_ok(&t.server, &["limits", "set", "subflows", "2", "add_addr_accepted", "0"]);
    let server_addr = format!("{}:5001", t.p1.b_addr);
    let server = echo_server(&t.server, &server_addr);
    let server_monitor = Monitor::start(&t.server);
    let mut stream = connect_and_exchange(&t.client, &server_addr);
    let conn = wait_subflows(&t.client, 5001, 1);
    let token = conn["token"].as_u64().unwrap().to_string();

    // A wrong token gets the clear error; bad input exit 2.
    mptcp_fails(
        &t.client,
        &[
            "pm",
            "subflow",
            "add",
            "--token",
            "1",
            "--local",
            &t.p2.a_addr.to_string(),
            "--id",
            "5",
            "--remote",
            &server_addr,
        ],
        1,
        "no MPTCP connection with token 1",
    );
    mptcp_fails(
        &t.client,
        &["pm", "subflow", "add", "--token", &token, "--local", "10.66.22.999", "--remote", &server_addr],
        2,
        "invalid address",
    );
    mptcp_fails(
        &t.client,
        &["pm", "subflow", "add", "--token", &token, "--local", &t.p2.a_addr.to_string(), "--remote", "10.66.21.2"],
        2,
        "invalid remote",
    );

    let hex = format!("0x{:x}", token.parse::<u32>().unwrap());
    mptcp_ok(
        &t.client,
        &[
            "pm",
            "subflow",
            "add",
            "--token",
            &hex,
            "--local",
            &t.p2.a_addr.to_string(),
            "--id",
            "5",
            "--dev",
            &t.p2.a_dev,
            "--remote",
            &server_addr,
        ],
    );
    let conn = wait_subflows(&t.client, 5001, 2);
    let joined =
        conn["subflows"].as_array().unwrap().iter().find(|s| s["join"] == true).expect("joined subflow").clone();
    let local = joined["local"].as_str().unwrap().to_string();
    assert!(local.starts_with(&format!("{}:", t.p2.a_addr)), "{joined}");
    assert_eq!(joined["id_local"], 5);
    // The kernel agrees: two established subflows to the server.
    let ss = t.client.run(&["ss", "-Htn", "state", "established", "dport", "5001"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&ss.stdout).lines().count(), 2);
    // The connection still carries data.
    stream.write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    stream.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"ping");

    mptcp_ok(
        &t.client,
        &["pm", "subflow", "set", "--token", &token, "--local", &local, "--remote", &server_addr, "--backup"],
    );
    mptcp_ok(&t.client, &["pm", "subflow", "del", "--token", &token, "--local", &local, "--remote", &server_addr]);
    wait_subflows(&t.client, 5001, 1);

    // ADD_ADDR and RM_ADDR reach the peer: its monitor reports them.
    mptcp_ok(&t.client, &["pm", "announce", "--token", &token, "--id", "7", &t.p2.a_addr.to_string()]);
    let mut seen = Vec::new();
    server_monitor.until(&mut seen, "announced", None);
    let ann = seen.iter().find(|v| v["type"] == "announced").unwrap();
    assert_eq!(
        (ann["daddr"].as_str(), ann["remote_id"].as_u64()),
        (Some(t.p2.a_addr.to_string().as_str()), Some(7)),
        "{ann}"
    );
    mptcp_ok(&t.client, &["pm", "remove", "--token", &token, "--id", "7"]);
    server_monitor.until(&mut seen, "removed", None);
    let rm = seen.iter().find(|v| v["type"] == "removed").unwrap();
    assert_eq!(rm["remote_id"].as_u64(), Some(7), "{rm}");

    drop(stream);
    server.join().unwrap();
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn tokio_api_and_event_stream() {
    mptcp_netns::require_root();
    use mptcp::pm::{AsyncPathManager, Endpoint, EndpointFlags, EventKind, EventStream};
    let a = Netns::new("tka").unwrap();
    let b = Netns::new("tkb").unwrap();
    let _p = Path::new(&a, "10.66.31.1".parse().unwrap(), &b, "10.66.31.2".parse().unwrap(), 24).unwrap();
    // LISTENER_CREATED exists from Linux 6.2 (MPTCP_EXPECT listener_events=no before).
    let listener_events = expect::get("listener_events").is_none_or(|v| v == "yes");
    let ev = a
        .in_ns(|| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let mut events = EventStream::new().await.unwrap();
                let mut pm = AsyncPathManager::new().await.unwrap();
                pm.set_limits(Some(4), Some(1)).await.unwrap();
                let l = pm.limits().await.unwrap();
                assert_eq!((l.subflows, l.add_addr_accepted), (4, 1));
                // A signal endpoint with a port makes the kernel listen: LISTENER_CREATED.
                let ep = Endpoint::new("10.66.31.1".parse().unwrap()).with_port(4567).with_flags(EndpointFlags::SIGNAL);
                pm.add_endpoint(&ep).await.unwrap();
                let eps = pm.endpoints().await.unwrap();
                assert_eq!(eps.len(), 1);
                assert_eq!(eps[0].port, Some(4567));
                let ev = if listener_events {
                    tokio::time::timeout(Duration::from_secs(5), events.next_event())
                        .await
                        .expect("no event")
                        .unwrap()
                        .unwrap()
                } else {
                    // Listener events came with Linux 6.2: nothing arrives,
                    // and a connection's CREATED proves the stream instead.
                    if let Ok(ev) = tokio::time::timeout(Duration::from_secs(1), events.next_event()).await {
                        panic!("an event on a kernel expected without listener events: {ev:?}");
                    }
                    let l = TcpListener::bind_mptcp("10.66.31.1:4568").unwrap();
                    let _c = TcpStream::connect_mptcp("10.66.31.1:4568").unwrap();
                    let _s = l.accept().unwrap();
                    tokio::time::timeout(Duration::from_secs(5), events.next_event())
                        .await
                        .expect("no event")
                        .unwrap()
                        .unwrap()
                };
                pm.delete_endpoint(eps[0].id.into()).await.unwrap();
                assert!(pm.endpoints().await.unwrap().is_empty());
                ev
            })
        })
        .unwrap();
    if listener_events {
        assert_eq!(ev.kind, EventKind::ListenerCreated);
        assert_eq!(ev.local(), Some("10.66.31.1:4567".parse().unwrap()));
    } else {
        assert_eq!(ev.kind, EventKind::Created, "{ev:?}");
    }
    assert_eq!(ip_limits(&a), (1, 4));
}

#[path = "../../../tests/kernels/expect.rs"]
mod expect;

/// Every path-manager command on the kernel under test (the kernel matrix
/// runs this under each kernel): where the kernel was built without MPTCP,
/// each one says so with exit status 1, and the kernel's own `ip mptcp`
/// agrees; elsewhere they work on a fresh namespace.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn pm_commands_on_this_kernel() {
    mptcp_netns::require_root();
    let ns = Netns::new("pmk").unwrap();
    if expect::has_mptcp() {
        assert_endpoints_agree(&ns, &[]);
        assert_limits_agree(&ns, (0, 2));
        let o = mptcp(&ns, &["monitor", "--timeout", "0.5"]);
        assert!(o.status.success(), "monitor: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(mptcp_ok(&ns, &["conns", "--json"]).trim(), "[]");
        return;
    }
    let why = match expect::availability().as_str() {
        "not-built" => "this kernel has no MPTCP path manager (built without MPTCP)",
        other => panic!("no message known for mptcp={other}"),
    };
    let commands: &[&[&str]] = &[
        &["endpoint", "list"],
        &["endpoint", "show", "id", "1"],
        &["endpoint", "add", "10.66.40.1", "subflow"],
        &["endpoint", "del", "id", "1"],
        &["endpoint", "flush"],
        &["endpoint", "set", "id", "1", "backup"],
        &["limits"],
        &["limits", "set", "subflows", "2"],
        &["monitor", "--timeout", "0.5"],
        &["pm", "announce", "--token", "1", "--id", "1", "10.66.40.1"],
        &["pm", "remove", "--token", "1", "--id", "1"],
        &["pm", "subflow", "add", "--token", "1", "--local", "10.66.40.1", "--remote", "10.66.40.2:80"],
        &["pm", "subflow", "del", "--token", "1", "--local", "10.66.40.1:1", "--remote", "10.66.40.2:80"],
        &["pm", "subflow", "set", "--token", "1", "--local", "10.66.40.1:1", "--remote", "10.66.40.2:80", "--backup"],
    ];
    for args in commands {
        mptcp_fails(&ns, args, 1, why);
    }
    mptcp_fails(&ns, &["conns"], 1, "cannot list MPTCP connections: this kernel has no MPTCP (built without MPTCP)");
    // Bad input is still bad input (exit 2), checked before the kernel is asked.
    mptcp_fails(&ns, &["endpoint", "add", "10.66.40.300", "subflow"], 2, "invalid address");
    // The kernel's own tools agree: no mptcp_pm family, no MPTCP sockets.
    let ip = ns.run_status(&["ip", "mptcp", "endpoint", "show"]).unwrap();
    assert!(!ip.status.success(), "ip mptcp endpoint show worked on a kernel without MPTCP");
    println!("ip mptcp endpoint show: {}", String::from_utf8_lossy(&ip.stderr).trim());
}
