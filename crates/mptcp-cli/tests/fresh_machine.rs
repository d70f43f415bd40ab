//! `mptcp lab` on a machine that has only what a fresh one has: the
//! programs a fresh machine lacks (iptables, ip6tables, nft and the
//! xtables multi-binaries, iperf3, mptcpize, python3) are hidden in a
//! private mount namespace, by binding an empty, non-executable file over
//! each. Every default phase must run; what is missing is said one line
//! each, and nothing is left behind.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use mptcp_netns::Netns;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mptcp");

/// Programs a fresh machine does not have (by name or name prefix).
const HIDDEN: &[&str] =
    &["iptables", "ip6tables", "nft", "xtables-", "ebtables", "arptables", "iperf3", "mptcpize", "python3"];

/// Every file that provides one of [`HIDDEN`]: in `PATH`, the usual
/// binary directories and pyenv's versions, with symlinks resolved (a
/// bind mount on a symlink lands on its target).
fn files_to_hide() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
    for d in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        dirs.push(d.into());
    }
    let pyenv = std::env::var_os("PYENV_ROOT").map(PathBuf::from).unwrap_or_else(|| "/root/.pyenv".into());
    if let Ok(versions) = std::fs::read_dir(pyenv.join("versions")) {
        dirs.extend(versions.flatten().map(|v| v.path().join("bin")));
    }
    let mut files = BTreeSet::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if HIDDEN.iter().any(|h| name == *h || (name.starts_with(h) && !name.ends_with("-config"))) {
                if let Ok(real) = std::fs::canonicalize(e.path()) {
                    if real.is_file() {
                        files.insert(real);
                    }
                }
            }
        }
    }
    files.into_iter().collect()
}

/// Runs `mptcp ARGS` in a private mount namespace without the programs
/// of [`HIDDEN`]; panics if one of them still runs there.
fn run_on_a_fresh_machine(args: &[&str], also_hide: &[&str]) -> Output {
    let mut hide: Vec<PathBuf> = files_to_hide();
    for p in also_hide {
        hide.push(std::fs::canonicalize(which(p)).unwrap());
    }
    assert!(hide.iter().any(|p| p.to_string_lossy().contains("python3")), "no python3 found to hide: {hide:?}");
    // One file per call: the tests of this binary run at once.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let empty = std::env::temp_dir().join(format!("mptcp-fresh-{}-{n}", std::process::id()));
    std::fs::write(&empty, b"").unwrap();
    let mut script = String::from("set -e\n");
    for f in &hide {
        script.push_str(&format!("mount --bind '{}' '{}'\n", empty.display(), f.display()));
    }
    // Proof that the programs are gone in there.
    for p in
        ["iptables", "ip6tables", "nft", "xtables-nft-multi", "xtables-legacy-multi", "iperf3", "mptcpize", "python3"]
            .iter()
            .chain(also_hide)
    {
        script.push_str(&format!("if {p} --version >/dev/null 2>&1; then echo 'still runs: {p}' >&2; exit 99; fi\n"));
    }
    script.push_str("exec \"$@\"\n");
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script, "sh", BIN])
        .args(args)
        .output()
        .expect("unshare (util-linux) must be installed");
    let _ = std::fs::remove_file(&empty);
    assert_ne!(out.status.code(), Some(99), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn which(p: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(p))
        .find(|f| f.is_file())
        .unwrap_or_else(|| panic!("{p} not in PATH"))
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    })
}

fn netns_list() -> String {
    String::from_utf8_lossy(&mptcp_netns::cmd(&["ip", "netns", "list"]).unwrap().stdout).into_owned()
}

/// Namespaces of the lab run whose stderr or report names them: the lab's
/// names carry its pid, which only the run knows.
fn assert_gone(v: &Value) {
    let list = netns_list();
    for n in v["namespaces"].as_array().expect("namespaces") {
        let n = n.as_str().unwrap();
        assert!(!list.lines().any(|l| l.split_whitespace().next() == Some(n)), "{n} left behind:\n{list}");
    }
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn lab_runs_every_default_phase_without_iptables_nft_iperf3_mptcpize_or_python() {
    mptcp_netns::require_root();
    // 3 s: the failover phases need time after the failure to measure the stall.
    let out = run_on_a_fresh_machine(&["lab", "-t", "3", "--no-plot", "--json"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    let v = json(&out);
    assert_gone(&v);
    let phases: Vec<&str> = v["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(phases, ["tcp", "tcp", "mptcp", "failover", "failover-daemon", "fallback"], "{v}");
    for p in v["phases"].as_array().unwrap() {
        assert_eq!((p["ok"].as_bool(), p["skipped"].as_bool()), (Some(true), Some(false)), "{p}\n{err}");
    }
    let fb = &v["phases"][5];
    assert_eq!((fb["client_status"].as_str(), fb["server_status"].as_str()), (Some("fallback"), Some("fallback")));
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("iptables"), "the middlebox needs no iptables: {err}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn the_iperf3_phase_is_skipped_with_a_note_without_its_programs() {
    mptcp_netns::require_root();
    let out = run_on_a_fresh_machine(&["lab", "-t", "1", "--no-plot", "--phases", "mptcp,iperf3", "--json"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    let v = json(&out);
    assert_gone(&v);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let iperf = &v["phases"][1];
    assert_eq!((iperf["name"].as_str(), iperf["skipped"].as_bool()), (Some("iperf3"), Some(true)), "{iperf}");
    assert_eq!(iperf["notes"][0], "skipped: `iperf3` and `mptcpize` not found (apt-get install iperf3 mptcpize)");
    assert!(err.contains("mptcp lab: note: `iperf3` not found (optional"), "a visible note on stderr: {err}");
    // On a terminal-less stdout, the human form says it too.
    let out = run_on_a_fresh_machine(&["lab", "-t", "1", "--no-plot", "--phases", "iperf3"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("  skip iperf3          skipped: `iperf3` and `mptcpize` not found"), "{text}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_missing_required_program_is_named_with_its_package_and_nothing_is_made() {
    mptcp_netns::require_root();
    let before = netns_list();
    // The lab emulates its paths itself (no tc since mptcp-linkem): `ip` is
    // what it cannot do without.
    let out = run_on_a_fresh_machine(&["lab", "-t", "1", "--no-plot"], &["ip"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].starts_with("mptcp: error: `mptcp lab` needs root, network namespaces"), "{err}");
    assert!(lines.contains(&"  - `ip` not found: apt-get install iproute2"), "one line, with the package: {err}");
    assert!(!err.contains("Missing") && !err.contains("{ "), "no Debug dump: {err}");
    // Only other runs' namespaces may have come and gone meanwhile.
    let after = netns_list();
    let mine = |l: &&str| l.starts_with(&format!("mptcp-{}-", std::process::id()));
    assert_eq!(before.lines().filter(mine).count(), after.lines().filter(mine).count());

    // The same, as JSON on stdout.
    let out = run_on_a_fresh_machine(&["lab", "--json"], &["ip"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["kind"], "unsupported", "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("lacks: - `ip` not found: apt-get install iproute2") && !msg.contains('\n'), "{v}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn mptcp_disabled_by_sysctl_is_named_with_the_setting() {
    mptcp_netns::require_root();
    let ns = Netns::new("off").unwrap();
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    let out = ns.command(BIN).args(["lab", "-t", "1", "--no-plot"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("\n  - MPTCP is disabled: sysctl -w net.mptcp.enabled=1"), "{err}");
    assert_eq!(err.lines().count(), 2, "one line of what is missing: {err}");
}
