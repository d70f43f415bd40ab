//! 1,000 random events on 4 interfaces against the `mptcp daemon` process:
//! the endpoint set after each burst, leaks after SIGTERM, memory, and
//! what it does while nothing happens.

use std::time::{Duration, Instant};

use mptcp_netns::{Netns, Path};

use crate::events::{burst, endpoint_set, expected, Rng};
use crate::{ms, Stats};

const BURST: usize = 50;
const IDLE: Duration = Duration::from_secs(10);

#[derive(Debug, serde::Serialize)]
pub struct Soak {
    pub events: usize,
    pub seed: u64,
    pub checks: usize,
    pub mismatches: usize,
    pub settle_ms: Stats,
    pub leaked_after_sigterm: usize,
    pub peak_rss_kib: u64,
    pub idle_seconds: u64,
    pub idle_cpu_ticks: u64,
    pub idle_context_switches: u64,
}

fn status_field(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

/// utime + stime of the process (clock ticks), and context switches of
/// all its threads.
fn activity(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<u64> = after_comm.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // Fields 14 and 15 of stat(5); `after_comm` starts at field 3.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    let mut switches = 0;
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in dir.flatten() {
            let s = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            for l in s.lines() {
                if let Some(v) =
                    l.strip_prefix("voluntary_ctxt_switches:").or(l.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    switches += v.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
    }
    (ticks, switches)
}

fn scrape(ns: &Netns) -> usize {
    use std::io::{Read, Write};
    ns.in_ns(|| {
        let mut s = std::net::TcpStream::connect("127.0.0.1:9477").ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body.len())
    })
    .ok()
    .flatten()
    .unwrap_or(0)
}

pub fn run(mptcp: &str, events: usize) -> Soak {
    let host = Netns::new("shost").unwrap();
    let peer = Netns::new("speer").unwrap();
    let _paths: Vec<Path> = (0..4)
        .map(|i| {
            Path::new(
                &host,
                format!("10.{}.0.1", 60 + i).parse().unwrap(),
                &peer,
                format!("10.{}.0.2", 60 + i).parse().unwrap(),
                24,
            )
            .unwrap()
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("mptcp-daemon-bench-s{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("daemon.toml");
    std::fs::write(&cfg, "default_route = \"any\"\non_exit = \"flush\"\n[limits]\nsubflows = \"keep\"\n").unwrap();
    let mut child = host
        .command(mptcp)
        .args(["daemon", "--config", cfg.to_str().unwrap(), "--runtime-dir", dir.join("run").to_str().unwrap()])
        .args(["--metrics", "127.0.0.1:9477"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let settled = |limit: Duration| -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < limit {
            let (want, got) = (expected(&host), endpoint_set(&host));
            if got == want || (want.len() > 8 && got.len() == 8 && got.is_subset(&want)) {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    };
    settled(Duration::from_secs(10)).expect("the daemon's first endpoints");
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut rng = Rng::new(seed);
    let (mut checks, mut mismatches, mut settle) = (0, 0, Vec::new());
    for _ in 0..events / BURST {
        burst(&host, &peer, &mut rng, BURST);
        // A scrape per burst, as Prometheus would do meanwhile.
        scrape(&host);
        checks += 1;
        match settled(Duration::from_secs(10)) {
            Some(d) => settle.push(ms(d)),
            None => {
                mismatches += 1;
                eprintln!("soak (seed {seed}): want {:?}\n got {:?}", expected(&host), endpoint_set(&host));
            }
        }
    }
    let peak_rss_kib = status_field(pid, "VmHWM:");
    std::thread::sleep(Duration::from_secs(2));
    let before = activity(pid);
    std::thread::sleep(IDLE);
    let after = activity(pid);
    let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = child.wait();
    let leaked = endpoint_set(&host).len();
    let _ = std::fs::remove_dir_all(&dir);
    let s = Soak {
        events,
        seed,
        checks,
        mismatches,
        settle_ms: Stats::of(&settle),
        leaked_after_sigterm: leaked,
        peak_rss_kib,
        idle_seconds: IDLE.as_secs(),
        idle_cpu_ticks: after.0 - before.0,
        idle_context_switches: after.1 - before.1,
    };
    println!("\n### Soak: {events} random events on 4 interfaces, a metrics scrape after each burst (seed {seed})\n");
    println!("| measure | value | target |");
    println!("|---|---:|---|");
    println!(
        "| bursts of {BURST} events whose endpoint set settled on the policy's answer | {}/{} | all |",
        checks - mismatches,
        checks
    );
    println!("| time to settle after a burst, ms (median, min-max) | {} | - |", s.settle_ms.show(0));
    println!("| endpoints left after SIGTERM (on_exit = \"flush\") | {} | 0 |", s.leaked_after_sigterm);
    println!("| peak RSS of the daemon | {:.1} MiB | < 10 MB |", s.peak_rss_kib as f64 / 1024.0);
    println!("| CPU time while idle for {} s | {} ticks | 0 |", s.idle_seconds, s.idle_cpu_ticks);
    println!("| context switches while idle for {} s | {} | 0 |", s.idle_seconds, s.idle_context_switches);
    s
}
