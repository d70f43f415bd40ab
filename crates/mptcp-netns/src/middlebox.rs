//! The middlebox that strips MPTCP (TCP option kind 30) from the packets a
//! namespace sends.
//!
//! The rule is nf_tables' `reset tcp option mptcp` on the output hook at
//! priority mangle, sent over netlink from inside the namespace: no `nft`
//! and no `iptables` program is needed. Only where the kernel refuses that
//! expression (before Linux 5.18) does it fall back to xtables'
//! `TCPOPTSTRIP`, through the `iptables` program.

use std::io;

use crate::nft::{self, strip_rule, Family, Msg, Select, TCPOPT_MPTCP};
use crate::{Error, Netns, Result};

/// Where a middlebox strips the MPTCP option (TCP option kind 30).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strip {
    /// From the SYN-ACKs this namespace sends: both ends fall back at once.
    SynAck,
    /// From every non-SYN packet this namespace sends: the handshake
    /// negotiates MPTCP, the connection falls back later, on data.
    NonSyn,
}

impl Strip {
    /// The nf_tables table holding this rule (one per kind, so that the two
    /// can be added and removed independently).
    fn table(self) -> &'static str {
        match self {
            Strip::SynAck => "mptcp_strip_synack",
            Strip::NonSyn => "mptcp_strip_nonsyn",
        }
    }

    fn select(self) -> Select {
        match self {
            Strip::SynAck => Select::SynAck,
            Strip::NonSyn => Select::NonSyn,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Strip::SynAck => "SYN-ACKs",
            Strip::NonSyn => "non-SYN packets",
        }
    }
}

const CHAIN: &str = "output";
/// Index of the rule in the batch [`Netns::strip_mptcp`] sends.
const RULE_INDEX: usize = 3;

fn family(v6: bool) -> Family {
    if v6 {
        Family::Ip6
    } else {
        Family::Ip
    }
}

