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
    assert_eq!(v["status_mechanism"].as_str(), h.best_mechanism().map(|m| m.to_string()).as_deref());
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
    for args in [&["check", "no-port"][..], &["check", "host:notaport"]] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("mptcp: error:"), "{args:?}");
    }
    for t in ["0", "1e300", "-1", "nan"] {
        let out = Command::new(BIN).args(["check", "127.0.0.1:1", "--timeout", t]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--timeout {t}: {err}");
        assert!(err.contains("expected 0.001 to 3600 seconds"), "--timeout {t}: {err}");
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
    Path::new(&client, "10.41.0.1".parse().unwrap(), &server, "10.41.0.2".parse().unwrap(), 24).unwrap();
    let _a = serve(&server, "10.41.0.2:8001".parse().unwrap(), true, 1);
    let _b = serve(&server, "10.41.0.2:8002".parse().unwrap(), false, 1);

    let out = client.command(BIN).args(["check", "10.41.0.2:8001", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["status"], "mptcp");
    assert_eq!(v["subflows"].as_array().unwrap().len(), 1);
    assert_eq!(v["subflows"][0]["remote"], "10.41.0.2:8001");
    let token = v["token"].as_u64().expect("the token is a number in JSON") as u32;
    assert_eq!(v["token_hex"], format!("0x{token:08x}"));

    let out = client.command(BIN).args(["check", "10.41.0.2:8002", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(json(&out)["status"], "fallback");

    let out = client.command(BIN).args(["check", "10.41.0.2:8003"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Connection refused"));
}

#[path = "../../../tests/kernels/expect.rs"]
mod expect;

/// `mptcp status`, `mptcp check` and `mptcp lab` on the kernel under test
/// (the kernel matrix runs this under each kernel): where the kernel was
/// built without MPTCP they say so, and `check` reports that this host
/// cannot do MPTCP, not that the server cannot.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn status_check_and_lab_on_this_kernel() {
    mptcp_netns::require_root();
    let client = Netns::new("kcli").unwrap();
    let server = Netns::new("ksrv").unwrap();
    Path::new(&client, "10.41.1.1".parse().unwrap(), &server, "10.41.1.2".parse().unwrap(), 24).unwrap();
    let _srv = serve(&server, "10.41.1.2:8011".parse().unwrap(), true, 3);
    let status = json(&client.command(BIN).args(["status", "--json"]).output().unwrap());
    let text = String::from_utf8_lossy(&client.command(BIN).arg("status").output().unwrap().stdout).to_string();
    let out = client.command(BIN).args(["check", "10.41.1.2:8011", "--json"]).output().unwrap();
    let check = json(&out);
    if expect::has_mptcp() {
        assert_eq!(status["available"], true, "{status}");
        assert_eq!(out.status.code(), Some(0), "{check}");
        assert_eq!((check["status"].as_str(), check["host_can_mptcp"].as_bool()), (Some("mptcp"), Some(true)));
        // What this kernel lacks is said, with what is used instead.
        let lacks = |key: &str| expect::get(key).as_deref() == Some("no");
        let notes: Vec<&str> = check["notes"].as_array().unwrap().iter().filter_map(|n| n.as_str()).collect();
        for (key, note) in [
            ("tcp_is_mptcp", "TCP_IS_MPTCP is not available on this kernel; status checks use MPTCP_INFO"),
            (
                "full_info",
                "MPTCP_FULL_INFO is not available on this kernel; using MPTCP_TCPINFO and MPTCP_SUBFLOW_ADDRS",
            ),
        ] {
            assert_eq!(text.contains(&format!("note: {note}")), lacks(key), "status, {key}: {text}");
            assert_eq!(notes.iter().any(|n| n.starts_with(note)), lacks(key), "check, {key}: {notes:?}");
        }
        if lacks("tcp_is_mptcp") {
            // Asking for the missing mechanism anyway: the precise error.
            let out =
                client.command(BIN).args(["check", "10.41.1.2:8011", "--mechanism", "tcp-is-mptcp"]).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert!(err.contains("TCP_IS_MPTCP is not supported by this kernel"), "{err}");
        }
        return;
    }
    let why = match expect::availability().as_str() {
        "not-built" => "not built into this kernel (CONFIG_MPTCP is off)",
        other => panic!("no message known for mptcp={other}"),
    };
    assert_eq!((status["available"].as_bool(), status["availability"].as_str()), (Some(false), Some(why)), "{status}");
    assert_eq!(
        status["status_mechanism"],
        serde_json::Value::Null,
        "no mechanism confirms MPTCP without MPTCP: {status}"
    );
    assert!(text.contains(&format!("MPTCP:              {why}")), "{text}");
    assert!(
        text.contains("path manager:       none: this kernel has no MPTCP path manager (built without MPTCP)"),
        "{text}"
    );
    // check: plain TCP to a server that listens with the default policy
    // (also plain TCP here); exit 3, and the blame is on this host.
    assert_eq!(out.status.code(), Some(3), "{check}");
    assert_eq!(check["status"], "tcp", "{check}");
    assert_eq!((check["host_can_mptcp"].as_bool(), check["host_mptcp"].as_str()), (Some(false), Some(why)));
    let out = client.command(BIN).args(["check", "10.41.1.2:8011"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("this host cannot use MPTCP") && text.contains("says nothing about the server"), "{text}");
    // lab: refused up front, nothing left behind.
    let before = mptcp_netns::cmd(&["ip", "netns", "list"]).unwrap().stdout;
    let out = Command::new(BIN).args(["lab", "--quiet", "--no-plot", "-t", "1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "mptcp lab: {err}");
    assert!(err.contains("built without MPTCP") || err.contains(why), "mptcp lab must say why: {err}");
    assert_eq!(mptcp_netns::cmd(&["ip", "netns", "list"]).unwrap().stdout, before, "mptcp lab left namespaces");
}

/// `mptcp doctor` on the kernel under test (the kernel matrix runs it under
/// each kernel): where the kernel was built without MPTCP, the host alone
/// and a connection both name that cause (`mptcp-not-built`, exit 3);
/// elsewhere a single-path connection is healthy.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn doctor_on_this_kernel() {
    mptcp_netns::require_root();
    let client = Netns::new("kdcli").unwrap();
    let server = Netns::new("kdsrv").unwrap();
    Path::new(&client, "10.41.2.1".parse().unwrap(), &server, "10.41.2.2".parse().unwrap(), 24).unwrap();
    let _srv = serve(&server, "10.41.2.2:8021".parse().unwrap(), true, 1);
    let host = client.command(BIN).args(["doctor", "--json"]).output().unwrap();
    let conn = client.command(BIN).args(["doctor", "10.41.2.2:8021", "--json", "--watch", "1"]).output().unwrap();
    let (h, c) = (json(&host), json(&conn));
    let errors = |v: &serde_json::Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error")
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    if expect::has_mptcp() {
        assert_eq!((host.status.code(), errors(&h)), (Some(0), vec![]), "{h:#}");
        assert_eq!((conn.status.code(), errors(&c)), (Some(0), vec![]), "{c:#}");
        assert_eq!(c["mptcp"], true, "{c:#}");
        assert_eq!((c["subflows"]["established"].as_u64(), c["subflows"]["possible"].as_u64()), (Some(1), Some(1)));
        return;
    }
    assert_eq!(expect::availability(), "not-built", "no doctor expectation for mptcp={}", expect::availability());
    assert_eq!((host.status.code(), errors(&h)), (Some(3), vec!["mptcp-not-built".to_string()]), "{h:#}");
    assert_eq!((conn.status.code(), errors(&c)), (Some(3), vec!["mptcp-not-built".to_string()]), "{c:#}");
    assert_eq!(c["mptcp"], false, "{c:#}");
}
