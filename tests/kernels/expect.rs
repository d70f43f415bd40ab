//! What the kernel under test is expected to have.
//!
//! The kernel matrix (tests/kernels/run.sh) writes each kernel's expected
//! capabilities down and hands them to the test binaries as `MPTCP_EXPECT`,
//! space-separated `key=value` pairs, e.g.
//! `mptcp=not-built tcp_is_mptcp=no ... pm=no` for Debian's 5.10. The
//! independent probe (tests/kernels/probe.c) checks the same keys in every
//! guest, so a test that follows them cannot be fooled by a library that
//! misjudges the kernel. Without `MPTCP_EXPECT` (the host) the kernel is
//! expected to have MPTCP, as the development machines do.
//!
//! Included by the integration tests with
//! `#[path = ".../tests/kernels/expect.rs"] mod expect;`.
#![allow(dead_code)]

/// The value of `key` in `MPTCP_EXPECT`, if given.
pub fn get(key: &str) -> Option<String> {
    pairs().into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Every `key=value` pair of `MPTCP_EXPECT`; panics on a malformed one (a
/// typo in run.sh must not pass silently).
pub fn pairs() -> Vec<(String, String)> {
    std::env::var("MPTCP_EXPECT")
        .unwrap_or_default()
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("MPTCP_EXPECT: `{kv}` is not key=value"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// `mptcp=`: whether MPTCP sockets can be created (`yes`), or why not
/// (`not-built`: the kernel was built without MPTCP). Default `yes`.
pub fn availability() -> String {
    get("mptcp").unwrap_or_else(|| "yes".into())
}

/// Whether the kernel under test has MPTCP.
pub fn has_mptcp() -> bool {
    availability() == "yes"
}
