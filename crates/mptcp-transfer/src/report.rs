//! The report of one transfer session, assembled from what the data loop
//! learnt and the sampler's history: goodput, the checksum verdict, MPTCP
//! status of both ends, per-subflow totals and the throughput timeline.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::checksum::Checksum;
use super::pacing::Pacing;
use super::proto::{Direction, Status};
use super::sampler::{FlowSample, Sample};

/// Which end of the connection a report describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The end that connected.
    Client,
    /// The end that accepted.
    Server,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Role::Client => "client",
            Role::Server => "server",
        })
    }
}

/// Per-subflow line of the final report.
#[derive(Debug, Clone, Serialize)]
pub struct FlowReport {
    /// `local -> remote`.
    pub path: String,
    /// Bytes carried (acked by the peer, or received), during the session.
    pub bytes: u64,
    /// Fraction of all subflow bytes.
    pub share: f64,
    /// Mean rate while the session ran, bits per second.
    pub rate_bps: f64,
    /// Last smoothed RTT, microseconds.
    pub rtt_us: Option<u32>,
    /// Smallest smoothed RTT of the samples, microseconds.
    pub rtt_min_us: Option<u32>,
    /// Median smoothed RTT of the samples, microseconds.
    pub rtt_median_us: Option<u32>,
    /// Largest smoothed RTT of the samples, microseconds.
    pub rtt_max_us: Option<u32>,
    /// Median congestion window of the samples, segments.
    pub cwnd_median: Option<u32>,
    /// Retransmitted segments.
    pub retransmits: Option<u32>,
    /// Sender MSS.
    pub mss: Option<u32>,
    /// Whether the subflow still existed at the end.
    pub open_at_end: bool,
}

/// The checksum verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Integrity {
    /// `true` when the receiver's byte count and checksum equal the sender's.
    pub verified: bool,
    /// Checksum algorithm.
    pub checksum: &'static str,
    /// Bytes the sender wrote.
    pub sender_bytes: u64,
    /// Bytes the receiver read.
    pub receiver_bytes: u64,
    /// Sender's checksum (hex).
    pub sender_hash: String,
    /// Receiver's checksum (hex).
    pub receiver_hash: String,
}

/// One point of the throughput timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelinePoint {
    /// Seconds since the session started (end of the interval).
    pub t: f64,
    /// Total rate over the interval, bits per second.
    pub total_bps: f64,
    /// Rate of each subflow present at both ends of the interval.
    pub flows: BTreeMap<String, f64>,
    /// Smoothed RTT of each subflow at the end of the interval,
    /// microseconds (from its `tcp_info`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub rtt_us: BTreeMap<String, u32>,
}

/// The report of one session, as printed and as `--json` gives it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    /// `client` or `server`.
    pub role: Role,
    /// `upload` (client sends) or `download` (server sends).
    pub direction: Direction,
    /// The other end.
    pub peer: String,
    /// Whether this end asked for MPTCP.
    pub requested_mptcp: bool,
    /// Congestion control in use on this end.
    pub congestion: Option<String>,
    /// MPTCP status of the connection on this end, when the data ended.
    pub status: Status,
    /// MPTCP status the other end reported.
    pub peer_status: Status,
    /// Data bytes the receiver got.
    pub bytes: u64,
    /// Receiver's time from start to end of stream, seconds.
    pub duration_s: f64,
    /// `bytes * 8 / duration_s`.
    pub goodput_bps: f64,
    /// Checksum verdict.
    pub integrity: Integrity,
    /// Segments retransmitted, all subflows.
    pub retransmits: u64,
    /// MPTCP-level retransmissions (Linux 6.5+).
    pub mptcp_retransmits: Option<u32>,
    /// Most subflows seen at once.
    pub max_subflows: usize,
    /// Every subflow seen.
    pub subflows: Vec<FlowReport>,
    /// Throughput over time.
    pub timeline: Vec<TimelinePoint>,
    /// How the sender paced its data (`-b`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pacing: Option<Pacing>,
}

/// Byte count and checksum of the stream, as one end counted them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Data bytes.
    pub bytes: u64,
    /// [`Checksum`] of those bytes.
    pub hash: u64,
}

/// What one end knows when the data has ended: both ends' tallies (its own
/// and the one the peer sent), the verdict, the receiver's time and the
/// MPTCP status of both ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery {
    /// What the sender wrote.
    pub sender: Tally,
    /// What the receiver read.
    pub receiver: Tally,
    /// The receiver's verdict: both tallies equal.
    pub verified: bool,
    /// The receiver's time from start to end of stream, seconds.
    pub duration_s: f64,
    /// This end's status when the data ended.
    pub status: Status,
    /// The status the peer reported (`Unknown` when it reports none).
    pub peer_status: Status,
}

