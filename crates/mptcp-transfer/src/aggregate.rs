//! The report of a whole throughput test: every connection's
//! [`SessionReport`] (or why it failed) and their sums. A test with one
//! connection reads like that connection's report; a failed test has no
//! goodput, only what moved before it failed.

use serde::Serialize;

use super::checksum::Checksum;
use super::pacing::Pacing;
use super::proto::{Direction, Status};
use super::report::{FlowReport, Integrity, Role, SessionReport, TimelinePoint};
use super::ticker::Interval;

/// Which way a test moves data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TestDirection {
    /// Client to server.
    Upload,
    /// Server to client.
    Download,
    /// Both at once, on separate connections.
    Bidir,
}

impl TestDirection {
    /// The direction of a test made of these connections.
    pub fn of(directions: impl IntoIterator<Item = Direction>) -> TestDirection {
        let (mut up, mut down) = (false, false);
        for d in directions {
            match d {
                Direction::Upload => up = true,
                Direction::Download => down = true,
            }
        }
        match (up, down) {
            (true, true) => TestDirection::Bidir,
            (false, true) => TestDirection::Download,
            _ => TestDirection::Upload,
        }
    }
}

/// One connection of a test.
#[derive(Debug, Clone, Serialize)]
pub struct StreamEntry {
    /// Its index in the test.
    pub index: u16,
    /// Its data direction.
    pub direction: Direction,
    /// Whether its data arrived whole and verified.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// Data bytes this end's loop moved (wrote as the sender, read as the
    /// receiver), also when the transfer failed.
    pub moved_bytes: u64,
    /// Its report, when the transfer ran to its end.
    pub report: Option<SessionReport>,
}

impl StreamEntry {
    /// An entry from a session's result and the bytes its loop moved.
    pub fn new(index: u16, direction: Direction, r: crate::Result<SessionReport>, moved_bytes: u64) -> StreamEntry {
        match r {
            Ok(rep) => StreamEntry {
                index,
                direction,
                ok: rep.integrity.verified,
                error: (!rep.integrity.verified).then(|| mismatch(&rep.integrity)),
                moved_bytes,
                report: Some(rep),
            },
            Err(e) => StreamEntry { index, direction, ok: false, error: Some(e.chain()), moved_bytes, report: None },
        }
    }
}

fn mismatch(i: &Integrity) -> String {
    format!(
        "the data did not verify: sent {} bytes ({}), received {} bytes ({})",
        i.sender_bytes, i.sender_hash, i.receiver_bytes, i.receiver_hash
    )
}

/// Sums of one direction.
#[derive(Debug, Clone, Serialize)]
pub struct DirectionTotal {
    /// Connections carrying this direction.
    pub connections: usize,
    /// Data bytes the receivers got.
    pub bytes: u64,
    /// Longest receiver time, seconds.
    pub duration_s: f64,
    /// `bytes * 8 / duration_s`; `null` when a connection failed.
    pub goodput_bps: Option<f64>,
}

/// The report of a throughput test, as printed and as `--json` gives it.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    /// Every connection delivered all its data and it verified.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// `client` or `server`.
    pub role: Role,
    /// `upload`, `download` or `bidir`.
    pub direction: TestDirection,
    /// The other end.
    pub peer: String,
    /// Connections the test asked for.
    pub connections: usize,
    /// Whether this end asked for MPTCP.
    pub requested_mptcp: bool,
    /// Congestion control in use on this end.
    pub congestion: Option<String>,
    /// MPTCP status on this end (`unknown` when the connections differ).
    pub status: Status,
    /// MPTCP status the other end reported.
    pub peer_status: Status,
    /// Data bytes the receivers got, all connections that ran to their end.
    pub bytes: u64,
    /// Data bytes this end's loops moved, all connections (also failed ones).
    pub moved_bytes: u64,
    /// Longest receiver time, seconds.
    pub duration_s: f64,
    /// Total goodput, bits per second; `null` when the test failed.
    pub goodput_bps: Option<f64>,
    /// Upload sums.
    pub upload: Option<DirectionTotal>,
    /// Download sums.
    pub download: Option<DirectionTotal>,
    /// Checksum verdict over every connection.
    pub integrity: Integrity,
    /// Segments retransmitted, all subflows of all connections.
    pub retransmits: u64,
    /// MPTCP-level retransmissions (Linux 6.5+).
    pub mptcp_retransmits: Option<u64>,
    /// Subflows at once, summed over the connections.
    pub max_subflows: usize,
    /// Every subflow of every connection.
    pub subflows: Vec<FlowReport>,
    /// Pacing of the senders (`-b`).
    pub pacing: Option<Pacing>,
    /// Interval of the interval report, seconds.
    pub interval_s: Option<f64>,
    /// The interval report.
    pub intervals: Vec<Interval>,
    /// Throughput over time: per subflow with one connection, per
    /// connection with several.
    pub timeline: Vec<TimelinePoint>,
    /// Every connection.
    pub streams: Vec<StreamEntry>,
}

