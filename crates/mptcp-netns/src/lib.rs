//! Network namespaces for MPTCP labs and tests.
//!
//! Everything this crate creates (namespaces, and with them their veth ends,
//! qdiscs, firewall rules and the processes started inside) is removed when
//! the owning value is dropped, also while a panic unwinds, and on
//! SIGINT/SIGTERM/SIGHUP once [`install_signal_cleanup`] has been called.
//! Names are unique per process and per call (`mptcp-<pid>-<n>-<role>`), so
//! parallel tests never collide, and [`sweep_stale`] removes namespaces (and
//! the processes still running in them) left behind by processes that no
//! longer exist (a `kill -9`).
//!
//! What it needs from the machine: the kernel and iproute2 (`ip`, `tc`).
//! Namespaces, veth pairs and qdiscs are made by `ip` and `tc`, run as child
//! processes, so every step is the command an administrator would type; the
//! middlebox that strips MPTCP ([`Netns::strip_mptcp`]) talks nf_tables over
//! netlink directly, and needs neither `nft` nor `iptables` (the latter is
//! only a fallback for kernels older than 5.18). [`preflight`] checks all of
//! this up front and says what is missing and how to get it.
//!
//! # Examples
//!
//! ```no_run
//! use std::net::Ipv4Addr;
//! use mptcp_netns::{Netns, Path};
//!
//! # fn main() -> Result<(), mptcp_netns::Error> {
//! let client = Netns::new("client")?;
//! let server = Netns::new("server")?;
//! let path = Path::new(&client, Ipv4Addr::new(10, 0, 1, 1).into(), &server, Ipv4Addr::new(10, 0, 1, 2).into(), 24)?;
//! path.shape(50_000_000)?; // 50 Mbit/s
//! let out = client.run(&["ping", "-c1", "-W1", "10.0.1.2"])?;
//! assert!(out.status.success());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs, missing_debug_implementations)]
#![forbid(unsafe_code)]

use std::process::{Command, Output, Stdio};

mod cleanup;
mod middlebox;
mod netns;
mod nft;
mod path;
mod preflight;
mod route;

pub use cleanup::{cleanup_all, install_signal_cleanup, live_namespaces, on_signal, sweep_stale};
pub use middlebox::Strip;
pub use netns::Netns;
pub use path::Path;
pub use preflight::{preflight, Missing, Ready, Requirements, Tool};
pub use route::{Route, RpFilter, SourceRule};

/// Errors from namespace setup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command could not be started (not installed?).
    #[error("cannot run `{cmd}`: {source} (is it installed? `ip` and `tc` come with `apt-get install iproute2`)")]
    Spawn {
        /// The command line.
        cmd: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Entering a namespace failed.
    #[error("cannot enter network namespace {name}: {source}")]
    Enter {
        /// Namespace name.
        name: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The caller lacks the privileges to create namespaces.
    #[error("network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN); run as root, e.g. with sudo")]
    NotRoot,
    /// Reading or writing a sysctl inside a namespace failed.
    #[error("sysctl {key} in {ns}: {source}")]
    Sysctl {
        /// The key, e.g. `net.mptcp.enabled`.
        key: String,
        /// Namespace name.
        ns: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The kernel refused an nf_tables change.
    #[error("nf_tables in {ns}: {what}: {source}")]
    Nftables {
        /// Namespace name.
        ns: String,
        /// What was being done.
        what: String,
        /// The kernel's answer.
        source: std::io::Error,
    },
    /// A path's addresses do not fit together (different families, a
    /// prefix length too long).
    #[error("invalid path addresses: {0}")]
    Address(String),
    /// A shaping rate the qdisc cannot take.
    #[error("invalid rate {0} bit/s: expected at least 1")]
    Rate(u64),
    /// Neither nf_tables nor the xtables fallback can strip MPTCP here.
    #[error("cannot add the middlebox that strips MPTCP in {ns}: {detail}")]
    Middlebox {
        /// Namespace name.
        ns: String,
        /// Why each way failed, and what to do.
        detail: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs a command and returns its output, failing when it exits non-zero.
///
/// # Examples
///
/// ```no_run
/// let out = mptcp_netns::cmd(&["ip", "netns", "list"])?;
/// println!("{}", String::from_utf8_lossy(&out.stdout));
/// # Ok::<(), mptcp_netns::Error>(())
/// ```
pub fn cmd(args: &[&str]) -> Result<Output> {
    let out = cmd_status(args)?;
    if !out.status.success() {
        return Err(Error::Command {
            cmd: args.join(" "),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

/// Runs a command and returns its output whatever its exit status.
///
/// # Examples
///
/// ```no_run
/// let installed = mptcp_netns::cmd_status(&["iperf3", "--version"]).is_ok();
/// ```
pub fn cmd_status(args: &[&str]) -> Result<Output> {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn { cmd: args.join(" "), source })
}

/// Whether this process may create network namespaces (effective uid 0).
///
/// # Examples
///
/// ```
/// if !mptcp_netns::is_root() {
///     eprintln!("the lab needs root");
/// }
/// ```
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// For tests that build namespaces: panics with the reason when they cannot
/// run here (not root, or `ip` missing), and installs the signal clean-up.
///
/// Such tests are marked `#[ignore = "needs root: ..."]`, so a plain
/// `cargo test` lists them as *ignored* in its closing counts instead of
/// reporting a skipped test as "ok"; `scripts/test.sh` runs them as root
/// with `--include-ignored`, and there a test that cannot run fails.
///
/// # Examples
///
/// ```no_run
/// #[test]
/// #[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
/// fn two_paths() {
///     mptcp_netns::require_root();
///     let ns = mptcp_netns::Netns::new("client").unwrap();
///     // ...
/// }
/// ```
pub fn require_root() {
    if !is_root() {
        panic!("this test needs root to create network namespaces: run it as root (scripts/test.sh does)");
    }
    if cmd_status(&["ip", "-V"]).is_err() {
        panic!("this test needs iproute2 (`ip`): apt-get install iproute2");
    }
    install_signal_cleanup();
}

/// Reads `name` from the text of `/proc/net/netstat` (header line, value line pairs).
///
/// # Examples
///
/// ```
/// let text = "MPTcpExt: MPCapableSYNTX MPCurrEstab\nMPTcpExt: 7 3\n";
/// assert_eq!(mptcp_netns::parse_netstat(text, "MPCurrEstab"), Some(3));
/// ```
pub fn parse_netstat(text: &str, name: &str) -> Option<u64> {
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        if pair.len() < 2 {
            break;
        }
        let keys = pair[0].split_whitespace().skip(1);
        let vals = pair[1].split_whitespace().skip(1);
        for (k, v) in keys.zip(vals) {
            if k == name {
                return v.parse().ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn netstat_parser_finds_counters() {
        let t = "TcpExt: A B\nTcpExt: 1 2\nMPTcpExt: MPCapableSYNTX MPCurrEstab\nMPTcpExt: 7 3\n";
        assert_eq!(parse_netstat(t, "MPCapableSYNTX"), Some(7));
        assert_eq!(parse_netstat(t, "MPCurrEstab"), Some(3));
        assert_eq!(parse_netstat(t, "B"), Some(2));
        assert_eq!(parse_netstat(t, "Nope"), None);
    }
}
