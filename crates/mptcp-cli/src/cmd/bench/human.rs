//! `mptcp bench`'s reports for people. A failed run shows what moved
//! before it failed, never a goodput.

use std::fmt::Write as _;
use std::path::Path;

use mptcp_transfer::aggregate::{TestDirection, TestReport};
use mptcp_transfer::pacing::{Pacing, PacingMethod};
use mptcp_transfer::proto::{Direction, Mode, Status};
use mptcp_transfer::report::{FlowReport, Integrity, Role, SessionReport};
use mptcp_transfer::rr::{Latency, RrReport, RrResult};
use mptcp_transfer::server::ServerRrReport;
use mptcp_transfer::ticker::Interval;
use mptcp_transfer::units::{fmt_bytes, fmt_rate, fmt_rtt};

/// `upload to PEER` and the like, from `role`'s side.
fn way(direction: TestDirection, role: Role, peer: &str) -> String {
    match (direction, role) {
        (TestDirection::Upload, Role::Client) => format!("upload to {peer}"),
        (TestDirection::Upload, Role::Server) => format!("upload from {peer}"),
        (TestDirection::Download, Role::Client) => format!("download from {peer}"),
        (TestDirection::Download, Role::Server) => format!("download to {peer}"),
        (TestDirection::Bidir, _) => format!("both ways with {peer}"),
    }
}

/// One line of the interval report.
pub fn interval_line(i: &Interval, direction: TestDirection) -> String {
    let span = format!("{:>15}", format!("{:.2}-{:.2} s", i.start_s, i.end_s));
    let up = format!("upload {:>10} {:>13}", fmt_bytes(i.upload_bytes), fmt_rate(i.upload_bps));
    let down = format!("download {:>10} {:>13}", fmt_bytes(i.download_bytes), fmt_rate(i.download_bps));
    match direction {
        TestDirection::Upload => format!("  interval {span}  {up}\n"),
        TestDirection::Download => format!("  interval {span}  {down}\n"),
        TestDirection::Bidir => format!("  interval {span}  {up}  {down}\n"),
    }
}

fn integrity_line(s: &mut String, i: &Integrity) {
    if i.verified {
        let _ = writeln!(
            s,
            "  integrity    verified: {} bytes, {} {} on both ends",
            i.receiver_bytes, i.checksum, i.receiver_hash
        );
    } else {
        let _ = writeln!(
            s,
            "  integrity    MISMATCH: sent {} bytes ({} {}), received {} bytes ({})",
            i.sender_bytes, i.checksum, i.sender_hash, i.receiver_bytes, i.receiver_hash
        );
    }
}

fn pacing_line(s: &mut String, p: &Pacing) {
    let how = match p.method {
        PacingMethod::SoMaxPacingRate => "by the kernel (SO_MAX_PACING_RATE)".to_string(),
        PacingMethod::Application => format!("by the application ({})", p.note.as_deref().unwrap_or("")),
    };
    let _ = writeln!(s, "  pacing       {} per connection, {how}", fmt_rate(p.rate_bps as f64));
}

fn flow_lines(s: &mut String, flows: &[FlowReport], max: usize) {
    let _ = writeln!(s, "  subflows     {} seen, at most {max} at once", flows.len());
    for f in flows {
        let rtt = f.rtt_us.map(|u| format!("rtt {}", fmt_rtt(u))).unwrap_or_default();
        let closed = if f.open_at_end { "" } else { "  (closed)" };
        let _ = writeln!(
            s,
            "    {:<44} {:>10} {:>6.1}% {:>12}  {rtt}  retrans {}{closed}",
            f.path,
            fmt_bytes(f.bytes),
            f.share * 100.0,
            fmt_rate(f.rate_bps),
            f.retransmits.unwrap_or(0)
        );
    }
}

fn peer_status(s: Status) -> String {
    if s == Status::Unknown {
        String::new()
    } else {
        format!(" (peer: {s})")
    }
}

/// The report of a throughput test.
pub fn test(r: &TestReport, plot: Option<&Path>) -> String {
    let mut s = String::new();
    let conns = if r.connections == 1 { String::new() } else { format!(", {} connections", r.connections) };
    let proto = if r.requested_mptcp { "MPTCP" } else { "TCP" };
    let _ = writeln!(s, "mptcp bench {}: {} ({proto}{conns})", r.role, way(r.direction, r.role, &r.peer));
    let ran = r.streams.iter().any(|x| x.report.is_some());
    if ran {
        let _ = writeln!(
            s,
            "  status       {}{}, congestion {}",
            r.status,
            peer_status(r.peer_status),
            r.congestion.as_deref().unwrap_or("?")
        );
    }
    match (&r.error, r.goodput_bps) {
        (None, Some(g)) => {
            let _ = writeln!(s, "  data         {} in {:.2} s", fmt_bytes(r.bytes), r.duration_s);
            if let (Some(u), Some(d)) = (&r.upload, &r.download) {
                let rate = |g: Option<f64>| g.map(fmt_rate).unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    s,
                    "  goodput      {} (upload {}, download {})",
                    fmt_rate(g),
                    rate(u.goodput_bps),
                    rate(d.goodput_bps)
                );
            } else {
                let _ = writeln!(s, "  goodput      {}", fmt_rate(g));
            }
        }
        (error, _) => {
            let _ = writeln!(s, "  FAILED       {}", error.as_deref().unwrap_or("the data did not verify"));
            let _ = writeln!(
                s,
                "  data         {} moved by this end before the failure (no goodput: the run failed)",
                fmt_bytes(r.moved_bytes)
            );
        }
    }
    if !ran {
        return s;
    }
    integrity_line(&mut s, &r.integrity);
    let mr = r.mptcp_retransmits.map(|m| format!(", MPTCP level {m}")).unwrap_or_default();
    let _ = writeln!(s, "  retransmits  {} segments{mr}", r.retransmits);
    if let Some(p) = &r.pacing {
        pacing_line(&mut s, p);
    }
    flow_lines(&mut s, &r.subflows, r.max_subflows);
    if r.streams.len() > 1 {
        let _ = writeln!(s, "  connections");
        for c in &r.streams {
            let dir = match c.direction {
                Direction::Upload => "upload",
                Direction::Download => "download",
            };
            let what = match (&c.report, &c.error) {
                (Some(rep), None) => format!(
                    "{:>12}  {}  {} subflow{}  verified",
                    fmt_rate(rep.goodput_bps),
                    rep.status,
                    rep.max_subflows,
                    if rep.max_subflows == 1 { "" } else { "s" }
                ),
                (_, Some(e)) => format!("FAILED: {e}"),
                (None, None) => "?".into(),
            };
            let _ = writeln!(s, "    #{:<3} {dir:<8} {what}", c.index);
        }
    }
    if let Some(p) = plot {
        let _ = writeln!(s, "  plot         {}", p.display());
    }
    s
}

