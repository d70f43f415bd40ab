//! A userspace link emulator for routers in network namespaces: delay,
//! jitter, random and bursty loss, fixed rates and mahimahi traces, bounded
//! drop-tail queues and outages, for kernels without netem.
//!
//! Two halves, kept apart:
//!
//! - the **model** ([`LinkConfig`], [`Link`]): pure and deterministic given
//!   a seed; it is told each packet's arrival time and length and answers
//!   "dropped, because ..." or "leaves at ...";
//! - the **runtime** ([`Emulator`]): threads of the calling process, in a
//!   router namespace that forwards between two interfaces (`lan` towards
//!   the client, `wan` towards the server). An nf_tables rule on the forward
//!   hook sends every forwarded packet to an nfnetlink queue (one per
//!   direction); the emulator reads the packet's length and its first 128
//!   bytes (the headers), asks the model, and gives the kernel its verdict:
//!   drop at once, or accept at the release time. The kernel keeps the
//!   packet the whole time and routes it; nothing but the timing and the
//!   drops is ours. See [`Gso`] for what the model sees of TCP's large
//!   GSO aggregates.
//!
//! The rule lives in a table owned by the emulator's netlink socket: it
//! goes away with the [`Emulator`] (on drop), and, should the process die
//! (a panic that aborts, a signal, `kill -9`), with the socket.
//!
//! What it needs: Linux 5.12 or later with `nfnetlink_queue`, nf_tables and
//! its xtables compatibility (`CONFIG_NFT_COMPAT`, `xt_NFQUEUE`; `nft_queue`
//! is not needed), CAP_NET_ADMIN in the router's namespace, and forwarding
//! enabled there.
//!
//! # Examples
//!
//! ```no_run
//! use mptcp_linkem::{Emulator, EmulatorConfig};
//!
//! # fn main() -> Result<(), mptcp_linkem::Error> {
//! // In namespace `router`, which forwards between `lan` and `wan`:
//! let emu = Emulator::start(
//!     "/run/netns/router",
//!     EmulatorConfig::new("lan", "wan", "rate=20mbit delay=30ms loss=1%".parse()?, "rate=50mbit delay=30ms".parse()?),
//! )?;
//! // ... traffic ...
//! let stats = emu.stats();
//! println!("up: {} packets in, {} lost", stats.up.packets_in, stats.up.dropped_loss);
//! drop(emu); // the rule and the queues are gone
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs, missing_debug_implementations)]

pub mod model;
pub mod parse;
mod runtime;
mod sys;

pub use model::{Cause, Decision, GilbertElliott, Link, LinkConfig, Loss, Outages, QueueLimit, Rate, Trace};
pub use runtime::{DirectionStats, Emulator, EmulatorConfig, Gso, Stats};

/// Errors of this crate.
///
/// # Examples
///
/// ```
/// let e = "rate=10mbps".parse::<mptcp_linkem::LinkConfig>().unwrap_err();
/// assert!(matches!(e, mptcp_linkem::Error::Parse { .. }));
/// assert!(e.to_string().starts_with("bad rate `10mbps`: "));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value on the command line (or in a spec) is malformed.
    #[error("bad {what} `{input}`: {reason}")]
    Parse {
        /// What was being parsed (rate, time, loss, ...).
        what: String,
        /// The input.
        input: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A configuration is inconsistent.
    #[error("{0}")]
    Config(String),
    /// A mahimahi trace cannot be read or parsed.
    #[error("trace {file}{}: {reason}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Trace {
        /// The file (or the name given to [`Trace::parse`]).
        file: String,
        /// The 1-based line, when one line is at fault.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// The router's namespace cannot be opened or entered.
    #[error("cannot enter network namespace {path}: {source}")]
    Netns {
        /// Its path, e.g. `/run/netns/router`.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The namespace is not set up as a router for the emulator.
    #[error("network namespace {path} cannot host the emulator: {reason}")]
    Router {
        /// Its path.
        path: String,
        /// What is missing and how to fix it.
        reason: String,
    },
    /// The kernel refused a netlink request (nf_tables or nfnetlink_queue).
    #[error("{what}: {source}{}", hint(source))]
    Kernel {
        /// What was being done.
        what: String,
        /// The kernel's answer.
        source: std::io::Error,
    },
}

fn hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EPERM) => " (needs CAP_NET_ADMIN in the router's namespace: run as root)",
        Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) | Some(libc::EPROTONOSUPPORT) => {
            " (does this kernel have nfnetlink_queue, nf_tables and CONFIG_NFT_COMPAT with xt_NFQUEUE?)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod unit {
    /// The lab moves emulators between threads and shares their stats.
    #[test]
    fn emulator_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::Emulator>();
        check::<crate::Stats>();
        check::<crate::LinkConfig>();
    }
}