/// What a test is, apart from its connections.
#[derive(Debug, Clone)]
pub struct TestFacts {
    /// This end.
    pub role: Role,
    /// The other end.
    pub peer: String,
    /// Connections the test asked for.
    pub connections: usize,
    /// Whether this end asked for MPTCP.
    pub requested_mptcp: bool,
    /// An error of the test itself (not of one connection).
    pub error: Option<String>,
}

impl TestReport {
    /// Sums the connections' reports. `timeline` replaces the per-subflow
    /// one of a single connection when given.
    pub fn assemble(
        facts: TestFacts,
        mut streams: Vec<StreamEntry>,
        intervals: (Option<f64>, Vec<Interval>),
        timeline: Option<Vec<TimelinePoint>>,
    ) -> TestReport {
        streams.sort_by_key(|s| s.index);
        let done: Vec<&SessionReport> = streams.iter().filter_map(|s| s.report.as_ref()).collect();
        let missing = facts.connections.saturating_sub(streams.len());
        let mut error = facts.error.clone();
        if error.is_none() {
            error = streams.iter().find_map(|s| s.error.as_ref().map(|e| format!("connection {}: {e}", s.index)));
        }
        if error.is_none() && missing > 0 {
            error = Some(format!("{missing} of {} connections never started", facts.connections));
        }
        let ok = error.is_none();
        let total = |d: Direction| -> Option<DirectionTotal> {
            let of: Vec<&StreamEntry> = streams.iter().filter(|s| s.direction == d).collect();
            if of.is_empty() {
                return None;
            }
            let reps: Vec<&SessionReport> = of.iter().filter_map(|s| s.report.as_ref()).collect();
            let bytes = reps.iter().map(|r| r.bytes).sum::<u64>();
            let duration_s = reps.iter().map(|r| r.duration_s).fold(0.0, f64::max);
            let good = ok && duration_s > 0.0;
            Some(DirectionTotal {
                connections: of.len(),
                bytes,
                duration_s,
                goodput_bps: good.then(|| bytes as f64 * 8.0 / duration_s),
            })
        };
        let (upload, download) = (total(Direction::Upload), total(Direction::Download));
        let goodput_bps = if ok {
            Some([&upload, &download].iter().filter_map(|t| t.as_ref().and_then(|t| t.goodput_bps)).sum())
        } else {
            None
        };
        let same = |f: &dyn Fn(&SessionReport) -> Status| -> Status {
            match done.first().map(|r| f(r)) {
                Some(s) if done.iter().all(|r| f(r) == s) => s,
                _ => Status::Unknown,
            }
        };
        let mptcp_retransmits: Vec<u64> = done.iter().filter_map(|r| r.mptcp_retransmits).map(u64::from).collect();
        let single = (done.len() == 1 && streams.len() == 1).then(|| done[0]);
        TestReport {
            ok,
            error,
            role: facts.role,
            direction: TestDirection::of(streams.iter().map(|s| s.direction)),
            peer: facts.peer,
            connections: facts.connections,
            requested_mptcp: facts.requested_mptcp,
            congestion: done.first().and_then(|r| r.congestion.clone()),
            status: same(&|r| r.status),
            peer_status: same(&|r| r.peer_status),
            bytes: done.iter().map(|r| r.bytes).sum(),
            moved_bytes: streams.iter().map(|s| s.moved_bytes).sum(),
            duration_s: done.iter().map(|r| r.duration_s).fold(0.0, f64::max),
            goodput_bps,
            upload,
            download,
            integrity: integrity(&streams, single, ok),
            retransmits: done.iter().map(|r| r.retransmits).sum(),
            mptcp_retransmits: (!mptcp_retransmits.is_empty()).then(|| mptcp_retransmits.iter().sum()),
            max_subflows: done.iter().map(|r| r.max_subflows).sum(),
            subflows: done.iter().flat_map(|r| r.subflows.iter().cloned()).collect(),
            pacing: done.iter().find_map(|r| r.pacing.clone()),
            interval_s: intervals.0,
            intervals: intervals.1,
            timeline: match (timeline, single) {
                (Some(t), _) if single.is_none() => t,
                (_, Some(r)) => r.timeline.clone(),
                _ => Vec::new(),
            },
            streams,
        }
    }
}

