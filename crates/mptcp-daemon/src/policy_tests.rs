use super::*;
use crate::config::{Limit, Rule};
use crate::net::tests::{addr, link, route};
use crate::net::RT_TABLE_MAIN;

fn net() -> NetState {
    let mut n = NetState::default();
    for m in [
        link(1, "lo", true, true),
        addr(1, "127.0.0.1/8", 0),
        link(2, "eth0", true, true),
        addr(2, "192.0.2.1/24", 0),
        addr(2, "2001:db8::1/64", 0),
        addr(2, "fe80::1/64", 0),
        link(3, "wlan0", true, true),
        addr(3, "198.51.100.7/24", 0),
        link(4, "docker0", true, true),
        addr(4, "172.17.0.1/16", 0),
        route(4, 2, RT_TABLE_MAIN, true),
        route(6, 2, RT_TABLE_MAIN, true),
    ] {
        n.apply(&m);
    }
    n
}

fn wanted(p: &Plan) -> Vec<String> {
    p.want.iter().map(|w| format!("{} {} {}", w.ifname, w.addr, w.flags)).collect()
}

fn why(p: &Plan, a: &str) -> String {
    let a: IpAddr = a.parse().unwrap();
    p.skipped.iter().find(|s| s.addr == a).map(|s| s.why.clone()).unwrap_or_default()
}

#[test]
fn defaults_like_networkmanager() {
    let p = plan(&Config::default(), &net());
    assert_eq!(wanted(&p), ["eth0 192.0.2.1 subflow", "eth0 2001:db8::1 subflow", "wlan0 198.51.100.7 subflow"]);
    assert_eq!(why(&p, "127.0.0.1"), "loopback interface");
    assert_eq!(why(&p, "fe80::1"), "link-local address");
    assert!(why(&p, "172.17.0.1").contains("docker*"));
    assert!(p.want.iter().all(|w| w.port.is_none()));
    assert!(p.want[0].why.contains("default flags"), "{}", p.want[0].why);
}

#[test]
fn address_kinds_are_skipped() {
    let mut n = net();
    for m in [
        addr(3, "169.254.1.1/16", 0),
        addr(3, "fd00::7/64", 0),
        addr(3, "2001:db8:1::9/64", crate::net::IFA_F_TEMPORARY),
        addr(3, "2001:db8:2::9/64", crate::net::IFA_F_DEPRECATED),
        addr(3, "2001:db8:3::9/64", crate::net::IFA_F_TENTATIVE),
        addr(3, "2001:db8:4::9/64", crate::net::IFA_F_DADFAILED),
        addr(3, "203.0.113.5/24", crate::net::IFA_F_TEMPORARY), // IPv4: "secondary", used
    ] {
        n.apply(&m);
    }
    let p = plan(&Config::default(), &n);
    assert_eq!(why(&p, "169.254.1.1"), "link-local address");
    assert!(why(&p, "fd00::7").contains("unique local"));
    assert!(why(&p, "2001:db8:1::9").contains("temporary"));
    assert!(why(&p, "2001:db8:2::9").contains("deprecated"));
    assert!(why(&p, "2001:db8:3::9").contains("tentative"));
    assert!(why(&p, "2001:db8:4::9").contains("DAD failed"));
    assert!(p.get("203.0.113.5".parse().unwrap()).is_some());
    let cfg = Config { ipv6_temporary: true, ipv6_unique_local: true, ..Config::default() };
    let p = plan(&cfg, &n);
    assert!(p.get("fd00::7".parse().unwrap()).is_some() && p.get("2001:db8:1::9".parse().unwrap()).is_some());
}

#[test]
fn links_down_or_without_carrier_are_dead() {
    let mut n = net();
    n.apply(&link(3, "wlan0", true, false));
    let p = plan(&Config::default(), &n);
    assert_eq!(why(&p, "198.51.100.7"), "no carrier");
    assert!(p.is_dead("198.51.100.7".parse().unwrap()));
    n.apply(&link(3, "wlan0", false, false));
    let p = plan(&Config::default(), &n);
    assert_eq!(why(&p, "198.51.100.7"), "interface down");
    // An address no interface has any more is dead; an ignored one is not.
    assert!(p.is_dead("203.0.113.99".parse().unwrap()));
    assert!(!p.is_dead("172.17.0.1".parse().unwrap()));
    assert!(!p.is_dead("192.0.2.1".parse().unwrap()));
}

#[test]
fn default_route_modes() {
    let mut n = net();
    n.apply(&route(6, 2, RT_TABLE_MAIN, false));
    let p = plan(&Config::default(), &n);
    assert_eq!(why(&p, "2001:db8::1"), "no IPv6 default route in the main table");
    assert!(p.get("198.51.100.7".parse().unwrap()).is_some(), "family-wide: wlan0 rides on eth0's default route");
    let mut cfg = Config { default_route: DefaultRoute::Interface, ..Config::default() };
    let p = plan(&cfg, &n);
    assert_eq!(why(&p, "198.51.100.7"), "no IPv4 default route through wlan0");
    assert!(p.get("192.0.2.1".parse().unwrap()).is_some());
    n.apply(&route(4, 3, 100, true));
    assert!(plan(&cfg, &n).get("198.51.100.7".parse().unwrap()).is_some(), "a policy table counts");
    cfg.default_route = DefaultRoute::Any;
    assert!(plan(&cfg, &n).get("2001:db8::1".parse().unwrap()).is_some());
}

#[test]
fn rules_first_match_wins() {
    let mut wlan = Rule::new("wlan*");
    wlan.flags = Some(EndpointFlags::SUBFLOW | EndpointFlags::BACKUP);
    let mut eth = Rule::new("eth0");
    eth.flags = Some(EndpointFlags::SIGNAL);
    eth.port = Some(4000);
    eth.ipv6 = Some(false);
    let mut all = Rule::new("*");
    all.ignore = true;
    let mut cfg = Config {
        rules: vec![wlan, eth, all],
        ignore_addresses: vec![crate::Prefix::parse("192.0.2.0/28").unwrap()],
        subflows: Limit::Keep,
        ..Config::default()
    };
    let mut n = net();
    n.apply(&addr(2, "192.0.2.100/24", 0));
    let p = plan(&cfg, &n);
    // Rule order first: wlan0 before eth0.
    assert_eq!(wanted(&p), ["wlan0 198.51.100.7 subflow backup", "eth0 192.0.2.100 signal"]);
    assert_eq!(p.want[1].port, Some(4000));
    assert!(why(&p, "192.0.2.1").contains("ignore_addresses"));
    assert!(why(&p, "2001:db8::1").contains("IPv6 not used"));
    assert!(why(&p, "172.17.0.1").contains("ignore_interfaces"), "the ignore list comes before rules");
    cfg.ignore_interfaces.clear();
    assert!(why(&plan(&cfg, &n), "172.17.0.1").contains("rule at line"));
}

#[test]
fn one_endpoint_per_address() {
    let mut n = net();
    n.apply(&addr(3, "192.0.2.1/24", 0));
    let p = plan(&Config::default(), &n);
    assert_eq!(p.want.iter().filter(|w| w.addr == "192.0.2.1".parse::<IpAddr>().unwrap()).count(), 1);
    assert!(p.skipped.iter().any(|s| s.ifname == "wlan0" && s.why.contains("earlier interface")));
}
