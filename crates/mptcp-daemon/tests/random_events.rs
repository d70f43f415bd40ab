//! Random address, link and carrier events on four interfaces, as fast as
//! `ip` can make them: after each burst settles, the kernel's endpoint set
//! equals the policy's answer, computed here from `ip -j` (not from the
//! daemon's own view); after SIGTERM with `on_exit = "flush"` none is left.

mod common;

use common::events::{burst, expected, Rng};
use common::*;

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn random_events_settle_on_the_policys_answer() {
    let lab = Lab::new(4);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng::new(seed);
    let d = spawn(&lab, config("default_route = \"any\"\non_exit = \"flush\"\n[limits]\nsubflows = \"keep\""));
    for round in 0..10 {
        burst(&lab.dut, &lab.peer, &mut rng, 30);
        // The kernel holds 8 endpoints: with more candidates, 8 of them
        // (the daemon never takes one away to make room for another).
        // Carrier changes reach rtnetlink through the kernel's linkwatch,
        // up to a second late: the deadline allows for it.
        let ok = wait_for(|| {
            let want = expected(&lab.dut);
            let got = lab.endpoint_set();
            got == want || (want.len() > 8 && got.len() == 8 && got.is_subset(&want))
        });
        assert!(ok, "round {round} (seed {seed}): want {:#?}\ngot {:#?}", expected(&lab.dut), lab.endpoint_set());
    }
    let st = d.status();
    assert!(st.last_actions.iter().all(|a| a.result == "ok" || a.result.contains("at most")), "{:#?}", st.last_actions);
    assert!(st.held.is_empty(), "its own changes are never taken for someone else's: {:#?}", st.held);
    d.stop().unwrap();
    assert!(lab.endpoints().is_empty(), "left behind: {:?}", lab.endpoint_set());
}
