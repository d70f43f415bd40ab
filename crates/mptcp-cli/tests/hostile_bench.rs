//! `mptcp bench server` against hostile clients (issue 21, item 9): hellos
//! written by hand over real sockets, MPTCP and plain TCP, to a real server
//! (the built binary) in a network namespace of its own.
//!
//! - A hello out of the range the client keeps to is refused: a control
//!   connection gets the reason as its reply, any other is closed, and the
//!   server's log names each refusal.
//! - Clients that ask for a valid but slow transfer (1 kbit/s for an hour)
//!   and then leave do not keep the server's threads and descriptors: they
//!   return to their idle counts once the clients have gone.
//!
//! The thread count is read from `/proc/PID/status` and bounded by a
//! generous limit (a functional check that the sessions ended, not a
//! measure of how fast).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{text, wait_listening, Proc};
use mptcp_netns::Netns;
use mptcp_transfer::proto::{Direction, Hello, Kind, Mode, Reply, MAX_STALL_MS, REPLY_LEN};

const PORT: u16 = 5201;
const ADDR: &str = "127.0.0.1:5201";
/// Any wait here ends well before this, or the test fails.
const HARD_TIMEOUT: Duration = Duration::from_secs(60);

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mptcp")
}

/// `mptcp bench server` on loopback in `ns`, both pipes kept for its log.
fn server(ns: &Netns) -> Proc {
    let p = Proc::spawn(
        ns.command(bin())
            .args(["bench", "server", "--bind", "127.0.0.1", "-p", &PORT.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    wait_listening(ns, PORT, Duration::from_secs(20));
    p
}

/// A connection to the server from inside `ns`, MPTCP or plain TCP.
fn connect(ns: &Netns, mptcp: bool) -> TcpStream {
    let s = ns
        .in_ns(|| mptcp::MptcpBuilder::new().mptcp(mptcp).connect(ADDR))
        .expect("enter the namespace")
        .unwrap_or_else(|e| panic!("connect to the bench server (mptcp {mptcp}): {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// The `Threads:` line of `/proc/PID/status`.
fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server is running");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Threads: line")
}

/// Open descriptors of `pid`.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("the server is running").count()
}

/// The server's (threads, descriptors) once they have held still for half
/// a second.
fn idle(pid: u32) -> (usize, usize) {
    let deadline = Instant::now() + HARD_TIMEOUT;
    let mut last = (threads(pid), fds(pid));
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = (threads(pid), fds(pid));
        if now == last {
            return now;
        }
        assert!(Instant::now() < deadline, "the idle server keeps changing: {last:?} then {now:?}");
        last = now;
    }
}

/// A control hello of a one-connection throughput test for 10 s.
fn control() -> Hello {
    let mut h = Hello::data(Direction::Upload, 7, 0, 10_000);
    (h.kind, h.test_id) = (Kind::Control, 0x5eed_0001);
    h
}

/// A download paced at 1 kbit/s for an hour, with an hour's stall limit: a
/// valid hello that keeps the server sending (8 s per KiB) for a long time.
fn slow_download(seed: u64) -> Hello {
    let mut h = Hello::data(Direction::Download, seed, 0, 3_600_000);
    (h.rate_bps, h.stall_ms) = (1_000, MAX_STALL_MS);
    h
}

/// Reads what the server answers until it closes: the reply, if any.
fn answer(s: &mut TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    match s.read_to_end(&mut v) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("no answer and no close within the read timeout: {e} (read {} bytes)", v.len()),
    }
    v
}

/// (a) A hello out of range is refused: a control connection hears why,
/// a data connection is closed before any data, and the log names each.
/// The server keeps serving, and the client's options at the edges of
/// their ranges are accepted.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn out_of_range_hellos_are_refused_and_named_in_the_log() {
    mptcp_netns::require_root();
    let ns = Netns::new("hbench").unwrap();
    let srv = server(&ns);
    let rr = Hello { kind: Kind::Control, mode: Mode::Rr, request_size: 1, response_size: 1, ..control() };
    let controls: Vec<(Hello, &str)> = vec![
        (Hello { rate_bps: 1, ..control() }, "pacing rate 1 bit/s"),
        (Hello { duration_ms: 86_400_001, ..control() }, "time limit 86400001 ms"),
        (Hello { stall_ms: 1, ..control() }, "stall limit 1 ms"),
        (Hello { streams: 0, ..control() }, "0 connections"),
        (Hello { count: 2_000_000_000, ..rr }, "2000000000 transactions"),
        (Hello { request_size: 0, ..rr }, "request size 0"),
    ];
    for (i, (hello, says)) in controls.iter().enumerate() {
        let mptcp = i % 2 == 0;
        let hello = Hello { test_id: hello.test_id + i as u64, ..*hello };
        let mut s = connect(&ns, mptcp);
        s.write_all(&hello.encode()).unwrap();
        let a = answer(&mut s);
        assert!(a.len() >= REPLY_LEN, "{says}: the server answered {a:?}");
        let head: [u8; REPLY_LEN] = a[..REPLY_LEN].try_into().unwrap();
        match Reply::decode(&head, &mut &a[REPLY_LEN..]).unwrap() {
            Ok(Reply::Refuse(reason)) => assert!(reason.contains(says), "{reason:?} should say {says:?}"),
            other => panic!("{says}: expected a refusal, got {other:?}"),
        }
    }
    // Data connections (standalone, and of an unknown test) have no reply:
    // closed before any data moves.
    let datas: Vec<(Hello, &str)> = vec![
        (Hello { rate_bps: 1, ..slow_download(1) }, "pacing rate 1 bit/s"),
        (Hello { duration_ms: u64::MAX, ..slow_download(2) }, "time limit 18446744073709551615 ms"),
        (Hello { stall_ms: u32::MAX, test_id: 99, ..slow_download(3) }, "stall limit 4294967295 ms"),
        (Hello { duration_ms: 0, rate_bps: 0, ..slow_download(4) }, "no byte count and no time limit"),
    ];
    for (i, (hello, _)) in datas.iter().enumerate() {
        let mut s = connect(&ns, i % 2 == 1);
        s.write_all(&hello.encode()).unwrap();
        let a = answer(&mut s);
        assert!(a.is_empty(), "{hello:?}: the server sent {} bytes instead of closing", a.len());
    }
    // Still serving: the client at the edges of its options.
    for args in [
        &["-b", "1k", "-t", "1", "--stall-timeout", "3600"][..],
        &["-b", "10T", "-t", "0.001", "-P", "128", "--bidir"],
        &["-n", "1", "--stall-timeout", "0.5"],
        &["--rr", "--count", "1000000000", "-t", "0.5", "-P", "128"],
        &["--crr", "--size", "16M", "-t", "0.5"],
    ] {
        let mut cmd = ns.command(bin());
        cmd.args(["bench", "client", "127.0.0.1", "-p", &PORT.to_string()]).args(args);
        let (st, out, err) = common::output(&mut cmd, HARD_TIMEOUT);
        let (out, err) = (text(&out), text(&err));
        assert!(st.is_some_and(|s| s.success()), "{args:?}: {err}{out}");
    }
    let (_, _, log) = srv.terminate(Duration::from_secs(10));
    for (_, says) in &controls {
        assert!(log.contains(&format!("refused a test: {says}")), "the log should name {says:?}:\n{log}");
    }
    for (_, says) in &datas {
        assert!(log.contains(&format!("refused a data connection: {says}")), "the log should name {says:?}:\n{log}");
    }
}

