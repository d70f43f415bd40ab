//! Random address, link and carrier events on four interfaces, as fast as
//! `ip` can make them: after each burst settles, the kernel's endpoint set
//! equals the policy's answer, computed here from `ip -j` (not from the
//! daemon's own view); after SIGTERM with `on_exit = "flush"` none is left.

mod common;

use std::collections::BTreeSet;

use common::*;

/// The policy's answer for `default_route = "any"`, from iproute2's JSON:
/// every global address of an interface that is up with carrier.
fn expected(lab: &Lab) -> BTreeSet<String> {
    let out = lab.dut.ip(&["-j", "addr", "show"]).unwrap();
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

struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn burst(lab: &Lab, rng: &mut Rng, events: usize) {
    for _ in 0..events {
        let i = rng.next(4);
        let dev = format!("p{i}");
        // `ip` refuses adding what exists or deleting what does not: such
        // an event simply changes nothing, which the daemon must also see.
        let args = match rng.next(8) {
            0 | 1 => format!("addr add 10.{}.0.{}/24 dev {dev}", 60 + i, 10 + rng.next(2)),
            2 | 3 => format!("addr del 10.{}.0.{}/24 dev {dev}", 60 + i, 10 + rng.next(2)),
            4 => format!("-6 addr add 2001:db8:{}::{}/64 dev {dev} nodad", 60 + i, 10),
            5 => format!("-6 addr del 2001:db8:{}::{}/64 dev {dev}", 60 + i, 10),
            6 => format!("link set {dev} {}", if rng.next(2) == 0 { "down" } else { "up" }),
            _ => {
                // Carrier: the peer's end.
                let a = format!("link set {dev} {}", if rng.next(2) == 0 { "down" } else { "up" });
                let _ = lab.peer.ip(&a.split_whitespace().collect::<Vec<_>>());
                continue;
            }
        };
        let _ = lab.dut.ip(&args.split_whitespace().collect::<Vec<_>>());
    }
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn random_events_settle_on_the_policys_answer() {
    let lab = Lab::new(4);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let d = spawn(&lab, config("default_route = \"any\"\non_exit = \"flush\"\n[limits]\nsubflows = \"keep\""));
    for round in 0..10 {
        burst(&lab, &mut rng, 30);
        // The kernel holds 8 endpoints: with more candidates, 8 of them
        // (the daemon never takes one away to make room for another).
        // Carrier changes reach rtnetlink through the kernel's linkwatch,
        // up to a second late: the deadline allows for it.
        let ok = wait_for(|| {
            let want = expected(&lab);
            let got = lab.endpoint_set();
            got == want || (want.len() > 8 && got.len() == 8 && got.is_subset(&want))
        });
        assert!(ok, "round {round} (seed {seed}): want {:#?}\ngot {:#?}", expected(&lab), lab.endpoint_set());
    }
    let st = d.status();
    assert!(st.last_actions.iter().all(|a| a.result == "ok" || a.result.contains("at most")), "{:#?}", st.last_actions);
    assert!(st.held.is_empty(), "its own changes are never taken for someone else's: {:#?}", st.held);
    d.stop().unwrap();
    assert!(lab.endpoints().is_empty(), "left behind: {:?}", lab.endpoint_set());
}
