//! The records the preload library writes while `mptcp run --report`
//! runs a program: one `<kind> <pid> [<inode>]` line per event (see
//! `mptcp-preload`): a socket converted to MPTCP (`S`), one kept TCP because
//! MPTCP was unavailable (`U`), and a connection's outcome (`M` for MPTCP on
//! the wire, `F` for a fallback to TCP).

use std::collections::{BTreeSet, HashMap};

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
}
