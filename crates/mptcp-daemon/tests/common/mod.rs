//! Shared helpers of the namespace tests: a host namespace ("dut") with
//! veth paths to a peer namespace, the kernel's endpoint set, and waiting
//! for a condition with a generous deadline (behaviour, never speed).
#![allow(dead_code)]

pub mod events;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mptcp::pm::{Endpoint, PathManager};
use mptcp_netns::{Netns, Path};

/// How long a test waits for the daemon to act before failing.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A host with `n` paths (`p0`.. with 10.<base+i>.0.1/24 and
/// fd<base+i>::1/64) to a peer (10.<base+i>.0.2).
pub struct Lab {
    pub dut: Netns,
    pub peer: Netns,
    pub paths: Vec<Path>,
}

impl Lab {
    pub fn new(n: usize) -> Lab {
        mptcp_netns::require_root();
        let dut = Netns::new("dut").unwrap();
        let peer = Netns::new("peer").unwrap();
        let paths = (0..n)
            .map(|i| {
                Path::new(
                    &dut,
                    format!("10.{}.0.1", 60 + i).parse().unwrap(),
                    &peer,
                    format!("10.{}.0.2", 60 + i).parse().unwrap(),
                    24,
                )
                .unwrap()
            })
            .collect();
        Lab { dut, peer, paths }
    }

    /// `ip -n dut ARGS`.
    pub fn ip(&self, args: &str) {
        let v: Vec<&str> = args.split_whitespace().collect();
        self.dut.ip(&v).unwrap_or_else(|e| panic!("ip {args}: {e}"));
    }

    /// `ip -n peer ARGS`.
    pub fn peer_ip(&self, args: &str) {
        let v: Vec<&str> = args.split_whitespace().collect();
        self.peer.ip(&v).unwrap_or_else(|e| panic!("ip -n peer {args}: {e}"));
    }

    /// A default route through path 0, as DHCP would add.
    pub fn default_route(&self) {
        self.ip("route add default via 10.60.0.2 dev p0");
    }

    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.dut.in_ns(|| PathManager::new().and_then(|mut pm| pm.endpoints())).unwrap().unwrap()
    }

    /// The endpoints as (address, device, flags) strings, sorted.
    pub fn endpoint_set(&self) -> BTreeSet<String> {
        events::endpoint_set(&self.dut)
    }

    pub fn add_foreign(&self, args: &str) {
        let v: Vec<&str> = ["mptcp", "endpoint", "add"].into_iter().chain(args.split_whitespace()).collect();
        self.dut.ip(&v).unwrap_or_else(|e| panic!("ip mptcp endpoint add {args}: {e}"));
    }
}

/// Waits until `f` holds; false after [`DEADLINE`].
pub fn wait_for(mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + DEADLINE;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the endpoint set equals `want` (strings as
/// [`Lab::endpoint_set`] makes them); panics with both sets otherwise.
pub fn expect_endpoints(lab: &Lab, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    if !wait_for(|| lab.endpoint_set() == want) {
        panic!("endpoints: want {want:#?}\n got {:#?}", lab.endpoint_set());
    }
}

/// Stays equal to `want` for a while (the daemon does not undo it).
pub fn expect_endpoints_stay(lab: &Lab, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    for _ in 0..15 {
        assert_eq!(lab.endpoint_set(), want);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A private runtime directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("mptcp-daemon-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A configuration for tests: `toml` plus, unless it sets them, no runtime
/// directory.
pub fn config(toml: &str) -> mptcp_daemon::Config {
    let mut c = mptcp_daemon::Config::from_toml(toml, "test.toml").unwrap();
    if !toml.contains("runtime_dir") {
        c.runtime_dir = None;
    }
    c
}

/// Starts the daemon inside the lab's host namespace.
pub fn spawn(lab: &Lab, cfg: mptcp_daemon::Config) -> mptcp_daemon::Handle {
    lab.dut.in_ns(move || mptcp_daemon::spawn(cfg)).unwrap().unwrap()
}

pub fn ip_of(s: &str) -> IpAddr {
    s.parse().unwrap()
}
