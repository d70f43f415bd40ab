//! `mptcp daemon status` and a metrics scrape while 100 slow clients hold
//! connections to both listeners (issue 21, item 1): each slow client
//! sends one byte every 2 s and never finishes its request. The status
//! command's wall time (a new `mptcp` process, as an operator runs it) and
//! the scrape's (connect, request, whole answer) are measured `samples`
//! times; then a link goes down and the time until the daemon has deleted
//! its endpoint shows that it still follows the links meanwhile.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mptcp_netns::{Netns, Path};

use crate::events::endpoint_set;
use crate::{ms, Stats};

/// Slow clients on each listener.
const SLOW: usize = 100;
/// A byte per slow client this often.
const TRICKLE: Duration = Duration::from_secs(2);
const METRICS: &str = "127.0.0.1:9478";

/// What the section measured.
#[derive(Debug, serde::Serialize)]
pub struct Slow {
    /// Slow clients on the control socket and on the metrics listener, each.
    pub slow_clients: usize,
    /// Slow clients still connected when the measurements ended (the
    /// daemon may close the oldest when it hits its cap, or at their
    /// deadline: they reconnect at once).
    pub slow_connected_at_end: usize,
    /// Wall time of `mptcp daemon status --json`, ms.
    pub status_ms: Stats,
    /// Wall time of a scrape of /metrics, ms.
    pub scrape_ms: Stats,
    /// Status commands that failed.
    pub status_failures: usize,
    /// From `ip link set down` until the daemon had deleted that link's
    /// endpoint, ms (one sample per run).
    pub link_down_to_endpoint_deleted_ms: Stats,
}

fn scrape() -> Option<Duration> {
    let t = Instant::now();
    let mut s = TcpStream::connect(METRICS).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.starts_with("HTTP/1.1 200").then(|| t.elapsed())
}

/// A slow client of either listener.
enum Trickler {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Trickler {
    fn open(i: usize, control: &std::path::Path) -> Option<Trickler> {
        if i % 2 == 0 {
            TcpStream::connect(METRICS).ok().map(Trickler::Tcp)
        } else {
            UnixStream::connect(control).ok().map(Trickler::Unix)
        }
    }

    fn byte(&mut self) -> bool {
        match self {
            Trickler::Tcp(s) => s.write_all(b"G").is_ok(),
            Trickler::Unix(s) => s.write_all(b"s").is_ok(),
        }
    }
}

pub fn run(mptcp: &str, samples: usize, runs: usize) -> Slow {
    let host = Netns::new("slowh").unwrap();
    let peer = Netns::new("slowp").unwrap();
    let _paths: Vec<Path> = (0..2)
        .map(|i| {
            Path::new(
                &host,
                format!("10.{}.0.1", 70 + i).parse().unwrap(),
                &peer,
                format!("10.{}.0.2", 70 + i).parse().unwrap(),
                24,
            )
            .unwrap()
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("mptcp-daemon-bench-w{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("daemon.toml");
    std::fs::write(&cfg, "default_route = \"any\"\non_exit = \"flush\"\n").unwrap();
    let run_dir = dir.join("run");
    let mut child = host
        .command(mptcp)
        .args(["daemon", "--config", cfg.to_str().unwrap(), "--runtime-dir", run_dir.to_str().unwrap()])
        .args(["--metrics", METRICS])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let control = run_dir.join("control.sock");
    let start = Instant::now();
    while endpoint_set(&host).len() < 2 || !control.exists() {
        assert!(start.elapsed() < Duration::from_secs(10), "the daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let connected = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let trickler = {
        let (stop, connected, control) = (stop.clone(), connected.clone(), control.clone());
        host.in_ns(move || {
            std::thread::spawn(move || {
                let mut conns: Vec<Option<Trickler>> = (0..2 * SLOW).map(|i| Trickler::open(i, &control)).collect();
                while !stop.load(Ordering::SeqCst) {
                    for (i, slot) in conns.iter_mut().enumerate() {
                        if !slot.as_mut().is_some_and(Trickler::byte) {
                            *slot = Trickler::open(i, &control);
                        }
                    }
                    connected.store(conns.iter().filter(|c| c.is_some()).count(), Ordering::SeqCst);
                    let until = Instant::now() + TRICKLE;
                    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            })
        })
        .unwrap()
    };
    std::thread::sleep(Duration::from_secs(3));
    let (mut status, mut scrapes, mut failures, mut link) = (Vec::new(), Vec::new(), 0, Vec::new());
    for round in 0..runs {
        for _ in 0..samples {
            let t = Instant::now();
            let o = host
                .command(mptcp)
                .args(["daemon", "status", "--json", "--runtime-dir", run_dir.to_str().unwrap()])
                .output()
                .unwrap();
            if o.status.success() {
                status.push(ms(t.elapsed()));
            } else {
                failures += 1;
            }
            if let Some(d) = host.in_ns(scrape).ok().flatten() {
                scrapes.push(ms(d));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The daemon still follows the links: path 2's link goes down.
        let dev = "p1";
        let before = endpoint_set(&host).len();
        let t = Instant::now();
        host.ip(&["link", "set", dev, "down"]).unwrap();
        while endpoint_set(&host).len() >= before && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_micros(200));
        }
        if endpoint_set(&host).len() < before {
            link.push(ms(t.elapsed()));
        }
        host.ip(&["link", "set", dev, "up"]).unwrap();
        let t = Instant::now();
        while endpoint_set(&host).len() < before && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        eprintln!("slow clients: round {} of {runs} done", round + 1);
    }
    let slow_connected_at_end = connected.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    let _ = trickler.join();
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let s = Slow {
        slow_clients: SLOW,
        slow_connected_at_end,
        status_ms: Stats::of(&status),
        scrape_ms: Stats::of(&scrapes),
        status_failures: failures,
        link_down_to_endpoint_deleted_ms: Stats::of(&link),
    };
    println!(
        "\n### Slow clients: {SLOW} on the control socket and {SLOW} on /metrics, a byte every {} s each \
         ({} status commands and scrapes, {runs} link-down checks)\n",
        TRICKLE.as_secs(),
        s.status_ms.n
    );
    println!("| measure | median (min-max) | target |");
    println!("|---|---:|---|");
    println!("| `mptcp daemon status --json`, whole command, ms | {} | < 100 |", s.status_ms.show(1));
    println!("| scrape of /metrics, ms | {} | < 100 |", s.scrape_ms.show(1));
    println!("| status commands that failed | {} | 0 |", s.status_failures);
    println!("| link down -> its endpoint deleted, ms | {} | - |", s.link_down_to_endpoint_deleted_ms.show(1));
    println!("| slow clients connected at the end | {} of {} | - |", s.slow_connected_at_end, 2 * SLOW);
    s
}
