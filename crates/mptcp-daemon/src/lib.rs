//! A path-manager daemon for Linux MPTCP: the kernel's endpoints follow the
//! interfaces.
//!
//! The in-kernel path manager only uses the endpoints someone configured,
//! and does nothing when a link goes down or an address goes away: a dead
//! subflow stalls its connection until retransmission timers give up, and a
//! link that comes back is used again only when its endpoint is added
//! again. This daemon watches rtnetlink (links, carrier, addresses, default
//! routes) and keeps the endpoint set equal to its policy applied to the
//! current addresses: an address added becomes an endpoint; a link down,
//! carrier lost or address removed deletes it at once (and, with `delete
//! id 0 ADDR`, the initial subflows that started from it), so the kernel
//! closes the dead subflows and reinjects their data on the others; a link
//! back adds it again, so existing connections regain their subflows.
//!
//! - [`Config`]: the policy (defaults like NetworkManager's, a TOML file).
//! - [`spawn`]: the daemon on a thread in the calling thread's network
//!   namespace, with a [`Handle`] to stop it (for labs and tests).
//! - [`run_foreground`]: what `mptcp daemon` runs (signals, systemd
//!   readiness, logs).
//! - [`status::query`]: what `mptcp daemon status` asks.
//! - [`metrics`]: Prometheus text exposition.
//!
//! # Examples
//!
//! ```no_run
//! use mptcp_daemon::{Config, DefaultRoute};
//!
//! // In a lab namespace: no default route, no state file.
//! let mut cfg = Config::default();
//! cfg.default_route = DefaultRoute::Any;
//! cfg.runtime_dir = None;
//! let daemon = mptcp_daemon::spawn(cfg)?;
//! for e in &daemon.status().endpoints {
//!     println!("id {} {} {:?}", e.id, e.addr, e.dev);
//! }
//! daemon.stop()?;
//! # Ok::<(), mptcp_daemon::Error>(())
//! ```
#![deny(missing_docs, missing_debug_implementations)]
#![forbid(unsafe_code)]

mod config;
mod control;
mod daemon;
mod engine;
pub mod metrics;
pub mod net;
mod notify;
mod pattern;
pub mod policy;
mod rtnl;
mod server;
mod state;
pub mod status;
pub mod time;

pub use config::{
    parse_metrics_address, Config, ConfigError, DefaultRoute, Limit, Manage, OnExit, Rule, DEFAULT_CONFIG_PATH,
    DEFAULT_IGNORE_INTERFACES, DEFAULT_RUNTIME_DIR, EXAMPLE,
};
pub use control::Control;
pub use daemon::{run_foreground, spawn, Error, Handle};
pub use engine::{Held, MAX_ENDPOINTS};
pub use notify::init_logging;
pub use pattern::{Glob, Prefix};
pub use rtnl::dump as dump_network;
pub use state::{Owned, StateFile};
pub use status::Status;
