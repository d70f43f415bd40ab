//! The scale benchmark's table: medians with their ranges, ratios, targets.

use super::common::Mode;
use super::Sample;

/// The first lines: what was run, on what.
pub fn header(connections: u32, requests: u32, size: u32, concurrency: u32, runs: u32) -> String {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(|| "unknown".into(), |o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "commit {commit}, kernel {}, {cpus} CPUs; {connections} connections held at once, {requests} requests of {size} bytes each, \
         setup {concurrency} at a time; one unshaped veth path between two namespaces; median (min-max) of {runs} runs",
        kernel.trim()
    )
}

/// Median and range of some numbers.
#[derive(Debug, Clone, Copy)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Spread {
        if v.is_empty() {
            return Spread { median: 0.0, min: 0.0, max: 0.0 };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Spread { median, min: v[0], max: v[n - 1] }
    }

    fn show(self, scale: f64, decimals: usize) -> String {
        let f = |x: f64| format!("{:.*}", decimals, x / scale);
        format!("{} ({}-{})", f(self.median), f(self.min), f(self.max))
    }
}

/// One number taken from a sample.
type Measure = dyn Fn(&Sample) -> f64;

/// Client and server CPU time in the request phase, per request, µs.
pub fn cpu_per_request(s: &Sample) -> f64 {
    let n = (s.client.connections * s.client.requests).max(1) as f64;
    (s.cpu.request_client + s.cpu.request_server) * 1e6 / n
}

/// CPU cores both ends used in the request phase: below the machine's
/// count, something else had the rest (or the peers waited).
pub fn cores(s: &Sample) -> f64 {
    (s.cpu.request_client + s.cpu.request_server) / s.client.request_secs.max(1e-9)
}

/// Client and server CPU time in the setup phase, per connection, µs.
fn cpu_per_connection(s: &Sample) -> f64 {
    (s.cpu.setup_client + s.cpu.setup_server) * 1e6 / s.client.connections.max(1) as f64
}

fn spread(samples: &[&Sample], f: impl Fn(&Sample) -> f64) -> Spread {
    Spread::of(samples.iter().map(|s| f(s)).collect())
}

/// Renders the table; the flag says whether every run was clean (no
/// error, every status right) and every target met.
pub fn render(samples: &[Sample], peers: &[&str], modes: &[Mode], connections: u32) -> (String, bool) {
    let mut out = String::new();
    let mut ok = true;
    let pick = |peer: &str, mode: Mode| -> Vec<&Sample> {
        samples.iter().filter(|s| s.peer == peer && s.mode == mode).collect()
    };
    out.push_str("\n| peer | mode | requests/s | connections/s | p99 latency (ms) | server memory/conn (KiB) | CPU µs/request | CPU µs/connection | cores used (requests) | errors client/server | status client | status server |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n");
    for &peer in peers {
        for &mode in modes {
            let v = pick(peer, mode);
            let errors_c: u64 = v.iter().map(|s| s.client.errors).sum();
            let errors_s: u64 = v.iter().map(|s| s.server.errors + u64::from(s.server.timed_out)).sum();
            let wrong = |client: bool| {
                let bad = v
                    .iter()
                    .filter(
                        |s| if client { !s.statuses_right(connections).0 } else { !s.statuses_right(connections).1 },
                    )
                    .count();
                if bad == 0 {
                    "right".to_string()
                } else {
                    format!("WRONG in {bad} run(s)")
                }
            };
            let (sc, ss) = (wrong(true), wrong(false));
            ok &= errors_c == 0 && errors_s == 0 && sc == "right" && ss == "right";
            out.push_str(&format!(
                "| {peer} | {} | {} | {} | {} | {} | {} | {} | {} | {errors_c}/{errors_s} | {sc} | {ss} |\n",
                mode.as_str(),
                spread(&v, |s| s.client.rps).show(1.0, 0),
                spread(&v, |s| s.client.cps).show(1.0, 0),
                spread(&v, |s| s.client.latency_us.p99 as f64).show(1000.0, 1),
                spread(&v, |s| s.server.bytes_per_conn).show(1024.0, 2),
                spread(&v, cpu_per_request).show(1.0, 1),
                spread(&v, cpu_per_connection).show(1.0, 1),
                spread(&v, cores).show(1.0, 2),
            ));
        }
    }
    if peers.len() < 2 {
        return (out, ok);
    }
    let (a, b) = (peers[0], peers[1]);
    let med = |peer: &str, mode: Mode, f: &dyn Fn(&Sample) -> f64| spread(&pick(peer, mode), f).median;
    // Throughput in wall-clock time, and per CPU-second of both ends (the
    // inverse of the CPU columns: higher is better, like requests/s).
    let measures: [(&str, &Measure); 4] = [
        ("requests/s", &|s: &Sample| s.client.rps),
        ("connections/s", &|s: &Sample| s.client.cps),
        ("requests per CPU-second", &|s: &Sample| 1e6 / cpu_per_request(s)),
        ("connections per CPU-second", &|s: &Sample| 1e6 / cpu_per_connection(s)),
    ];
    let mem = |s: &Sample| s.server.bytes_per_conn;
    out.push_str(&format!(
        "\nRatios of the medians, {a} / {b} (higher is better; memory: lower is better):\n\n\
         | mode | requests/s | connections/s | requests per CPU-second | connections per CPU-second | memory/conn |\n\
         |---|---:|---:|---:|---:|---:|\n"
    ));
    let mut verdicts = Vec::new();
    for &mode in modes {
        let r: Vec<f64> = measures.iter().map(|(_, f)| med(a, mode, *f) / med(b, mode, *f)).collect();
        let m = med(a, mode, &mem) / med(b, mode, &mem);
        out.push_str(&format!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {m:.3} |\n",
            mode.as_str(),
            r[0],
            r[1],
            r[2],
            r[3]
        ));
        if mode != Mode::Half {
            for ((name, _), ratio) in measures.iter().zip(&r) {
                verdicts.push((format!("{a} >= {b} in {name}, {}", mode.as_str()), *ratio >= 1.0));
            }
        }
    }
    if modes.contains(&Mode::Mptcp) && modes.contains(&Mode::Tcp) {
        out.push_str(
            "\nMPTCP / TCP, ratio of the medians (what MPTCP costs each peer; higher is better):\n\n\
             | peer | requests/s | connections/s | requests per CPU-second | connections per CPU-second |\n|---|---:|---:|---:|---:|\n",
        );
        let ratio = |peer: &str, f: &dyn Fn(&Sample) -> f64| med(peer, Mode::Mptcp, f) / med(peer, Mode::Tcp, f);
        for &peer in peers {
            let r: Vec<f64> = measures.iter().map(|(_, f)| ratio(peer, *f)).collect();
            out.push_str(&format!("| {peer} | {:.3} | {:.3} | {:.3} | {:.3} |\n", r[0], r[1], r[2], r[3]));
        }
        for (name, f) in measures {
            verdicts.push((format!("MPTCP/TCP ratio of {name}: {a} >= {b}"), ratio(a, f) >= ratio(b, f)));
        }
    }
    out.push_str("\nTargets:\n");
    for (what, met) in verdicts {
        ok &= met;
        out.push_str(&format!("- {what}: {}\n", if met { "yes" } else { "NO" }));
    }
    (out, ok)
}
