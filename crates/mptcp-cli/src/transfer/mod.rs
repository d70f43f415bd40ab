//! Bulk transfers over one connection with every byte checked, shared by
//! `mptcp bench` and `mptcp lab`: the wire protocol ([`proto`]), the data
//! loops ([`data`]), the per-subflow sampler ([`sampler`]), client and server
//! sessions ([`session`]) and their report ([`report`]), socket options
//! ([`opts`]), and the ways results are shown: text ([`units`]), the live
//! view ([`live`]) and SVG charts ([`plot`]).

pub mod data;
pub mod live;
pub mod opts;
pub mod plot;
pub mod proto;
pub mod report;
pub mod sampler;
pub mod session;
pub mod units;
