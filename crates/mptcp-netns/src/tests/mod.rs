//! Tests in real network namespaces with real sockets (root; `#[ignore]`d so
//! that a plain `cargo test` lists them, `scripts/test.sh` runs them).
//!
//! Some tests re-run themselves in a child process of this test binary (to
//! kill it with a signal): the child sees
//! [`CHILD`] in its environment and plays the other part.

mod cleanup;

use std::net::TcpStream;
use std::process::Command;

use crate::{Netns, Path};

/// Set in the environment of a test that re-runs itself as a child.
const CHILD: &str = "MPTCP_NETNS_TEST_CHILD";

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// A command that runs test `module::name` of this binary alone, as a child
/// (`module` is the caller's `module_path!()`).
fn rerun(module: &str, name: &str) -> Command {
    let path = module.split_once("::").map_or(module, |(_, rest)| rest);
    let mut c = Command::new(std::env::current_exe().expect("the test binary"));
    c.args([&format!("{path}::{name}"), "--exact", "--include-ignored", "--nocapture", "--test-threads=1"]);
    c.env(CHILD, "1");
    c
}
