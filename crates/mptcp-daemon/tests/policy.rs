//! The daemon in a namespace: the kernel's endpoint set follows links,
//! carrier, addresses and default routes, as the policy says.

mod common;

use common::*;

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn endpoints_follow_addresses_links_and_carrier() {
    let lab = Lab::new(2);
    lab.default_route();
    let d = spawn(&lab, config(""));
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow"]);

    // Address added / removed.
    lab.ip("addr add 10.61.0.9/24 dev p1");
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow", "10.61.0.9 dev p1 subflow"]);
    lab.ip("addr del 10.61.0.9/24 dev p1");
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow"]);

    // Link down and up.
    lab.ip("link set p1 down");
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow"]);
    lab.ip("link set p1 up");
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow"]);

    // Carrier lost (the peer's end goes down) and back.
    lab.peer_ip("link set p1 down");
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow"]);
    lab.peer_ip("link set p1 up");
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow"]);

    // IPv6 needs an IPv6 default route (family rule).
    lab.ip("-6 addr add 2001:db8:60::1/64 dev p0 nodad");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!lab.endpoint_set().iter().any(|e| e.starts_with("2001:")));
    lab.ip("-6 route add default via 2001:db8:60::2 dev p0");
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow", "2001:db8:60::1 dev p0 subflow"]);
    // An address under duplicate address detection waits for it to finish.
    lab.ip("-6 addr add 2001:db8:61::1/64 dev p1");
    expect_endpoints(
        &lab,
        &[
            "10.60.0.1 dev p0 subflow",
            "10.61.0.1 dev p1 subflow",
            "2001:db8:60::1 dev p0 subflow",
            "2001:db8:61::1 dev p1 subflow",
        ],
    );
    lab.ip("-6 route add default via 2001:db8:61::2 dev p1 metric 200");
    // Deprecated and temporary (privacy) addresses are not used.
    lab.ip("-6 addr add 2001:db8:62::1/64 dev p1 nodad preferred_lft 0");
    lab.dut.sysctl("net.ipv6.conf.p0.use_tempaddr", "2").unwrap();
    lab.ip("-6 addr add 2001:db8:63::1/64 dev p0 nodad mngtmpaddr");
    assert!(wait_for(|| lab
        .dut
        .ip(&["-6", "addr", "show", "temporary", "-tentative"])
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false)));
    let want = [
        "10.60.0.1 dev p0 subflow",
        "10.61.0.1 dev p1 subflow",
        "2001:db8:60::1 dev p0 subflow",
        "2001:db8:61::1 dev p1 subflow",
        "2001:db8:63::1 dev p0 subflow",
    ];
    expect_endpoints(&lab, &want);
    let status = d.status();
    let iface = status.interfaces.iter().find(|i| i.name == "p0").unwrap();
    assert!(iface.addresses.iter().any(|a| !a.endpoint && a.why.contains("temporary")), "{iface:#?}");
    let iface = status.interfaces.iter().find(|i| i.name == "p1").unwrap();
    assert!(iface.addresses.iter().any(|a| a.addr.starts_with("2001:db8:62::1") && a.why.contains("deprecated")));

    // The IPv4 default route goes with its link: the family has none left,
    // so IPv4 endpoints go (NetworkManager's rule); IPv6 keeps the route
    // through p1.
    lab.ip("link set p0 down");
    expect_endpoints(&lab, &["2001:db8:61::1 dev p1 subflow"]);
    lab.ip("link set p0 up");
    // Up again, but the default route does not come back by itself (and
    // p0's IPv6 addresses were flushed with keep_addr_on_down=0).
    std::thread::sleep(std::time::Duration::from_millis(200));
    expect_endpoints(&lab, &["2001:db8:61::1 dev p1 subflow"]);
    lab.ip("route add default via 10.61.0.2 dev p1");
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow", "2001:db8:61::1 dev p1 subflow"]);

    let actions = d.status().last_actions;
    assert!(actions.iter().any(|a| a.op == "delete id 0" && a.trigger.contains("p1: down")), "{actions:#?}");
    assert!(actions.iter().all(|a| a.result == "ok"), "{actions:#?}");
    d.stop().unwrap();
    // on_exit = "keep" (default): the endpoints stay.
    assert_eq!(lab.endpoints().len(), 3);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn rules_flags_ports_ignores_and_limits() {
    let lab = Lab::new(4);
    lab.dut.in_ns(|| mptcp::pm::PathManager::new().unwrap().set_limits(Some(0), Some(0)).unwrap()).unwrap();
    let d = spawn(
        &lab,
        config(
            r#"
default_route = "any"
ignore_addresses = ["10.62.0.0/16"]
[limits]
add_addr_accepted = 3
[[interface]]
name = "p1"
flags = ["subflow", "backup"]
[[interface]]
name = ["p3", "nosuch*"]
flags = ["signal"]
port = 10123
[[interface]]
name = "p2"
ipv4 = false
"#,
        ),
    );
    expect_endpoints(
        &lab,
        &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow backup", "10.63.0.1 dev p3 signal port 10123"],
    );
    // subflows "auto": raised to the two subflow endpoints; add_addr_accepted set.
    let l = lab.dut.in_ns(|| mptcp::pm::PathManager::new().unwrap().limits().unwrap()).unwrap();
    assert_eq!((l.subflows, l.add_addr_accepted), (2, 3));
    let st = d.status();
    let p2 = st.interfaces.iter().find(|i| i.name == "p2").unwrap();
    assert!(p2.addresses.iter().any(|a| a.addr == "10.62.0.1/24" && a.why.contains("IPv4 not used")), "{p2:#?}");
    let p1 = st.endpoints.iter().find(|e| e.addr == "10.61.0.1").unwrap();
    assert!(p1.why.contains("rule \"p1\" at line 6"), "{p1:#?}");
    // The kernel holds 8 endpoints: the ninth address is reported, not added.
    for i in 2..=8 {
        lab.ip(&format!("addr add 10.60.0.{i}/24 dev p0"));
    }
    assert!(wait_for(|| lab.endpoints().len() == 8));
    assert!(wait_for(|| d.status().pending.iter().any(|p| p.why.contains("at most 8"))), "{:#?}", d.status().pending);
    let l = lab.dut.in_ns(|| mptcp::pm::PathManager::new().unwrap().limits().unwrap()).unwrap();
    assert_eq!(l.subflows, 7, "raised to the subflow endpoints present");
    // Rule order, then interface, then address: p1, p3, p0's .1 to .6.
    assert!(!lab.endpoints().iter().any(|e| e.addr == ip_of("10.60.0.7") || e.addr == ip_of("10.60.0.8")));
    // One goes away: the first waiting one takes its place.
    lab.ip("addr del 10.60.0.2/24 dev p0");
    assert!(wait_for(|| lab.endpoints().iter().any(|e| e.addr == ip_of("10.60.0.7")) && lab.endpoints().len() == 8));
    d.stop().unwrap();
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn ipv6_only_where_asked_and_signal_endpoints() {
    let lab = Lab::new(2);
    lab.ip("-6 addr add 2001:db8:70::1/64 dev p0 nodad");
    lab.ip("-6 addr add fd00:70::1/64 dev p1 nodad");
    lab.ip("-6 route add default via 2001:db8:70::2 dev p0 table 100");
    let d = spawn(&lab, config("default_route = \"interface\"\nipv6_unique_local = true\nflags = [\"signal\"]\n"));
    // p0 has an IPv6 default route (table 100) and no IPv4 one; p1 has none.
    expect_endpoints(&lab, &["2001:db8:70::1 dev p0 signal"]);
    lab.ip("-6 route add default via fd00:70::2 dev p1 table 101");
    expect_endpoints(&lab, &["2001:db8:70::1 dev p0 signal", "fd00:70::1 dev p1 signal"]);
    lab.ip("-6 route del default via fd00:70::2 dev p1 table 101");
    expect_endpoints(&lab, &["2001:db8:70::1 dev p0 signal"]);
    d.stop().unwrap();
}
