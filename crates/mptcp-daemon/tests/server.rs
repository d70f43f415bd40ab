//! The status socket and the metrics listener under slow clients: every
//! connection has its own deadline and their number is capped, so clients
//! that trickle a byte at a time hold nobody up (issue 21, item 1).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::*;
use mptcp_netns::Netns;

const METRICS: &str = "127.0.0.1:9478";

/// `n` HTTP clients of the metrics listener that send one byte of a request
/// head every half second and never finish it; each one the daemon closes
/// is opened again at once.
struct Trickle {
    stop: Arc<AtomicBool>,
    connected: Arc<AtomicUsize>,
    reopened: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Trickle {
    fn start(ns: &Netns, n: usize) -> Trickle {
        let stop = Arc::new(AtomicBool::new(false));
        let connected = Arc::new(AtomicUsize::new(0));
        let reopened = Arc::new(AtomicUsize::new(0));
        let (s, c, r) = (stop.clone(), connected.clone(), reopened.clone());
        // A thread started in the namespace stays there (its reconnects too).
        let thread = ns
            .in_ns(move || {
                std::thread::spawn(move || {
                    let open = || TcpStream::connect(METRICS).ok();
                    let mut conns: Vec<Option<TcpStream>> = (0..n).map(|_| open()).collect();
                    c.store(conns.iter().filter(|x| x.is_some()).count(), Ordering::SeqCst);
                    while !s.load(Ordering::SeqCst) {
                        for slot in conns.iter_mut() {
                            let alive = slot.as_mut().is_some_and(|t| t.write_all(b"x").is_ok());
                            if !alive {
                                *slot = open();
                                r.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        std::thread::sleep(Duration::from_millis(500));
                    }
                })
            })
            .unwrap();
        Trickle { stop, connected, reopened, thread: Some(thread) }
    }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `GET /metrics` with a 5 s read timeout: the body, or why not.
fn scrape(ns: &Netns) -> Result<String, String> {
    ns.in_ns(|| {
        let mut s = TcpStream::connect(METRICS).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").map_err(|e| format!("send: {e}"))?;
        let mut resp = String::new();
        s.read_to_string(&mut resp).map_err(|e| format!("read: {e}"))?;
        Ok(resp)
    })
    .unwrap()
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn status_and_metrics_answer_while_slow_clients_hang_on() {
    let lab = Lab::new(2);
    lab.default_route();
    let dir = TempDir::new("slow");
    let d = spawn(&lab, config(&format!("runtime_dir = \"{}\"\nmetrics = \"{METRICS}\"\n", dir.0.display())));
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow"]);
    let sock = dir.0.join("control.sock");

    let slow = Trickle::start(&lab.dut, 100);
    assert!(wait_for(|| slow.connected.load(Ordering::SeqCst) == 100), "the slow clients could not connect");
    std::thread::sleep(Duration::from_millis(600)); // each has sent a byte
    let st = mptcp_daemon::status::query(&sock).expect("status while 100 clients trickle");
    assert_eq!((st.state.as_str(), st.endpoints.len()), ("running", 2));
    let resp = scrape(&lab.dut).expect("a scrape while 100 clients trickle");
    assert!(resp.starts_with("HTTP/1.1 200 OK") && resp.contains("mptcp_daemon_build_info"), "{resp}");
    // The daemon still follows the links.
    lab.ip("link set p1 down");
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow"]);
    assert!(wait_for(|| mptcp_daemon::status::query(&sock).is_ok_and(|s| s.endpoints.len() == 1)));
    // Each slow client is closed at its deadline (and comes back).
    assert!(wait_for(|| slow.reopened.load(Ordering::SeqCst) >= 100), "slow clients are never closed");

    // Beyond the cap, the oldest connections give way: still answered.
    let more = Trickle::start(&lab.dut, 200);
    assert!(wait_for(|| more.connected.load(Ordering::SeqCst) == 200));
    mptcp_daemon::status::query(&sock).expect("status while 300 clients trickle");
    let resp = scrape(&lab.dut).expect("a scrape while 300 clients trickle");
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
    drop((slow, more));
    d.stop().unwrap();
}
