//! The lab's phases and the report of each.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use mptcp_transfer::proto::Status;
use mptcp_transfer::report::SessionReport;

use crate::topo::{ip_budget, Topology};

/// One experiment of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Plain TCP on each path alone, path by path.
    Tcp,
    /// MPTCP over every path.
    Mptcp,
    /// `mptcpize run iperf3` on the same topology, for comparison.
    Iperf3,
    /// A path goes down in the middle of an MPTCP transfer; the kernel
    /// path manager alone deals with it.
    Failover,
    /// The same with `mptcp daemon` running on the client.
    FailoverDaemon,
    /// A middlebox strips MPTCP from the server's SYN-ACK.
    Fallback,
}

impl Phase {
    /// Every phase, in the order they run.
    pub const ALL: [Phase; 6] =
        [Phase::Tcp, Phase::Mptcp, Phase::Iperf3, Phase::Failover, Phase::FailoverDaemon, Phase::Fallback];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Tcp => "tcp",
            Phase::Mptcp => "mptcp",
            Phase::Iperf3 => "iperf3",
            Phase::Failover => "failover",
            Phase::FailoverDaemon => "failover-daemon",
            Phase::Fallback => "fallback",
        }
    }

    /// Whether a path goes down in this phase.
    pub fn is_failover(self) -> bool {
        matches!(self, Phase::Failover | Phase::FailoverDaemon)
    }

    /// Parses a comma-separated list (`tcp,mptcp`); the result is in the
    /// order the phases run, each once.
    pub fn parse_list(list: &str) -> Result<Vec<Phase>, String> {
        let wanted = list
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Phase>, String>>()?;
        if wanted.is_empty() {
            return Err("no phase given".into());
        }
        Ok(Phase::ALL.into_iter().filter(|p| wanted.contains(p)).collect())
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl Serialize for Phase {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl FromStr for Phase {
    type Err = String;

    fn from_str(s: &str) -> Result<Phase, String> {
        Phase::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            let all: Vec<&str> = Phase::ALL.iter().map(|p| p.name()).collect();
            format!("unknown phase {s:?}; expected some of {}", all.join(", "))
        })
    }
}

/// The note of a transfer whose every byte verified.
pub const VERIFIED: &str = "every byte verified (checksum)";
/// The note of a failover transfer whose every byte verified.
pub const INTACT: &str = "every byte arrived intact (checksum)";
/// The note of a transfer whose data did not verify.
pub const MISMATCH: &str = "DATA MISMATCH";

/// The result of one phase: what every phase reports, and what its kind
/// adds ([`PhaseKind`]).
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// `tcp`, `mptcp`, `iperf3`, `failover`, `failover-daemon` or `fallback`.
    pub name: Phase,
    /// The one path a single-path transfer used (1-based): each `tcp` row
    /// has its own.
    pub path: Option<usize>,
    /// Whether the phase showed what it should.
    pub ok: bool,
    /// Whether the phase did not run because an optional program is
    /// missing (the notes say which); it does not fail the lab.
    pub skipped: bool,
    /// What was checked, and anything odd.
    pub notes: Vec<String>,
    /// Receiver's goodput, bits per second.
    pub goodput_bps: f64,
    /// Bytes delivered.
    pub bytes: u64,
    /// Receiver's duration, seconds.
    pub duration_s: f64,
    /// Whether the receiver's checksum equalled the sender's.
    pub verified: Option<bool>,
    /// MPTCP status on the client.
    pub client_status: Option<Status>,
    /// MPTCP status on the server.
    pub server_status: Option<Status>,
    /// Most subflows at once.
    pub subflows: usize,
    /// Paths the transfer could use (1-based).
    pub paths_used: Vec<usize>,
    /// Sender MSS.
    pub mss: Option<u32>,
    /// Payload bytes per full IP packet.
    pub payload_per_frame: Option<u32>,
    /// IP bytes of a full packet, as the emulator's rate counts them.
    pub frame_bytes: Option<u32>,
    /// Physical goodput limit: sum of the uplink rates x payload / IP bytes.
    pub limit_bps: Option<f64>,
    /// `goodput_bps / limit_bps`.
    pub fraction_of_limit: Option<f64>,
    /// Retransmitted segments (sender).
    pub retransmits: u64,
    /// Each subflow's smoothed RTT over the transfer (the client's
    /// `tcp_info`), with the path it took.
    pub subflow_rtts: Vec<SubflowRtt>,
    /// What the phase's kind adds; in the JSON its fields sit here, among
    /// the others.
    #[serde(flatten)]
    pub kind: PhaseKind,
    /// The client's full bench report.
    pub client: Option<SessionReport>,
    /// The server's full bench report.
    pub server: Option<SessionReport>,
}

