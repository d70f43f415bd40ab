//! `mptcp status` and `mptcp check`, run as the built binary, against real
//! servers in network namespaces.

use std::net::{SocketAddr, TcpListener};
use std::process::Command;

use mptcp::MptcpListenerExt;
use mptcp_netns::{Netns, Path};

const BIN: &str = env!("CARGO_BIN_EXE_mptcp");

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("bad JSON ({e}): {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

#[test]
fn status_json_reports_probe() {
    let out = Command::new(BIN).args(["status", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v = json(&out);
    let h = mptcp::host_support();
    assert_eq!(v["available"], h.is_available());
    assert_eq!(v["support"]["tcp_is_mptcp"], h.tcp_is_mptcp);
    assert_eq!(v["support"]["mptcp_full_info"], h.mptcp_full_info);
    assert_eq!(v["status_mechanism"], h.best_mechanism().map(|m| m.to_string()).unwrap_or_default().as_str());
    if h.is_available() {
        assert!(v["sysctls"]["enabled"].is_string());
    }
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn status_shows_limits_the_kernel_has() {
    mptcp_netns::require_root();
    let ns = Netns::new("st").unwrap();
    ns.ip(&["mptcp", "limits", "set", "subflows", "3", "add_addr_accepted", "4"]).unwrap();
    ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]).unwrap();
    ns.ip(&["addr", "add", "10.42.0.1/24", "dev", "d0"]).unwrap();
    ns.ip(&["mptcp", "endpoint", "add", "10.42.0.1", "dev", "d0", "subflow"]).unwrap();
    let out = ns.command(BIN).args(["status", "--json"]).output().unwrap();
    let v = json(&out);
    assert_eq!(v["limits"]["subflows"], 3);
    assert_eq!(v["limits"]["add_addr_accepted"], 4);
    assert_eq!(v["endpoints"], 1);
    let text = String::from_utf8_lossy(&ns.command(BIN).arg("status").output().unwrap().stdout).to_string();
    assert!(text.contains("limits:             subflows 3 add_addr_accepted 4"), "{text}");
}

#[test]
fn check_bad_input_exits_2() {
    for args in [&["check", "no-port"][..], &["check", "host:notaport"], &["check", "127.0.0.1:1", "--timeout", "0"]] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("mptcp: error:"), "{args:?}");
    }
}

struct Server {
    _thread: std::thread::JoinHandle<()>,
}

/// Accepts (and holds) `n` connections on `addr` inside `ns`.
fn serve(ns: &Netns, addr: SocketAddr, mptcp: bool, n: usize) -> Server {
    let l = ns.in_ns(|| if mptcp { TcpListener::bind_mptcp(addr) } else { TcpListener::bind(addr) }).unwrap().unwrap();
    Server {
        _thread: std::thread::spawn(move || {
            let mut held = Vec::new();
            for _ in 0..n {
                if let Ok((s, _)) = l.accept() {
                    held.push(s);
                }
            }
            std::thread::sleep(std::time::Duration::from_secs(2));
        }),
    }
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn check_reports_mptcp_fallback_and_refused() {
    mptcp_netns::require_root();
    let client = Netns::new("cli").unwrap();
    let server = Netns::new("srv").unwrap();
    Path::new(&client, "10.41.0.1/24", &server, "10.41.0.2/24").unwrap();
    let _a = serve(&server, "10.41.0.2:8001".parse().unwrap(), true, 1);
    let _b = serve(&server, "10.41.0.2:8002".parse().unwrap(), false, 1);

    let out = client.command(BIN).args(["check", "10.41.0.2:8001", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["status"], "mptcp");
    assert_eq!(v["subflows"].as_array().unwrap().len(), 1);
    assert_eq!(v["subflows"][0]["remote"], "10.41.0.2:8001");
    assert!(v["token"].is_string());

    let out = client.command(BIN).args(["check", "10.41.0.2:8002", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(json(&out)["status"], "fallback");

    let out = client.command(BIN).args(["check", "10.41.0.2:8003"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Connection refused"));
}
