//! Failover: an upload over 2 x 50 Mbit/s; one path's link goes down at
//! 3 s and comes back 3 s later. Measured at the receiver (stall) and on
//! the sender's interface (data on the path again), with the kernel path
//! manager alone (the same endpoints, configured once) and with the daemon.
//! The stall is `mptcp lab`'s, computed by the same code (`mptcp_transfer::stall`).

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mptcp::MptcpBuilder;
use mptcp_netns::{Netns, Path};

use crate::{ms, stall, Stats};

const BUCKET: Duration = Duration::from_millis(50);
const WARMUP: Duration = Duration::from_secs(3);
const OUTAGE: Duration = Duration::from_secs(3);
const AFTER: Duration = Duration::from_secs(3);
/// A path "carries data again" when this much leaves through it in 50 ms.
const BACK_BYTES: u64 = 64 * 1024;

#[derive(Debug, serde::Serialize)]
pub struct Run {
    pub stall_ms: f64,
    pub back_ms: f64,
    pub remaining_mbps: f64,
    pub bytes: u64,
    pub intact: bool,
    /// Receiver goodput in the 50 ms samples after the link went down, Mbit/s.
    pub samples_mbps: Vec<f64>,
}

#[derive(Debug, serde::Serialize)]
pub struct Case {
    pub path: String,
    pub daemon: bool,
    pub stall_ms: Stats,
    pub back_ms: Stats,
    pub runs: Vec<Run>,
}

#[derive(Debug, serde::Serialize)]
pub struct Failover {
    pub cases: Vec<Case>,
}

fn tx_bytes(dev: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default();
    text.lines()
        .find(|l| l.trim_start().starts_with(&format!("{dev}:")))
        .and_then(|l| l.split_once(':').unwrap().1.split_whitespace().nth(8)?.parse().ok())
        .unwrap_or(0)
}