/// What a kind of phase reports beyond what every phase does.
#[derive(Debug, Clone, PartialEq)]
pub enum PhaseKind {
    /// `tcp`, `mptcp`, `fallback`: one transfer between the lab's peers.
    Transfer,
    /// `iperf3`: another program's transfer.
    Iperf3,
    /// `failover`, `failover-daemon`: a path goes down mid-transfer.
    Failover(Failover),
}

impl PhaseKind {
    /// The kind of `phase`, nothing measured yet.
    pub fn of(phase: Phase) -> PhaseKind {
        match phase {
            Phase::Tcp | Phase::Mptcp | Phase::Fallback => PhaseKind::Transfer,
            Phase::Iperf3 => PhaseKind::Iperf3,
            Phase::Failover | Phase::FailoverDaemon => PhaseKind::Failover(Failover::default()),
        }
    }
}

/// The JSON of every phase has the failover's keys, `null` for the other
/// kinds (as before the kinds had types of their own), so that a script
/// reads `stall_ms` of any phase.
impl Serialize for PhaseKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PhaseKind::Failover(f) => f.serialize(s),
            PhaseKind::Transfer | PhaseKind::Iperf3 => Failover::default().serialize(s),
        }
    }
}

/// What a failover phase measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Failover {
    /// The path taken down (1-based).
    pub failed_path: Option<usize>,
    /// Seconds into the transfer when it went down.
    pub down_at_s: Option<f64>,
    /// From the path going down until the receiver gets 85% of the
    /// remaining paths' rate again (see [`mptcp_transfer::stall`]).
    pub stall_ms: Option<f64>,
    /// The remaining paths' rate after the failure, as measured (the
    /// stall's reference).
    pub remaining_bps: Option<f64>,
    /// The remaining paths' limit.
    pub remaining_limit_bps: Option<f64>,
    /// The receiver's rate in each 50 ms sample from the failure on,
    /// Mbit/s (what the stall is computed from).
    pub stall_samples_mbps: Option<Vec<f64>>,
    /// `failover-daemon`: what the daemon did from its start to the end of
    /// the transfer.
    pub daemon_actions: Option<Vec<mptcp_daemon::status::Action>>,
    /// Whether the path carried a TCP handshake again once it came back up
    /// (with the client's routes through it restored).
    pub path_back: Option<bool>,
}

/// One subflow's smoothed RTT over a transfer, from its `tcp_info` on the
/// client, sampled every 100 ms, with what else says whether it held the
/// connection back (its congestion window, its retransmissions, its share).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubflowRtt {
    /// `local -> remote`.
    pub subflow: String,
    /// The path it took (1-based), from its local address.
    pub path: Option<usize>,
    /// Median, ms.
    pub rtt_ms: Option<f64>,
    /// Smallest, ms.
    pub rtt_min_ms: Option<f64>,
    /// Largest, ms.
    pub rtt_max_ms: Option<f64>,
    /// Its median congestion window, segments.
    pub cwnd: Option<u32>,
    /// Its retransmitted segments.
    pub retransmits: Option<u32>,
    /// Its share of the bytes.
    pub share: f64,
}

