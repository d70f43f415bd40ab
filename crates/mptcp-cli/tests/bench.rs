//! Integration tests of `mptcp bench` (and `mptcp check --send`) in network
//! namespaces, against real peers: misbehaving ones (python's http.server,
//! a server that accepts and never reads, one that closes at once, a bench
//! server stopped or killed mid-transfer) and `mptcp bench server` itself.
//!
//! A bounded run time is asserted only as "the command returned before a
//! generous hard timeout", never as a speed; exit status and message are
//! asserted.

mod common;

use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use common::{text, wait_listening, Proc};
use mptcp_netns::{Netns, Path};
use serde_json::Value;

const SERVER: &str = "10.130.0.2";
/// Any command here returns well before this, or the test fails.
const HARD_TIMEOUT: Duration = Duration::from_secs(90);

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mptcp")
}

/// Waits (bounded by [`HARD_TIMEOUT`]) for a peer to exit; its status and stdout.
fn finish(p: Proc) -> (ExitStatus, String) {
    let (status, out, _) = p.wait(HARD_TIMEOUT);
    (status.unwrap_or_else(|| panic!("server still running after {HARD_TIMEOUT:?}")), out)
}

/// A client namespace and a server namespace joined by one 200 Mbit/s path.
fn pair() -> (Netns, Netns, Path) {
    let c = Netns::new("bcli").unwrap();
    let s = Netns::new("bsrv").unwrap();
    let p = Path::new(&c, "10.130.0.1".parse().unwrap(), &s, "10.130.0.2".parse().unwrap(), 24).unwrap();
    p.shape(200_000_000).unwrap();
    (c, s, p)
}

/// Starts `args` in `ns` with stdout piped (stderr inherited), and waits
/// until something listens on TCP port `port` there.
fn start(ns: &Netns, program: &str, args: &[&str], port: u16) -> Proc {
    let p = Proc::spawn(ns.command(program).args(args).current_dir(std::env::temp_dir()).stdout(Stdio::piped()));
    wait_listening(ns, port, Duration::from_secs(20));
    p
}

fn bench_server(s: &Netns, once: bool) -> Proc {
    let mut args = vec!["bench", "server", "--bind", "0.0.0.0", "--json"];
    if once {
        args.push("--once");
    }
    start(s, bin(), &args, 5201)
}

/// A plain-TCP python server on port 5201: `accept` then `code` per
/// connection `c` (the list `keep` holds sockets open).
fn python_server(s: &Netns, code: &str) -> Proc {
    let script = format!(
        "import socket\nls = socket.socket()\nls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         ls.bind(('{SERVER}', 5201))\nls.listen(64)\nkeep = []\nwhile True:\n    c, _ = ls.accept()\n    {code}\n"
    );
    start(s, "python3", &["-c", &script], 5201)
}

/// Runs the binary in `ns`; panics if it outlives [`HARD_TIMEOUT`].
fn run_in(ns: &Netns, args: &[&str]) -> Output {
    let (status, stdout, stderr) = common::output(ns.command(bin()).args(args), HARD_TIMEOUT);
    let status = status.unwrap_or_else(|| panic!("`mptcp {}` did not return within {HARD_TIMEOUT:?}", args.join(" ")));
    Output { status, stdout, stderr }
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn client(c: &Netns, args: &[&str]) -> Output {
    let mut v = vec!["bench", "client", SERVER];
    v.extend_from_slice(args);
    run_in(c, &v)
}

/// Fault 1: a server that is not `mptcp bench` is an error that says so,
/// both ways, and with --json the object says so too.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_server_that_is_not_bench_is_named_as_such() {
    mptcp_netns::require_root();
    let (c, s, _p) = pair();
    let _http = start(&s, "python3", &["-m", "http.server", "5201", "--bind", SERVER], 5201);
    for extra in [&[][..], &["-R"]] {
        let mut args = vec!["-t", "3"];
        args.extend_from_slice(extra);
        let o = client(&c, &args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("is not an `mptcp bench server`: it answered"), "{args:?}: {err}");
    }
    let o = client(&c, &["-t", "3", "--json"]);
    let v = json(&text(&o.stdout));
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("not an `mptcp bench server`"), "{v}");
}