fn one(mptcp: &str, fail: usize, daemon: bool) -> Run {
    let client = Netns::new("fclient").unwrap();
    let server = Netns::new("fserver").unwrap();
    let paths: Vec<Path> = (0..2)
        .map(|i| {
            Path::new(
                &client,
                format!("10.{}.0.1", 97 + i).parse().unwrap(),
                &server,
                format!("10.{}.0.2", 97 + i).parse().unwrap(),
                24,
            )
            .unwrap()
        })
        .collect();
    for p in &paths {
        p.shape(50_000_000).unwrap();
    }
    // A multi-homed client: a default route through each path.
    client.ip(&["route", "add", "default", "via", "10.97.0.2", "dev", "p0", "metric", "100"]).unwrap();
    client.ip(&["route", "add", "default", "via", "10.98.0.2", "dev", "p1", "metric", "200"]).unwrap();
    server.in_ns(|| mptcp::pm::PathManager::new().unwrap().set_limits(Some(8), Some(0)).unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("mptcp-daemon-bench-f{}", std::process::id()));
    let mut child = None;
    if daemon {
        let c = client
            .command(mptcp)
            .args(["daemon", "--runtime-dir", dir.to_str().unwrap()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child = Some(c);
        let end = Instant::now() + Duration::from_secs(10);
        while client.in_ns(|| mptcp::pm::PathManager::new().unwrap().endpoints().unwrap().len()).unwrap() < 2 {
            assert!(Instant::now() < end, "the daemon made no endpoints");
            std::thread::sleep(Duration::from_millis(10));
        }
    } else {
        // What the daemon would make, made once, as an administrator would.
        for (a, dev) in [("10.97.0.1", "p0"), ("10.98.0.1", "p1")] {
            client.ip(&["mptcp", "endpoint", "add", a, "dev", dev, "subflow"]).unwrap();
        }
        client.ip(&["mptcp", "limits", "set", "subflows", "2"]).unwrap();
    }
    let listener = server.in_ns(|| MptcpBuilder::new().congestion("cubic").bind("0.0.0.0:5201").unwrap()).unwrap();
    let receiver = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let mut log: Vec<(Instant, usize)> = Vec::new();
        loop {
            match s.read(&mut buf) {
                Ok(0) => return log,
                Ok(n) => log.push((Instant::now(), n)),
                Err(e) => panic!("receiver: {e}"),
            }
        }
    });
    let mut stream =
        client.in_ns(|| MptcpBuilder::new().congestion("cubic").connect("10.97.0.2:5201").unwrap()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let sender = std::thread::spawn(move || {
        let chunk = vec![0xa5u8; 64 * 1024];
        let mut sent = 0u64;
        while !st.load(Ordering::Relaxed) {
            stream.write_all(&chunk).unwrap();
            sent += chunk.len() as u64;
        }
        stream.shutdown(Shutdown::Write).unwrap();
        sent
    });
    let dev = format!("p{fail}");
    let sst = stop.clone();
    let sampler = client
        .spawn(move || {
            let mut v = Vec::new();
            while !sst.load(Ordering::Relaxed) {
                v.push((Instant::now(), tx_bytes(&dev)));
                std::thread::sleep(Duration::from_millis(10));
            }
            v
        })
        .unwrap();
    std::thread::sleep(WARMUP);
    let t_down = Instant::now();
    paths[fail].down().unwrap();
    std::thread::sleep(OUTAGE);
    let t_up = Instant::now();
    paths[fail].up().unwrap();
    std::thread::sleep(AFTER);
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    let log = receiver.join().unwrap();
    let tx = sampler.join().unwrap();
    if let Some(mut c) = child {
        let _ = std::process::Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let _ = c.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
    let received: u64 = log.iter().map(|(_, n)| *n as u64).sum();

    // The stall, over the outage: receiver goodput in 50 ms samples from the
    // moment the link went down.
    let reads: Vec<(Instant, u64)> = log.iter().map(|(t, n)| (*t, *n as u64)).collect();
    let st = stall::measure(&reads, t_down, t_down + OUTAGE).expect("an outage of many samples");
    // The failed path carries data again: 64 KiB leave through it within 50 ms.
    let back = tx
        .iter()
        .enumerate()
        .filter(|(_, (t, _))| *t >= t_up)
        .find_map(|(i, (t, b))| {
            let later = tx[i..].iter().find(|(t2, _)| *t2 >= *t + BUCKET)?;
            (later.1.saturating_sub(*b) >= BACK_BYTES).then(|| ms(*t - t_up))
        })
        .unwrap_or(f64::NAN);
    Run {
        stall_ms: st.ms.unwrap_or(f64::NAN),
        back_ms: back,
        remaining_mbps: st.reference_bps / 1e6,
        bytes: received,
        intact: received == sent,
        samples_mbps: st.samples_bps.iter().map(|b| (b / 1e5).round() / 10.0).collect(),
    }
}

pub fn run(mptcp: &str, runs: usize) -> Failover {
    let defs = [(0, false), (0, true), (1, false), (1, true)];
    let mut all: Vec<Vec<Run>> = defs.iter().map(|_| Vec::new()).collect();
    for r in 0..runs {
        for (i, (fail, daemon)) in defs.iter().enumerate() {
            let run = one(mptcp, *fail, *daemon);
            eprintln!(
                "failover run {}/{runs}: path {} down, {}: stall {:.0} ms, back after {:.0} ms, remaining {:.1} Mbit/s, intact {}",
                r + 1,
                fail,
                if *daemon { "daemon" } else { "kernel PM alone" },
                run.stall_ms,
                run.back_ms,
                run.remaining_mbps,
                run.intact
            );
            all[i].push(run);
        }
    }
    let cases: Vec<Case> = defs
        .iter()
        .zip(all)
        .map(|((fail, daemon), runs)| Case {
            path: if *fail == 0 { "initial subflow's path".into() } else { "joined path".into() },
            daemon: *daemon,
            stall_ms: Stats::of(&runs.iter().map(|r| r.stall_ms).collect::<Vec<_>>()),
            back_ms: Stats::of(&runs.iter().map(|r| r.back_ms).collect::<Vec<_>>()),
            runs,
        })
        .collect();
    println!(
        "\n### Failover: 2 x 50 Mbit/s upload, one path's link down at 3 s ({runs} runs each, median (min-max))\n"
    );
    println!(
        "Stall = from the link going down until the receiver gets {:.0}% of the remaining path's rate: the first {} ms sample \
         that does, with the mean of the {} ms from it doing so too (mptcp lab's definition, crates/mptcp-transfer/src/stall.rs).\n",
        stall::FRACTION * 100.0,
        stall::SAMPLE.as_millis(),
        stall::SAMPLE.as_millis() * stall::HOLD as u128
    );
    println!(
        "| path taken down | kernel PM alone: stall, ms | with mptcp daemon: stall, ms | daemon / kernel | target |"
    );
    println!("|---|---:|---:|---:|---|");
    for pair in cases.chunks(2) {
        let (k, d) = (&pair[0], &pair[1]);
        println!(
            "| {} | {} | {} | {:.2} | <= 0.50 |",
            k.path,
            k.stall_ms.show(0),
            d.stall_ms.show(0),
            d.stall_ms.median / k.stall_ms.median
        );
    }
    println!(
        "\nThe path comes back after a {} s outage: time until 64 KiB leave through it within 50 ms.\n",
        OUTAGE.as_secs()
    );
    println!("| path | kernel PM alone, ms | with mptcp daemon, ms | target |");
    println!("|---|---:|---:|---|");
    for pair in cases.chunks(2) {
        println!("| {} | {} | {} | <= 1000 ms |", pair[0].path, pair[0].back_ms.show(0), pair[1].back_ms.show(0));
    }
    let broken = cases.iter().flat_map(|c| &c.runs).filter(|r| !r.intact).count();
    println!("\nTransfers with bytes missing: {broken}.");
    Failover { cases }
}
