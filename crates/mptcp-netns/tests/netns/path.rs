//! Paths: their addresses and their shaping.

use mptcp_netns::require_root;

use super::*;

/// Addresses that do not make a path, and a rate of 0, are refused before
/// anything is created or changed.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn bad_addresses_and_rates_are_refused_up_front() {
    require_root();
    let a = Netns::new("addr").unwrap();
    let b = Netns::new("addr").unwrap();
    let v4: IpAddr = "10.77.2.1".parse().unwrap();
    let v6: IpAddr = "fd77::2".parse().unwrap();
    let e = Path::new(&a, v4, &b, v6, 24).unwrap_err();
    assert!(matches!(e, mptcp_netns::Error::Address(_)), "{e}");
    assert!(e.to_string().contains("10.77.2.1 and fd77::2"), "{e}");
    let e = Path::new(&a, v4, &b, "10.77.2.2".parse().unwrap(), 33).unwrap_err();
    assert!(e.to_string().contains("prefix length 33: at most 32"), "{e}");
    for ns in [&a, &b] {
        let links = String::from_utf8(ns.ip(&["-o", "link", "show"]).unwrap().stdout).unwrap();
        assert_eq!(links.lines().count(), 1, "only loopback: {links}");
    }
    let p = Path::new(&a, v6, &b, "fd77::3".parse().unwrap(), 64).unwrap();
    assert!(matches!(p.shape(0), Err(mptcp_netns::Error::Rate(0))));
    let qdisc = String::from_utf8(a.run(&["tc", "qdisc", "show", "dev", &p.a_dev]).unwrap().stdout).unwrap();
    assert!(!qdisc.contains("tbf"), "nothing shaped: {qdisc}");
}