/// (b) Slow clients (1 kbit/s for an hour, MPTCP and TCP, standalone and in
/// a test) that leave: the server's threads and descriptors go back to
/// their idle counts within a generous bound, whether a client closed
/// after reading all it got (FIN) or with data unread (reset).
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn slow_clients_that_leave_free_their_threads_and_descriptors() {
    mptcp_netns::require_root();
    let ns = Netns::new("hbench").unwrap();
    let srv = server(&ns);
    let pid = srv.pid();
    let (idle_threads, idle_fds) = idle(pid);

    // MPTCP (paced by the server's application) and plain TCP (paced by
    // its kernel), in turn.
    let mut clients = Vec::new();
    for i in 0..6u64 {
        let mut s = connect(&ns, i % 2 == 0);
        s.write_all(&slow_download(i + 1).encode()).unwrap();
        clients.push(s);
    }
    // A test of one slow download: its control connection and its data.
    let test = Hello { rate_bps: 1_000, stall_ms: MAX_STALL_MS, duration_ms: 3_600_000, ..control() };
    let test = Hello { direction: Direction::Download, ..test };
    let mut ctl = connect(&ns, true);
    ctl.write_all(&test.encode()).unwrap();
    let mut head = [0u8; REPLY_LEN];
    ctl.read_exact(&mut head).expect("the server's answer");
    assert_eq!(Reply::decode(&head, &mut &ctl).unwrap(), Ok(Reply::Accept { test_id: test.test_id }));
    let mut data = connect(&ns, true);
    data.write_all(&Hello { test_id: test.test_id, ..slow_download(9) }.encode()).unwrap();
    clients.push(data);

    // Every transfer has begun: its first bytes arrived.
    for (i, c) in clients.iter_mut().enumerate() {
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap_or_else(|e| panic!("client {i}: no data from the server: {e}"));
    }
    let busy = threads(pid);
    assert!(
        busy >= idle_threads + clients.len(),
        "{} sessions running, yet {busy} threads (idle: {idle_threads})",
        clients.len()
    );

    // Leave: in pairs (one MPTCP, one TCP), read what has arrived first (a
    // FIN), or not (a reset).
    for (i, c) in clients.iter_mut().enumerate() {
        if (i / 2) % 2 == 0 {
            c.set_nonblocking(true).unwrap();
            let mut b = vec![0u8; 1 << 20];
            while matches!(c.read(&mut b), Ok(n) if n > 0) {}
        }
    }
    let left = Instant::now();
    drop(clients);
    drop(ctl);

    let bound = Duration::from_secs(10);
    let (mut t, mut f) = (threads(pid), fds(pid));
    while (t > idle_threads || f > idle_fds) && left.elapsed() < bound {
        std::thread::sleep(Duration::from_millis(100));
        (t, f) = (threads(pid), fds(pid));
    }
    let (_, out, log) = srv.terminate(Duration::from_secs(10));
    assert!(
        t <= idle_threads && f <= idle_fds,
        "{bound:?} after the clients left: {t} threads (idle {idle_threads}, busy {busy}), {f} descriptors (idle \
         {idle_fds})\nserver log:\n{log}{out}"
    );
}