impl PhaseReport {
    /// An empty report of `phase`: not ok, nothing measured.
    pub fn new(phase: Phase) -> PhaseReport {
        PhaseReport {
            name: phase,
            path: None,
            ok: false,
            skipped: false,
            notes: Vec::new(),
            goodput_bps: 0.0,
            bytes: 0,
            duration_s: 0.0,
            verified: None,
            client_status: None,
            server_status: None,
            subflows: 0,
            paths_used: Vec::new(),
            mss: None,
            payload_per_frame: None,
            frame_bytes: None,
            limit_bps: None,
            fraction_of_limit: None,
            retransmits: 0,
            subflow_rtts: Vec::new(),
            kind: PhaseKind::of(phase),
            client: None,
            server: None,
        }
    }

    /// What the failover phases measured; `None` for the other kinds.
    pub fn failover(&self) -> Option<&Failover> {
        match &self.kind {
            PhaseKind::Failover(f) => Some(f),
            _ => None,
        }
    }

    /// A transfer phase's report from the two ends' reports: goodput,
    /// verdict, statuses, and the physical limit of `paths` (0-based) for
    /// the MSS the client used.
    pub fn from_transfer(
        phase: Phase,
        c: SessionReport,
        s: SessionReport,
        topo: &Topology,
        paths: &[usize],
        mptcp: bool,
    ) -> PhaseReport {
        let mut p = PhaseReport::new(phase);
        p.goodput_bps = c.goodput_bps;
        p.bytes = c.bytes;
        p.duration_s = c.duration_s;
        p.verified = Some(c.integrity.verified && s.integrity.verified);
        p.client_status = Some(c.status);
        p.server_status = Some(s.status);
        p.subflows = c.max_subflows;
        p.retransmits = c.retransmits;
        p.mss = c.subflows.iter().filter_map(|f| f.mss).max();
        let ms = |us: Option<u32>| us.map(|u| f64::from(u) / 1000.0);
        p.subflow_rtts = c
            .subflows
            .iter()
            .map(|f| SubflowRtt {
                subflow: f.path.clone(),
                path: topo.path_of(&f.path),
                rtt_ms: ms(f.rtt_median_us),
                rtt_min_ms: ms(f.rtt_min_us),
                rtt_max_ms: ms(f.rtt_max_us),
                cwnd: f.cwnd_median,
                retransmits: f.retransmits,
                share: f.share,
            })
            .collect();
        if paths.len() == 1 {
            p.path = Some(paths[0] + 1);
        }
        if let Some(mss) = p.mss {
            let (payload, frame) = ip_budget(mss, mptcp);
            p.payload_per_frame = Some(payload);
            p.frame_bytes = Some(frame);
            if let Some(limit) = p.limit_of(topo, paths) {
                p.limit_bps = Some(limit);
                p.fraction_of_limit = Some(c.goodput_bps / limit);
            }
        }
        p.paths_used = paths.iter().map(|i| i + 1).collect();
        p.client = Some(c);
        p.server = Some(s);
        p
    }

    /// The goodput limit of `paths` (0-based) for this report's packet
    /// budget; `None` when a path is unlimited or no MSS was seen.
    pub fn limit_of(&self, topo: &Topology, paths: &[usize]) -> Option<f64> {
        let sum = topo.up_rate_sum(paths.iter().copied())?;
        Some(sum * f64::from(self.payload_per_frame?) / f64::from(self.frame_bytes?))
    }

    /// Whether both ends verified the data.
    pub fn verified(&self) -> bool {
        self.verified == Some(true)
    }

    /// Notes whether the data arrived as sent (`intact`, or [`MISMATCH`]);
    /// returns whether it did.
    pub fn note_integrity(&mut self, intact: &str) -> bool {
        let verified = self.verified();
        self.notes.push(if verified { intact } else { MISMATCH }.into());
        verified
    }