/// Fault 2: a server that accepts and never reads (or answers): the
/// client stops soon after its time limit and says it timed out.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_server_that_never_reads_times_out() {
    mptcp_netns::require_root();
    let (c, s, _p) = pair();
    let _sink = python_server(&s, "keep.append(c)");
    for extra in [&[][..], &["-R"]] {
        let mut args = vec!["-t", "3"];
        args.extend_from_slice(extra);
        let o = client(&c, &args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("timed out"), "{args:?}: {err}");
    }
}

/// Fault 2, mid-transfer: a bench server that stops (SIGSTOP) while data
/// flows. Uploads see it stop reading, downloads see no more data.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_server_that_stops_mid_transfer_times_out() {
    mptcp_netns::require_root();
    let (c, s, _p) = pair();
    for (extra, says) in [(&[][..], "took no data (it stopped reading)"), (&["-R"][..], "sent no data for")] {
        let server = bench_server(&s, false);
        let stopper = std::thread::spawn({
            let pid = server.pid();
            move || {
                std::thread::sleep(Duration::from_millis(1500));
                let _ = Command::new("kill").args(["-STOP", &pid.to_string()]).status();
            }
        });
        let mut args = vec!["-t", "30", "--json"];
        args.extend_from_slice(extra);
        let o = client(&c, &args);
        stopper.join().unwrap();
        server.signal("CONT");
        let v = json(&text(&o.stdout));
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o.stderr));
        let e = v["error"].as_str().unwrap();
        assert!(e.contains("timed out") && e.contains(says), "{args:?}: {e}");
        assert_eq!(v["goodput_bps"], Value::Null, "no goodput for a failed run: {v}");
    }
}

/// Fault 3: a bench server killed mid-transfer: the download says the
/// stream ended before its end marker, the upload that the server went
/// away; neither shows a goodput, both exit 1.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_server_killed_mid_transfer_fails_without_a_goodput() {
    mptcp_netns::require_root();
    let (c, s, _p) = pair();
    for (extra, says) in [(&["-R"][..], "ended before its end marker"), (&[][..], "upload to")] {
        let server = bench_server(&s, false);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            drop(server);
        });
        let mut args = vec!["-t", "20", "--json"];
        args.extend_from_slice(extra);
        let o = client(&c, &args);
        killer.join().unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        let v = json(&text(&o.stdout));
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["goodput_bps"], Value::Null, "{v}");
        assert!(v["error"].as_str().unwrap().contains(says), "{v}");
        assert!(v["moved_bytes"].as_u64().unwrap() > 0, "what moved before is still told: {v}");
        assert!(err.contains(says) && !err.contains("MISMATCH"), "{err}");
    }
}

/// Fault 7: `check --send` against a server that closes at once names the
/// step that failed and what it means.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn check_send_names_the_step_when_the_server_closes_at_once() {
    mptcp_netns::require_root();
    let (c, s, _p) = pair();
    let _closer = python_server(&s, "c.close()");
    let o = run_in(&c, &["check", &format!("{SERVER}:5201"), "--send", "hello"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("step send") || err.contains("step receive"), "{err}");
    assert!(err.contains("the server reset the connection") || err.contains("closed"), "{err}");
}

/// -P 4: four connections, on the client and in the server's report.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn four_parallel_connections_on_both_ends() {
    mptcp_netns::require_root();
    let (c, s, _p) = pair();
    let server = bench_server(&s, true);
    let o = client(&c, &["-P", "4", "-t", "2", "--json"]);
    let (st, out) = finish(server);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(st.success());
    let (cl, sv) = (json(&text(&o.stdout)), json(&out));
    for v in [&cl, &sv] {
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["connections"], 4);
        let streams = v["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 4, "{v}");
        assert!(streams.iter().all(|x| x["ok"] == true && x["report"]["integrity"]["verified"] == true));
    }
    // Four distinct connections: four local ports on the client.
    let mut ports: Vec<&str> = cl["subflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().split(" -> ").next().unwrap())
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 4, "{ports:?}");
    assert_eq!(cl["integrity"]["sender_hash"], sv["integrity"]["receiver_hash"]);
}

