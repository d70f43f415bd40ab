//! Random network events on four interfaces `p0`..`p3` (paths to a peer
//! namespace), and the policy's answer computed from iproute2's JSON, not
//! from the daemon's own view. Used by tests/random_events.rs and by the
//! benchmark (benches/daemon).

use std::collections::BTreeSet;

use mptcp_netns::Netns;

/// The policy's answer for `default_route = "any"` and subflow endpoints,
/// from `ip -j addr show`: every global, non-tentative address of an
/// interface that is up with carrier, as "ADDR dev DEV subflow".
pub fn expected(ns: &Netns) -> BTreeSet<String> {
    let out = ns.ip(&["-j", "addr", "show"]).unwrap();
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut want = BTreeSet::new();
    for l in links.as_array().unwrap() {
        let name = l["ifname"].as_str().unwrap();
        let flags: Vec<&str> = l["flags"].as_array().unwrap().iter().filter_map(|f| f.as_str()).collect();
        if name == "lo" || !flags.contains(&"UP") || !flags.contains(&"LOWER_UP") {
            continue;
        }
        for a in l["addr_info"].as_array().unwrap() {
            let tentative = a.get("tentative").is_some() || a.get("dadfailed").is_some();
            if a["scope"] == "global" && !tentative {
                want.insert(format!("{} dev {name} subflow", a["local"].as_str().unwrap()));
            }
        }
    }
    want
}

/// The kernel's endpoints in `ns` as "ADDR dev DEV FLAGS[ port P]", sorted.
pub fn endpoint_set(ns: &Netns) -> BTreeSet<String> {
    let eps = ns.in_ns(|| mptcp::pm::PathManager::new().and_then(|mut pm| pm.endpoints())).unwrap().unwrap();
    let out = ns.ip(&["-o", "link", "show"]).unwrap();
    let names: Vec<(u32, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split(": ");
            let idx = it.next()?.trim().parse().ok()?;
            Some((idx, it.next()?.split('@').next()?.to_string()))
        })
        .collect();
    eps.iter()
        .map(|e| {
            let dev = e.ifindex.and_then(|i| names.iter().find(|(x, _)| *x == i).map(|(_, n)| n.clone()));
            let mut s = format!("{} dev {} {}", e.addr, dev.unwrap_or_default(), e.flags);
            if let Some(p) = e.port {
                s.push_str(&format!(" port {p}"));
            }
            s
        })
        .collect()
}

/// xorshift64: reproducible from the seed it prints.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `events` random events, as fast as `ip` makes them: IPv4 and IPv6
/// addresses added and removed, links down and up, carrier flaps (the
/// peer's end). `ip` refuses adding what exists or deleting what does
/// not: such an event changes nothing, which the daemon must also see.
pub fn burst(host: &Netns, peer: &Netns, rng: &mut Rng, events: usize) {
    for _ in 0..events {
        let i = rng.next(4);
        let dev = format!("p{i}");
        let updown = |r: &mut Rng| if r.next(2) == 0 { "down" } else { "up" };
        let (ns, args) = match rng.next(8) {
            0 | 1 => (host, format!("addr add 10.{}.0.{}/24 dev {dev}", 60 + i, 10 + rng.next(2))),
            2 | 3 => (host, format!("addr del 10.{}.0.{}/24 dev {dev}", 60 + i, 10 + rng.next(2))),
            4 => (host, format!("-6 addr add 2001:db8:{}::10/64 dev {dev} nodad", 60 + i)),
            5 => (host, format!("-6 addr del 2001:db8:{}::10/64 dev {dev}", 60 + i)),
            6 => (host, format!("link set {dev} {}", updown(rng))),
            _ => (peer, format!("link set {dev} {}", updown(rng))),
        };
        let _ = ns.ip(&args.split_whitespace().collect::<Vec<_>>());
    }
}