/// The checksum verdict of the whole test: one connection's own, or for
/// several a checksum over their checksums in index order (the same on both
/// ends when every connection matched).
fn integrity(streams: &[StreamEntry], single: Option<&SessionReport>, ok: bool) -> Integrity {
    if let Some(r) = single {
        return r.integrity.clone();
    }
    let reps: Vec<&Integrity> = streams.iter().filter_map(|s| s.report.as_ref().map(|r| &r.integrity)).collect();
    let combine = |pick: &dyn Fn(&Integrity) -> &str| {
        let mut c = Checksum::new();
        for i in &reps {
            c.update(pick(i).as_bytes());
        }
        format!("{:016x}", c.digest())
    };
    Integrity {
        verified: ok && reps.iter().all(|i| i.verified),
        checksum: Checksum::NAME,
        sender_bytes: reps.iter().map(|i| i.sender_bytes).sum(),
        receiver_bytes: reps.iter().map(|i| i.receiver_bytes).sum(),
        sender_hash: combine(&|i| &i.sender_hash),
        receiver_hash: combine(&|i| &i.receiver_hash),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Delivery, SessionInfo, Tally};

    fn session(direction: Direction, bytes: u64, hash: u64, verified: bool) -> SessionReport {
        let info = SessionInfo {
            role: Role::Client,
            direction,
            peer: "p".into(),
            requested_mptcp: true,
            congestion: Some("cubic".into()),
            mptcp_retransmits: Some(1),
            pacing: None,
        };
        let d = Delivery {
            sender: Tally { bytes, hash },
            receiver: Tally { bytes, hash: if verified { hash } else { hash + 1 } },
            verified,
            duration_s: 2.0,
            status: Status::Mptcp,
            peer_status: Status::Mptcp,
        };
        SessionReport::assemble(info, &d, &[])
    }

    fn reset() -> crate::Error {
        std::io::Error::new(std::io::ErrorKind::ConnectionReset, "the peer reset the connection").into()
    }

    fn facts(connections: usize) -> TestFacts {
        TestFacts { role: Role::Client, peer: "p".into(), connections, requested_mptcp: true, error: None }
    }

    #[test]
    fn one_connection_reads_like_its_own_report() {
        let s = session(Direction::Upload, 1_000_000, 7, true);
        let t = TestReport::assemble(
            facts(1),
            vec![StreamEntry::new(0, Direction::Upload, Ok(s.clone()), 0)],
            (None, vec![]),
            None,
        );
        assert!(t.ok && t.error.is_none());
        assert_eq!(t.goodput_bps, Some(s.goodput_bps));
        assert_eq!(t.integrity.sender_hash, s.integrity.sender_hash);
        assert_eq!((t.direction, t.status, t.max_subflows), (TestDirection::Upload, Status::Mptcp, 0));
        assert!(t.download.is_none());
    }

    #[test]
    fn bidir_sums_both_ways_and_a_failure_removes_every_goodput() {
        let streams = vec![
            StreamEntry::new(0, Direction::Upload, Ok(session(Direction::Upload, 1_000_000, 1, true)), 0),
            StreamEntry::new(1, Direction::Download, Ok(session(Direction::Download, 3_000_000, 2, true)), 0),
        ];
        let t = TestReport::assemble(facts(2), streams.clone(), (None, vec![]), Some(vec![]));
        assert_eq!(t.direction, TestDirection::Bidir);
        assert_eq!(t.upload.as_ref().unwrap().goodput_bps, Some(4e6));
        assert_eq!(t.download.as_ref().unwrap().goodput_bps, Some(12e6));
        assert_eq!(t.goodput_bps, Some(16e6));
        assert_eq!(t.integrity.sender_hash, t.integrity.receiver_hash, "combined over both");
        assert_eq!(t.mptcp_retransmits, Some(2));

        let mut failed = streams;
        failed.push(StreamEntry::new(2, Direction::Upload, Err(reset()), 5));
        let t = TestReport::assemble(facts(3), failed, (None, vec![]), None);
        assert!(!t.ok && !t.integrity.verified);
        assert_eq!(t.error.as_deref(), Some("connection 2: the peer reset the connection"));
        assert_eq!(t.goodput_bps, None);
        assert_eq!(t.upload.unwrap().goodput_bps, None, "no goodput for a failed test");
        assert_eq!(t.bytes, 4_000_000, "what arrived is still counted");
        assert_eq!(t.moved_bytes, 5);
    }

    #[test]
    fn a_mismatch_or_a_missing_connection_fails_the_test() {
        let bad = StreamEntry::new(0, Direction::Upload, Ok(session(Direction::Upload, 10, 1, false)), 10);
        assert!(bad.error.as_deref().unwrap().starts_with("the data did not verify"));
        let t = TestReport::assemble(facts(1), vec![bad], (None, vec![]), None);
        assert!(!t.ok && t.goodput_bps.is_none());
        let one = StreamEntry::new(0, Direction::Upload, Ok(session(Direction::Upload, 10, 1, true)), 10);
        let t = TestReport::assemble(facts(2), vec![one], (None, vec![]), None);
        assert_eq!(t.error.as_deref(), Some("1 of 2 connections never started"));
    }
}
