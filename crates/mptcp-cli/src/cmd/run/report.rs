//! The counts `mptcp run --report` prints, from two sources: the records
//! the preload library wrote ([`super::records`]) and the samples of the
//! kernel's socket table ([`super::observe`]). A connection is one socket
//! inode; when both sources know it, the library's last record wins (it
//! asked the socket itself, at its last moment). The summary says which
//! source counted what.

use std::fmt::Write as _;

use super::observe::{Observed, INTERVAL};
use super::records::{Outcome, Records};

/// What converted the program's sockets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// The preload library (and GODEBUG for Go).
    #[default]
    Preload,
    /// The kernel's BPF hook.
    Bpf,
    /// Nothing: MPTCP is not available.
    None,
}

/// The merged counts (`mptcp run --report --json` prints them as JSON).
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// What converted the sockets.
    pub via: Via,
    /// Why the BPF hook was not used (with `--via auto`, or nothing was
    /// attached), if it was not.
    pub why_not_bpf: Option<String>,
    /// Sockets created as MPTCP: by the library (preload), or by the
    /// kernel's hook (bpf).
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
        match self.via {
            Via::Preload => {
                let _ = write!(
                    s,
                    "\nmptcp run: counted by the preload library: {} MPTCP, {} fallback",
                    self.by_library.0, self.by_library.1
                );
            }
            Via::Bpf => {
                let _ = write!(s, "\nmptcp run: converted by the kernel's BPF hook (update_socket_protocol)");
            }
            Via::None => {
                let _ = write!(s, "\nmptcp run: nothing was converted");
            }
        }
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
        if let Some(why) = &self.why_not_bpf {
            let _ = match self.via {
                Via::Preload => write!(s, "\nmptcp run: via the preload library, not the BPF hook: {why}"),
                _ => write!(s, "\nmptcp run: nothing attached: {why}"),
            };
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;

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
        assert_eq!(json["via"], "preload");
        let bpf = Report { via: Via::Bpf, converted: 4, ..Report::merge(&Records::default(), &observed) };
        let s = bpf.summary();
        assert!(s.starts_with("mptcp run: 4 socket(s) converted to MPTCP; connections: 1 MPTCP, 1 fallback"), "{s}");
        assert!(s.contains("converted by the kernel's BPF hook") && !s.contains("preload library"), "{s}");
        assert_eq!(serde_json::to_value(&bpf).unwrap()["via"], "bpf");
        let fallback = Report { why_not_bpf: Some("no hook".into()), ..Report::default() };
        assert!(fallback.summary().contains("via the preload library, not the BPF hook: no hook"));
        let failed = Observed { error: Some("inet_diag: EPERM".into()), ..Observed::default() };
        let s = Report::merge(&records, &failed).summary();
        assert!(s.contains("could not be read (inet_diag: EPERM)"), "{s}");
    }
}
