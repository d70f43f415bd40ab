//! The MPTCP-stripping middlebox, seen from real connections.

use std::time::{Duration, Instant};

use mptcp_netns::{require_root, Strip};

use super::*;

/// With the SYN-ACK stripped, the client's MPTCP socket falls back, the
/// server's accept() gives plain TCP and only the server namespace's
/// `MPCapableFallbackACK` says a client had asked for MPTCP; without the
/// rule the next connection is MPTCP again.
fn synack_falls_back_then_recovers(base: u8, v6: bool) {
    let p = pair(base, v6);
    let listener = p.listen(7000);
    p.server.strip_mptcp(v6, Strip::SynAck).expect("strip rule");
    let before = p.server.counter("MPCapableFallbackACK").unwrap();

    let (c, s) = p.connect(&listener, 7000);
    exchange(&c, &s, 4096);
    assert_eq!(protocol(&c), libc::IPPROTO_MPTCP, "the client socket was created as MPTCP");
    assert!(!on_mptcp(&c), "client must report fallback");
    let errno = mptcp_info_errno(&c);
    assert!(matches!(errno, Some(libc::EOPNOTSUPP | libc::ENOPROTOOPT)), "MPTCP_INFO after fallback: {errno:?}");
    assert_eq!(protocol(&s), libc::IPPROTO_TCP, "accept() must return a plain TCP socket");
    let after = p.server.counter("MPCapableFallbackACK").unwrap();
    assert!(after > before, "MPCapableFallbackACK {before} -> {after}");

    p.server.unstrip_mptcp(v6, Strip::SynAck).expect("unstrip");
    let (c, s) = p.connect(&listener, 7000);
    exchange(&c, &s, 4096);
    assert!(on_mptcp(&c), "after unstrip the client uses MPTCP again");
    assert_eq!(protocol(&s), libc::IPPROTO_MPTCP, "after unstrip accept() gives an MPTCP socket");
    assert!(on_mptcp(&s));
    assert_eq!(p.server.counter("MPCapableFallbackACK").unwrap(), after);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn synack_strip_ipv4() {
    require_root();
    synack_falls_back_then_recovers(101, false);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn synack_strip_ipv6() {
    require_root();
    synack_falls_back_then_recovers(102, true);
}

/// With the option stripped from non-SYN packets, MPTCP is negotiated, and
/// the connection falls back once data flows; without the rule the next
/// connection stays MPTCP with data.
fn nonsyn_falls_back_late(base: u8, v6: bool) {
    let p = pair(base, v6);
    let listener = p.listen(7001);
    let (c, s) = p.connect(&listener, 7001);
    assert!(on_mptcp(&c), "the handshake negotiated MPTCP");
    assert_eq!(protocol(&s), libc::IPPROTO_MPTCP);
    for ns in [&p.client, &p.server] {
        ns.strip_mptcp(v6, Strip::NonSyn).expect("strip rule");
    }
    exchange(&c, &s, 64 * 1024);
    let deadline = Instant::now() + Duration::from_secs(5);
    while on_mptcp(&c) && Instant::now() < deadline {
        exchange(&c, &s, 1024);
    }
    assert!(!on_mptcp(&c), "client must fall back once data flows");
    assert!(!on_mptcp(&s), "server must fall back once data flows");
    assert_eq!(protocol(&s), libc::IPPROTO_MPTCP, "the server socket was accepted as MPTCP");

    for ns in [&p.client, &p.server] {
        ns.unstrip_mptcp(v6, Strip::NonSyn).expect("unstrip");
    }
    let (c, s) = p.connect(&listener, 7001);
    exchange(&c, &s, 64 * 1024);
    assert!(on_mptcp(&c) && on_mptcp(&s), "after unstrip the connection stays MPTCP with data");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn nonsyn_strip_ipv4() {
    require_root();
    nonsyn_falls_back_late(103, false);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn nonsyn_strip_ipv6() {
    require_root();
    nonsyn_falls_back_late(104, true);
}

/// The rules read back with `nft list ruleset` exactly as the same rules
/// written in nft's language by `nft -f`; adding one again keeps one, and
/// unstrip leaves an empty ruleset.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn rules_read_back_as_nft_writes_them() {
    require_root();
    let ours = Netns::new("ours").unwrap();
    for v6 in [false, true] {
        for which in [Strip::SynAck, Strip::NonSyn] {
            ours.strip_mptcp(v6, which).unwrap();
            ours.strip_mptcp(v6, which).unwrap();
        }
    }
    let theirs = Netns::new("theirs").unwrap();
    let mut script = String::new();
    for fam in ["ip", "ip6"] {
        for (table, select) in [
            ("mptcp_strip_synack", "tcp flags & (syn|ack) == (syn|ack)"),
            ("mptcp_strip_nonsyn", "tcp flags & syn == 0"),
        ] {
            script.push_str(&format!(
                "table {fam} {table} {{\n chain output {{\n  type filter hook output priority mangle; policy accept;\n  \
                 {select} reset tcp option mptcp\n }}\n}}\n"
            ));
        }
    }
    let file = std::env::temp_dir().join(format!("mptcp-netns-test-{}.nft", std::process::id()));
    std::fs::write(&file, script).unwrap();
    let loaded = theirs.run(&["nft", "-f", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    loaded.expect("nft -f");

    let list = |ns: &Netns| String::from_utf8(ns.run(&["nft", "list", "ruleset"]).unwrap().stdout).unwrap();
    let (got, want) = (list(&ours), list(&theirs));
    assert_eq!(got, want, "our rules, as nft reads them back, differ from nft's own");
    assert_eq!(got.matches("reset tcp option mptcp").count(), 4, "one rule per table:\n{got}");
    assert_eq!(got.matches("hook output priority mangle").count(), 4, "{got}");

    for v6 in [false, true] {
        for which in [Strip::SynAck, Strip::NonSyn] {
            ours.unstrip_mptcp(v6, which).unwrap();
            ours.unstrip_mptcp(v6, which).expect("nothing left to remove is fine");
        }
    }
    assert_eq!(list(&ours).trim(), "", "unstrip leaves no table");
}

/// The middlebox works with a `PATH` that holds only `ip` and `tc`: no
/// `iptables`, no `nft` (the test re-runs itself with that `PATH`).
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn middlebox_needs_no_firewall_programs() {
    require_root();
    if is_child() {
        for p in ["iptables", "ip6tables", "nft"] {
            let e = Command::new(p).arg("--version").output().expect_err("must not be reachable");
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{p}");
        }
        synack_falls_back_then_recovers(105, false);
        synack_falls_back_then_recovers(106, true);
        return;
    }
    let dir = ToolDir::new(&["ip", "tc"]);
    let out = rerun(module_path!(), "middlebox_needs_no_firewall_programs").env("PATH", &dir.0).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "child run failed:\n{text}");
}
