//! The counts `mptcp run --report` prints, from two sources: the records
//! the preload library wrote (`<kind> <pid> [<inode>]` lines, see
//! `mptcp-preload`) and the samples of the kernel's socket table
//! ([`super::observe`]). A connection is one socket inode; when both sources
//! know it, the library's last record wins (it asked the socket itself, at
//! its last moment). The summary says which source counted what.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use super::observe::{Observed, INTERVAL};

/// How a connection did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// MPTCP on the wire.
    Mptcp,
    /// Fell back to TCP.
    Fallback,
}

/// What the preload library recorded.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Records {
    /// Sockets created as MPTCP.
    pub converted: u64,
    /// Sockets kept TCP because MPTCP was unavailable.
    pub unavailable: u64,
    /// Final outcome per socket inode.
    pub outcomes: HashMap<u64, Outcome>,
    /// Processes that recorded something.
    pub pids: BTreeSet<u32>,
}

impl Records {
    /// Parses the record lines; malformed lines are ignored.
    pub fn parse(text: &str) -> Records {
        let mut r = Records::default();
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let (Some(kind), Some(Ok(pid))) = (it.next(), it.next().map(str::parse::<u32>)) else {
                continue;
            };
            let inode = it.next().and_then(|i| i.parse::<u64>().ok());
            match (kind, inode) {
                ("S", _) => r.converted += 1,
                ("U", _) => r.unavailable += 1,
                ("M", Some(ino)) => {
                    r.outcomes.insert(ino, Outcome::Mptcp);
                }
                ("F", Some(ino)) => {
                    r.outcomes.insert(ino, Outcome::Fallback);
                }
                _ => continue,
            }
            r.pids.insert(pid);
        }
        r
    }
}

/// The merged counts (`mptcp run --report --json` prints them as JSON).
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Sockets the library created as MPTCP.
    pub converted: u64,
    /// Sockets the library kept TCP (MPTCP unavailable).
    pub unavailable: u64,
    /// Connections that used MPTCP / fell back, both sources.
    pub mptcp: u64,
    /// See `mptcp`.
    pub fallback: u64,
    /// Of those, what the library recorded: (MPTCP, fallback).
    #[serde(serialize_with = "pair")]
    pub by_library: (u64, u64),
    /// Of those, what only the kernel's socket table showed.
    #[serde(serialize_with = "pair")]
    pub by_kernel_only: (u64, u64),
    /// Processes seen by either source.
    pub processes: usize,
    /// Why the socket table could not be sampled, if it could not.
    pub kernel_error: Option<String>,
}

/// A (MPTCP, fallback) pair as `{"mptcp": .., "fallback": ..}`.
fn pair<S: serde::Serializer>(p: &(u64, u64), s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("Counts", 2)?;
    st.serialize_field("mptcp", &p.0)?;
    st.serialize_field("fallback", &p.1)?;
    st.end()
}

fn add(pair: &mut (u64, u64), o: Outcome) {
    match o {
        Outcome::Mptcp => pair.0 += 1,
        Outcome::Fallback => pair.1 += 1,
    }
}

impl Report {
    /// Merges the two sources (one connection per socket inode).
    pub fn merge(records: &Records, observed: &Observed) -> Report {
        let mut r = Report {
            converted: records.converted,
            unavailable: records.unavailable,
            kernel_error: observed.error.clone(),
            ..Report::default()
        };
        for o in records.outcomes.values() {
            add(&mut r.by_library, *o);
        }
        for (ino, o) in &observed.outcomes {
            if !records.outcomes.contains_key(ino) {
                add(&mut r.by_kernel_only, *o);
            }
        }
        r.mptcp = r.by_library.0 + r.by_kernel_only.0;
        r.fallback = r.by_library.1 + r.by_kernel_only.1;
        r.processes = records.pids.union(&observed.pids).count();
        r
    }

    /// The summary: totals on the first line, their sources on the second.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "mptcp run: {} socket(s) converted to MPTCP; connections: {} MPTCP, {} fallback to TCP",
            self.converted, self.mptcp, self.fallback
        );
        if self.unavailable > 0 {
            let _ = write!(s, "; MPTCP unavailable, {} socket(s) kept TCP", self.unavailable);
        }
        if self.processes > 1 {
            let _ = write!(s, " ({} processes)", self.processes);
        }
        let _ = write!(
            s,
            "\nmptcp run: counted by the preload library: {} MPTCP, {} fallback",
            self.by_library.0, self.by_library.1
        );
        match &self.kernel_error {
            None => {
                let _ = write!(
                    s,
                    "; seen only in the kernel's socket table (MPTCP sockets, sampled every {} ms): {} MPTCP, {} fallback",
                    INTERVAL.as_millis(),
                    self.by_kernel_only.0,
                    self.by_kernel_only.1
                );
            }
            Some(e) => {
                let _ = write!(s, "; the kernel's socket table could not be read ({e}), so only the library counted");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_the_last_outcome_per_socket() {
        let r = Records::parse(
            "S 10 100\nS 10 101\nM 10 100\nM 10 100\nM 11 101\nF 11 101\nU 12\nM 13\ngarbage\nX 1 2\n\n",
        );
        assert_eq!(r.converted, 2);
        assert_eq!(r.unavailable, 1);
        assert_eq!(r.outcomes, HashMap::from([(100, Outcome::Mptcp), (101, Outcome::Fallback)]));
        assert_eq!(r.pids, BTreeSet::from([10, 11, 12]));
        assert_eq!(Records::parse(""), Records::default());
    }

    #[test]
    fn sources_are_merged_by_inode() {
        let records = Records::parse("S 10 100\nM 10 100\nS 10 101\nM 10 101\n");
        let observed = Observed {
            // 100 known to both (the library's outcome wins); 200 only seen.
            outcomes: HashMap::from([(100, Outcome::Fallback), (200, Outcome::Mptcp)]),
            pids: BTreeSet::from([10, 20]),
            error: None,
        };
        let r = Report::merge(&records, &observed);
        assert_eq!((r.mptcp, r.fallback), (3, 0));
        assert_eq!(r.by_library, (2, 0));
        assert_eq!(r.by_kernel_only, (1, 0));
        assert_eq!(r.processes, 2);
        let s = r.summary();
        assert!(s.starts_with("mptcp run: 2 socket(s) converted to MPTCP; connections: 3 MPTCP, 0 fallback"), "{s}");
        assert!(s.contains("counted by the preload library: 2 MPTCP, 0 fallback"), "{s}");
        assert!(
            s.contains("seen only in the kernel's socket table (MPTCP sockets, sampled every 50 ms): 1 MPTCP"),
            "{s}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["mptcp"], 3);
        assert_eq!(json["by_library"], serde_json::json!({"mptcp": 2, "fallback": 0}));
        assert_eq!(json["by_kernel_only"], serde_json::json!({"mptcp": 1, "fallback": 0}));
        assert_eq!(json["kernel_error"], serde_json::Value::Null);
        let failed = Observed { error: Some("inet_diag: EPERM".into()), ..Observed::default() };
        let s = Report::merge(&records, &failed).summary();
        assert!(s.contains("could not be read (inet_diag: EPERM)"), "{s}");
    }
}