/// Facts about the session that are not in the [`Delivery`].
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// This end.
    pub role: Role,
    /// Data direction.
    pub direction: Direction,
    /// The other end.
    pub peer: String,
    /// Whether this end asked for MPTCP.
    pub requested_mptcp: bool,
    /// Congestion control in use on this end.
    pub congestion: Option<String>,
    /// MPTCP-level retransmissions at the end (Linux 6.5+).
    pub mptcp_retransmits: Option<u32>,
    /// How the sender paced its data.
    pub pacing: Option<Pacing>,
}

impl SessionReport {
    /// Assembles the report from the session's facts, its delivery and the
    /// sampler's history.
    pub fn assemble(info: SessionInfo, d: &Delivery, samples: &[Sample]) -> SessionReport {
        let subflows = flow_reports(samples, d.duration_s);
        SessionReport {
            role: info.role,
            direction: info.direction,
            peer: info.peer,
            requested_mptcp: info.requested_mptcp,
            congestion: info.congestion,
            status: d.status,
            peer_status: d.peer_status,
            bytes: d.receiver.bytes,
            duration_s: d.duration_s,
            goodput_bps: if d.duration_s > 0.0 { d.receiver.bytes as f64 * 8.0 / d.duration_s } else { 0.0 },
            integrity: Integrity {
                verified: d.verified,
                checksum: Checksum::NAME,
                sender_bytes: d.sender.bytes,
                receiver_bytes: d.receiver.bytes,
                sender_hash: format!("{:016x}", d.sender.hash),
                receiver_hash: format!("{:016x}", d.receiver.hash),
            },
            retransmits: subflows.iter().filter_map(|f| f.retransmits).map(u64::from).sum(),
            mptcp_retransmits: info.mptcp_retransmits,
            max_subflows: samples.iter().map(|s| s.flows.len()).max().unwrap_or(0),
            subflows,
            timeline: timeline(samples),
            pacing: info.pacing,
        }
    }
}

/// Rates between consecutive samples.
pub fn timeline(samples: &[Sample]) -> Vec<TimelinePoint> {
    samples
        .windows(2)
        .filter_map(|w| {
            let dt = w[1].t - w[0].t;
            if dt <= 1e-3 {
                return None;
            }
            let mut flows = BTreeMap::new();
            for f in &w[1].flows {
                if let Some(p) = w[0].flows.iter().find(|p| p.key == f.key) {
                    flows.insert(f.key.clone(), f.bytes.saturating_sub(p.bytes) as f64 * 8.0 / dt);
                }
            }
            let rtt_us = w[1].flows.iter().filter_map(|f| Some((f.key.clone(), f.rtt_us?))).collect();
            let total_bps = w[1].total.saturating_sub(w[0].total) as f64 * 8.0 / dt;
            Some(TimelinePoint { t: w[1].t, total_bps, flows, rtt_us })
        })
        .collect()
}

