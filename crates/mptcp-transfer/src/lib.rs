//! Bulk transfers and request/response tests over Multipath TCP with every
//! byte checked: the engine behind `mptcp bench` and `mptcp lab`.
//!
//! - The wire protocol ([`proto`]): a hello on every connection, the
//!   sender's trailer, the receiver's outcome.
//! - The data stream and its checksum ([`checksum`]), I/O with bounded time
//!   ([`timed`]), pacing ([`pacing`]) and the data loops ([`data`]).
//! - The per-subflow sampler ([`sampler`]), data sessions ([`session`]) and
//!   their report ([`report`]); socket options ([`opts`]).
//! - Tests of many connections: throughput ([`client`], summed by
//!   [`aggregate`], watched by [`ticker`]), request/response ([`rr`]), and
//!   the server of all of them ([`server`]).
//! - Results for people: rates and sizes ([`units`]) and SVG charts
//!   ([`plot`]); the failover stall, defined once ([`stall`]).
//!
//! Each module uses only modules further down this list (no cycle; each
//! shared type lives in the module that produces it): `server` (uses `rr`,
//! `aggregate`, `session`), `rr` (`client`, `session`), `client`
//! (`aggregate`, `ticker`, `session`), `session` (`data`, `opts`,
//! `report`), `aggregate` (`ticker`, `report`), `ticker` (`report`,
//! `sampler`), `plot` (`report`), `data` (`pacing`, `sampler`, `timed`,
//! `units`), `report` (`pacing`, `sampler`, `proto`, `checksum`), `pacing`
//! (`checksum`, `timed`), `opts` (`units`), and the leaves `proto`,
//! `checksum`, `sampler`, `timed`, `units`, `stall`.
//!
//! # Examples
//!
//! A one-second MPTCP upload to an `mptcp bench server`, every byte
//! checked:
//!
//! ```no_run
//! use std::time::Duration;
//! use mptcp_transfer::proto::Direction;
//! use mptcp_transfer::session::{self, ClientConfig};
//!
//! let cfg = ClientConfig::new("10.0.0.2:5201", Direction::Upload, Duration::from_secs(1));
//! let report = session::run_client(&cfg, &mut |_| {})?;
//! println!("{:.1} Mbit/s, verified: {}", report.goodput_bps / 1e6, report.integrity.verified);
//! # Ok::<(), mptcp_transfer::Error>(())
//! ```
#![deny(missing_docs, missing_debug_implementations)]
// `unsafe` only in `sys`, each block with its `// SAFETY:` line.
#![deny(unsafe_code)]

pub mod aggregate;
pub mod checksum;
pub mod client;
pub mod data;
mod error;
pub mod opts;
pub mod pacing;
pub mod plot;
pub mod proto;
pub mod report;
pub mod rr;
pub mod sampler;
pub mod server;
pub mod session;
pub mod stall;
#[allow(unsafe_code)]
mod sys;
pub mod ticker;
pub mod timed;
pub mod units;

pub use error::{Error, Result};
