//! Whose endpoints the daemon touches: its own (remembered across
//! restarts), others' only with `manage = "all"`, and never a change
//! someone made by hand, in a loop.

mod common;

use common::*;

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn manual_changes_are_left_alone_until_the_link_changes() {
    let lab = Lab::new(3);
    lab.default_route();
    let d = spawn(&lab, config(""));
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow", "10.62.0.1 dev p2 subflow"]);
    let id_of = |a: &str| lab.endpoints().iter().find(|e| e.addr == ip_of(a)).unwrap().id;

    // Someone deletes one of the daemon's endpoints and changes another.
    let p1 = id_of("10.61.0.1");
    lab.dut.ip(&["mptcp", "endpoint", "delete", "id", &p1.to_string()]).unwrap();
    let p2 = id_of("10.62.0.1");
    lab.dut.ip(&["mptcp", "endpoint", "change", "id", &p2.to_string(), "backup"]).unwrap();
    // Events on the host make the daemon look again: it notices, and leaves both.
    lab.ip("addr add 10.60.0.7/24 dev p0");
    let after = ["10.60.0.1 dev p0 subflow", "10.60.0.7 dev p0 subflow", "10.62.0.1 dev p2 subflow backup"];
    expect_endpoints(&lab, &after);
    for i in 0..20 {
        lab.ip(&format!("addr add 10.60.1.{i}/32 dev p0 noprefixroute"));
        lab.ip(&format!("addr del 10.60.1.{i}/32 dev p0"));
    }
    // The daemon follows the burst (each short-lived address may get an
    // endpoint and lose it again); once it has caught up, nothing it held
    // comes back.
    expect_endpoints(&lab, &after);
    expect_endpoints_stay(&lab, &after);
    let st = d.status();
    assert_eq!(st.held.len(), 2, "{:#?}", st.held);
    assert!(st.held.iter().any(|h| h.addr == ip_of("10.61.0.1") && h.what.contains("deleted")));
    assert!(st.held.iter().any(|h| h.addr == ip_of("10.62.0.1") && h.what.contains("changed")));
    assert!(st.pending.iter().any(|p| p.addr == "10.61.0.1" && p.why.contains("deleted by someone else")));
    // Each was logged once, not once per event.
    let adds_of_p1 = st.last_actions.iter().filter(|a| a.op == "add" && a.endpoint.contains("10.61.0.1")).count();
    assert_eq!(adds_of_p1, 1, "{:#?}", st.last_actions);

    // The link goes down and comes back: a fresh start for its address.
    lab.ip("link set p1 down");
    lab.ip("link set p1 up");
    expect_endpoints(
        &lab,
        &[
            "10.60.0.1 dev p0 subflow",
            "10.60.0.7 dev p0 subflow",
            "10.61.0.1 dev p1 subflow",
            "10.62.0.1 dev p2 subflow backup",
        ],
    );
    // A reload (SIGHUP) puts the configured flags back.
    d.reload();
    expect_endpoints(
        &lab,
        &[
            "10.60.0.1 dev p0 subflow",
            "10.60.0.7 dev p0 subflow",
            "10.61.0.1 dev p1 subflow",
            "10.62.0.1 dev p2 subflow",
        ],
    );
    assert!(d.status().held.is_empty());
    d.stop().unwrap();
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn others_endpoints_only_with_manage_all() {
    let lab = Lab::new(3);
    lab.default_route();
    lab.ip("link add docker0 type veth peer name dockerpeer");
    lab.ip("link set docker0 up");
    lab.ip("link set dockerpeer up");
    lab.ip("addr add 172.17.0.1/16 dev docker0");
    // Endpoints made by hand before the daemon: one for an address the
    // policy wants (with other flags), one it would never make, one stale.
    lab.add_foreign("10.61.0.1 dev p1 signal");
    lab.add_foreign("172.17.0.1 dev docker0 subflow");
    lab.add_foreign("192.0.2.99 subflow");
    let d = spawn(&lab, config(""));
    let foreign = ["10.61.0.1 dev p1 signal", "172.17.0.1 dev docker0 subflow", "192.0.2.99 dev  subflow"];
    let mut want: Vec<&str> = foreign.to_vec();
    want.extend(["10.60.0.1 dev p0 subflow", "10.62.0.1 dev p2 subflow"]);
    expect_endpoints(&lab, &want);
    let st = d.status();
    assert_eq!(st.endpoints.iter().filter(|e| e.owner == "other").count(), 3);
    assert!(
        st.pending.iter().any(|p| p.addr == "10.61.0.1" && p.why.contains("not the daemon's")),
        "{:#?}",
        st.pending
    );
    // Its own endpoints follow the link; the others' stay.
    lab.ip("link set p1 down");
    lab.ip("link set p2 down");
    want.retain(|w| !w.starts_with("10.62"));
    expect_endpoints(&lab, &want);
    lab.ip("link set p1 up");
    lab.ip("link set p2 up");
    d.stop().unwrap();

    // manage = "all": what the policy does not want goes, what it wants is
    // adopted and set to the policy's flags.
    let d = spawn(&lab, config("manage = \"all\""));
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow", "10.62.0.1 dev p2 subflow"]);
    assert!(d.status().endpoints.iter().all(|e| e.owner == "daemon"), "{:#?}", d.status().endpoints);
    d.stop().unwrap();
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_restarted_daemon_knows_its_endpoints() {
    let lab = Lab::new(3);
    lab.default_route();
    let dir = TempDir::new("restart");
    let toml = format!("runtime_dir = \"{}\"\n", dir.0.display());
    let d = spawn(&lab, config(&toml));
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow", "10.62.0.1 dev p2 subflow"]);
    let state: mptcp_daemon::StateFile =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("state.json")).unwrap()).unwrap();
    assert_eq!(state.owned.len(), 3);
    d.stop().unwrap();

    // While it is gone: an address leaves, another comes, a link goes
    // down, and someone adds an endpoint of their own.
    lab.ip("addr del 10.61.0.1/24 dev p1");
    lab.ip("addr add 10.61.0.5/24 dev p1");
    lab.ip("link set p2 down");
    lab.add_foreign("10.62.0.77 dev p2 signal");
    let d = spawn(&lab, config(&toml));
    // Its stale and dead endpoints are gone, the new address has one, the
    // other endpoint is left alone.
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.5 dev p1 subflow", "10.62.0.77 dev p2 signal"]);
    // p0's endpoint kept its id across the restart.
    let p0 = state.owned.iter().find(|o| o.addr == ip_of("10.60.0.1")).unwrap().id;
    assert!(lab.endpoints().iter().any(|e| e.addr == ip_of("10.60.0.1") && e.id == p0));
    d.stop().unwrap();

    // on_exit = "flush": its own go, the other stays.
    let d = spawn(&lab, config(&format!("{toml}on_exit = \"flush\"\n")));
    d.stop().unwrap();
    expect_endpoints(&lab, &["10.62.0.77 dev p2 signal"]);
    let state: mptcp_daemon::StateFile =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("state.json")).unwrap()).unwrap();
    assert!(state.owned.is_empty());
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn two_daemons_never_share_a_runtime_directory() {
    let lab = Lab::new(1);
    let dir = TempDir::new("twice");
    let toml = format!("runtime_dir = \"{}\"\ndefault_route = \"any\"\n", dir.0.display());
    let d = spawn(&lab, config(&toml));
    let err = lab.dut.in_ns(move || mptcp_daemon::spawn(config(&toml))).unwrap().unwrap_err();
    assert!(err.to_string().contains("another mptcp daemon"), "{err}");
    let st = mptcp_daemon::status::query(&dir.0.join("control.sock")).unwrap();
    assert_eq!(st.pid, std::process::id());
    assert_eq!(st.endpoints.len(), 1);
    d.stop().unwrap();
    assert!(!dir.0.join("control.sock").exists(), "the control socket is removed on exit");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn without_mptcp_it_stops_or_waits() {
    let lab = Lab::new(1);
    lab.dut.sysctl("net.mptcp.enabled", "0").unwrap();
    let err = lab.dut.in_ns(|| mptcp_daemon::spawn(config("default_route = \"any\""))).unwrap().unwrap_err();
    assert!(matches!(err, mptcp_daemon::Error::NoMptcp(_)));
    let msg = err.to_string();
    assert!(msg.contains("net.mptcp.enabled=0") && msg.contains("wait_for_mptcp"), "{msg}");
    assert!(lab.endpoints().is_empty(), "nothing touched");

    let d = spawn(&lab, config("default_route = \"any\"\nwait_for_mptcp = true"));
    assert!(d.status().state.starts_with("waiting for MPTCP"), "{}", d.status().state);
    assert!(lab.endpoints().is_empty());
    lab.dut.sysctl("net.mptcp.enabled", "1").unwrap();
    d.reload(); // SIGHUP makes it look at once (else within 5 s)
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow"]);
    assert!(wait_for(|| d.status().state == "running"), "{}", d.status().state);
    d.stop().unwrap();
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_manual_flush_is_noticed_without_any_event() {
    let lab = Lab::new(2);
    lab.default_route();
    let d = spawn(&lab, config(""));
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow"]);
    // The kernel announces no endpoint change (neither rtnetlink nor the
    // path manager's multicast groups): the daemon must look by itself.
    lab.dut.ip(&["mptcp", "endpoint", "flush"]).unwrap();
    assert!(wait_for(|| d.status().endpoints.is_empty()), "{:#?}", d.status().endpoints);
    let st = d.status();
    assert_eq!(st.held.len(), 2, "{:#?}", st.held);
    assert!(st.held.iter().all(|h| h.what == "deleted by someone else"), "{:#?}", st.held);
    expect_endpoints_stay(&lab, &[]);
    // An endpoint someone adds is seen too, as theirs.
    lab.add_foreign("192.0.2.1 signal");
    assert!(
        wait_for(|| d.status().endpoints.iter().any(|e| e.addr == "192.0.2.1" && e.owner == "other")),
        "{:#?}",
        d.status().endpoints
    );
    d.stop().unwrap();
}