/// --bidir: data both ways at once, verified both ways on both ends.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn bidir_moves_verified_data_both_ways() {
    mptcp_netns::require_root();
    let (c, s, _p) = pair();
    let server = bench_server(&s, true);
    let o = client(&c, &["--bidir", "-t", "2", "--json"]);
    let (st, out) = finish(server);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(st.success());
    for v in [json(&text(&o.stdout)), json(&out)] {
        assert_eq!(v["direction"], "bidir", "{v}");
        assert_eq!(v["integrity"]["verified"], true, "{v}");
        for d in ["upload", "download"] {
            assert!(v[d]["bytes"].as_u64().unwrap() > 0, "{d}: {v}");
            let one: Vec<&Value> = v["streams"].as_array().unwrap().iter().filter(|x| x["direction"] == d).collect();
            assert_eq!(one.len(), 1, "{v}");
            let i = &one[0]["report"]["integrity"];
            assert_eq!(i["verified"], true, "{d}: {v}");
            assert_eq!(i["sender_hash"], i["receiver_hash"]);
        }
    }
}

/// -i 1 with stdout a pipe: one interval line per second of the run.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn interval_lines_on_a_pipe() {
    mptcp_netns::require_root();
    let (c, s, _p) = pair();
    let server = bench_server(&s, true);
    let o = client(&c, &["-t", "4", "-i", "1"]);
    let _ = finish(server);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let lines = out.lines().filter(|l| l.trim_start().starts_with("interval ")).count();
    assert!((3..=5).contains(&lines), "4 s at -i 1 gave {lines} interval lines:\n{out}");
}

/// -b: the pacing rate is set on the socket (read back) for plain TCP,
/// and said in the JSON for both protocols and for downloads.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn pacing_is_set_and_reported() {
    mptcp_netns::require_root();
    let (c, s, _p) = pair();
    let server = bench_server(&s, false);
    let o = client(&c, &["--tcp", "-b", "20M", "-t", "1", "--json"]);
    let v = json(&text(&o.stdout));
    assert!(o.status.success(), "{v}");
    assert_eq!(v["pacing"]["method"], "so_max_pacing_rate", "{v}");
    assert_eq!(v["pacing"]["rate_bps"], 20_000_000);
    assert_eq!(v["pacing"]["socket_rate_bps"], 20_000_000, "read back from the socket: {v}");
    for extra in [&[][..], &["-R"]] {
        let mut args = vec!["-b", "20M", "-t", "1", "--json"];
        args.extend_from_slice(extra);
        let o = client(&c, &args);
        let v = json(&text(&o.stdout));
        assert!(o.status.success(), "{args:?}: {v}");
        assert_eq!(v["pacing"]["rate_bps"], 20_000_000, "{args:?}: {v}");
        let m = v["pacing"]["method"].as_str().unwrap();
        assert!(m == "application" || m == "so_max_pacing_rate", "{m}");
    }
    drop(server);
}