/// The report of one standalone data connection (the server's view).
pub fn session(r: &SessionReport) -> String {
    let dir = match r.direction {
        Direction::Upload => TestDirection::Upload,
        Direction::Download => TestDirection::Download,
    };
    let mut s = String::new();
    let _ = writeln!(s, "mptcp bench {}: {}", r.role, way(dir, r.role, &r.peer));
    let _ = writeln!(
        s,
        "  status       {}{}, congestion {}",
        r.status,
        peer_status(r.peer_status),
        r.congestion.as_deref().unwrap_or("?")
    );
    let _ = writeln!(s, "  data         {} in {:.2} s", fmt_bytes(r.bytes), r.duration_s);
    if r.integrity.verified {
        let _ = writeln!(s, "  goodput      {}", fmt_rate(r.goodput_bps));
    }
    integrity_line(&mut s, &r.integrity);
    flow_lines(&mut s, &r.subflows, r.max_subflows);
    s
}

/// Microseconds for people.
fn us(v: f64) -> String {
    if v < 1000.0 {
        format!("{v:.0} us")
    } else {
        format!("{:.2} ms", v / 1000.0)
    }
}

/// The side-by-side report of a request/response test.
pub fn rr(r: &RrReport) -> String {
    let mut s = String::new();
    let (name, what) = match r.mode {
        Mode::Crr => ("--crr", "a connection per transaction"),
        _ => ("--rr", "transactions on open connections"),
    };
    let _ = writeln!(
        s,
        "mptcp bench client: request/response ({name}: {what}) with {}, {}-byte requests, {}-byte responses, {} at once",
        r.peer, r.request_size, r.response_size, r.parallel
    );
    let head: Vec<String> = r.results.iter().map(|x| x.protocol.to_uppercase()).collect();
    let row = |s: &mut String, label: &str, f: &dyn Fn(&RrResult) -> String| {
        let cells: String = r.results.iter().map(|x| format!("{:>16}", f(x))).collect();
        let _ = writeln!(s, "  {label:<16}{cells}");
    };
    let _ = writeln!(s, "  {:<16}{}", "", head.iter().map(|h| format!("{h:>16}")).collect::<String>());
    row(&mut s, "status", &|x| x.status.to_string());
    row(&mut s, "connections", &|x| x.connections.to_string());
    row(&mut s, "transactions", &|x| x.transactions.to_string());
    let unit = if r.mode == Mode::Crr { "conn/s" } else { "trans/s" };
    row(&mut s, "rate", &|x| x.rate_per_s.map(|v| format!("{v:.1} {unit}")).unwrap_or_else(|| "FAILED".into()));
    let lat =
        |f: fn(&Latency) -> f64| move |x: &RrResult| x.latency.as_ref().map(|l| us(f(l))).unwrap_or_else(|| "-".into());
    row(&mut s, "latency p50", &lat(|l| l.p50_us));
    row(&mut s, "latency p90", &lat(|l| l.p90_us));
    row(&mut s, "latency p99", &lat(|l| l.p99_us));
    row(&mut s, "latency max", &lat(|l| l.max_us));
    row(&mut s, "latency mean", &lat(|l| l.mean_us));
    for x in &r.results {
        if let Some(e) = &x.error {
            let _ = writeln!(s, "  {} FAILED: {e}", x.protocol.to_uppercase());
        }
    }
    s
}

/// The server's line for a request/response test.
pub fn server_rr(r: &ServerRrReport) -> String {
    let name = if r.mode == Mode::Crr { "crr" } else { "rr" };
    let mut s = format!(
        "mptcp bench server: {name} test from {}: {} connections, {} transactions ({} mptcp, {} fallback, {} tcp)\n",
        r.peer, r.connections, r.transactions, r.statuses.mptcp, r.statuses.fallback, r.statuses.tcp
    );
    if let Some(e) = &r.error {
        let _ = writeln!(s, "  FAILED       {e}");
    }
    s
}
