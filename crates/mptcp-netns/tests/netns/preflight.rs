//! `preflight` on this machine, without `tc`, and with MPTCP disabled.

use mptcp_netns::{preflight, require_root, Missing, Requirements, Tool};

use super::*;

fn ours() -> Vec<String> {
    let prefix = format!("mptcp-{}-", std::process::id());
    std::fs::read_dir("/run/netns")
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.starts_with(&prefix) && n.ends_with("-preflight"))
        .collect()
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn passes_here_and_leaves_nothing() {
    require_root();
    let absent = Tool::new("mptcp-netns-no-such-tool", "no-such-package", "nothing");
    let req = Requirements { htb: true, middlebox: true, optional: vec![absent], ..Requirements::default() };
    let ready = preflight(&req).unwrap_or_else(|m| panic!("preflight failed: {m:?}"));
    assert_eq!(ready.absent.len(), 1, "{:?}", ready.absent);
    assert!(ready.absent[0].is_optional());
    assert!(ready.absent[0].to_string().starts_with("`mptcp-netns-no-such-tool` not found (optional"));
    assert!(ours().is_empty(), "the throwaway namespace was left: {:?}", ours());
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn names_tc_when_path_lacks_it() {
    require_root();
    if is_child() {
        let missing = preflight(&Requirements::default()).expect_err("tc is missing");
        let want = Missing::Program { program: "tc".into(), package: "iproute2".into(), optional: None };
        assert_eq!(missing, vec![want], "only tc is missing");
        assert_eq!(missing[0].to_string(), "`tc` not found: apt-get install iproute2");
        return;
    }
    let dir = ToolDir::new(&["ip"]);
    let out = rerun(module_path!(), "names_tc_when_path_lacks_it").env("PATH", &dir.0).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "child run failed:\n{text}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn names_the_sysctl_when_mptcp_is_disabled() {
    require_root();
    let ns = Netns::new("nomptcp").unwrap();
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    let missing = ns.in_ns(|| preflight(&Requirements::default())).unwrap().expect_err("MPTCP is disabled there");
    assert_eq!(missing, vec![Missing::MptcpDisabled]);
    assert_eq!(missing[0].to_string(), "MPTCP is disabled: sysctl -w net.mptcp.enabled=1");
    // The calling thread's namespace is what counts: here it is enabled.
    preflight(&Requirements::default()).expect("MPTCP is enabled in this namespace");
}
