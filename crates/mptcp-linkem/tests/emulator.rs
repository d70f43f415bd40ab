//! End to end through client - router - server namespaces: the emulator
//! runs in the router, real traffic crosses it. Needs root; every
//! namespace is removed afterwards, also on panic (mptcp-netns). Only
//! physical bounds are asserted (an RTT is never below twice the delay),
//! never speeds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mptcp_linkem::{Emulator, EmulatorConfig, Error};
use mptcp_netns::{Netns, Path};

/// An address literal of this file.
fn ip(s: &str) -> std::net::IpAddr {
    s.parse().expect("a valid address literal")
}

const CLIENT: &str = "10.77.1.1";
const SERVER: &str = "10.77.2.2";

struct Topo {
    client: Netns,
    router: Netns,
    server: Netns,
    lan: String,
    wan: String,
}

impl Topo {
    /// client 10.77.1.1 - (lan) router (wan) - server 10.77.2.2.
    fn new(forwarding: bool) -> Topo {
        mptcp_netns::require_root();
        let client = Netns::new("lkcli").unwrap();
        let router = Netns::new("lkrtr").unwrap();
        let server = Netns::new("lksrv").unwrap();
        let lan = Path::new(&client, ip("10.77.1.1"), &router, ip("10.77.1.2"), 24).unwrap();
        let wan = Path::new(&router, ip("10.77.2.1"), &server, ip("10.77.2.2"), 24).unwrap();
        client.ip(&["route", "add", "default", "via", "10.77.1.2"]).unwrap();
        server.ip(&["route", "add", "default", "via", "10.77.2.1"]).unwrap();
        router.sysctl("net.ipv4.ip_forward", if forwarding { "1" } else { "0" }).unwrap();
        Topo { client, router, server, lan: lan.b_dev, wan: wan.a_dev }
    }

    fn ns_path(&self) -> String {
        format!("/run/netns/{}", self.router.name())
    }

    fn start(&self, up: &str, down: &str) -> Emulator {
        self.try_start(up, down).unwrap()
    }

    fn try_start(&self, up: &str, down: &str) -> Result<Emulator, Error> {
        let cfg = EmulatorConfig::new(&self.lan, &self.wan, up.parse()?, down.parse()?);
        Emulator::start(self.ns_path(), cfg)
    }

    /// RTTs in ms of `count` pings from the client to the server.
    fn ping(&self, count: u32) -> Vec<f64> {
        let out =
            self.client.run_status(&["ping", "-n", "-c", &count.to_string(), "-i", "0.05", "-W", "2", SERVER]).unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .filter_map(|l| l.split("time=").nth(1))
            .filter_map(|t| t.trim_end_matches(" ms").trim().parse().ok())
            .collect()
    }
}

/// The queues of this namespace, as the kernel lists them.
fn queues_in(ns: &Netns) -> String {
    ns.in_ns(|| std::fs::read_to_string("/proc/thread-self/net/netfilter/nfnetlink_queue").unwrap_or_default()).unwrap()
}