    /// The client's and the server's status.
    pub fn statuses(&self) -> (Status, Status) {
        (self.client_status.unwrap_or(Status::Unknown), self.server_status.unwrap_or(Status::Unknown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_parse_and_print_by_name() {
        for p in Phase::ALL {
            assert_eq!(p.to_string().parse::<Phase>(), Ok(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.name());
        }
        assert_eq!(Phase::Iperf3.to_string(), "iperf3");
        let err = "nope".parse::<Phase>().unwrap_err();
        assert_eq!(
            err,
            "unknown phase \"nope\"; expected some of tcp, mptcp, iperf3, failover, failover-daemon, fallback"
        );
        assert_eq!(serde_json::to_value(Phase::FailoverDaemon).unwrap(), "failover-daemon");
        assert!(Phase::FailoverDaemon.is_failover() && !Phase::Mptcp.is_failover());
    }

    #[test]
    fn a_list_runs_in_the_lab_s_order_each_once() {
        assert_eq!(Phase::parse_list("fallback, tcp,tcp"), Ok(vec![Phase::Tcp, Phase::Fallback]));
        assert_eq!(
            Phase::parse_list(crate::DEFAULT_PHASES),
            Ok(vec![Phase::Tcp, Phase::Mptcp, Phase::Failover, Phase::FailoverDaemon, Phase::Fallback])
        );
        assert!(Phase::parse_list(" , ").unwrap_err().contains("no phase"));
        assert!(Phase::parse_list("tcp,udp").unwrap_err().contains("\"udp\""));
    }

    #[test]
    fn an_empty_report_serializes_with_the_phase_name() {
        let v = serde_json::to_value(PhaseReport::new(Phase::Failover)).unwrap();
        assert_eq!(v["name"], "failover");
        assert_eq!(v["ok"], false);
        assert!(v["client_status"].is_null());
    }

    /// The keys of every phase's JSON, in order, whatever its kind: the
    /// shared ones, the failover's, the two ends' reports.
    const KEYS: [&str; 30] = [
        "name",
        "path",
        "ok",
        "skipped",
        "notes",
        "goodput_bps",
        "bytes",
        "duration_s",
        "verified",
        "client_status",
        "server_status",
        "subflows",
        "paths_used",
        "mss",
        "payload_per_frame",
        "frame_bytes",
        "limit_bps",
        "fraction_of_limit",
        "retransmits",
        "subflow_rtts",
        "failed_path",
        "down_at_s",
        "stall_ms",
        "remaining_bps",
        "remaining_limit_bps",
        "stall_samples_mbps",
        "daemon_actions",
        "path_back",
        "client",
        "server",
    ];

    /// The top-level keys in the order the JSON text has them (serde_json's
    /// map sorts them; nothing nested has keys in these reports).
    fn keys(p: &PhaseReport) -> Vec<String> {
        let text = serde_json::to_string(p).unwrap();
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
        let mut keys: Vec<(usize, String)> =
            map.keys().map(|k| (text.find(&format!("\"{k}\":")).unwrap(), k.clone())).collect();
        keys.sort();
        keys.into_iter().map(|(_, k)| k).collect()
    }

    #[test]
    fn every_kind_has_the_same_json_keys() {
        for phase in Phase::ALL {
            let mut p = PhaseReport::new(phase);
            assert_eq!(keys(&p), KEYS, "{phase}");
            let v = serde_json::to_value(&p).unwrap();
            for k in &KEYS[20..28] {
                assert!(v[k].is_null(), "{phase}: {k} = {}", v[k]);
            }
            if let PhaseKind::Failover(f) = &mut p.kind {
                f.failed_path = Some(2);
                f.stall_ms = Some(150.0);
                f.stall_samples_mbps = Some(vec![0.0, 47.5]);
                f.daemon_actions = Some(vec![]);
                let v = serde_json::to_value(&p).unwrap();
                assert_eq!((v["failed_path"].as_u64(), v["stall_ms"].as_f64()), (Some(2), Some(150.0)));
                assert_eq!(v["stall_samples_mbps"], serde_json::json!([0.0, 47.5]));
                assert_eq!(v["daemon_actions"], serde_json::json!([]));
                assert_eq!(keys(&p), KEYS);
            }
        }
        assert!(PhaseReport::new(Phase::FailoverDaemon).failover().is_some());
        assert!(PhaseReport::new(Phase::Fallback).failover().is_none());
        assert_eq!(PhaseKind::of(Phase::Iperf3), PhaseKind::Iperf3);
    }
}
