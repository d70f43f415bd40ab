//! Bulk transfers and request/response tests with every byte checked,
//! shared by `mptcp bench` and `mptcp lab`: the wire protocol ([`proto`]),
//! the data stream and its checksum ([`checksum`]), I/O with bounded time
//! ([`timed`]), pacing ([`pacing`]), the data loops ([`data`]), the
//! per-subflow sampler ([`sampler`]), data sessions ([`session`]) and their
//! report ([`report`]), socket options ([`opts`]), and the ways results are
//! shown: text ([`units`]), the live view ([`live`]) and SVG charts
//! ([`plot`]).

pub mod aggregate;
pub mod checksum;
pub mod client;
pub mod data;
pub mod live;
pub mod opts;
pub mod pacing;
pub mod plot;
pub mod proto;
pub mod report;
pub mod rr;
pub mod sampler;
pub mod server;
pub mod session;
pub mod ticker;
pub mod timed;
pub mod units;