/// Per-subflow totals over the whole history. Every session runs on a
/// connection of its own, so each subflow's counters start at zero with
/// its socket: its last sample is its total, including what it moved
/// before the sampler's first look (under load that can be many segments).
pub fn flow_reports(samples: &[Sample], duration_s: f64) -> Vec<FlowReport> {
    let mut order: Vec<String> = Vec::new();
    let mut last: BTreeMap<String, FlowSample> = BTreeMap::new();
    for s in samples {
        for f in &s.flows {
            if last.insert(f.key.clone(), f.clone()).is_none() {
                order.push(f.key.clone());
            }
        }
    }
    let mut rtts: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    let mut cwnds: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for s in samples {
        for f in &s.flows {
            rtts.entry(f.key.as_str()).or_default().extend(f.rtt_us);
            cwnds.entry(f.key.as_str()).or_default().extend(f.cwnd);
        }
    }
    for v in rtts.values_mut().chain(cwnds.values_mut()) {
        v.sort_unstable();
    }
    let end_keys: Vec<&str> =
        samples.last().map(|s| s.flows.iter().map(|f| f.key.as_str()).collect()).unwrap_or_default();
    let bytes: Vec<u64> = order.iter().map(|k| last[k].bytes).collect();
    let sum: u64 = bytes.iter().sum();
    order
        .iter()
        .zip(bytes)
        .map(|(k, b)| {
            let l = &last[k];
            let r = rtts.get(k.as_str()).filter(|v| !v.is_empty());
            FlowReport {
                path: k.clone(),
                bytes: b,
                share: if sum > 0 { b as f64 / sum as f64 } else { 0.0 },
                rate_bps: if duration_s > 0.0 { b as f64 * 8.0 / duration_s } else { 0.0 },
                rtt_us: l.rtt_us,
                rtt_min_us: r.map(|v| v[0]),
                rtt_median_us: r.map(|v| v[v.len() / 2]),
                rtt_max_us: r.map(|v| v[v.len() - 1]),
                cwnd_median: cwnds.get(k.as_str()).filter(|v| !v.is_empty()).map(|v| v[v.len() / 2]),
                retransmits: l.retrans,
                mss: l.mss,
                open_at_end: end_keys.contains(&k.as_str()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(key: &str, bytes: u64, retrans: u32) -> FlowSample {
        FlowSample {
            key: key.into(),
            bytes,
            rtt_us: Some(900),
            retrans: Some(retrans),
            mss: Some(1448),
            cwnd: Some(10),
        }
    }

    /// Two paths; the second subflow joins after the first sample, the first
    /// is gone at the end.
    fn history() -> Vec<Sample> {
        vec![
            Sample { t: 0.0, total: 0, flows: vec![flow("a", 1_000, 0)] },
            Sample { t: 0.5, total: 1_250_000, flows: vec![flow("a", 1_001_000, 1), flow("b", 250_000, 0)] },
            Sample { t: 1.0, total: 2_500_000, flows: vec![flow("b", 1_250_000, 2)] },
        ]
    }

    #[test]
    fn a_report_is_assembled_from_delivery_and_samples() {
        let info = SessionInfo {
            role: Role::Server,
            direction: Direction::Upload,
            peer: "10.0.0.1:4000".into(),
            requested_mptcp: true,
            congestion: Some("cubic".into()),
            mptcp_retransmits: Some(3),
            pacing: None,
        };
        let d = Delivery {
            sender: Tally { bytes: 2_500_000, hash: 0xab },
            receiver: Tally { bytes: 2_500_000, hash: 0xab },
            verified: true,
            duration_s: 1.0,
            status: Status::Mptcp,
            peer_status: Status::Unknown,
        };
        let r = SessionReport::assemble(info, &d, &history());
        assert_eq!(r.goodput_bps, 20e6);
        assert_eq!(r.integrity.sender_hash, "00000000000000ab");
        assert!(r.integrity.verified);
        assert_eq!(r.max_subflows, 2);
        assert_eq!(r.retransmits, 1 + 2, "last retransmit count of each subflow");
        assert_eq!(r.subflows.len(), 2);
        let (a, b) = (&r.subflows[0], &r.subflows[1]);
        // Counted from the socket's start: also the 1,000 bytes moved before the first sample.
        assert_eq!((a.path.as_str(), a.bytes, a.open_at_end), ("a", 1_001_000, false));
        assert_eq!((b.path.as_str(), b.bytes, b.open_at_end), ("b", 1_250_000, true), "joined mid-session: from zero");
        assert!((a.share + b.share - 1.0).abs() < 1e-9);
        assert_eq!(r.timeline.len(), 2);
        assert_eq!(r.timeline[0].total_bps, 20e6);
        assert_eq!(r.timeline[0].flows.get("a"), Some(&16e6));
        assert!(!r.timeline[0].flows.contains_key("b"), "no rate before a subflow's first sample");
        assert_eq!(r.timeline[0].rtt_us.get("b"), Some(&900), "an RTT from a subflow's first sample");
        assert_eq!((a.rtt_min_us, a.rtt_median_us, a.rtt_max_us), (Some(900), Some(900), Some(900)));
        assert_eq!(a.cwnd_median, Some(10));
        // The JSON keeps the names of the status and the role.
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            (v["role"].as_str(), v["status"].as_str(), v["peer_status"].as_str()),
            (Some("server"), Some("mptcp"), Some("unknown"))
        );
        assert_eq!(v["direction"], "upload");
    }

    #[test]
    fn nothing_sampled_and_no_time_give_zeros_not_nan() {
        let info = SessionInfo {
            role: Role::Client,
            direction: Direction::Download,
            peer: "p".into(),
            requested_mptcp: false,
            congestion: None,
            mptcp_retransmits: None,
            pacing: None,
        };
        let d = Delivery {
            sender: Tally::default(),
            receiver: Tally::default(),
            verified: false,
            duration_s: 0.0,
            status: Status::Tcp,
            peer_status: Status::Tcp,
        };
        let r = SessionReport::assemble(info, &d, &[]);
        assert_eq!((r.goodput_bps, r.max_subflows, r.retransmits), (0.0, 0, 0));
        assert!(r.subflows.is_empty() && r.timeline.is_empty());
    }

    #[test]
    fn roles_print_by_name() {
        assert_eq!(Role::Client.to_string(), "client");
        assert_eq!(Role::Server.to_string(), "server");
    }
}