/// --rr and --crr: latency percentiles and rates, MPTCP and TCP side by
/// side, and the server counted the same transactions.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn rr_and_crr_side_by_side() {
    mptcp_netns::require_root();
    let (c, s, _p) = pair();
    let server = bench_server(&s, false);
    for mode in ["--rr", "--crr"] {
        let o = client(&c, &[mode, "-t", "1", "--json"]);
        let v = json(&text(&o.stdout));
        assert!(o.status.success(), "{mode}: {v}");
        let r = v["results"].as_array().unwrap();
        assert_eq!((r[0]["protocol"].as_str(), r[1]["protocol"].as_str()), (Some("mptcp"), Some("tcp")), "{v}");
        assert_eq!((r[0]["status"].as_str(), r[1]["status"].as_str()), (Some("mptcp"), Some("tcp")), "{v}");
        for x in r {
            let n = x["transactions"].as_u64().unwrap();
            assert!(n > 0 && x["rate_per_s"].as_f64().unwrap() > 0.0, "{x}");
            let l = &x["latency"];
            let p: Vec<f64> =
                ["min_us", "p50_us", "p90_us", "p99_us", "max_us"].iter().map(|k| l[k].as_f64().unwrap()).collect();
            assert!(p.windows(2).all(|w| w[0] <= w[1]), "percentiles in order: {l}");
            if mode == "--rr" {
                assert_eq!(x["server_transactions"].as_u64(), Some(n), "{x}");
            } else {
                assert_eq!(x["connections"].as_u64(), Some(n), "one transaction per connection: {x}");
            }
        }
    }
    drop(server);
}

/// --tcp counts its data once: one flow, whose bytes are the transfer's.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn tcp_counts_its_data_once() {
    mptcp_netns::require_root();
    let (c, s, _p) = pair();
    let server = bench_server(&s, true);
    let o = client(&c, &["--tcp", "-t", "1", "--json"]);
    let _ = finish(server);
    let v = json(&text(&o.stdout));
    assert!(o.status.success(), "{v}");
    let flows = v["subflows"].as_array().unwrap();
    assert_eq!(flows.len(), 1, "{v}");
    let (bytes, flow) = (v["bytes"].as_u64().unwrap(), flows[0]["bytes"].as_u64().unwrap());
    // The flow also carried the hello and the end marker.
    assert!(flow >= bytes && flow <= bytes + 200, "flow {flow} vs data {bytes}");
    assert_eq!(v["retransmits"].as_u64(), flows[0]["retransmits"].as_u64());
}

/// Every option is checked before anything is sent: exit 2 with the
/// allowed range, no panic, no connection made.
#[test]
fn every_option_is_checked_before_anything_is_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["-P", "0"], "1..=128"),
        (&["-P", "129"], "1..=128"),
        (&["-P", "99999999999999"], "1..=128"),
        (&["-i", "0"], "0.1 to 3600"),
        (&["-i", "nan"], "0.1 to 3600"),
        (&["-i", "1e300"], "0.1 to 3600"),
        (&["-b", "garbage"], "1k to 10T"),
        (&["-b", "0"], "1k to 10T"),
        (&["-t", "0"], "seconds"),
        (&["-t", "1e300"], "seconds"),
        (&["-t", "-1"], "expected seconds from"),
        (&["-i", "-2"], "0.1 to 3600"),
        (&["-n", "3", "-P", "4"], "cannot be shared"),
        (&["-n", "lots"], "positive size"),
        (&["-p", "0"], "1..=65535"),
        (&["-p", "70000"], "1..=65535"),
        (&["--stall-timeout", "0"], "0.5 to 3600"),
        (&["--sample-ms", "5"], "10 to 10000"),
        (&["--rr", "--bidir"], "cannot be used with"),
        (&["--crr", "-b", "1M"], "cannot be used with"),
        (&["--count", "5"], "apply to --rr"),
        (&["--rr", "--count", "0"], "1 to 1000000000"),
        (&["--rr", "--count", "2", "-P", "4"], "cannot be shared by 4 connections"),
        (&["--rr", "--size", "0"], "1 byte to 16M"),
        (&["--rr", "--size", "17M"], "1 byte to 16M"),
        (&["--congestion", "no such"], "congestion"),
        (&["--plot", "/no/such/dir/x.svg"], "does not exist"),
    ];
    for (args, says) in cases {
        let o = Command::new(bin()).args(["bench", "client", &target]).args(*args).output().unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let o = Command::new(bin()).args(["bench", "client", "127.0.0.1:80", "-p", "81"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    for args in [&["-p", "0"][..], &["--bind", "nowhere"], &["--bind", "127.0.0.1:5", "-p", "6"]] {
        let o = Command::new(bin()).args(["bench", "server"]).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a rejected command connected anyway: {other:?}"),
    }
}