impl Netns {
    /// Makes this namespace a middlebox that strips MPTCP (TCP option 30)
    /// from the IPv4 (or, with `v6`, IPv6) packets it sends, as selected by
    /// `which`. It goes away with the namespace, or with
    /// [`unstrip_mptcp`](Netns::unstrip_mptcp). Adding the same rule again
    /// keeps one.
    ///
    /// The rule, as `nft list ruleset` shows it (for [`Strip::SynAck`]):
    ///
    /// ```text
    /// table ip mptcp_strip_synack {
    ///     chain output {
    ///         type filter hook output priority mangle; policy accept;
    ///         tcp flags syn,ack / syn,ack reset tcp option mptcp
    ///     }
    /// }
    /// ```
    ///
    /// and `tcp flags ! syn reset tcp option mptcp` in table
    /// `mptcp_strip_nonsyn` for [`Strip::NonSyn`]. It is sent over netlink:
    /// no `nft` program is needed. Where the kernel refuses the TCP option
    /// reset (before Linux 5.18), xtables' `TCPOPTSTRIP` is used instead,
    /// through the `iptables` program.
    ///
    /// # Errors
    ///
    /// [`Error::Middlebox`] when neither way works here (the message says
    /// why each failed and what to install), [`Error::Nftables`] when the
    /// kernel refused the rule for another reason.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp_netns::{Netns, Strip};
    /// let server = Netns::new("server")?;
    /// server.strip_mptcp(false, Strip::SynAck)?;
    /// // ... connections to the server fall back to TCP ...
    /// server.unstrip_mptcp(false, Strip::SynAck)?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn strip_mptcp(&self, v6: bool, which: Strip) -> Result<()> {
        let (f, table) = (family(v6), which.table());
        let batch = [
            Msg::new_table(f, table),
            Msg::new_output_chain(f, table, CHAIN),
            // Keeps one rule when called again.
            Msg::flush_chain(f, table, CHAIN),
            Msg::append_rule(f, table, CHAIN, strip_rule(which.select(), TCPOPT_MPTCP)),
        ];
        let refused = match self.in_ns(|| nft::transact(&batch))? {
            Ok(()) => return Ok(()),
            Err(r) => r,
        };
        if !refused.unsupported() {
            let what = match refused.index {
                Some(RULE_INDEX) => format!("adding `reset tcp option mptcp` for {}", which.describe()),
                Some(i) => format!("creating table {table} (message {i} of the batch)"),
                None => "opening NETLINK_NETFILTER".to_string(),
            };
            return Err(Error::Nftables { ns: self.name().to_string(), what, source: refused.error });
        }
        // This kernel cannot do it with nf_tables: try xtables' TCPOPTSTRIP.
        let why_nft = match refused.index {
            Some(RULE_INDEX) => format!(
                "this kernel's nf_tables refused `reset tcp option mptcp` ({}; it needs Linux 5.18 or later)",
                refused.error
            ),
            _ => format!("this kernel has no usable nf_tables ({})", refused.error),
        };
        self.xtables_strip(v6, which).map_err(|e| Error::Middlebox {
            ns: self.name().to_string(),
            detail: format!("{why_nft}, and the xtables fallback failed: {}", explain_xtables(v6, &e)),
        })
    }

    /// Removes the rule [`strip_mptcp`](Netns::strip_mptcp) added (nothing
    /// to do when there is none).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp_netns::{Netns, Strip};
    /// let server = Netns::new("server")?;
    /// server.strip_mptcp(true, Strip::NonSyn)?;
    /// server.unstrip_mptcp(true, Strip::NonSyn)?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn unstrip_mptcp(&self, v6: bool, which: Strip) -> Result<()> {
        let by_xtables = {
            let mut x = self.xtables.lock().unwrap_or_else(|p| p.into_inner());
            let before = x.len();
            x.retain(|&r| r != (v6, which));
            x.len() != before
        };
        if by_xtables {
            return self.xtables_rule("-D", v6, which);
        }
        match self.in_ns(|| nft::transact(&[Msg::del_table(family(v6), which.table())]))? {
            Ok(()) => Ok(()),
            // No such table, or no nf_tables at all: there is no rule.
            Err(r) if r.error.raw_os_error() == Some(libc::ENOENT) || r.unsupported() => Ok(()),
            Err(r) => Err(Error::Nftables {
                ns: self.name().to_string(),
                what: format!("deleting table {}", which.table()),
                source: r.error,
            }),
        }
    }

    fn xtables_strip(&self, v6: bool, which: Strip) -> Result<()> {
        // `-C` first: adding the same rule again keeps one, as with nf_tables.
        if self.xtables_rule("-C", v6, which).is_err() {
            self.xtables_rule("-A", v6, which)?;
        }
        let mut x = self.xtables.lock().unwrap_or_else(|p| p.into_inner());
        if !x.contains(&(v6, which)) {
            x.push((v6, which));
        }
        Ok(())
    }

    fn xtables_rule(&self, action: &str, v6: bool, which: Strip) -> Result<()> {
        let select: &[&str] = match which {
            Strip::SynAck => &["--tcp-flags", "SYN,ACK", "SYN,ACK"],
            Strip::NonSyn => &["!", "--syn"],
        };
        let mut rule = vec!["-t", "mangle", action, "OUTPUT", "-p", "tcp"];
        rule.extend_from_slice(select);
        rule.extend_from_slice(&["-j", "TCPOPTSTRIP", "--strip-options", "30"]);
        self.iptables(v6, &rule)
    }
}

/// Why `iptables` could not add the rule, and what to do.
fn explain_xtables(v6: bool, e: &Error) -> String {
    let program = if v6 { "ip6tables" } else { "iptables" };
    match e {
        Error::Command { stderr, .. } if stderr.contains(": not found") || stderr.contains("No such file") => {
            format!("`{program}` is not installed (apt-get install iptables)")
        }
        Error::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            format!("`{program}` is not installed (apt-get install iptables)")
        }
        Error::Command { stderr, .. } => format!(
            "`{program} -j TCPOPTSTRIP` failed: {stderr} (the kernel needs xt_TCPOPTSTRIP: modprobe xt_TCPOPTSTRIP)"
        ),
        other => other.to_string(),
    }
}