fn has_queue(text: &str, queue: u16) -> bool {
    text.lines().any(|l| l.split_whitespace().next() == Some(queue.to_string().as_str()))
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn rtt_is_never_below_twice_the_delay() {
    let t = Topo::new(true);
    for (up, down) in [(20u64, 20u64), (5, 30)] {
        let emu = t.start(&format!("delay={up}ms"), &format!("delay={down}ms"));
        let rtts = t.ping(20);
        assert_eq!(rtts.len(), 20, "every ping is answered: {rtts:?}");
        let floor = (up + down) as f64;
        for r in &rtts {
            assert!(*r >= floor, "RTT {r} ms below the emulated {floor} ms");
            assert!(*r < floor + 500.0, "RTT {r} ms far above the emulated {floor} ms");
        }
        let s = emu.stats();
        assert_eq!((s.up.packets_in, s.up.packets_out), (20, 20));
        assert_eq!((s.down.packets_in, s.down.packets_out), (20, 20));
        assert_eq!(s.up.bytes_in, 20 * 84, "ICMP echo of 56 bytes: 84 IP bytes");
    }
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn seeded_loss_drops_what_it_says_and_about_the_rate() {
    let t = Topo::new(true);
    let emu = t.start("loss=10% seed=1", "");
    let rx = t.server.in_ns(|| UdpSocket::bind((SERVER, 9000)).unwrap()).unwrap();
    let tx = t.client.in_ns(|| UdpSocket::bind((CLIENT, 0)).unwrap()).unwrap();
    // Generous: a loaded machine may pause the sender; the reader stops
    // only after this long without a datagram.
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let n = 4000u32;
    let reader = std::thread::spawn(move || {
        let mut got = 0u32;
        let mut buf = [0u8; 64];
        while rx.recv(&mut buf).is_ok() {
            got += 1;
        }
        got
    });
    for i in 0..n {
        tx.send_to(&i.to_be_bytes(), (SERVER, 9000)).unwrap();
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let got = reader.join().unwrap();
    let s = emu.stats();
    // Exact accounting: every datagram was seen, each lost one was dropped for loss.
    assert_eq!(s.up.packets_in, u64::from(n));
    assert_eq!(s.up.dropped_loss, u64::from(n - got));
    assert_eq!(s.up.packets_out, u64::from(got));
    assert_eq!(s.up.kernel_dropped + s.up.kernel_user_dropped, 0);
    // 10% of 4000: 400, standard deviation 19; 7 of them either way.
    let lost = n - got;
    assert!((267..=533).contains(&lost), "lost {lost} of {n} at 10%");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn an_outage_drops_everything_in_its_window_and_traffic_resumes() {
    let t = Topo::new(true);
    let rx = t.server.in_ns(|| UdpSocket::bind((SERVER, 9001)).unwrap()).unwrap();
    let tx = t.client.in_ns(|| UdpSocket::bind((CLIENT, 0)).unwrap()).unwrap();
    // Longer than the outage: the reader stops only once the sender has.
    rx.set_read_timeout(Some(Duration::from_millis(2500))).unwrap();
    let emu = t.start("outage=500ms+1s", "");
    // The emulator's clock started before `start` returned, and a datagram
    // reaches it after it was sent: the emulator sees each one at its send
    // time here or later (up to scheduling delays, given 200 ms).
    let t0 = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 8];
        while let Ok(n) = rx.recv(&mut buf) {
            if n == 8 {
                seen.push(u64::from_be_bytes(buf));
            }
        }
        seen
    });
    let mut sent = Vec::new();
    while t0.elapsed() < Duration::from_millis(2500) {
        let ms = t0.elapsed().as_millis() as u64;
        tx.send_to(&ms.to_be_bytes(), (SERVER, 9001)).unwrap();
        sent.push(ms);
        std::thread::sleep(Duration::from_millis(10));
    }
    let seen = reader.join().unwrap();
    for ms in &sent {
        let arrived = seen.contains(ms);
        if (500..=1300).contains(ms) {
            assert!(!arrived, "a datagram sent {ms} ms after start crossed the outage 500-1500 ms");
        }
        if *ms < 300 || *ms >= 1500 {
            assert!(arrived, "a datagram sent {ms} ms after start was lost outside the outage");
        }
    }
    let s = emu.stats();
    assert_eq!(s.up.dropped_outage as usize, sent.len() - seen.len());
    // Those sent well inside the window were all dropped for the outage (how
    // many there are depends on how punctually the sender was scheduled).
    let inside = sent.iter().filter(|ms| (500..=1300).contains(*ms)).count();
    assert!(inside > 0, "no datagram was sent during the outage: {sent:?}");
    assert!(s.up.dropped_outage as usize >= inside);
}

/// Sends `len` bytes of a pattern from client to server over TCP and
/// returns what the server received.
fn transfer(t: &Topo, port: u16, len: usize) -> Vec<u8> {
    let listener = t.server.in_ns(|| TcpListener::bind((SERVER, port)).unwrap()).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let mut c = t.client.in_ns(|| TcpStream::connect((SERVER, port)).unwrap()).unwrap();
    c.write_all(&data).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let got = server.join().unwrap();
    assert_eq!(got.len(), data.len(), "the whole transfer arrived");
    assert!(got == data, "the transfer arrived intact");
    got
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn tcp_through_a_shaped_lossy_delayed_path_arrives_intact() {
    let t = Topo::new(true);
    let emu = t.start(
        "rate=20mbit delay=5ms jitter=1ms loss=0.5% queue=64kb seed=3",
        "rate=20mbit delay=5ms loss=ge:0.5%,2 seed=4",
    );
    transfer(&t, 9002, 4 << 20);
    let s = emu.stats();
    assert!(s.up.bytes_out >= 4 << 20, "at least the payload went up: {}", s.up.bytes_out);
    assert!(s.up.dropped_loss > 0, "0.5% loss over ~3000 packets lost some");
    let least = (4u64 << 20).div_ceil(1500);
    assert!(s.up.packets_in >= least, "4 MB in packets of at most 1500 bytes: {}", s.up.packets_in);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_trace_run_delivers() {
    let t = Topo::new(true);
    // A constant 12 Mbit/s trace: one opportunity per millisecond.
    let dir = std::env::temp_dir().join(format!("linkem-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("12mbit.trace");
    std::fs::write(&file, (1..=1000).map(|i| format!("{i}\n")).collect::<String>()).unwrap();
    let spec = format!("rate=trace:{} delay=5ms", file.display());
    let emu = t.start(&spec, &spec);
    std::fs::remove_dir_all(&dir).unwrap();
    transfer(&t, 9003, 2 << 20);
    let s = emu.stats();
    assert!(s.up.bytes_out >= 2 << 20);
    assert_eq!(s.up.dropped_queue + s.up.dropped_loss + s.up.dropped_outage, 0);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn dropping_the_emulator_leaves_no_rule_and_no_queue() {
    let t = Topo::new(true);
    let emu = t.start("delay=50ms", "delay=50ms");
    let (up, down) = emu.queues();
    let table = emu.table().to_string();
    assert!(t.ping(3).iter().all(|r| *r >= 100.0));
    let listed = queues_in(&t.router);
    assert!(has_queue(&listed, up) && has_queue(&listed, down), "queues {up}, {down} bound: {listed}");
    drop(emu);
    // No rule: packets are neither queued to a missing listener (they
    // would be dropped) nor delayed.
    let rtts = t.ping(5);
    assert_eq!(rtts.len(), 5, "traffic passes after the emulator is gone");
    assert!(rtts.iter().all(|r| *r < 50.0), "no delay left: {rtts:?}");
    let listed = queues_in(&t.router);
    assert!(!has_queue(&listed, up) && !has_queue(&listed, down), "queues left: {listed}");
    // Where the nft program exists, it agrees.
    if let Ok(out) = t.router.run_status(&["nft", "list", "tables"]) {
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(!text.contains(&table), "table {table} left: {text}");
        }
    }
}

/// The `mptcp-linkem` binary in the router, until killed.
fn spawn_cli(t: &Topo, up: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mptcp-linkem"))
        .args(["--netns", t.router.name(), "--lan", &t.lan, "--wan", &t.wan, "--up", up, "--down", ""])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("ready "), "the emulator did not start: {line:?}");
    (child, line)
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_killed_emulator_leaves_no_rule_behind() {
    let t = Topo::new(true);
    let (mut child, _) = spawn_cli(&t, "delay=60ms");
    assert!(t.ping(3).iter().all(|r| *r >= 60.0));
    // SIGKILL: no destructor runs; the kernel removes the table owned by
    // the dead process's netlink socket, and its queues.
    child.kill().unwrap();
    child.wait().unwrap();
    let rtts = t.ping(5);
    assert_eq!(rtts.len(), 5, "traffic passes after the emulator was killed");
    assert!(rtts.iter().all(|r| *r < 60.0), "no delay left: {rtts:?}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn sigterm_stops_the_cli_cleanly_with_its_counters() {
    let t = Topo::new(true);
    let (mut child, _) = spawn_cli(&t, "delay=10ms");
    assert_eq!(t.ping(4).len(), 4);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let mut rest = String::new();
    child.stdout.take().unwrap().read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(rest.contains("\"up\":{\"packets_in\":4,"), "counters printed: {rest}");
    assert!(t.ping(3).iter().all(|r| *r < 10.0));
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_router_that_does_not_forward_is_refused_clearly() {
    let t = Topo::new(false);
    let e = t.try_start("delay=10ms", "").unwrap_err();
    assert!(matches!(e, Error::Router { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("forwarding is off") && msg.contains("net.ipv4.ip_forward=1"), "{msg}");
    assert!(queues_in(&t.router).trim().is_empty(), "no queue left bound after the refusal");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_missing_interface_is_named() {
    let t = Topo::new(true);
    let cfg = EmulatorConfig::new("nosuch0", &t.wan, Default::default(), Default::default());
    let e = Emulator::start(t.ns_path(), cfg).unwrap_err();
    assert!(e.to_string().contains("no interface `nosuch0`"), "{e}");
    let e = Emulator::start(
        "/run/netns/mptcp-no-such-namespace",
        EmulatorConfig::new("a", "b", Default::default(), Default::default()),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Netns { .. }), "{e:?}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn ipv6_is_emulated_too() {
    mptcp_netns::require_root();
    let client = Netns::new("lkcli6").unwrap();
    let router = Netns::new("lkrtr6").unwrap();
    let server = Netns::new("lksrv6").unwrap();
    let lan = Path::new(&client, ip("fd77:1::1"), &router, ip("fd77:1::2"), 64).unwrap();
    let wan = Path::new(&router, ip("fd77:2::1"), &server, ip("fd77:2::2"), 64).unwrap();
    client.ip(&["-6", "route", "add", "default", "via", "fd77:1::2"]).unwrap();
    server.ip(&["-6", "route", "add", "default", "via", "fd77:2::1"]).unwrap();
    router.sysctl("net.ipv6.conf.all.forwarding", "1").unwrap();
    // IPv4 forwarding stays off: only the ip6 table is needed.
    let cfg = EmulatorConfig::new(&lan.b_dev, &wan.a_dev, "delay=15ms".parse().unwrap(), "delay=15ms".parse().unwrap());
    let emu = Emulator::start(format!("/run/netns/{}", router.name()), cfg).unwrap();
    let out = client.run_status(&["ping", "-6", "-n", "-c", "5", "-i", "0.05", "-W", "2", "fd77:2::2"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let rtts: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.trim_end_matches(" ms").trim().parse().ok())
        .collect();
    assert_eq!(rtts.len(), 5, "{text}");
    assert!(rtts.iter().all(|r| *r >= 30.0), "{rtts:?}");
    // Neighbour discovery is not forwarded: only the echoes were queued.
    let s = emu.stats();
    assert_eq!((s.up.packets_in, s.down.packets_in), (5, 5));
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_full_kernel_queue_is_counted() {
    let t = Topo::new(true);
    // Room for 16 packets in the kernel's queue, each held 300 ms: a burst
    // of 200 overflows it, and the kernel's own counter says by how much.
    let mut cfg = EmulatorConfig::new(&t.lan, &t.wan, "delay=300ms".parse().unwrap(), Default::default());
    cfg.kernel_queue = 16;
    let emu = Emulator::start(t.ns_path(), cfg).unwrap();
    let rx = t.server.in_ns(|| UdpSocket::bind((SERVER, 9004)).unwrap()).unwrap();
    let tx = t.client.in_ns(|| UdpSocket::bind((CLIENT, 0)).unwrap()).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    for i in 0..200u32 {
        tx.send_to(&i.to_be_bytes(), (SERVER, 9004)).unwrap();
    }
    let mut got = 0u64;
    let mut buf = [0u8; 8];
    while rx.recv(&mut buf).is_ok() {
        got += 1;
    }
    let s = emu.stats();
    assert!(s.up.kernel_dropped > 0, "{:?}", s.up);
    assert_eq!(s.up.packets_in + s.up.kernel_dropped, 200, "{:?}", s.up);
    assert_eq!(got, s.up.packets_out);
    assert!(s.up.held_peak <= 16);
}
