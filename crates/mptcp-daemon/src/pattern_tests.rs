use super::*;

#[test]
fn globs() {
    let m = |p: &str, n: &str| Glob::new(p).matches(n);
    assert!(m("*", "") && m("*", "eth0"));
    assert!(m("wlan*", "wlan") && m("wlan*", "wlan0"));
    assert!(m("*0", "eth0") && !m("*0", "eth1"));
    assert!(m("e*h*", "eth0") && m("a*b*c", "aXbYbc") && !m("a*b*c", "aXbYb"));
    assert!(m("br-*", "br-1234") && !m("br-*", "bridge"));
    assert!(!m("eth0", "eth") && !m("", "x") && m("", ""));
}

#[test]
fn prefixes() {
    let p = Prefix::parse("10.0.0.0/8").unwrap();
    assert!(p.contains("10.255.1.1".parse().unwrap()) && !p.contains("11.0.0.1".parse().unwrap()));
    let h = Prefix::parse("10.0.0.1").unwrap();
    assert_eq!(h.to_string(), "10.0.0.1/32");
    assert!(h.contains("10.0.0.1".parse().unwrap()) && !h.contains("10.0.0.2".parse().unwrap()));
    let v6 = Prefix::parse("fd00::/7").unwrap();
    assert!(v6.contains("fc00::1".parse().unwrap()) && v6.contains("fdff::1".parse().unwrap()));
    assert!(!v6.contains("fe80::1".parse().unwrap()));
    assert!(Prefix::parse("0.0.0.0/0").unwrap().contains("1.2.3.4".parse().unwrap()));
    for bad in ["", "10.0.0.0/", "10.0.0.0/x", "::/129", "host/8"] {
        assert!(Prefix::parse(bad).is_err(), "{bad}");
    }
}
