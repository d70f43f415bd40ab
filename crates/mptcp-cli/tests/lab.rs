//! Integration tests of `mptcp lab` and `mptcp bench` in network namespaces.
//!
//! They run the built binary and check its JSON: data integrity, MPTCP on
//! two subflows when two paths exist, fallback when a middlebox strips the
//! option, and no namespace left behind. They never assert a speed.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mptcp_netns::{Netns, Path};
use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mptcp")
}

fn netns_list() -> String {
    let o = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs the binary; returns its output and its pid.
fn run(args: &[&str]) -> (Output, u32) {
    let child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mptcp");
    let pid = child.id();
    (child.wait_with_output().expect("wait mptcp"), pid)
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): stdout {} stderr {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn assert_no_namespace_of(pid: u32) {
    let list = netns_list();
    let prefix = format!("mptcp-{pid}-");
    assert!(!list.lines().any(|l| l.starts_with(&prefix)), "namespaces of pid {pid} left behind:\n{list}");
}

fn phase<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["phases"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no phase {name} in {v}"))
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn lab_shows_mptcp_failover_and_fallback() {
    mptcp_netns::require_root();
    let plot = std::env::temp_dir().join(format!("mptcp-lab-test-{}.svg", std::process::id()));
    let plot_s = plot.to_str().unwrap();
    let (o, pid) = run(&["lab", "--duration", "2", "--json", "--plot", plot_s]);
    let v = json(&o);
    assert_no_namespace_of(pid);
    assert_eq!(v["namespaces_removed"], true);

    let tcp = phase(&v, "tcp");
    assert_eq!(tcp["verified"], true, "{tcp}");
    assert_eq!(tcp["client_status"], "tcp");
    assert_eq!(tcp["subflows"], 1);

    let m = phase(&v, "mptcp");
    assert_eq!(m["verified"], true, "{m}");
    assert_eq!(m["client_status"], "mptcp");
    assert_eq!(m["server_status"], "mptcp");
    assert!(m["subflows"].as_u64().unwrap() >= 2, "MPTCP used fewer than 2 subflows: {m}");
    assert!(m["limit_bps"].as_f64().unwrap() > 0.0);
    assert!(m["mss"].as_u64().unwrap() > 0);

    let f = phase(&v, "failover");
    assert_eq!(f["verified"], true, "failover lost or corrupted data: {f}");
    assert!(f["down_at_s"].as_f64().is_some(), "the path never went down: {f}");
    assert_eq!(f["failed_path"], 1);
    assert!(f["daemon_actions"].is_null(), "no daemon in the kernel-only phase: {f}");

    // The same failure with mptcp daemon on the client: it deleted the dead
    // path's endpoint and closed the initial subflow from its address.
    let d = phase(&v, "failover-daemon");
    assert_eq!(d["verified"], true, "failover-daemon lost or corrupted data: {d}");
    assert_eq!(d["ok"], true, "{d}");
    assert!(d["down_at_s"].as_f64().is_some(), "the path never went down: {d}");
    let actions = d["daemon_actions"].as_array().expect("the daemon's actions");
    let did = |op: &str, what: &str| {
        actions.iter().any(|a| a["op"] == op && a["endpoint"].as_str().unwrap().contains(what) && a["result"] == "ok")
    };
    assert!(did("delete", " 10.100.0.1 dev "), "{actions:?}");
    assert!(did("delete id 0", "10.100.0.1"), "{actions:?}");
    assert_eq!(actions.len(), 2, "nothing else, and nothing at start-up: {actions:?}");
    // Both stalls measured from the receiver's samples, side by side.
    for p in [f, d] {
        assert!(!p["stall_samples_mbps"].as_array().unwrap().is_empty(), "{p}");
        assert!(p["remaining_bps"].as_f64().is_some(), "{p}");
    }
    let cmp = &v["failover"];
    assert_eq!(cmp["failed_path"], 1, "{cmp}");
    assert_eq!(cmp["kernel_stall_ms"], f["stall_ms"]);
    assert_eq!(cmp["daemon_stall_ms"], d["stall_ms"]);

    let fb = phase(&v, "fallback");
    assert_eq!(fb["verified"], true, "{fb}");
    assert_eq!(fb["client_status"], "fallback", "{fb}");
    assert_eq!(fb["server_status"], "fallback", "{fb}");

    // The server sets the congestion control on its listener only: the
    // MPTCP connection and the plain-TCP one it accepted both use it.
    if let Some(cc) = v["congestion"].as_str() {
        assert_eq!(m["server"]["congestion"], cc, "{m}");
        assert_eq!(fb["server"]["congestion"], cc, "{fb}");
        assert_eq!(m["client"]["congestion"], cc, "{m}");
    }

    assert_eq!(v["ok"], true, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success());
    let svg = std::fs::read_to_string(&plot).expect("plot written");
    let png = rasterize(&plot);
    let _ = std::fs::remove_file(&plot);
    assert!(svg.contains("version=\"1.1\"") && svg.contains("<polygon"), "bad SVG");
    for text in [">path 1 down<", "stall: from the link going down", ">limit 94.1 Mbit/s<"] {
        assert!(svg.contains(text), "the plot lacks {text:?}");
    }
    assert_eq!(png, svg_size(&svg), "the PNG has the SVG's size");
}

/// The `width` and `height` of an SVG document's root element.
fn svg_size(svg: &str) -> (u32, u32) {
    let root = &svg[svg.find("<svg").expect("an <svg> element")..];
    let root = &root[..root.find('>').unwrap()];
    let attr = |name: &str| -> u32 {
        let v = root.split(&format!(" {name}=\"")).nth(1).unwrap_or_else(|| panic!("no {name} in {root}"));
        v.split('"').next().unwrap().parse::<f64>().unwrap().ceil() as u32
    };
    (attr("width"), attr("height"))
}

/// Renders an SVG file with librsvg's `rsvg-convert` (which rejects
/// malformed XML and unknown elements' errors) and returns the PNG's size.
fn rasterize(svg: &std::path::Path) -> (u32, u32) {
    let png = svg.with_extension("png");
    let o = Command::new("rsvg-convert")
        .arg("--format=png")
        .arg("--output")
        .arg(&png)
        .arg(svg)
        .output()
        .expect("rsvg-convert (apt package librsvg2-bin) must be installed");
    assert!(o.status.success(), "rsvg-convert failed: {}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "rsvg-convert warned: {}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&png).expect("the PNG");
    let _ = std::fs::remove_file(&png);
    assert!(bytes.len() > 10_000, "a near-empty PNG: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn the_daemon_also_handles_a_joined_path_going_down() {
    mptcp_netns::require_root();
    let (o, pid) =
        run(&["lab", "--phases", "failover-daemon", "--fail-path", "2", "--duration", "2", "--json", "--no-plot"]);
    let v = json(&o);
    assert_no_namespace_of(pid);
    let d = phase(&v, "failover-daemon");
    assert_eq!(d["verified"], true, "{d}");
    assert_eq!(d["failed_path"], 2);
    let actions = d["daemon_actions"].as_array().expect("the daemon's actions");
    assert!(
        actions.iter().any(|a| a["op"] == "delete" && a["endpoint"].as_str().unwrap().contains(" 10.101.0.1 dev ")),
        "{actions:?}"
    );
    assert!(v["failover"].is_null(), "one failover phase: nothing to compare");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn lab_with_unequal_rates_uses_every_path() {
    mptcp_netns::require_root();
    let (o, pid) =
        run(&["lab", "--rates", "10mbit,20mbit,30mbit", "--phases", "mptcp", "--duration", "2", "--json", "--no-plot"]);
    let v = json(&o);
    assert_no_namespace_of(pid);
    let m = phase(&v, "mptcp");
    assert_eq!(m["verified"], true, "{m}");
    assert_eq!(m["subflows"], 3, "{m}");
    assert_eq!(v["paths"].as_array().unwrap().len(), 3);
    assert!(o.status.success());
}

#[test]
fn lab_rejects_bad_input_before_creating_anything() {
    for args in [
        &["lab", "--paths", "9"][..],
        &["lab", "--rates", "10mbps"],
        &["lab", "--phases", "nope"],
        &["lab", "--duration", "0"],
        &["lab", "--paths", "1", "--phases", "failover-daemon"],
    ] {
        let (o, pid) = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert_no_namespace_of(pid);
    }
}

#[test]
#[ignore = "needs root: drops to user nobody with setpriv (scripts/test.sh runs it)"]
fn lab_without_root_says_why() {
    mptcp_netns::require_root();
    // A copy nobody can execute, wherever the build directory is.
    let dir = std::env::temp_dir().join(format!("mptcp-lab-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let exe = dir.join("mptcp");
    std::fs::copy(bin(), &exe).expect("copy the binary");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod exe");
    let o = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(&exe)
        .args(["lab", "--no-plot"])
        .current_dir(&dir)
        .output()
        .expect("setpriv (util-linux) must be installed");
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("needs root"), "{err}");
}

/// A client and a server namespace joined by two 50 Mbit/s paths, the server
/// announcing its second address.
fn two_paths() -> (Netns, Netns, Vec<Path>) {
    let c = Netns::new("bcli").unwrap();
    let s = Netns::new("bsrv").unwrap();
    let p1 = Path::new(&c, "10.120.0.1".parse().unwrap(), &s, "10.120.0.2".parse().unwrap(), 24).unwrap();
    let p2 = Path::new(&c, "10.121.0.1".parse().unwrap(), &s, "10.121.0.2".parse().unwrap(), 24).unwrap();
    p1.shape(50_000_000).unwrap();
    p2.shape(50_000_000).unwrap();
    s.ip(&["mptcp", "endpoint", "add", "10.121.0.2", "dev", &p2.b_dev, "signal"]).unwrap();
    s.ip(&["mptcp", "limits", "set", "subflows", "1", "add_addr_accepted", "0"]).unwrap();
    c.ip(&["mptcp", "limits", "set", "subflows", "1", "add_addr_accepted", "1"]).unwrap();
    (c, s, vec![p1, p2])
}

/// Runs `mptcp bench server --once` in `s` and a client in `c` with `args`.
fn bench_pair(c: &Netns, s: &Netns, args: &[&str]) -> (Value, Value) {
    let server = s
        .command(bin())
        .args(["bench", "server", "--bind", "0.0.0.0:5201", "--once", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut cmd = c.command(bin());
    cmd.args(["bench", "client", "10.120.0.2:5201", "--json"]).args(args);
    let co = cmd.output().unwrap();
    let so = server.wait_with_output().unwrap();
    assert!(co.status.success(), "client: {}", String::from_utf8_lossy(&co.stderr));
    assert!(so.status.success(), "server: {}", String::from_utf8_lossy(&so.stderr));
    (json(&co), json(&so))
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn bench_upload_download_and_tcp_in_namespaces() {
    mptcp_netns::require_root();
    let (c, s, _paths) = two_paths();
    let names = (c.name().to_string(), s.name().to_string());

    let plot = std::env::temp_dir().join(format!("mptcp-bench-test-{}.svg", std::process::id()));
    let (cl, sv) = bench_pair(&c, &s, &["-t", "2", "--plot", plot.to_str().unwrap()]);
    assert_eq!(cl["integrity"]["verified"], true, "{cl}");
    assert_eq!(sv["integrity"]["verified"], true, "{sv}");
    assert_eq!(cl["integrity"]["sender_hash"], sv["integrity"]["receiver_hash"]);
    assert_eq!(cl["status"], "mptcp");
    assert_eq!(cl["peer_status"], "mptcp");
    assert!(cl["max_subflows"].as_u64().unwrap() >= 2, "{cl}");
    assert!(cl["subflows"].as_array().unwrap().len() >= 2);
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));
    let _ = std::fs::remove_file(&plot);

    // Download with an exact byte count (not a multiple of the chunk size).
    let (cl, sv) = bench_pair(&c, &s, &["--reverse", "--bytes", "3000001"]);
    assert_eq!(cl["direction"], "download");
    assert_eq!(cl["bytes"], 3_000_001);
    assert_eq!(cl["integrity"]["verified"], true, "{cl}");
    assert_eq!(sv["integrity"]["verified"], true, "{sv}");
    assert_eq!(sv["status"], "mptcp");

    // Plain TCP: one flow, the server says tcp.
    let (cl, sv) = bench_pair(&c, &s, &["--tcp", "-t", "1"]);
    assert_eq!(cl["status"], "tcp");
    assert_eq!(sv["status"], "tcp");
    assert_eq!(cl["max_subflows"], 1);
    assert_eq!(cl["integrity"]["verified"], true);

    drop(c);
    drop(s);
    let list = netns_list();
    assert!(!list.contains(&names.0) && !list.contains(&names.1), "left behind: {list}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn bench_reports_fallback_through_a_middlebox() {
    mptcp_netns::require_root();
    let (c, s, _paths) = two_paths();
    s.strip_mptcp(false, mptcp_netns::Strip::SynAck).unwrap();
    let (cl, sv) = bench_pair(&c, &s, &["--bytes", "1M"]);
    assert_eq!(cl["status"], "fallback", "{cl}");
    assert_eq!(sv["status"], "fallback", "{sv}");
    assert_eq!(cl["peer_status"], "fallback");
    assert_eq!(cl["integrity"]["verified"], true);
}

#[test]
fn bench_rejects_bad_input() {
    for args in [
        &["bench", "client", "127.0.0.1:9", "--bytes", "lots"][..],
        &["bench", "client", "127.0.0.1:9", "--duration", "-1"],
        &["bench", "client", "127.0.0.1:9", "--congestion", "no such"],
        &["bench", "server", "--bind", "not an address"],
    ] {
        let (o, _) = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
}
